"""What one player can make the server remember is bounded (docs/protocol.md, "Actions").

A player sending batches of rejected actions with fresh ids, within the rate limits,
used to make the store keep one result per id for 24 h (the issue measured 145k rows in
6 s). The rejections kept are counted in the store itself, on both stores.
"""

from __future__ import annotations

import contextlib
import sqlite3

import redis

from rulesc.runtime.redis_keys import player_prefix as _prefix
from rulesc.runtime.store import DEFAULT_MAX_REJECTIONS

from .serverkit import Kit, Running, a, act, session


def stored_results(kit: Kit, player: str) -> int:
    if kit.kind == "redis":
        assert kit.redis_url is not None
        with redis.Redis.from_url(kit.redis_url) as client:
            return len(client.keys(_prefix("harvest", player) + ":res:*"))
    with contextlib.closing(sqlite3.connect(kit.tmp / "store.db")) as db:
        return db.execute(
            "SELECT count(*) FROM results WHERE game = 'harvest' AND player = ?", (player,)
        ).fetchone()[0]


async def flood(run: Running, token: str, batch: int, size: int) -> None:
    # 99 wheat seeds cost more than the 200 coins a new player has: `insufficient`
    r = await act(
        run, token, *[a(f"f{batch}-{i}", "buy_seed", kind="wheat", qty=99) for i in range(size)]
    )
    assert r.status == 200, r.body
    assert {x["error"]["code"] for x in r.body["results"]} == {"insufficient"}


async def test_a_flood_of_rejections_keeps_at_most_the_cap(kit: Kit) -> None:
    run = await kit.start()  # the default store settings: the documented cap
    player, token = await session(run)
    r = await act(run, token, a("buy-1", "buy_seed", kind="wheat", qty=1))
    assert r.body["results"][0]["status"] == "ok"
    batches = DEFAULT_MAX_REJECTIONS // 100 + 5
    for b in range(batches):
        await flood(run, token, b, 100)
    assert stored_results(kit, player) <= DEFAULT_MAX_REJECTIONS + 1  # + the applied one

    # a recent rejection is still answered from memory, identically
    last = f"f{batches - 1}-99"
    r = await act(run, token, a(last, "buy_seed", kind="wheat", qty=99))
    assert r.body["results"][0]["replayed"] is True
    assert r.body["results"][0]["error"]["code"] == "insufficient"
    # and the applied action too, whatever was rejected since
    r = await act(run, token, a("buy-1", "buy_seed", kind="wheat", qty=1))
    assert r.body["results"][0] == {**r.body["results"][0], "status": "ok", "replayed": True}
