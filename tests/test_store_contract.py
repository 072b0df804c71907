"""The store contract, run against both stores: SQLite files and a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from rulesc.runtime.redis_keys import player_prefix as _prefix
from rulesc.runtime.store import CommitOutcome, Decided, Snapshot, Store, StoreUnavailable
from rulesc.runtime.store_redis import RedisStore, _remember_script
from rulesc.runtime.store_sqlite import SqliteStore

G, P = "farm", "p1"


class Factory:
    """Makes stores of one kind; redis and cluster stores are separate clients, as two
    server processes would be; sqlite stores share one file."""

    def __init__(self, kind: str, make: Callable[..., Store], count: Callable[[], int]) -> None:
        self.kind = kind
        self._make = make
        self.made: list[Store] = []
        self.count_results = count  # result entries of player P, read in the store itself

    def __call__(self, **opts: Any) -> Store:
        store = self._make(**opts)
        self.made.append(store)
        return store


@pytest.fixture(params=["sqlite", "redis", "cluster"])
async def make_store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Factory]:
    if request.param in ("redis", "cluster"):  # the store finds out which it is talking to
        url = request.getfixturevalue("redis_url" if request.param == "redis" else "cluster_url")
        factory = Factory(
            request.param,
            lambda **o: RedisStore(url, **o),
            lambda: _redis_results(url, request.param == "cluster"),
        )
    else:
        factory = Factory(
            "sqlite",
            lambda **o: SqliteStore(tmp_path / "store.db", **o),
            lambda: _sqlite_results(tmp_path / "store.db"),
        )
    yield factory
    for store in factory.made:
        await store.close()


def _redis_results(url: str, cluster: bool) -> int:
    pattern = _prefix(G, P) + ":res:*"
    if cluster:  # every key of a player is on the master of its slot
        with RedisCluster.from_url(url) as rc:
            node = rc.get_node_from_key(_prefix(G, P) + ":state")
            return len(rc.keys(pattern, target_nodes=node))
    with redis.Redis.from_url(url) as client:
        return len(client.keys(pattern))


def _sqlite_results(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT count(*) FROM results WHERE game = ? AND player = ?", (G, P)
        ).fetchone()[0]


@pytest.fixture
def store(make_store: Factory) -> Store:
    return make_store()


def ok(action_id: str, n: int = 1) -> Decided:
    return Decided(
        action_id,
        f"fp-{action_id}",
        {"id": action_id, "status": "ok", "changes": {"coins": [0, n]}, "events": []},
        {"action": "buy", "changes": {"coins": [0, n]}, "events": []},
    )


def rejected(action_id: str) -> Decided:
    error = {"code": "insufficient", "message": "need 1 energy, have 0"}
    return Decided(
        action_id, f"fp-{action_id}", {"id": action_id, "status": "rejected", "error": error}, None
    )


async def put(
    store: Store, version: int, state: dict, *decided: Decided, **kw: Any
) -> CommitOutcome:
    kw.setdefault("changed", None)
    return await store.commit(
        G, P, expected_version=version, state=state, decided=list(decided), **kw
    )


# -- state and versions --


async def test_new_player_has_no_state(store: Store) -> None:
    assert await store.load(G, P) == Snapshot(0, None)


async def test_commit_then_load(store: Store) -> None:
    state = {"coins": 185, "seed": {"wheat": 3}, "field": [{"crop": "wheat"}, None]}
    out = await put(store, 0, state, ok("a1"))
    assert (out.status, out.version, out.seen) == ("ok", 1, {})
    assert await store.load(G, P) == Snapshot(1, state)

    # changed=None replaces the whole state: a field left out is gone
    assert (await put(store, 1, {"coins": 0})).version == 2
    assert await store.load(G, P) == Snapshot(2, {"coins": 0})
    assert (await put(store, 2, {})).status == "ok"
    assert await store.load(G, P) == Snapshot(3, {})


async def test_players_and_games_are_separate(store: Store) -> None:
    await put(store, 0, {"coins": 1})
    assert await store.load(G, "p2") == Snapshot(0, None)
    assert await store.load("other", P) == Snapshot(0, None)


async def test_conflict_writes_nothing(store: Store) -> None:
    await put(store, 0, {"coins": 1}, ok("a1"))
    out = await put(store, 0, {"coins": 99}, ok("a2"))
    assert (out.status, out.version, out.event_ids) == ("conflict", 1, [])
    assert await store.load(G, P) == Snapshot(1, {"coins": 1})
    assert await store.lookup(G, P, ["a2"]) == {}
    assert len(await store.ledger(G, P, after=None, limit=10)) == 1


async def test_seen_ids_answer_stored_result_and_write_nothing(store: Store) -> None:
    first = ok("a1")
    await put(store, 0, {"coins": 1}, first)
    # the version is right, but a1 was decided before: nothing of this commit is written
    out = await put(store, 1, {"coins": 50}, ok("a2"), ok("a1", n=7))
    assert out.status == "seen"
    assert out.version == 1
    assert out.seen == {"a1": ("fp-a1", first.result)}
    assert await store.load(G, P) == Snapshot(1, {"coins": 1})
    assert await store.lookup(G, P, ["a1", "a2"]) == {"a1": ("fp-a1", first.result)}
    assert len(await store.ledger(G, P, after=None, limit=10)) == 1
    # "seen" is checked before the version
    assert (await put(store, 0, {}, ok("a1"))).status == "seen"


async def test_rejected_results_are_remembered_but_not_in_ledger(store: Store) -> None:
    out = await put(store, 0, {"coins": 1}, ok("a1"), rejected("a2"), ok("a3"))
    assert out.status == "ok"
    assert len(out.event_ids) == 2
    found = await store.lookup(G, P, ["a1", "a2", "a3", "a4"])
    assert found == {
        d.action_id: (d.fingerprint, d.result) for d in (ok("a1"), rejected("a2"), ok("a3"))
    }
    entries = await store.ledger(G, P, after=None, limit=10)
    assert [e["id"] for e in entries] == out.event_ids
    # a rejected-only commit still bumps the version and remembers the id
    out = await put(store, 1, {"coins": 1}, rejected("a4"))
    assert (out.status, out.event_ids) == ("ok", [])
    assert "a4" in await store.lookup(G, P, ["a4"])
    assert len(await store.ledger(G, P, after=None, limit=10)) == 2


async def test_changed_fields_only(store: Store) -> None:
    await put(store, 0, {"coins": 1, "energy": 5, "xp": 0})
    # only listed fields are written: energy's new value here is not
    await put(store, 1, {"coins": 2, "energy": 999, "xp": 0}, changed=["coins"])
    assert await store.load(G, P) == Snapshot(2, {"coins": 2, "energy": 5, "xp": 0})
    # a listed field absent from state is deleted; new fields appear
    await put(store, 2, {"coins": 3, "level": 2}, changed=["coins", "xp", "level"])
    assert await store.load(G, P) == Snapshot(3, {"coins": 3, "energy": 5, "level": 2})


async def test_refuses_reserved_fields_and_repeated_ids(store: Store) -> None:
    with pytest.raises(ValueError):
        await put(store, 0, {"@version": 7})
    with pytest.raises(ValueError):
        await put(store, 0, {}, ok("a1"), ok("a1"))
    assert await store.load(G, P) == Snapshot(0, None)


async def test_concurrent_commits_exactly_one_wins(make_store: Factory) -> None:
    stores = [make_store() for _ in range(4)] if make_store.kind != "sqlite" else [make_store()]
    outs = await asyncio.gather(
        *(put(stores[i % len(stores)], 0, {"coins": i}, ok(f"a{i}")) for i in range(20))
    )
    assert sorted(o.status for o in outs) == ["conflict"] * 19 + ["ok"]
    winner = next(i for i, o in enumerate(outs) if o.status == "ok")
    assert await stores[0].load(G, P) == Snapshot(1, {"coins": winner})
    assert {o.version for o in outs} == {1}


# -- remember: results that change nothing --


def rejected_as(action_id: str, code: str) -> Decided:
    """The same id decided another way (another process, a later state)."""
    d = rejected(action_id)
    return Decided(d.action_id, d.fingerprint, {**d.result, "error": {"code": code}}, None)


async def remember(store: Store, version: int, *decided: Decided) -> CommitOutcome:
    return await store.remember(G, P, expected_version=version, decided=list(decided))


async def test_remember_keeps_state_version_and_ledger(store: Store) -> None:
    inbox = Inbox()
    await store.subscribe(G, P, inbox)
    first = await put(store, 0, {"coins": 1}, ok("a1"))
    await inbox.next()
    out = await remember(store, 1, rejected("r1"), rejected("r2"))
    assert (out.status, out.version, out.seen, out.event_ids) == ("ok", 1, {}, [])
    assert await store.load(G, P) == Snapshot(1, {"coins": 1})
    assert await store.lookup(G, P, ["r1", "r2"]) == {
        d.action_id: (d.fingerprint, d.result) for d in (rejected("r1"), rejected("r2"))
    }
    assert [e["id"] for e in await store.ledger(G, P, after=None, limit=10)] == first.event_ids
    await asyncio.sleep(0.1)
    assert inbox.messages == []  # nothing changed: nothing is pushed
    # the next commit is checked against the same version: remember did not move it
    assert (await put(store, 1, {"coins": 2}, ok("a2"))).version == 2


async def test_remember_for_a_new_player_creates_no_state(store: Store) -> None:
    assert (await remember(store, 0, rejected("r1"))).status == "ok"
    assert await store.load(G, P) == Snapshot(0, None)
    assert "r1" in await store.lookup(G, P, ["r1"])
    assert (await put(store, 0, {"coins": 5}, ok("a1"))).version == 1


async def test_remember_first_decision_wins(store: Store) -> None:
    await put(store, 0, {"coins": 1}, ok("a1"))
    await remember(store, 1, rejected("r1"))
    # an id decided before: "seen" with the stored result, and nothing of the call is written
    out = await remember(
        store, 1, rejected("r2"), rejected_as("r1", "limit"), rejected_as("a1", "x")
    )
    assert (out.status, out.version) == ("seen", 1)
    assert out.seen == {"r1": ("fp-r1", rejected("r1").result), "a1": ("fp-a1", ok("a1").result)}
    assert await store.lookup(G, P, ["r1", "r2"]) == {"r1": ("fp-r1", rejected("r1").result)}
    # "seen" is checked before the version, as in commit
    assert (await remember(store, 0, rejected_as("r1", "x"))).status == "seen"
    # and a commit meets the remembered rejection too: nothing of it is written
    out = await put(store, 1, {"coins": 50}, ok("a2"), ok("r1"))
    assert out.status == "seen" and out.seen == {"r1": ("fp-r1", rejected("r1").result)}
    assert await store.load(G, P) == Snapshot(1, {"coins": 1})


async def test_remember_conflict_writes_nothing(store: Store) -> None:
    await put(store, 0, {"coins": 1}, ok("a1"))
    out = await remember(store, 0, rejected("r1"))  # judged on a state that is gone
    assert (out.status, out.version, out.seen) == ("conflict", 1, {})
    assert await store.lookup(G, P, ["r1"]) == {}
    assert await store.load(G, P) == Snapshot(1, {"coins": 1})


async def test_remember_refuses_ledger_entries_and_repeated_ids(store: Store) -> None:
    with pytest.raises(ValueError):
        await remember(store, 0, ok("a1"))
    with pytest.raises(ValueError):
        await remember(store, 0, rejected("r1"), rejected_as("r1", "limit"))
    assert await store.lookup(G, P, ["a1", "r1"]) == {}


async def test_remembered_results_expire(make_store: Factory) -> None:
    store = make_store(result_ttl=0.2)
    await remember(store, 0, rejected("r1"))
    assert "r1" in await store.lookup(G, P, ["r1"])
    await asyncio.sleep(0.35)
    assert await store.lookup(G, P, ["r1"]) == {}
    # forgotten: decided anew, and the new decision is what is remembered now
    assert (await remember(store, 0, rejected_as("r1", "limit"))).status == "ok"
    assert (await store.lookup(G, P, ["r1"]))["r1"][1]["error"]["code"] == "limit"


async def test_rejections_are_remembered_shorter_than_applied_results(make_store: Factory) -> None:
    store = make_store(result_ttl=60, rejection_ttl=0.2)
    assert (await put(store, 0, {}, ok("a1"), rejected("r1"))).status == "ok"
    assert (await remember(store, 1, rejected("r2"))).status == "ok"
    assert set(await store.lookup(G, P, ["a1", "r1", "r2"])) == {"a1", "r1", "r2"}
    await asyncio.sleep(0.35)
    assert set(await store.lookup(G, P, ["a1", "r1", "r2"])) == {"a1"}
    assert make_store.count_results() == 1 or make_store.kind == "sqlite"  # purged later there


async def test_rejections_remembered_per_player_are_capped(make_store: Factory) -> None:
    """A flood of rejections with fresh ids (alone, and beside applied actions) keeps at
    most max_rejections of them; the newest stay, and no applied result is pushed out."""
    store = make_store(max_rejections=10)
    version, applied = 0, []
    for b in range(6):
        out = await remember(store, version, *[rejected(f"r{b}-{i}") for i in range(8)])
        assert out.status == "ok"
        out = await put(store, version, {}, ok(f"a{b}"), *[rejected(f"m{b}-{i}") for i in range(4)])
        assert out.status == "ok"
        version = out.version
        applied.append(f"a{b}")
        assert make_store.count_results() <= 10 + len(applied)
    assert make_store.count_results() == 10 + len(applied)
    known = await store.lookup(G, P, applied + [f"m5-{i}" for i in range(4)] + ["r0-0", "m0-0"])
    assert set(known) == set(applied) | {f"m5-{i}" for i in range(4)}  # the oldest forgotten
    assert known["m5-3"] == ("fp-m5-3", rejected("m5-3").result)
    # a forgotten rejection is decided anew; a remembered one is still "seen"
    assert (await remember(store, version, rejected("m5-0"))).status == "seen"
    assert (await remember(store, version, rejected_as("r0-0", "limit"))).status == "ok"


async def test_concurrent_remembers_of_one_id_exactly_one_wins(make_store: Factory) -> None:
    stores = [make_store() for _ in range(4)] if make_store.kind != "sqlite" else [make_store()]
    outs = await asyncio.gather(
        *(remember(stores[i % len(stores)], 0, rejected_as("r1", f"code{i}")) for i in range(20))
    )
    assert sorted(o.status for o in outs) == ["ok"] + ["seen"] * 19
    winner = next(i for i, o in enumerate(outs) if o.status == "ok")
    stored = (await stores[0].lookup(G, P, ["r1"]))["r1"]
    assert stored[1]["error"]["code"] == f"code{winner}"
    assert all(o.seen == {"r1": stored} for o in outs if o.status == "seen")


# -- results, ledger, devices --


async def test_results_expire(make_store: Factory) -> None:
    store = make_store(result_ttl=0.2)
    await put(store, 0, {}, ok("a1"))
    assert "a1" in await store.lookup(G, P, ["a1"])
    await asyncio.sleep(0.35)
    assert await store.lookup(G, P, ["a1"]) == {}
    assert (await put(store, 1, {}, ok("a1"))).status == "ok"  # forgotten: new again


async def test_ledger_order_and_after(store: Store) -> None:
    ids: list[str] = []
    for v in range(3):
        out = await put(store, v, {}, ok(f"a{v}x", v), rejected(f"a{v}r"), ok(f"a{v}y", v))
        ids += out.event_ids
    entries = await store.ledger(G, P, after=None, limit=100)
    assert [e["id"] for e in entries] == ids
    assert entries[0] == {"id": ids[0], **ok("a0x", 0).ledger}  # type: ignore[dict-item]
    assert [e["id"] for e in await store.ledger(G, P, after=ids[1], limit=2)] == ids[2:4]
    assert await store.ledger(G, P, after=ids[-1], limit=10) == []
    assert await store.ledger(G, P, after=None, limit=0) == []
    assert await store.ledger_since(G, P, "0") == entries
    assert await store.ledger_since(G, P, ids[3]) == entries[4:]
    with pytest.raises(ValueError):
        await store.ledger(G, P, after="not an id", limit=10)


async def test_ledger_recent(store: Store) -> None:
    assert await store.ledger_recent(G, P, limit=5) == []
    ids: list[str] = []
    for v in range(4):
        out = await put(store, v, {}, ok(f"a{v}x", v), rejected(f"a{v}r"), ok(f"a{v}y", v))
        ids += out.event_ids
    everything = await store.ledger(G, P, after=None, limit=100)
    assert [e["id"] for e in everything] == ids
    # the newest `limit`, oldest first, each with its event id, as `ledger` answers them
    assert await store.ledger_recent(G, P, limit=3) == everything[-3:]
    assert await store.ledger_recent(G, P, limit=1) == everything[-1:]
    assert await store.ledger_recent(G, P, limit=8) == everything
    assert await store.ledger_recent(G, P, limit=100) == everything
    assert await store.ledger_recent(G, P, limit=0) == []
    assert everything[-1] == {"id": ids[-1], **ok("a3y", 3).ledger}  # type: ignore[dict-item]
    # rejected-only decisions add nothing; other players and games are apart
    await remember(store, 4, rejected("late"))
    assert await store.ledger_recent(G, P, limit=3) == everything[-3:]
    assert await store.ledger_recent(G, "p2", limit=3) == []
    assert await store.ledger_recent("other", P, limit=3) == []


async def test_ledger_recent_after_trimming(make_store: Factory) -> None:
    store = make_store(ledger_maxlen=10)
    out = await put(store, 0, {}, *(ok(f"a{i}") for i in range(300)))
    retained = await store.ledger(G, P, after=None, limit=1000)
    assert 10 <= len(retained) < 300  # Redis trims approximately
    assert await store.ledger_recent(G, P, limit=5) == retained[-5:]
    assert [e["id"] for e in retained[-5:]] == out.event_ids[-5:]
    assert await store.ledger_recent(G, P, limit=1000) == retained  # only what is retained


async def test_trimmed_ledger_asks_for_resync(make_store: Factory) -> None:
    store = make_store(ledger_maxlen=10)
    assert await store.ledger_since(G, P, "0") == []
    # Redis trims approximately (whole nodes of ~100 entries): add enough to see it.
    out = await put(store, 0, {}, *(ok(f"a{i}") for i in range(300)))
    ids = out.event_ids
    entries = await store.ledger(G, P, after=None, limit=1000)
    assert 10 <= len(entries) < 300
    assert [e["id"] for e in entries] == ids[-len(entries) :]
    assert await store.ledger_since(G, P, ids[0]) is None
    assert await store.ledger_since(G, P, "0") is None
    assert await store.ledger_since(G, P, entries[0]["id"]) == entries[1:]
    assert await store.ledger_since(G, P, ids[-1]) == []


async def test_player_for_device(store: Store) -> None:
    first = await store.player_for_device(G, "device-0001")
    assert len(first) >= 16
    assert await store.player_for_device(G, "device-0001") == first
    others = {await store.player_for_device(G, f"device-{i:04}") for i in range(2, 12)}
    others.add(await store.player_for_device("other", "device-0001"))
    odd = await store.player_for_device(G, "a}b{c:d/é")
    assert odd == await store.player_for_device(G, "a}b{c:d/é")
    assert len(others | {first, odd}) == 13


# -- pushes --


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self._arrived = asyncio.Event()

    def __call__(self, message: dict) -> None:
        self.messages.append(message)
        self._arrived.set()

    async def next(self, timeout: float = 5.0) -> dict:
        while not self.messages:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), timeout)
        return self.messages.pop(0)


async def test_subscribe_receives_each_commit(make_store: Factory) -> None:
    writer = make_store()
    reader = make_store() if make_store.kind != "sqlite" else writer  # another process
    inbox, inbox2 = Inbox(), Inbox()
    sub = await reader.subscribe(G, P, inbox)
    sub2 = await reader.subscribe(G, P, inbox2)
    await reader.subscribe(G, "p2", Inbox())

    out = await put(writer, 0, {"coins": 1}, ok("a1"), rejected("a2"))
    if make_store.kind == "sqlite":
        assert len(inbox.messages) == 1  # its own commit: delivered before the call returns
    expected = {
        "version": 1,
        "decided": [ok("a1").result, rejected("a2").result],
        "event_ids": out.event_ids,
        "ledger": [ok("a1").ledger],
    }
    assert await inbox.next() == expected
    assert await inbox2.next() == expected

    await put(writer, 1, {}, ok("a3"), push=False)
    await sub.close()
    await sub.close()  # harmless
    out = await put(writer, 2, {}, ok("a4"))
    assert (await inbox2.next())["event_ids"] == out.event_ids
    await sub2.close()
    await put(writer, 3, {}, ok("a5"))
    await asyncio.sleep(0.1)
    assert inbox.messages == inbox2.messages == []


async def test_subscribers_get_this_process_s_own_commits_too(make_store: Factory) -> None:
    """One store commits and listens (one server process, a player on one device): its
    own commits reach its subscribers before the commit call returns, once each, in
    order; `version` says where the subscription starts."""
    store = make_store()
    await put(store, 0, {"coins": 1}, ok("a0"))
    inbox = Inbox()
    sub = await store.subscribe(G, P, inbox)
    assert sub.version == 1
    for v in range(1, 4):
        await put(store, v, {"coins": v + 1}, ok(f"a{v}"))
        assert [m["version"] for m in inbox.messages] == list(range(2, v + 2))  # already
    await asyncio.sleep(0.1)
    assert [m["version"] for m in inbox.messages] == [2, 3, 4]  # and not twice
    await sub.close()


# -- Redis only: layout, faults, durability --


class RawListener:
    """A plain Redis subscriber to a player's channel: sees what a commit publishes."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(_prefix(G, P) + ":push")

    def published(self, wait: float = 0.3) -> list[dict]:
        out, deadline = [], time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            m = self._pubsub.get_message(timeout=left)
            if m is not None:
                out.append(orjson.loads(m["data"]))
        return out

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


