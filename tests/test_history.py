"""The history sink (runtime/history.py): every committed ledger entry reaches the SQL
database once, every rejection is counted once, whatever is redelivered; a server killed
mid-drain and a database down for a while lose and double nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from rulesc.runtime.history import Drainer, FeedItem, FeedStatus, Sink, make_sink
from rulesc.runtime.redis_history import slot_feed_key
from rulesc.runtime.redis_keys import player_prefix
from rulesc.runtime.store import Store, StoreUnavailable
from rulesc.runtime.store_redis import RedisStore
from rulesc.runtime.store_sqlite import SqliteStore

from . import prockit
from .clusterkit import Cluster
from .serverkit import HARVEST, Kit, a, act, call, session

WAIT = 60.0  # seconds: the most a test waits for the drainer to catch up


class At:
    """What serverkit's calls need of a server: its URL."""

    def __init__(self, url: str) -> None:
        self.url = url


def rows(url: str, query: str) -> list[tuple]:
    """A query on the history database (postgresql://... or a SQLite file path)."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as conn:
            return [tuple(r) for r in conn.execute(query).fetchall()]
    with sqlite3.connect(url) as conn:
        return conn.execute(query).fetchall()


def entries_in(url: str) -> Counter:
    """(game, player, entry id) -> times it is in the table."""
    return Counter(rows(url, "SELECT game, player, entry_id FROM history_entries"))


def rejections_in(url: str) -> dict[tuple[str, str], int]:
    return {
        (action, reason): n
        for action, reason, n in rows(
            url, "SELECT action, reason, sum(count) FROM history_rejections GROUP BY 1, 2"
        )
    }


async def ledger_of(store: Store, players: list[str]) -> set[tuple[str, str, str]]:
    out = set()
    for p in players:
        for entry in await store.ledger("harvest", p, after=None, limit=100_000):
            out.add(("harvest", p, entry["id"]))
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "history.sqlite3")


def sink_for(url: str, tmp_path: Path) -> Sink:
    return make_sink(url if url.startswith("postgresql://") else f"sqlite://{url}", tmp_path)


async def play(run: Any, players: int, rounds: int, who: str) -> tuple[list[str], Counter]:
    """New players (devices `who`-N) each buy seeds (applied) and harvest an empty plot
    (rejected); the players, and the rejections they got by (action, reason)."""
    ids, rejected = [], Counter()
    for i in range(players):
        player, token = await session(run, f"device-{who}-{i:04d}")
        ids.append(player)
        for r in range(rounds):
            reply = await act(
                run,
                token,
                a(f"b{r}", "buy_seed", kind="wheat", qty=1),
                a(f"h{r}", "harvest", slot=0),
            )
            assert reply.status == 200, reply.body
            for result in reply.body["results"]:
                assert not result.get("replayed")
                if result["status"] == "rejected":
                    rejected[("harvest", result["error"]["code"])] += 1
    return ids, rejected


def store_kit(kind: str, harvest: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Kit:
    """A Kit on the embedded store, one Redis node or the test Redis Cluster."""
    if kind == "sqlite":
        return Kit(kind, harvest, tmp_path)
    fixture = "redis_url" if kind == "redis" else "cluster_url"
    return Kit("redis", harvest, tmp_path, request.getfixturevalue(fixture))


@pytest.mark.parametrize("kind", ["sqlite", "redis", "cluster"])
async def test_every_entry_reaches_the_history_once(
    kind: str, history_url: str, harvest: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    k = store_kit(kind, harvest, tmp_path, request)
    try:
        run = await k.start(store=k.make_store(history=True))
        players, rejected = await play(run, players=3, rounds=4, who="a")
        feed: Any = run.store.history_feed()
        sink = sink_for(history_url, tmp_path)
        drainer = Drainer(feed, sink, batch=5)  # several batches
        try:
            # a batch written and never trimmed: as if the drainer died after the SQL commit
            if kind == "cluster":  # a stream per slot: the players' feeds, read together
                first, _ = await feed.read_many(5)
                by_hand, positions = await sink.write_many(first)
                assert positions == {name: items[-1].position for name, items in first.items()}
            else:
                name = await feed.name()
                first = await feed.read_after(None, 5)
                by_hand, position = await sink.write(name, first)
                assert position == first[-1].position
            assert by_hand > 0
            await drainer.drain()  # the rest, and not those again
            status = await feed.status()
            assert (status.waiting, status.oldest_ms, status.behind(time.time())) == (0, None, 0)
            # the drainer counts what it wrote: not the batch written by hand above again
            assert status.written == 3 * 4 - by_hand
            if kind == "cluster":  # nothing again; the feeds' positions are past those
                again, now = await sink.write_many(first)
                assert again == 0 and now.keys() == positions.keys()
                assert all(now[f] >= p for f, p in positions.items())  # type: ignore[operator]
            else:
                assert await sink.write(name, first) == (0, drainer._position)
        finally:
            await drainer.close()
        ledger = await ledger_of(run.store, players)
        table = entries_in(history_url)
        assert set(table) == ledger and len(ledger) == 3 * 4
        assert max(table.values()) == 1
        assert rejections_in(history_url) == dict(rejected) and rejected
    finally:
        await k.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis", "cluster"])
async def test_two_drainers_at_once_write_each_entry_once(
    kind: str, history_url: str, harvest: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two drainers (as two machines' `serve --history`) read the same feed at the same
    time, in small batches: every entry is written once, every rejection counted once."""
    k = store_kit(kind, harvest, tmp_path, request)
    try:
        run = await k.start(store=k.make_store(history=True))
        players, rejected = await play(run, players=4, rounds=5, who="a")
        drainers = [
            Drainer(run.store.history_feed(), sink_for(history_url, tmp_path), batch=3)
            for _ in range(2)
        ]
        try:
            await asyncio.gather(*(d.drain() for d in drainers))
            status = await run.store.history_feed().status()
            assert (status.waiting, status.written) == (0, 4 * 5)
        finally:
            for d in drainers:
                await d.close()
        table = entries_in(history_url)
        assert set(table) == await ledger_of(run.store, players) and max(table.values()) == 1
        assert rejections_in(history_url) == dict(rejected)
    finally:
        await k.close()


