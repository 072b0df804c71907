"""The store's part for players meeting players (store_social.py), against SQLite, a real
redis-server and the test Redis Cluster: inboxes, the outbox index and leaderboards."""

from __future__ import annotations

import asyncio

from rulesc.runtime.store import Snapshot, Store

from . import test_store_contract as contract
from .test_store_contract import Factory, G, P, put

# the contract's store fixtures: SQLite, a redis-server and the test Redis Cluster
make_store, store = contract.make_store, contract.store

EFFECT = {
    "id": "q:3:0",
    "seq": [3, 0],
    "from": "q",
    "to": P,
    "action": "gift",
    "kind": "give",
    "gains": [["coins", None, 20]],
}


async def test_a_delivery_waits_in_the_inbox_once_and_moves_the_version(store: Store) -> None:
    await put(store, 0, {"coins": 1})
    assert await store.deliver(G, P, EFFECT) is True
    assert await store.inbox(G, P) == [EFFECT]
    # the same id again changes nothing: the version moved once
    assert await store.deliver(G, P, {**EFFECT, "gains": [["coins", None, 999]]}) is True
    assert await store.inbox(G, P) == [EFFECT]
    assert await store.load(G, P) == Snapshot(2, {"coins": 1})
    # a writer holding version 1 meets a conflict, and reloads to find the inbox
    assert (await put(store, 1, {"coins": 21}, changed=["coins"])).status == "conflict"
    await store.inbox_done(G, P, [EFFECT["id"], "never-there"])
    assert await store.inbox(G, P) == []


async def test_no_delivery_to_a_player_without_state(store: Store) -> None:
    assert await store.deliver(G, "nobody", EFFECT) is False
    assert await store.inbox(G, "nobody") == []
    assert await store.load(G, "nobody") == Snapshot(0, None)


async def test_a_delivery_tells_the_players_subscribers(make_store: Factory) -> None:
    writer = make_store()
    reader = writer if make_store.kind == "sqlite" else make_store()  # SQLite pushes in-process
    await put(writer, 0, {"coins": 1})
    got: list[dict] = []
    sub = await reader.subscribe(G, P, got.append)
    try:
        await writer.deliver(G, P, EFFECT)
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got == [{"version": 2, "inbox": True}]
        await writer.deliver(G, P, EFFECT)  # already there: no second message
        await asyncio.sleep(0.1)
        assert len(got) == 1
    finally:
        await sub.close()


async def test_inboxes_are_per_player_and_game(store: Store) -> None:
    await put(store, 0, {"coins": 1})
    await store.deliver(G, P, EFFECT)
    assert await store.inbox(G, "p2") == []
    assert await store.inbox("other", P) == []


async def test_outbox_marks(store: Store) -> None:
    assert await store.outbox_mark(G, P) is None
    await store.mark_outbox(G, P, 1000)
    await store.mark_outbox(G, "p2", 3000)
    await store.mark_outbox("other", P, 500)
    assert await store.outbox_mark(G, P) == 1000
    assert await store.outbox_marks(G, before=2000, limit=10) == [(P, 1000)]
    assert await store.outbox_marks(G, before=5000, limit=10) == [(P, 1000), ("p2", 3000)]
    assert await store.outbox_marks(G, before=5000, limit=1) == [(P, 1000)]
    # a newer mark stays: only the mark read is removed
    await store.mark_outbox(G, P, 4000)
    await store.unmark_outbox(G, P, 1000)
    assert await store.outbox_mark(G, P) == 4000
    await store.unmark_outbox(G, P, 4000)
    assert await store.outbox_mark(G, P) is None
    assert await store.outbox_marks("other", before=5000, limit=10) == [(P, 500)]


async def test_leaderboard_keeps_the_newest_version(store: Store) -> None:
    await store.leaderboard_put(G, "weekly", "2026-W02", "a", 10, 5, None)
    await store.leaderboard_put(G, "weekly", "2026-W02", "a", 3, 4, None)  # late: ignored
    await store.leaderboard_put(G, "weekly", "2026-W02", "a", 10, 5, None)  # again: harmless
    assert await store.leaderboard_rank(G, "weekly", "2026-W02", "a") == (0, 10)
    await store.leaderboard_put(G, "weekly", "2026-W02", "a", 7, 6, None)  # newer: a score may fall
    assert await store.leaderboard_rank(G, "weekly", "2026-W02", "a") == (0, 7)
    assert await store.leaderboard_size(G, "weekly", "2026-W02") == 1


async def test_leaderboard_order_pages_and_periods(store: Store) -> None:
    for player, score in [("a", 5), ("b", 9), ("c", 5), ("d", 1), ("e", 12)]:
        await store.leaderboard_put(G, "weekly", "2026-W02", player, score, 1, 60_000)
    top = await store.leaderboard_top(G, "weekly", "2026-W02", 0, 10)
    assert top == [("e", 12), ("b", 9), ("c", 5), ("a", 5), ("d", 1)]  # ties: player id descending
    assert await store.leaderboard_top(G, "weekly", "2026-W02", 2, 2) == [("c", 5), ("a", 5)]
    assert await store.leaderboard_rank(G, "weekly", "2026-W02", "a") == (3, 5)
    assert await store.leaderboard_rank(G, "weekly", "2026-W02", "zed") is None
    assert await store.leaderboard_size(G, "weekly", "2026-W02") == 5
    # another period, board or game is another board
    assert await store.leaderboard_size(G, "weekly", "2026-W03") == 0
    assert await store.leaderboard_top(G, "daily", "2026-W02", 0, 10) == []
    assert await store.leaderboard_top("other", "weekly", "2026-W02", 0, 10) == []