async def test_redis_publishes_only_when_another_process_listens(redis_url: str) -> None:
    """A commit goes through Redis pub/sub only when a process other than the committing
    one listens to the player (runtime/redis_presence.py); its own subscribers get it
    from the process itself. A process that leaves is no longer counted."""
    raw = RawListener(redis_url)
    one, two = RedisStore(redis_url), RedisStore(redis_url)
    mine, theirs = Inbox(), Inbox()
    try:
        await one.subscribe(G, P, mine)
        await put(one, 0, {}, ok("a1"))
        assert (await mine.next())["version"] == 1
        assert raw.published() == []  # nobody else listens: nothing through Redis

        sub = await two.subscribe(G, P, theirs)
        await put(one, 1, {}, ok("a2"))  # now process two listens: published, once
        assert [m["version"] for m in raw.published()] == [2]
        assert (await mine.next())["version"] == 2
        assert (await theirs.next())["version"] == 2
        await put(two, 2, {}, ok("a3"))
        assert (await mine.next())["version"] == (await theirs.next())["version"] == 3
        assert [m["version"] for m in raw.published()] == [3]

        await sub.close()
        await put(one, 3, {}, ok("a4"))
        assert (await mine.next())["version"] == 4
        assert raw.published() == []
        assert theirs.messages == []
    finally:
        raw.close()
        await one.close()
        await two.close()


