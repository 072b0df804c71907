"""`rulesc serve`'s pieces: the options model, the store registry (runtime/stores.py) and
the store a URL chooses."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from rulesc.cli.serve import ServeOptions, serve_command
from rulesc.runtime.stores import REDIS, SQLITE, STORES, UnknownStore, store_kind

from .serverkit import HARVEST


def test_serve_options_has_one_field_per_command_line_option() -> None:
    params = list(inspect.signature(serve_command).parameters)
    assert [f.name for f in dataclasses.fields(ServeOptions)] == params


def test_a_store_url_chooses_its_kind_by_scheme() -> None:
    assert store_kind(None) is SQLITE
    assert store_kind("") is SQLITE  # RULESC_REDIS_URL set but empty: as if unset
    for url in ("redis://h:6379/0", "REDIS://h", "rediss://u:pw@h:1/0"):
        assert store_kind(url) is REDIS, url
    assert REDIS.many_processes and not SQLITE.many_processes
    assert set(STORES) == {None, "redis", "rediss"}


@pytest.mark.parametrize(
    "url", ["http://app:hunter2@h:1/0", "127.0.0.1:6379", "localhost:6379", "unix:///r.sock"]
)
def test_an_unknown_store_url_names_the_known_schemes(url: str) -> None:
    with pytest.raises(UnknownStore) as e:
        store_kind(url)
    assert "redis://, rediss://" in str(e.value)
    assert "hunter2" not in str(e.value)


def test_a_malformed_store_url_is_not_printed() -> None:  # it may hold a password
    with pytest.raises(UnknownStore) as e:
        store_kind("redis://app:hunter2@[::1")
    assert "hunter2" not in str(e.value) and "redis://, rediss://" in str(e.value)


@pytest.mark.parametrize("url", ["http://app:hunter2@127.0.0.1:1/0", "127.0.0.1:6379"])
def test_serve_refuses_an_unknown_store_url_and_writes_nothing(tmp_path: Path, url: str) -> None:
    # before the registry, any --redis went to RedisStore: the server started and served
    # on a store it could never reach
    data = tmp_path / "data"
    command = [sys.executable, "-c", "from rulesc.cli.main import app; app()", "serve"]
    options = ["--redis", url, "--data-dir", str(data), "--port", "0"]
    r = subprocess.run(
        [*command, str(HARVEST), *options], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error: --redis:" in r.stderr and "known: redis://, rediss://)" in r.stderr
    assert "hunter2" not in r.stderr + r.stdout
    assert not data.exists()  # no dev secret made, no pack built


def test_serve_refuses_no_history_drainer_on_the_embedded_store(tmp_path: Path) -> None:
    # nothing else can drain a SQLite store's feed: it would only grow
    data = tmp_path / "data"
    command = [sys.executable, "-c", "from rulesc.cli.main import app; app()", "serve"]
    options = ["--history", "sqlite", "--no-history-drainer", "--data-dir", str(data)]
    r = subprocess.run(
        [*command, str(HARVEST), *options, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error: --no-history-drainer needs --redis" in r.stderr
    assert not data.exists()
