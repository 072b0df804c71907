"""A commit whose answer is lost is `outcome_unknown`, never `unavailable` (nothing applied).

Redis is stalled for real, on a redis-server of the test's own (DEBUG SLEEP must be enabled,
and a stall would hold up every other test): the commit is held by CLIENT PAUSE WRITE
until Redis shows it waiting, then one transaction unpauses and sleeps longer than the
server's reply timeout, so the commit runs only after the server has given up on its
reply: the action is applied, its answer lost. Ordered by what Redis reports, not by
timing: the only margin is the reply timeout itself (1 s) against a few local round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from rulesc.client import Client
from rulesc.runtime.packs import Game

from .conftest import RedisServer, running_redis
from .serverkit import Kit, Running, Socket, a, act, call, session, state

REPLY_TIMEOUT = 1.0  # the server's Redis reply timeout in these tests (5 s by default)
STALL = 2  # seconds Redis sleeps: longer than the reply timeout


@pytest.fixture
def stall_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis", ["--enable-debug-command", "yes"]) as server:
        yield server


@pytest.fixture
async def stalled(
    stall_redis: RedisServer, harvest: Game, tmp_path: Path
) -> AsyncIterator[tuple[Running, aioredis.Redis]]:
    kit = Kit("redis", harvest, tmp_path, stall_redis.url)
    admin = aioredis.Redis.from_url(stall_redis.url)  # no reply timeout: it waits out the stall
    try:
        yield await kit.start(store=kit.make_store(socket_timeout=REPLY_TIMEOUT)), admin
    finally:
        await admin.aclose()
        await kit.close()


async def hold_writes(admin: aioredis.Redis) -> None:
    await admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")


async def until_held(admin: aioredis.Redis) -> None:
    """Until a write (the server's commit) waits in Redis behind the pause."""
    for _ in range(2000):
        if (await admin.info("clients"))["blocked_clients"] >= 1:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("no command was held by CLIENT PAUSE")


async def release_after_stall(admin: aioredis.Redis) -> None:
    """Unpause and sleep in one transaction: the held commit runs after the sleep, when
    the server has stopped waiting for its reply. Returns when the stall is over."""
    pipe = admin.pipeline(transaction=True)
    pipe.execute_command("CLIENT", "UNPAUSE")
    pipe.execute_command("DEBUG", "SLEEP", STALL)
    await pipe.execute()


async def ledger_ids(run: Running, token: str) -> list[str]:
    r = await call(f"{run.url}/v1/harvest/ledger?limit=500", token=token)
    assert r.status == 200, r.body
    return [e["action_id"] for e in r.body["entries"]]


async def test_a_commit_whose_reply_times_out_is_outcome_unknown_and_its_resend_replays(
    stalled: tuple[Running, aioredis.Redis],
) -> None:
    run, admin = stalled
    _, token = await session(run, "device-http-1")
    _, ws_token = await session(run, "device-ws-1")
    ws = await Socket.open(run, ws_token)
    try:
        # both players' states warm in the server: the next act is a commit, no load first
        assert (await act(run, token, a("h0", "buy_seed", kind="wheat", qty=1))).status == 200
        assert (await act(run, ws_token, a("w0", "buy_seed", kind="wheat", qty=1))).status == 200

        await hold_writes(admin)
        sent = asyncio.ensure_future(act(run, token, a("h1", "buy_seed", kind="wheat", qty=2)))
        await until_held(admin)
        ws.send(
            {
                "type": "act",
                "id": "w1",
                "name": "buy_seed",
                "params": {"kind": "carrot", "qty": 1},
                "ref": "r1",
            }
        )
        await release_after_stall(admin)

        r = await sent
        assert r.status == 503 and r.code == "outcome_unknown", r.body
        assert "same id" in r.body["error"]["message"] and r.headers["Retry-After"]
        frame = await ws.wait_for(lambda f: f.get("ref") == "r1", timeout=10)
        assert frame["type"] == "error" and frame["code"] == "outcome_unknown", frame

        # the commit ran after the server gave up on it: the resend answers its result
        r = await act(run, token, a("h1", "buy_seed", kind="wheat", qty=2))
        assert r.status == 200, r.body
        assert r.body["results"][0]["status"] == "ok" and r.body["results"][0]["replayed"] is True
        assert await ledger_ids(run, token) == ["h0", "h1"]
        assert (await state(run, token))["state"]["seed"]["wheat"] == 3  # applied once

        ws.send(
            {
                "type": "act",
                "id": "w1",
                "name": "buy_seed",
                "params": {"kind": "carrot", "qty": 1},
                "ref": "r2",
            }
        )
        frame = await ws.wait_for(lambda f: f.get("ref") == "r2", timeout=10)
        assert frame["type"] == "result" and frame["status"] == "ok" and frame["replayed"] is True
        assert await ledger_ids(run, ws_token) == ["w0", "w1"]
    finally:
        await ws.close()


async def test_the_python_client_resends_an_outcome_unknown_act_with_its_id(
    stalled: tuple[Running, aioredis.Redis],
) -> None:
    run, admin = stalled
    client = await Client.guest(run.url, "harvest", "device-py-1", backoff=0.05, max_backoff=0.2)
    try:
        await client.connect()
        await client.act("buy_seed", {"kind": "wheat", "qty": 1})
        await hold_writes(admin)
        acting = asyncio.ensure_future(
            client.act("buy_seed", {"kind": "wheat", "qty": 2}, id="py-1")
        )
        await until_held(admin)
        await release_after_stall(admin)
        result = await asyncio.wait_for(acting, 30)
        # answered outcome_unknown, resent with the same id: the stored result came back
        assert result["status"] == "ok" and result["replayed"] is True
        assert [e["action_id"] for e in await client.ledger()][-1:] == ["py-1"]
        assert len(await client.ledger()) == 2
        assert (await client.state())["state"]["seed"]["wheat"] == 3
    finally:
        await client.close()


async def test_redis_down_before_the_request_is_unavailable(
    stall_redis: RedisServer, harvest: Game, tmp_path: Path
) -> None:
    """Nothing can have been applied: no connection (a fresh server), or one Redis closed
    before the commit was written (a stop after a first commit): `unavailable`."""
    kit = Kit("redis", harvest, tmp_path, stall_redis.url)
    run = await kit.start(store=kit.make_store(socket_timeout=REPLY_TIMEOUT, connect_timeout=0.5))
    try:
        _, token = await session(run)
        assert (await act(run, token, a("d0", "buy_seed", kind="wheat", qty=1))).status == 200
        ws = await Socket.open(run, token)
        stall_redis.stop()
        r = await act(run, token, a("d1", "buy_seed", kind="wheat", qty=1))
        assert r.status == 503 and r.code == "unavailable", r.body
        ws.send({"type": "act", "id": "d2", "name": "daily_gift", "ref": "r1"})
        frame = await ws.wait_for(lambda f: f.get("ref") == "r1", timeout=5)
        assert frame["code"] == "unavailable", frame
        await ws.close()
    finally:
        await kit.close()
    fresh = await kit.start(store=kit.make_store(socket_timeout=REPLY_TIMEOUT, connect_timeout=0.5))
    try:
        r = await act(fresh, token, a("d3", "buy_seed", kind="wheat", qty=1))
        assert r.status == 503 and r.code == "unavailable", r.body
    finally:
        await kit.close()