def master_ports(cluster: Cluster) -> set[int]:
    """The ports of the cluster's masters (the nodes that hold slots)."""
    with redis.Redis(port=next(n for n in cluster.nodes if n.running).port) as c:
        return {int(master[1]) for _, _, master, *_ in c.execute_command("CLUSTER", "SLOTS")}


def feeds_on(port: int) -> list[bytes]:
    """The history feed streams a node holds."""
    with redis.Redis(port=port) as c:
        return [k for k in c.keys("rulesc:history:{*}") if c.type(k) == b"stream"]


async def test_a_cluster_feeds_a_stream_per_slot_on_every_master_and_follows_a_slot_that_moves(
    history_url: str, harvest: Any, tmp_path: Path, redis_cluster: Cluster, cluster_url: str
) -> None:
    """Players on every master: each commit appends to its player's slot's feed, on the
    player's master; the drainer reads them all. A slot then moves to another master with
    its feed holding items: drained while it migrates (ASK), after it moved (the
    drainer's map is stale: MOVED), and the feed's positions hold on the new master."""
    k = Kit("redis", harvest, tmp_path, cluster_url)
    masters = master_ports(redis_cluster)
    sink = sink_for(history_url, tmp_path)
    try:
        run = await k.start(store=k.make_store(history=True))
        players: list[str] = []
        rejected: Counter = Counter()
        for n in range(20):  # until some player lives on each master
            ids, got = await play(run, players=3, rounds=2, who=f"a{n}")
            players += ids
            rejected += got
            homes = {redis_cluster.node_of(player_prefix("harvest", p)).port for p in players}
            if homes == masters:
                break
        assert homes == masters
        for port in masters:  # the feeds are on every master, not one stream on one
            assert feeds_on(port)
        feed: Any = run.store.history_feed()
        drainer = Drainer(feed, sink, batch=4)
        await drainer.drain()
        assert (await feed.status()).waiting == 0

        # one player's slot moves, its feed holding two commits not yet drained
        mover = players[0]
        key = player_prefix("harvest", mover)
        token = (await session(run, f"device-a0-{0:04d}"))[1]
        for r in range(2):
            reply = await act(run, token, a(f"m{r}", "buy_seed", kind="wheat", qty=1))
            assert reply.status == 200, reply.body
        source = redis_cluster.node_of(key)
        target = next(n for n in redis_cluster.nodes if n.port in masters and n is not source)
        slot = redis.crc.key_slot(key.encode())
        with redis.Redis(port=target.port) as t, redis.Redis(port=source.port) as s_:
            target_id = t.execute_command("CLUSTER", "MYID")
            source_id = s_.execute_command("CLUSTER", "MYID")
            t.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            s_.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            [stream] = [
                k
                for k in s_.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
                if k.startswith(b"rulesc:history:")
            ]
            last_id = s_.xinfo_stream(stream)["last-generated-id"]
            # the feed has moved, the player's keys not yet: the source answers ASK
            s_.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", stream)
        assert await drainer.drain_once() == 2
        assert (await feed.status()).waiting == 0
        with redis.Redis(port=target.port) as t, redis.Redis(port=source.port) as s_:
            rest = s_.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
            s_.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *rest)
        for node in redis_cluster.nodes:
            with redis.Redis(port=node.port) as c:
                c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        with redis.Redis(port=target.port) as t:
            assert t.xinfo_stream(stream)["last-generated-id"] == last_id  # ids kept
        # the game goes on on the new master; the drainer's map still names the old one
        for r in range(2, 4):
            reply = await act(run, token, a(f"m{r}", "buy_seed", kind="wheat", qty=1))
            assert reply.status == 200, reply.body
        assert stream in feeds_on(target.port) and stream not in feeds_on(source.port)
        await drainer.drain()
        status = await feed.status()
        assert status.waiting == 0 and status.written == len(players) * 2 + 4
        await drainer.close()
        ledger = await ledger_of(run.store, players)
        table = entries_in(history_url)
        assert set(table) == ledger and max(table.values()) == 1
        assert rejections_in(history_url) == dict(rejected)
    finally:
        await sink.close()
        await k.close()