async def test_redis_a_listener_that_died_lapses(redis_url: str) -> None:
    """A process that dies holding a subscription stops counting as a listener once
    its entry lapses (until then commits are published for nobody: harmless)."""
    raw = RawListener(redis_url)
    dead, alive = RedisStore(redis_url, presence_ttl=0.5), RedisStore(redis_url)
    try:
        await dead.subscribe(G, P, Inbox())
        await dead.close()  # gone without leaving: its entry stays until it lapses
        assert redis.Redis.from_url(redis_url).zcard(_prefix(G, P) + ":here") == 1
        await put(alive, 0, {}, ok("a1"))
        assert [m["version"] for m in raw.published()] == [1]
        await asyncio.sleep(0.6)
        await put(alive, 1, {}, ok("a2"))
        assert raw.published() == []
    finally:
        raw.close()
        await alive.close()


async def test_redis_a_listener_renews_its_entry(redis_url: str) -> None:
    raw = RawListener(redis_url)
    listener = RedisStore(redis_url, presence_ttl=0.6, presence_renew_every=0.15)
    writer = RedisStore(redis_url)
    inbox = Inbox()
    try:
        await listener.subscribe(G, P, inbox)
        await asyncio.sleep(1.2)  # twice the ttl: renewed meanwhile
        await put(writer, 0, {}, ok("a1"))
        assert (await inbox.next())["version"] == 1
        assert [m["version"] for m in raw.published()] == [1]
    finally:
        raw.close()
        await listener.close()
        await writer.close()


