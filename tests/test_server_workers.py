"""`rulesc serve --workers N`: N real processes on one port, over the test Redis."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from typer.testing import CliRunner

from rulesc.cli.main import app as cli_app

from .prockit import children, established, listening, serve, stop
from .serverkit import HARVEST, Socket, call

CONNECTIONS = 20  # all on one of two workers by chance: 2 in a million


class _Run:
    def __init__(self, url: str) -> None:
        self.url = url
        self.ws_url = url.replace("http", "ws", 1)


async def _until(pred, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def test_workers_share_a_port_tokens_and_pushes(redis_url: str, tmp_path: Path) -> None:
    # dev mode, no --secret: every worker signs with the one dev secret of the data dir
    served = await serve(
        [
            str(HARVEST),
            "--redis",
            redis_url,
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        tmp_path / "serve.log",
    )
    try:
        workers = children(served.pid)
        assert len(workers) == 2
        run = _Run(served.url)
        r = await call(f"{run.url}/v1/harvest/session", "POST", {"device_id": "device-workers"})
        token = r.body["token"]
        sockets = [await Socket.open(run, token) for _ in range(CONNECTIONS)]  # type: ignore[arg-type]
        # the kernel spread them over both workers, and each worker took the token (the
        # session call's own connection may still be closing: wait for it to go)
        await _until(lambda: sum(established(pid, served.port) for pid in workers) == CONNECTIONS)
        held = [established(pid, served.port) for pid in workers]
        assert sum(held) == CONNECTIONS and all(held), held
        r = await call(
            f"{run.url}/v1/harvest/actions",
            "POST",
            {"actions": [{"id": "w1", "name": "daily_gift", "params": {}}]},
            token=token,
        )
        assert r.status == 200 and r.body["results"][0]["status"] == "ok"
        # the commit reached every connection of the player, on whichever worker
        for ws in sockets:
            assert (await ws.of_type("state"))["cause"]["action_id"] == "w1"
        for ws in sockets:
            await ws.close()
    finally:
        assert await stop(served) == 0
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)  # gone with it


async def test_a_dead_worker_is_started_again(redis_url: str, tmp_path: Path) -> None:
    served = await serve(
        [
            str(HARVEST),
            "--redis",
            redis_url,
            "--workers",
            "2",
            "--production",
            "--secret",
            "s",
            "--admin-token",
            "a",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        tmp_path / "serve.log",
    )
    try:
        first = children(served.pid)
        os.kill(first[0], signal.SIGKILL)
        await _until(lambda: len(set(children(served.pid)) - set(first)) == 1)
        (replaced,) = set(children(served.pid)) - set(first)
        assert len(children(served.pid)) == 2
        assert "exited (signal SIGKILL); starting it again" in served.log.read_text()
        # the new worker takes its share of new connections, once it listens
        await _until(lambda: listening(replaced, served.port))
        run = _Run(served.url)
        r = await call(f"{run.url}/v1/harvest/session", "POST", {"device_id": "device-workers"})
        sockets = [await Socket.open(run, r.body["token"]) for _ in range(CONNECTIONS)]  # type: ignore[arg-type]
        assert established(replaced, served.port) > 0
        for ws in sockets:
            await ws.close()
    finally:
        assert await stop(served) == 0


async def test_workers_stop_when_the_supervisor_is_killed(redis_url: str, tmp_path: Path) -> None:
    served = await serve(
        [
            str(HARVEST),
            "--redis",
            redis_url,
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        tmp_path / "serve.log",
    )
    workers = children(served.pid)
    os.kill(served.pid, signal.SIGKILL)  # no chance to stop them itself
    await served.proc.wait()
    await _until(
        lambda: (
            not any(
                os.path.exists(f"/proc/{pid}/stat")
                and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
                for pid in workers
            )
        )
    )


def test_workers_need_redis(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        cli_app, ["serve", str(HARVEST), "--workers", "2", "--data-dir", str(tmp_path)]
    )
    assert r.exit_code == 2 and "--workers needs --redis" in r.output