async def test_a_cluster_master_down_holds_back_only_its_own_slots_history(
    harvest: Any, tmp_path: Path, redis_cluster: Cluster, cluster_url: str
) -> None:
    """A master down: the drainer writes what the other masters' feeds hold (and counts
    a failure), and the rest once the master is back; each entry once."""
    history = str(tmp_path / "history.sqlite3")
    k = Kit("redis", harvest, tmp_path, cluster_url)
    # the epoch and the drainers' totals stay up: their master is not the one stopped
    keep = {redis_cluster.node_of(f"rulesc:history:{key}").port for key in ("epoch", "totals")}
    try:
        run = await k.start(store=k.make_store(history=True))
        players: list[str] = []
        for n in range(20):  # until players live on a master that may stop, and another
            ids, _ = await play(run, players=3, rounds=1, who=f"a{n}")
            players += ids
            homes = {redis_cluster.node_of(player_prefix("harvest", p)).port for p in players}
            if homes - keep and len(homes) >= 2:
                break
        down = next(n for n in redis_cluster.nodes if n.port in homes - keep)
        on_down = [p for p in players if redis_cluster.node_of(player_prefix("harvest", p)) is down]
        store = RedisStore(cluster_url, history=True, socket_timeout=1.0, connect_timeout=0.5)
        drainer = Drainer(store.history_feed(), sink_for(history, tmp_path))
        try:
            await store.ping()
            await store.history_feed().status()  # the epoch made
            await store.history_feed().read_many(1)
            down.stop(kill=True)
            with pytest.raises(StoreUnavailable):  # the other masters' items, then the
                await drainer.drain()  # master down is all that is left: that round fails
            table = entries_in(history)
            assert {p for _, p, _ in table} == set(players) - set(on_down) and on_down
            with redis.Redis(port=redis_cluster.node_of("rulesc:history:totals").port) as c:
                assert int(c.hget("rulesc:history:totals", "failures") or 0) >= 1
            redis_cluster.ensure_up()
            deadline = time.monotonic() + WAIT
            while True:  # the drainer's link to the master comes back
                try:
                    await drainer.drain()
                    break
                except Exception:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.2)
        finally:
            await drainer.close()
            await store.close()
        table = entries_in(history)
        assert set(table) == await ledger_of(run.store, players) and max(table.values()) == 1
    finally:
        redis_cluster.ensure_up()
        await k.close()


