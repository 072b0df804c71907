"""Idle and slow connections, connection caps, and the open-file limit
(runtime/connections.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rulesc.runtime.config import Limits
from rulesc.runtime.connections import RateLimitedLog

from .prockit import cpu_seconds, serve, stop
from .serverkit import HARVEST, Kit, Running, Socket, call, session

FILES = 64  # the served process's open-file limit in the descriptor test
OVER = 100  # connections it is sent: more than it can hold, fewer than its listen backlog


async def _until(pred, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def _held(port: int, n: int) -> Iterator[list[socket.socket]]:
    """`n` connections to the port that send nothing, closed on leaving."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port)))
        yield socks
    finally:
        for s in socks:
            s.close()


async def _read_to_end(reader: asyncio.StreamReader, timeout: float = 20.0) -> bytes:
    """Everything the server sends until it closes (fails if it keeps the connection)."""
    return await asyncio.wait_for(reader.read(), timeout)


async def test_out_of_descriptors_it_pauses_accepting_logs_little_and_recovers(
    tmp_path: Path,
) -> None:
    # a cap above the open-file limit, so the process does run out of descriptors
    log = tmp_path / "serve.log"
    served = await serve(
        [
            str(HARVEST),
            "--data-dir",
            str(tmp_path / "data"),
            "--max-connections",
            "1000",
            "--max-connections-per-address",
            "0",
            "--header-timeout",
            "120",
        ],
        log,
        files=FILES,
    )
    try:
        with _held(served.port, OVER):
            await _until(lambda: "Too many open files" in log.read_text(), timeout=30)
            # the connections it could not take keep its listening socket ready: measure
            # what that costs while they wait (spinning is a whole core)
            cpu, wall = cpu_seconds(served.pid), time.monotonic()
            await asyncio.sleep(2.0)
            share = (cpu_seconds(served.pid) - cpu) / (time.monotonic() - wall)
            assert share < 0.25, f"the server used {share:.0%} of a core with nothing to do"
        # the held connections are gone: the server serves again
        r = await call(f"{served.url}/healthz")
        assert r.status == 200
    finally:
        assert await stop(served) == 0
    text = log.read_text()
    assert "Traceback" not in text
    warnings = text.count("Too many open files")
    assert 1 <= warnings <= 10, f"{warnings} lines about it:\n{text[-3000:]}"


@pytest.mark.parametrize("head", [b"", b"GET /v1/harvest/ws HTTP/1.1\r\nUpgrade: websocket\r\n"])
async def test_a_connection_that_never_sends_a_whole_head_is_closed(
    sqlite_kit: Kit, head: bytes
) -> None:
    # nothing at all (a port scan), or half a head (a WebSocket upgrade never finished)
    run = await sqlite_kit.start(header_timeout=0.3, idle_timeout=60)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(head)
    assert await _read_to_end(reader) == b""
    writer.close()
    await _until(lambda: run.server.connections.open == 0)


async def test_a_body_that_stalls_is_closed_after_the_body_timeout(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(body_timeout=0.3)
    _, token = await session(run)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(
        f"POST /v1/harvest/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}"
        '\r\nContent-Length: 100\r\n\r\n{"actions":'.encode()
    )
    assert await _read_to_end(reader) == b""
    writer.close()
    await _until(lambda: run.server.connections.open == 0)


async def test_a_kept_alive_connection_waits_the_idle_timeout_then_is_closed(
    sqlite_kit: Kit,
) -> None:
    run = await sqlite_kit.start(header_timeout=0.3, idle_timeout=4)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(2):  # past the header timeout between them: a kept-alive wait is idle
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        await asyncio.sleep(1.2)
    assert await _read_to_end(reader) == b""
    writer.close()
    await _until(lambda: run.server.connections.open == 0)


async def _refused(run: Running) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    try:
        return await _read_to_end(reader)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (Limits(max_connections=3), "max_connections"),
        (Limits(max_connections_per_address=3), "max_connections_per_address"),
    ],
)
async def test_a_connection_over_a_cap_is_answered_503_and_closed(
    sqlite_kit: Kit, limits: Limits, reason: str
) -> None:
    run = await sqlite_kit.start(limits=limits)
    with _held(run.port, 3):
        await _until(lambda: run.server.connections.open == 3)
        answer = await _refused(run)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b'"code":"too_many_connections"' in answer
        assert run.server.connections.open == 3
    await _until(lambda: run.server.connections.open == 0)
    # a place is free again: served
    r = await call(f"{run.url}/metrics")
    assert (
        r.status == 200
        and f'rulesc_connections_refused_total{{reason="{reason}"}} 1.0' in r.body.decode()
    )
    await _until(lambda: run.server.connections.open == 0)
    assert run.server.metrics.registry.get_sample_value("rulesc_client_connections") == 0


async def test_behind_a_trusted_proxy_there_is_no_cap_per_address(sqlite_kit: Kit) -> None:
    # every connection comes from the proxy's address there
    run = await sqlite_kit.start(limits=Limits(max_connections_per_address=1), trust_proxy=True)
    with _held(run.port, 3):
        await _until(lambda: run.server.connections.open == 3)
        assert (await call(f"{run.url}/healthz")).status == 200


async def test_websocket_connections_are_counted_until_they_close(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()
    _, token = await session(run)
    sockets = [await Socket.open(run, token) for _ in range(3)]
    await _until(lambda: run.server.connections.open == 3)  # the session's call has closed
    for ws in sockets:
        await ws.close()
    await _until(lambda: run.server.connections.open == 0)
    assert not run.server.connections.by_address


def test_a_rate_limited_warning_goes_out_once_a_second_with_a_count_of_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    warn = RateLimitedLog(logging.getLogger("test.rate"), every=1.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.rate"):
        assert warn.warning("out of %s", "files")
        for _ in range(5):
            now[0] += 0.1
            assert not warn.warning("out of %s", "files")
        now[0] += 0.6  # a second after the first
        assert warn.warning("out of %s", "files")
    assert [r.getMessage() for r in caplog.records] == [
        "out of files",
        "out of files (5 more like it since the last)",
    ]
