"""Fault tests on the deploy/ layout run for real (tests/deploykit.py): nginx, two
`rulesc serve` processes, the three-master Redis Cluster of the test session, and the
bank game (tests/games/bank: every applied `spend` is one ledger entry and one coin).

Each asserts that nothing acknowledged is lost and nothing applies twice: the ledger
entries of a player are counted against the distinct ids its clients sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from rulesc.client import Client
from rulesc.runtime.redis_keys import player_prefix as _prefix

from .clusterkit import Cluster
from .deploykit import Layout, count_metric
from .faultkit import (
    BANK,
    START,
    SilentProxy,
    check_books,
    close_all,
    post_until_decided,
    run_load,
)
from .serverkit import call

pytestmark = pytest.mark.slow

PING_INTERVAL, PING_TIMEOUT = 0.5, 1.0  # the servers' WebSocket pings, seconds


@pytest.fixture
async def layout(cluster_url: str, tmp_path: Path) -> AsyncIterator[Layout]:
    # no per-player rate limit: the loads below are one player's hundreds of calls at once
    extra = [
        "--rate",
        "0",
        "--ws-ping-interval",
        str(PING_INTERVAL),
        "--ws-ping-timeout",
        str(PING_TIMEOUT),
    ]
    running = await Layout(tmp_path, cluster_url, BANK, extra).start(2)
    try:
        yield running
    finally:
        await running.close()


async def _metric(layout: Layout, name: str, **labels: str) -> float:
    total = 0.0
    for i, served in enumerate(layout.procs):
        if served is not None:
            text = (await call(f"{layout.direct(i)}/metrics")).body.decode()
            total += count_metric(text, name, **labels)
    return total


async def test_one_players_spends_raced_through_two_processes(layout: Layout) -> None:
    spends = 450  # 150 more than the coins: those must be rejected, never overdraw
    player = await Client.guest(layout.url, "bank", "device-race-0001")
    http = AsyncHTTPClient(force_instance=True, max_clients=200)
    try:
        urls = [layout.direct(0), layout.direct(1)]
        ids = [f"race-{i}" for i in range(spends)]
        sends = [
            post_until_decided(http, urls[i % 2], player.token or "", aid)
            for i, aid in enumerate(ids)
        ]
        # a third sent again through the other process at the same time (a lost answer)
        again = [
            post_until_decided(http, urls[(i + 1) % 2], player.token or "", aid)
            for i, aid in enumerate(ids)
            if i % 3 == 0
        ]
        results = await asyncio.wait_for(asyncio.gather(*sends, *again), 120)
    finally:
        http.close()
    by_id: dict[str, list[dict]] = {}
    for result in results:
        by_id.setdefault(result["id"], []).append(result)
    for aid, answers in by_id.items():  # a resend gets the first decision back, identical
        first = {k: v for k, v in answers[0].items() if k != "replayed"}
        assert all({k: v for k, v in a.items() if k != "replayed"} == first for a in answers), aid
    applied = [aid for aid, answers in by_id.items() if answers[0]["status"] == "ok"]
    refused = [a[0]["error"]["code"] for a in by_id.values() if a[0]["status"] != "ok"]
    assert len(applied) == START and refused == ["insufficient"] * (spends - START)
    await check_books(layout.url, _Reader(player), applied)
    assert await _metric(layout, "rulesc_store_calls_total", op="commit") >= START
    await player.close()


class _Reader:  # check_books wants something with a .client
    def __init__(self, client: Client) -> None:
        self.client = client


async def _metric_of(layout: Layout, i: int, name: str) -> float:
    text = (await call(f"{layout.direct(i)}/metrics")).body.decode()
    return count_metric(text, name)


async def test_a_server_killed_mid_load_loses_nothing_and_applies_nothing_twice(
    layout: Layout,
) -> None:
    players, spends = 8, 40
    acknowledged = [0]
    load = asyncio.get_running_loop().create_task(
        run_load(layout.url, "kill", players, spends, acknowledged)
    )
    while acknowledged[0] < players * spends // 3:  # a third answered: kill a process
        assert not load.done(), load
        await asyncio.sleep(0.01)
    # SIGKILL the process with the most WebSocket clients: its connections die with it,
    # answers in flight too (and HTTP players hashed to it are cut mid-request)
    held = [await _metric_of(layout, i, "rulesc_open_connections") for i in range(2)]
    layout.kill_process(held.index(max(held)))
    at_kill = acknowledged[0]
    made = await load
    try:
        assert at_kill < players * spends  # the kill came in the middle of the load
        for p in made:
            assert all(r["status"] == "ok" for r in p.results.values())
            assert len(p.results) == spends
            await check_books(layout.url, p, p.ids)
        # the WebSocket clients that were on the dead process came back through nginx
        assert sum(p.client.reconnects for p in made) >= 1
    finally:
        await close_all(made)


async def test_a_cluster_master_restarted_mid_load_keeps_the_books(
    layout: Layout, redis_cluster: Cluster
) -> None:
    players, spends = 8, 40
    # the master holding most of the players (found before the load starts: it takes
    # about half a second): they get 503 / `unavailable` (and `busy`) while it is down;
    # the AOF (appendfsync always) keeps what it acknowledged
    ids = [await _player_id(layout, f"device-master-{n:04}") for n in range(players)]
    masters = [redis_cluster.node_of(_prefix("bank", p) + ":state") for p in ids]
    master = max(masters, key=masters.count)
    acknowledged = [0]
    load = asyncio.get_running_loop().create_task(
        run_load(layout.url, "master", players, spends, acknowledged)
    )
    while acknowledged[0] < players * spends // 3:
        assert not load.done(), load
        await asyncio.sleep(0.01)
    master.stop(kill=True)
    await asyncio.sleep(1.0)
    master.start()
    made = await load
    try:
        assert (
            await _metric(layout, "rulesc_store_errors_total") > 0
        )  # the clients saw the outage ...
        for p in made:  # ... and finished afterwards, with the books balanced
            assert all(r["status"] == "ok" for r in p.results.values())
            await check_books(layout.url, p, p.ids)
    finally:
        await close_all(made)


async def _player_id(layout: Layout, device: str) -> str:
    r = await call(f"{layout.url}/v1/bank/session", "POST", {"device_id": device})
    return r.body["player_id"]


async def test_a_half_open_client_is_found_by_pings_and_freed(
    layout: Layout, redis_cluster: Cluster
) -> None:
    proxy = await SilentProxy(layout.nginx.port).start()  # type: ignore[union-attr]
    # the client pings rarely: only the server's pings can find the dead link in time
    client = await Client.guest(proxy.url, "bank", "device-halfopen-1", ping_interval=3600)
    player = client.player_id or ""
    channel = (_prefix("bank", player) + ":push").encode()
    try:
        await client.connect()
        assert await _metric(layout, "rulesc_open_connections") == 1
        assert _subscribers(redis_cluster, channel) == 1
        proxy.silent = True  # the phone's network is gone: no FIN, no RST, nothing
        silent_at = time.monotonic()
        while await _metric(layout, "rulesc_open_connections") > 0:
            assert time.monotonic() - silent_at < 10, "the dead connection was never found"
            await asyncio.sleep(0.05)
        freed_after = time.monotonic() - silent_at
        # found by the first ping that went unanswered: interval + timeout, plus slack
        assert freed_after < PING_INTERVAL + PING_TIMEOUT + 1.0, freed_after
        for _ in range(100):  # the hub let go of the player's channel on the cluster too
            if _subscribers(redis_cluster, channel) == 0:
                break
            await asyncio.sleep(0.02)
        assert _subscribers(redis_cluster, channel) == 0
    finally:
        await client.close()
        await proxy.close()


def _subscribers(cluster: Cluster, channel: bytes) -> int:
    import redis

    node = cluster.node_of(channel)
    with redis.Redis(port=node.port) as c:
        return int(c.execute_command("PUBSUB", "SHARDNUMSUB", channel)[1])