async def test_a_busy_slot_feed_does_not_starve_the_others(
    redis_cluster: Cluster, cluster_url: str
) -> None:
    """Rounds that fill their batch go on from the feed after the one they stopped in:
    two feeds of one master, the first holding more than a batch, are read by turns."""
    store = RedisStore(cluster_url, history=True)
    try:
        await store.ping()
        link: Any = store._link
        addr, slots = next(iter(link.masters().items()))
        busy, other = slots[10], slots[3000]
        with redis.Redis(port=int(addr.rsplit(":", 1)[1])) as c:
            for slot, n in ((busy, 50), (other, 1)):
                for _ in range(n):
                    fields = {"g": "g", "p": f"p{slot}", "e": "[]", "r": '[["a", "b"]]'}
                    c.xadd(slot_feed_key(slot), fields)  # type: ignore[arg-type]
        feed: Any = store.history_feed()
        read = []
        for _ in range(2):  # a batch of 2 per master: the busy feed fills it
            batches, more = await feed.read_many(2 * len(link.masters()))
            assert more
            read.append(sorted(int(name.rsplit(":", 1)[1]) for name in batches))
        # the second round starts with the other feed (and has room for one of the busy
        # feed's after it); always from the first slot, every round would read the busy one
        assert read[:2] == [[busy], sorted([other, busy])]
    finally:
        await store.close()


async def test_a_store_started_afresh_is_a_new_feed(harvest: Any, tmp_path: Path) -> None:
    """A new store file (its outbox's positions start again at 1) is not taken for the
    feed already written: its entries are written too."""
    history = str(tmp_path / "history.sqlite3")
    players = set()
    for data in ("first", "second"):
        (tmp_path / data).mkdir()
        k = Kit("sqlite", harvest, tmp_path / data)
        try:
            run = await k.start(store=k.make_store(history=True))
            ids, _ = await play(run, players=1, rounds=2, who=data)
            drainer = Drainer(run.store.history_feed(), sink_for(history, tmp_path))
            try:
                await drainer.drain()
            finally:
                await drainer.close()
            players |= await ledger_of(run.store, ids)
        finally:
            await k.close()
    assert set(entries_in(history)) == players and len(players) == 2 * 2


