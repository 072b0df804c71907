"""The machine's own tools the tests use (Debian packages), and what a test does without
one: on a newcomer's machine it is skipped with the exact `apt-get install` line; in CI
(`RULESC_REQUIRE_ALL=1`, set by .ci/run) it fails, so CI never goes green by skipping."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# command -> the Debian package that has it
PACKAGES = {
    "redis-server": "redis-server",
    "redis-cli": "redis-tools",
    "nginx": "nginx",
    "dot": "graphviz",
    "node": "nodejs",
    "npm": "npm",
    "chromium": "chromium",
    "git": "git",
    "initdb": "postgresql",  # the history sink's tests start their own PostgreSQL (pgkit.py)
    "pg_ctl": "postgresql",
}
SBIN = ("/usr/sbin", "/sbin")  # nginx lives here, often outside a user's PATH


# Debian keeps PostgreSQL's server programs out of PATH, one folder per major version
POSTGRES_BIN = "/usr/lib/postgresql/*/bin"


def find(command: str) -> str | None:
    found = shutil.which(command)
    if found is None:
        found = next((str(Path(d) / command) for d in SBIN if (Path(d) / command).exists()), None)
    if found is None:
        versions = sorted(Path("/").glob(POSTGRES_BIN.lstrip("/") + "/" + command))
        found = str(versions[-1]) if versions else None  # the newest major
    return found


def why_missing(*commands: str) -> str | None:
    """The reason to give when one of `commands` is not installed, or None."""
    missing = [c for c in commands if find(c) is None]
    if not missing:
        return None
    packages = " ".join(sorted({PACKAGES.get(c, c) for c in missing}))
    return f"{', '.join(missing)} not installed: sudo apt-get install -y {packages}"


def required() -> bool:
    return os.environ.get("RULESC_REQUIRE_ALL") == "1"


def need(*commands: str) -> None:
    """Skip the calling test (fail it in CI) unless every command is installed."""
    reason = why_missing(*commands)
    if reason is None:
        return
    if required():
        pytest.fail(f"{reason} (RULESC_REQUIRE_ALL=1: CI must have every tool)")
    pytest.skip(reason)