async def test_redis_keys_of_a_player_share_one_slot(redis_url: str) -> None:
    store = RedisStore(redis_url)
    await put(store, 0, {"coins": 1}, ok("a1"), rejected("a2"))
    await store.close()
    keys = redis.Redis.from_url(redis_url).keys("*")
    assert sorted(keys) == [
        b"rulesc:{farm:p1}:ledger",
        b"rulesc:{farm:p1}:rej",
        b"rulesc:{farm:p1}:res:a1",
        b"rulesc:{farm:p1}:res:a2",
        b"rulesc:{farm:p1}:state",
    ]
    assert len({key_slot(k) for k in keys} | {key_slot(b"rulesc:{farm:p1}:push")}) == 1


async def test_redis_remember_is_one_script_under_the_hash_tag(redis_url: str) -> None:
    store = RedisStore(redis_url, result_ttl=3600)
    await put(store, 0, {"coins": 1}, ok("a1"))
    client = redis.Redis.from_url(redis_url)
    client.script_load(_remember_script.source)  # cached, as after the first remember
    before = client.info("commandstats")
    await remember(store, 1, rejected("r1"), rejected("r2"))
    after = client.info("commandstats")
    calls = {
        k: n for k, v in after.items() if (n := v["calls"] - before.get(k, {"calls": 0})["calls"])
    }
    # one round trip: one EVALSHA (the GET/SET inside the script count apart from it)
    assert calls.get("cmdstat_evalsha") == 1 and "cmdstat_eval" not in calls
    assert calls.get("cmdstat_hget") == 1 and "cmdstat_hset" not in calls
    await store.close()
    keys = client.keys("*")
    assert sorted(keys) == [
        b"rulesc:{farm:p1}:ledger",
        b"rulesc:{farm:p1}:rej",
        b"rulesc:{farm:p1}:res:a1",
        b"rulesc:{farm:p1}:res:r1",
        b"rulesc:{farm:p1}:res:r2",
        b"rulesc:{farm:p1}:state",
    ]
    assert len({key_slot(k) for k in keys}) == 1
    for k in (b"rulesc:{farm:p1}:res:r1", b"rulesc:{farm:p1}:res:a1"):
        assert 3_590_000 < client.pttl(k) <= 3_600_000  # the same expiry as a commit's
    assert client.hget(b"rulesc:{farm:p1}:state", b"@version") == b"1"
    client.close()


