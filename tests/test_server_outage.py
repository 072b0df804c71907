"""Redis goes away: 503 with nothing applied; back again: the server recovers by itself.

Uses its own redis-server (not the session's), so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from rulesc.runtime.packs import Game

from .conftest import RedisServer, running_redis
from .serverkit import Kit, Socket, a, act, call, session


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis") as server:
        yield server


async def test_outage_answers_503_applies_nothing_and_recovers(
    own_redis: RedisServer, harvest: Game, tmp_path: Path
) -> None:
    kit = Kit("redis", harvest, tmp_path, own_redis.url)
    run = await kit.start(store=kit.make_store(socket_timeout=1.0, connect_timeout=0.5))
    try:
        _, token = await session(run)
        r = await act(run, token, a("o1", "buy_seed", kind="wheat", qty=2))
        assert r.body["results"][0]["status"] == "ok"
        ws = await Socket.open(run, token)

        own_redis.stop(kill=True)  # a crash: the acknowledged o1 must survive it (AOF always)
        r = await act(run, token, a("o2", "buy_seed", kind="wheat", qty=5))
        assert r.status == 503 and r.code == "unavailable" and r.headers["Retry-After"]
        assert (await call(f"{run.url}/v1/harvest/state", token=token)).status == 503
        assert (await call(f"{run.url}/readyz")).status == 503
        assert (
            await call(f"{run.url}/v1/harvest/session", "POST", {"device_id": "device-new-9"})
        ).status == 503
        ws.send({"type": "act", "id": "o3", "name": "daily_gift"})
        assert (await ws.of_type("error", timeout=5))["code"] == "unavailable"
        metrics = (await call(f"{run.url}/metrics")).body.decode()
        assert "rulesc_store_errors_total 0.0" not in metrics

        own_redis.start()
        # no restart of the server: the next calls get through by themselves
        for _ in range(100):
            r = await call(f"{run.url}/v1/harvest/state", token=token)
            if r.status == 200:
                break
            await asyncio.sleep(0.05)
        assert r.status == 200
        assert (
            r.body["version"] == 1 and r.body["state"]["seed"]["wheat"] == 2
        )  # o1 kept, o2 not applied
        assert (await call(f"{run.url}/readyz")).status == 200
        await ws.of_type("resync", timeout=5)  # pushes were missed while the link was down
        r = await act(run, token, a("o2", "buy_seed", kind="wheat", qty=5))  # the retry applies now
        assert r.status == 200 and r.body["results"][0]["status"] == "ok"
        assert "replayed" not in r.body["results"][0]
        assert (await ws.of_type("state", timeout=5))["cause"]["action_id"] == "o2"  # pushes again
    finally:
        await kit.close()