async def test_another_feed_with_entries_already_written_adds_only_the_others(
    history_url: str, harvest: Any, tmp_path: Path
) -> None:
    """A store restored from a backup gets a new feed name (docs/operations.md) and sends
    again the items drained after the backup: the rows in the table are not doubled, the
    batch is not refused, and its new entries are written."""
    k = Kit("sqlite", harvest, tmp_path)
    try:
        run = await k.start(store=k.make_store(history=True))
        players, _ = await play(run, players=2, rounds=3, who="a")
        feed = run.store.history_feed()
        items = await feed.read_after(None, 100)
        sink = sink_for(history_url, tmp_path)
        try:
            written, _ = await sink.write("before-restore", items[: len(items) // 2])
            assert written > 0
            again, position = await sink.write("after-restore", items)
            assert position == items[-1].position
            assert written + again == 2 * 3  # entries written; those held are skipped
        finally:
            await sink.close()
        table = entries_in(history_url)
        assert set(table) == await ledger_of(run.store, players) and max(table.values()) == 1
    finally:
        await k.close()


async def test_without_history_nothing_is_fed(harvest: Any, tmp_path: Path, redis_url: str) -> None:
    for store in (SqliteStore(tmp_path / "s.db"), RedisStore(redis_url)):
        k = Kit("sqlite", harvest, tmp_path)
        run = await k.start(store=store)
        try:
            await play(run, players=1, rounds=1, who="a")
            assert await run.store.history_feed().status() == FeedStatus(0, None, 0, 0)
        finally:
            await k.close()


def test_the_history_rows_say_what_the_ledger_says(tmp_path: Path) -> None:
    url = str(tmp_path / "h.sqlite3")
    sink = make_sink(f"sqlite://{url}", tmp_path)
    entry = {"action": "sell", "changes": {"coins": [1, 5]}, "time": 1_767_571_200_000}
    item = FeedItem((1, 0), "g", "p", 1_767_657_600_000, [("7", entry)], [("buy", "limit")] * 2)

    async def go() -> None:
        try:
            assert await sink.write("f", [item]) == (1, (1, 0))
        finally:
            await sink.close()

    asyncio.run(go())
    assert rows(url, "SELECT game, player, entry_id, at_ms, day, action FROM history_entries") == [
        ("g", "p", "7", 1_767_571_200_000, "2026-01-05", "sell")
    ]
    assert rows(url, "SELECT * FROM history_rejections") == [("g", "buy", "limit", "2026-01-06", 2)]


# ---- real server processes: killed mid-drain, the database down ---------------------


async def wait_metric(served: prockit.Served, done: Callable[[str], bool]) -> str:
    """/metrics once `done` says so of its text (a bounded wait, not a timing assert)."""
    deadline = time.monotonic() + WAIT
    while True:
        text = (await call(f"{served.url}/metrics")).body.decode()
        if done(text):
            return text
        assert time.monotonic() < deadline, f"not so in {WAIT}s:\n{text[-2000:]}"
        await asyncio.sleep(0.1)


async def wait_drained(served: prockit.Served, history: str, expected: set) -> None:
    def drained(text: str) -> bool:
        if "rulesc_history_waiting 0.0" not in text:
            return False
        try:
            return set(entries_in(history)) >= expected
        except (psycopg.errors.UndefinedTable, sqlite3.OperationalError):  # no tables yet
            return False

    await wait_metric(served, drained)


def serve_args(redis_url: str, history: str, data: Path) -> list[str]:
    return [str(HARVEST), "--redis", redis_url, "--history", history, "--data-dir", str(data)]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["redis_url", "cluster_url"])  # one node, a cluster
async def test_a_server_killed_mid_drain_loses_and_doubles_nothing(
    where: str, postgres_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue(where)
    args = serve_args(redis_url, postgres_url, tmp_path / "data")
    served = await prockit.serve(args, tmp_path / "serve1.log")
    try:
        run = At(served.url)
        players, rejected = await play(run, players=4, rounds=10, who="before")

        async def more() -> None:  # commits go on while the server is killed
            await play(run, players=2, rounds=50, who="during")

        task = asyncio.ensure_future(more())
        try:  # killed once the drainer is at work
            await wait_metric(served, lambda text: "rulesc_history_entries_written 0" not in text)
            prockit.kill(served)
            await served.proc.wait()
        finally:
            await asyncio.gather(task, return_exceptions=True)  # cut off by the kill
    finally:
        prockit.kill(served)
        await served.proc.wait()
    served = await prockit.serve(args, tmp_path / "serve2.log")
    store = RedisStore(redis_url)
    try:
        all_players = await _players(store, redis_url)
        ledger = await ledger_of(store, all_players)
        await wait_drained(served, postgres_url, ledger)
        table = entries_in(postgres_url)
        assert set(table) == ledger and max(table.values()) == 1
        assert len(ledger) >= 4 * 10
    finally:
        await store.close()
        await prockit.stop(served)


@pytest.mark.slow
async def test_the_database_down_for_a_while_loses_and_doubles_nothing(
    redis_url: str, postgres_url: str, postgres_server: Any, tmp_path: Path
) -> None:
    served = await prockit.serve(serve_args(redis_url, postgres_url, tmp_path), tmp_path / "s.log")
    store = RedisStore(redis_url)
    try:
        run = At(served.url)
        players, rejected = await play(run, players=2, rounds=3, who="before")
        await wait_drained(served, postgres_url, await ledger_of(store, players))
        postgres_server.stop("immediate")  # a crash of the database
        try:
            more, rejected_later = await play(
                run, players=3, rounds=5, who="down"
            )  # the game goes on
            await wait_metric(served, lambda text: "rulesc_history_waiting 0.0" not in text)
        finally:
            postgres_server.start()
        ledger = await ledger_of(store, players + more)
        await wait_drained(served, postgres_url, ledger)
        table = entries_in(postgres_url)
        assert set(table) == ledger and max(table.values()) == 1
        assert rejections_in(postgres_url) == dict(rejected + rejected_later)
        assert sum(rejected_later.values()) == 3 * 5
    finally:
        await store.close()
        await prockit.stop(served)


async def _players(store: RedisStore, redis_url: str) -> list[str]:
    """Every player with a ledger in the test Redis (every master of a cluster)."""
    await store.ping()
    if store.is_cluster:
        with redis.RedisCluster.from_url(redis_url) as rc:
            keys = [
                k.decode() for k in rc.keys("rulesc:{harvest:*}:ledger", target_nodes=rc.PRIMARIES)
            ]
    else:
        with redis.Redis.from_url(redis_url) as client:
            keys = [k.decode() for k in client.scan_iter("rulesc:{harvest:*}:ledger")]
    return [k.split("{harvest:", 1)[1].split("}", 1)[0] for k in keys]


def drainer_pids(log: Path) -> list[int]:
    """The history drainer processes the server started, as its log names them."""
    return [
        int(line.rsplit(" ", 1)[1])
        for line in log.read_text().splitlines()
        if line.startswith("history drainer: pid ")
    ]


@pytest.mark.slow
async def test_the_drainer_is_a_process_of_its_own_beside_the_embedded_store(
    tmp_path: Path,
) -> None:
    """`serve --history` on the embedded SQLite store: the drainer is not the serving
    process (it reads the store's file from its own), and when it is killed the server
    starts another, which writes the rest, once."""
    data, log = tmp_path / "data", tmp_path / "s.log"
    history = str(data / "history.sqlite3")
    served = await prockit.serve(
        [str(HARVEST), "--history", "sqlite", "--data-dir", str(data)], log
    )
    store = SqliteStore(data)
    try:
        run = At(served.url)
        players, _ = await play(run, players=2, rounds=3, who="before")
        await wait_drained(served, history, await ledger_of(store, players))
        [first] = drainer_pids(log)
        serving = set(prockit.children(served.pid)) - {first}
        assert len(serving) == 1  # one serving process, and the drainer beside it
        os.kill(first, signal.SIGKILL)
        more, _ = await play(run, players=2, rounds=3, who="after")  # served on meanwhile
        ledger = await ledger_of(store, players + more)
        await wait_drained(served, history, ledger)
        assert len(drainer_pids(log)) == 2  # started again
        table = entries_in(history)
        assert set(table) == ledger and max(table.values()) == 1
    finally:
        await store.close()
        await prockit.stop(served)


@pytest.mark.slow
async def test_a_server_without_its_drainer_feeds_one_beside_another(
    redis_url: str, tmp_path: Path
) -> None:
    """Two servers on one Redis, the first with --no-history-drainer: it appends, runs no
    drainer, and the second's drainer writes what the first's players did, once."""
    history = str(tmp_path / "history.sqlite3")
    args = serve_args(redis_url, f"sqlite://{history}", tmp_path / "a")
    quiet = await prockit.serve([*args, "--no-history-drainer"], tmp_path / "a.log")
    store = RedisStore(redis_url)
    try:
        players, _ = await play(At(quiet.url), players=2, rounds=3, who="a")
        assert (await store.history_feed().status()).waiting == 2 * 3  # one per commit
        assert drainer_pids(quiet.log) == []
        other = await prockit.serve(
            serve_args(redis_url, f"sqlite://{history}", tmp_path / "b"), tmp_path / "b.log"
        )
        try:
            ledger = await ledger_of(store, players)
            await wait_drained(quiet, history, ledger)  # seen from the first server's /metrics
            table = entries_in(history)
            assert set(table) == ledger and max(table.values()) == 1
        finally:
            await prockit.stop(other)
    finally:
        await store.close()
        await prockit.stop(quiet)