async def test_redis_sharded_pubsub(redis_url: str) -> None:
    writer = RedisStore(redis_url, publish_command="SPUBLISH")
    reader = RedisStore(redis_url, publish_command="SPUBLISH")
    inbox = Inbox()
    await reader.subscribe(G, P, inbox)
    out = await put(writer, 0, {}, ok("a1"))
    assert (await inbox.next())["event_ids"] == out.event_ids
    await writer.close()
    await reader.close()


async def test_redis_reloads_a_flushed_script(redis_url: str) -> None:
    store = RedisStore(redis_url)
    await put(store, 0, {"coins": 1}, ok("a1"))
    redis.Redis.from_url(redis_url).script_flush()
    assert (await put(store, 1, {"coins": 2}, ok("a2"))).status == "ok"
    assert await store.load(G, P) == Snapshot(2, {"coins": 2})
    await store.close()


async def test_redis_outage_is_unavailable_then_recovers(redis_server, redis_url: str) -> None:
    store = RedisStore(redis_url, socket_timeout=1.0, connect_timeout=0.5)
    listener = RedisStore(redis_url)
    inbox = Inbox()
    await listener.subscribe(G, P, inbox)
    await put(store, 0, {"coins": 1}, ok("a1"))
    await inbox.next()

    redis_server.stop()
    with pytest.raises(StoreUnavailable):
        await store.load(G, P)
    with pytest.raises(StoreUnavailable):
        await put(store, 1, {"coins": 2}, ok("a2"))
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.subscribe(G, "p2", Inbox())

    redis_server.start()
    await store.ping()
    assert await store.load(G, P) == Snapshot(1, {"coins": 1})
    assert (await put(store, 1, {"coins": 2}, ok("a2"))).status == "ok"
    # the listener's link came back by itself and says that it may have missed commits
    assert await inbox.next() == {"gap": True}
    out = await put(store, 2, {"coins": 3}, ok("a3"))
    # a2's message arrives too when the link was back before a2 was committed: a race
    message = await inbox.next()
    if message["event_ids"] != out.event_ids:
        message = await inbox.next()
    assert message["event_ids"] == out.event_ids
    await store.close()
    await listener.close()


async def test_redis_acknowledged_commit_survives_a_crash(redis_server, redis_url) -> None:
    store = RedisStore(redis_url)
    out = await put(store, 0, {"coins": 7}, ok("a1"))
    await store.close()
    redis_server.stop(kill=True)
    redis_server.start()
    store = RedisStore(redis_url)
    assert await store.load(G, P) == Snapshot(1, {"coins": 7})
    assert await store.lookup(G, P, ["a1"]) == {"a1": ("fp-a1", ok("a1").result)}
    assert [e["id"] for e in await store.ledger(G, P, after=None, limit=10)] == out.event_ids
    await store.close()


# -- SQLite only --


async def test_sqlite_state_survives_reopening(tmp_path) -> None:
    store = SqliteStore(tmp_path)  # a directory: the file is made inside it
    await put(store, 0, {"coins": 7}, ok("a1"))
    await store.close()
    store = SqliteStore(tmp_path)
    assert await store.load(G, P) == Snapshot(1, {"coins": 7})
    assert "a1" in await store.lookup(G, P, ["a1"])
    await store.close()
