"""Shared pytest fixtures. Each block below belongs to one area; add new ones as blocks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from .systemkit import need

if TYPE_CHECKING:
    from .clusterkit import Cluster
    from .pgkit import PostgresServer

# ---------------------------------------------------------------------------------------
# A real redis-server for the runtime tests (stores now, the server later).
# One per test session, on a free port with its own data dir; tests may stop and start it
# (outages, restarts) and the `redis_url` fixture starts it again if a test left it down.
# ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, port: int, data_dir: Path, extra: list[str] | None = None) -> None:
        self.port = port
        self.data_dir = data_dir
        self.extra = extra or []  # more redis-server options (cluster nodes: clusterkit.py)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start (again) on the same port and dir; return once it answers PING."""
        if self.running:
            return
        need("redis-server")  # skipped with the apt-get line on a machine without it
        # appendfsync always: a reply to a write means it is on disk, so a restart keeps
        # every acknowledged commit (tests rely on it); no RDB snapshots.
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.data_dir),
                "--logfile",
                str(self.data_dir / "redis.log"),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while True:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited; see {self.data_dir}/redis.log")
                try:
                    if client.ping():  # LOADING (replaying the AOF) raises: keep waiting
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.stop(kill=True)
                    raise RuntimeError(f"redis-server did not answer within {timeout}s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, *, kill: bool = False) -> None:
        """Stop it: SIGTERM, or SIGKILL with kill=True (a crash: no shutdown work)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            if kill:
                self._proc.kill()
            else:
                self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None


@contextlib.contextmanager
def running_redis(data_dir: Path, extra: list[str] | None = None) -> Iterator[RedisServer]:
    """A redis-server on a free port with `data_dir` its own, killed at the end."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(_free_port(), data_dir, extra)
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    need("redis-server")
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The test Redis, running and empty."""
    redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


# ---------------------------------------------------------------------------------------
# A real three-master Redis Cluster (tests/clusterkit.py), made by the first test that
# asks for it (a session fixture: never started when no such test is selected). Tests may
# stop and restart its nodes: `cluster_url` brings every node back and empties it.
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from .clusterkit import Cluster

    need("redis-server", "redis-cli")
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster: Cluster) -> str:
    """Any node's URL of the test cluster, every node up and empty."""
    redis_cluster.ensure_up()
    redis_cluster.flush()
    return redis_cluster.url


# ---------------------------------------------------------------------------------------
# The game server: real servers on free ports over SQLite and Redis (tests/serverkit.py).
# ---------------------------------------------------------------------------------------

from .serverkit import harvest, kit, redis_kit, sqlite_kit  # noqa: E402, F401

# ---------------------------------------------------------------------------------------
# A real PostgreSQL server for the history sink (tests/pgkit.py), made by the first test
# that asks for it. Tests may stop and start it (the database down for a while):
# `postgres_url` starts it again and empties the history tables.
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    from .pgkit import PostgresServer

    need("initdb", "pg_ctl")
    server = PostgresServer(_free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The test PostgreSQL, running, without history tables."""
    import psycopg

    postgres_server.start()
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        for table in ("history_entries", "history_rejections", "history_feeds"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    return postgres_server.url
