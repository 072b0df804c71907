"""The push hub's ordering: each version once, in order, whatever way messages arrive.

A process's own commits reach the hub straight from its store, other processes' through
Redis, so a later version can arrive first; these tests hand the hub messages in such
orders (on a real SQLite store's subscription) and read what its connections got.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rulesc.runtime import hub as hub_module
from rulesc.runtime.hub import Hub
from rulesc.runtime.store_sqlite import SqliteStore

KEY = ("farm", "p1")


class Connection:
    def __init__(self) -> None:
        self.frames: list[dict] = []

    def push(self, frames: list[tuple[dict, bytes]]) -> None:
        self.frames += [f for f, _ in frames]

    def versions(self) -> list[int | str]:
        return [f["version"] if f["type"] == "state" else f["type"] for f in self.frames]


def commit(version: int) -> dict:
    entry = {"action": "buy", "action_id": f"a{version}", "changes": {}, "events": []}
    return {"version": version, "decided": [], "event_ids": [f"e{version}"], "ledger": [entry]}


@pytest.fixture
async def joined(tmp_path: Path):  # noqa: ANN201
    store = SqliteStore(tmp_path / "store.db")
    hub = Hub(store, lambda *_: None)
    conn = Connection()
    await hub.join(KEY, conn)  # a new player: the subscription starts at version 0
    yield hub, conn
    await hub.close()
    await store.close()


async def test_a_later_version_waits_for_the_one_before(joined) -> None:  # noqa: ANN001
    hub, conn = joined
    hub._push(KEY, commit(1))
    hub._push(KEY, commit(3))  # overtook 2
    assert conn.versions() == [1]
    hub._push(KEY, commit(2))
    assert conn.versions() == [1, 2, 3]
    hub._push(KEY, commit(2))  # a copy (the other way it came)
    hub._push(KEY, commit(3))
    assert conn.versions() == [1, 2, 3]


async def test_a_version_that_never_comes_ends_in_resync(joined, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(hub_module, "GAP_WAIT", 0.05)
    hub, conn = joined
    hub._push(KEY, commit(1))
    hub._push(KEY, commit(3))
    hub._push(KEY, commit(4))
    await asyncio.sleep(0.15)
    assert conn.versions() == [1, "resync"]  # fetch the state: 2 was never seen here
    hub._push(KEY, commit(5))  # and pushes go on after what waited
    hub._push(KEY, commit(4))
    assert conn.versions() == [1, "resync", 5]


async def test_a_lost_link_resyncs_and_takes_what_comes_next(joined) -> None:  # noqa: ANN001
    hub, conn = joined
    hub._push(KEY, commit(1))
    hub._push(KEY, {"gap": True})
    hub._push(KEY, commit(7))  # where the store is now: nothing to wait for
    assert conn.versions() == [1, "resync", 7]
