"""RedisStore on a real three-master Redis Cluster: what only a cluster can show.

The whole store contract runs on the cluster too (tests/test_store_contract.py, the
`cluster` parameter); here: detection, one slot per atomic step, sharded pub/sub, scripts
after a restart, a slot that moves, and a master that goes down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from rulesc.runtime.redis_keys import player_prefix as _prefix
from rulesc.runtime.store import Decided, Snapshot, StoreUnavailable
from rulesc.runtime.store_redis import RedisStore, _commit_script

from .clusterkit import Cluster
from .test_store_contract import Inbox, ok, rejected

G = "farm"


@pytest.fixture
async def stores(cluster_url: str) -> AsyncIterator[list[RedisStore]]:
    made: list[RedisStore] = []
    yield made
    for store in made:
        await store.close()


def new(made: list[RedisStore], url: str, **opts: Any) -> RedisStore:
    store = RedisStore(url, **opts)
    made.append(store)
    return store


async def commit(store: RedisStore, player: str, version: int, *decided: Decided) -> Any:
    return await store.commit(
        G,
        player,
        expected_version=version,
        state={"coins": version + 1},
        changed=None,
        decided=list(decided),
    )


def players_on_other_masters(cluster: Cluster) -> tuple[str, str]:
    """Two players whose keys live on different masters."""
    first = "p-0"
    home = cluster.node_of(_prefix(G, first))
    other = next(f"p-{i}" for i in range(1, 100) if cluster.node_of(_prefix(G, f"p-{i}")) != home)
    return first, other


async def test_any_node_is_found_to_be_a_cluster(
    redis_cluster: Cluster, cluster_url: str, redis_url: str, stores: list[RedisStore]
) -> None:
    for node in redis_cluster.nodes:
        store = new(stores, node.url)
        assert store.is_cluster is None  # not known before the first call
        await store.ping()
        assert store.is_cluster is True
    single = new(stores, redis_url)
    await single.ping()
    assert single.is_cluster is False


@pytest.mark.parametrize("history", [False, True])  # True: the feed of the player's slot too
async def test_every_command_touches_one_slot(
    history: bool, cluster_url: str, stores: list[RedisStore]
) -> None:
    store = new(stores, cluster_url, history=history)
    await store.ping()
    link: Any = store._link
    sent: list[tuple[str, tuple]] = []
    execute = link.execute

    def recording(key: str, *args: Any) -> Any:
        sent.append((key, args))
        return execute(key, *args)

    link.execute = recording
    out = await commit(store, "p1", 0, ok("a1"), rejected("a2"))
    await store.remember(G, "p1", expected_version=1, decided=[rejected("r1")])
    await store.lookup(G, "p1", ["a1", "a2", "r1", "zz"])
    await store.load(G, "p1")
    await store.ledger(G, "p1", after=None, limit=10)
    await store.ledger_recent(G, "p1", limit=10)
    assert await store.ledger_since(G, "p1", "0") is not None
    assert await store.ledger_since(G, "p1", out.event_ids[0]) == []
    await store.player_for_device(G, "device-0001")
    assert {args[0] for _, args in sent} >= {
        "EVALSHA",
        "MGET",
        "HGETALL",
        "XRANGE",
        "XREVRANGE",
        "SET",
    }
    for key, args in sent:
        if args[0] in ("EVALSHA", "EVAL"):
            keys = args[3 : 3 + int(args[2])]
        elif args[0] == "MGET":
            keys = args[1:]
        else:
            keys = args[1:2]
        # every key of the call hashes to the slot it was routed by
        assert {key_slot(k.encode()) for k in keys} == {key_slot(key.encode())}, args[0]
    # the result keys the scripts build from the prefix (not declared) share it as well
    client = redis.RedisCluster.from_url(cluster_url)
    keys = [k for k in client.keys(target_nodes=redis.RedisCluster.ALL_NODES) if b"{farm:p1}" in k]
    client.close()
    assert len(keys) == 6 and len({key_slot(k) for k in keys}) == 1  # :rej, the rejections
    if history:  # the commit and the remember, on the feed of the player's slot
        scripts = [args[3 : 3 + int(args[2])] for _, args in sent if args[0] == "EVALSHA"]
        feeds = [ks[-1] for ks in scripts if ks[-1].startswith("rulesc:history:")]
        assert len(feeds) == 2 and feeds[0].startswith("rulesc:history:{")


async def test_pushes_use_sharded_pubsub_across_processes(
    redis_cluster: Cluster, cluster_url: str, stores: list[RedisStore]
) -> None:
    writer, reader = new(stores, cluster_url), new(stores, redis_cluster.nodes[2].url)
    inbox = Inbox()
    await reader.subscribe(G, "p1", inbox)
    home = redis_cluster.node_of(_prefix(G, "p1"))
    with redis.Redis(port=home.port) as c:
        assert c.execute_command("PUBSUB", "SHARDNUMSUB", _prefix(G, "p1") + ":push")[1] == 1
        before = c.info("commandstats")
    out = await commit(writer, "p1", 0, ok("a1"))
    assert (await inbox.next())["event_ids"] == out.event_ids
    with redis.Redis(port=home.port) as c:
        after = c.info("commandstats")
    calls = (
        after["cmdstat_spublish"]["calls"] - before.get("cmdstat_spublish", {"calls": 0})["calls"]
    )
    assert calls == 1 and "cmdstat_publish" not in after


async def test_scripts_come_back_after_a_master_restart(
    redis_cluster: Cluster, cluster_url: str, stores: list[RedisStore]
) -> None:
    store = new(stores, cluster_url)
    assert (await commit(store, "p1", 0, ok("a1"))).status == "ok"
    redis_cluster.node_of(_prefix(G, "p1")).stop(kill=True)  # its script cache is gone
    with pytest.raises(StoreUnavailable):
        await commit(store, "p1", 1, ok("a2"))
    redis_cluster.ensure_up()  # the AOF brings the data back, not the scripts
    # NOSCRIPT: the action goes on with the script's source, nothing fails
    assert (await commit(store, "p1", 1, ok("a2"))).status == "ok"
    assert await store.load(G, "p1") == Snapshot(2, {"coins": 2})
    for node in redis_cluster.nodes:
        with redis.Redis(port=node.port) as c:
            c.script_flush()
    assert (
        await store.remember(G, "p1", expected_version=2, decided=[rejected("r1")])
    ).status == "ok"
    assert await store.ledger_since(G, "p1", "0") is not None


async def test_a_slot_that_moves_takes_commands_and_pushes_along(
    redis_cluster: Cluster, cluster_url: str, stores: list[RedisStore]
) -> None:
    writer, reader = new(stores, cluster_url), new(stores, cluster_url)
    inbox = Inbox()
    await reader.subscribe(G, "p1", inbox)
    await writer.ping()
    key = _prefix(G, "p1")
    source = redis_cluster.node_of(key)
    target = next(n for n in redis_cluster.nodes if n is not source)
    slot = key_slot(key.encode())
    with redis.Redis(port=target.port) as t, redis.Redis(port=source.port) as s:
        target_id, source_id = (
            t.execute_command("CLUSTER", "MYID"),
            s.execute_command("CLUSTER", "MYID"),
        )
        # a resharding: the slot's keys (the reader's place among the listeners) move along
        t.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        keys = s.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        assert keys  # the reader's entry in `here`
        s.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
    for node in redis_cluster.nodes:
        with redis.Redis(port=node.port) as c:
            c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    assert redis_cluster.node_of(key) is target
    # the source ends the subscription; the reader subscribes on the target and says so
    assert await inbox.next() == {"gap": True}
    # the writer's map is stale: MOVED sends the commit on to the new master
    out = await commit(writer, "p1", 0, ok("a1"))
    assert out.status == "ok"
    assert (await inbox.next())["event_ids"] == out.event_ids
    with redis.Redis(port=target.port) as c:
        assert c.exists(key + ":state")


async def test_a_master_down_fails_only_its_players_and_comes_back(
    redis_cluster: Cluster, cluster_url: str, stores: list[RedisStore]
) -> None:
    store = new(stores, cluster_url, socket_timeout=1.0, connect_timeout=0.5)
    listener = new(stores, cluster_url)
    down, up = players_on_other_masters(redis_cluster)
    inbox = Inbox()
    await listener.subscribe(G, down, inbox)
    await commit(store, down, 0, ok("a1"))
    await inbox.next()

    redis_cluster.node_of(_prefix(G, down)).stop(kill=True)
    with pytest.raises(StoreUnavailable):
        await commit(store, down, 1, ok("a2"))
    with pytest.raises(StoreUnavailable):
        await store.load(G, down)
    with pytest.raises(StoreUnavailable):
        await store.ping()  # not every master answers
    assert (await commit(store, up, 0, ok("b1"))).status == "ok"  # the others serve on

    redis_cluster.ensure_up()
    assert await store.load(G, down) == Snapshot(1, {"coins": 1})  # acknowledged: kept
    assert await inbox.next() == {"gap": True}  # the listener heard it may have missed some
    out = await commit(store, down, 1, ok("a2"))
    assert out.status == "ok"
    message = await inbox.next()
    assert message["event_ids"] == out.event_ids
    await store.ping()


async def test_a_cluster_store_answers_unavailable_until_the_cluster_is_reachable(
    stores: list[RedisStore],
) -> None:
    from .clusterkit import free_ports

    store = new(
        stores, f"redis://127.0.0.1:{free_ports(1)[0]}/0", cluster=True, connect_timeout=0.2
    )
    with pytest.raises(StoreUnavailable):
        await store.load(G, "p1")


@pytest.mark.slow
async def test_a_failover_to_a_replica_takes_commands_scripts_and_pushes_along(
    tmp_path: Path,
) -> None:
    cluster = Cluster(tmp_path / "cluster").start()  # its own: this one changes shape
    made: list[RedisStore] = []
    try:
        master = cluster.nodes[0]
        player = next(
            f"p-{i}" for i in range(200) if cluster.node_of(_prefix(G, f"p-{i}")) is master
        )
        replica = cluster.add_replica(master, tmp_path / "replica")
        store = new(made, cluster.url, socket_timeout=1.0, connect_timeout=0.5)
        listener = new(made, cluster.nodes[1].url)
        inbox = Inbox()
        await listener.subscribe(G, player, inbox)
        await commit(store, player, 0, ok("a1"))
        await inbox.next()
        with redis.Redis(port=master.port) as c:
            assert c.execute_command("WAIT", 1, 5000) == 1  # a1 is on the replica too

        master.stop(kill=True)
        # the replica takes over after the node timeout; until then: 503, nothing applied
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                out = await commit(store, player, 1, ok("a2"))
                break
            except StoreUnavailable:
                assert asyncio.get_running_loop().time() < deadline, "no failover"
                await asyncio.sleep(0.2)
        # the new master never ran the script (replicas get its effects): NOSCRIPT, then EVAL
        assert out.status == "ok"
        assert cluster.node_of(_prefix(G, player)) is replica
        with redis.Redis(port=replica.port) as c:
            assert c.info("commandstats")["cmdstat_eval"]["calls"] >= 1  # the listener's too
            assert c.execute_command("SCRIPT", "EXISTS", _commit_script.sha) == [1]
        assert await store.load(G, player) == Snapshot(2, {"coins": 2})
        # the listener's link to the old master is gone: it subscribes on the new one
        assert await inbox.next(timeout=10) == {"gap": True}
        out = await commit(store, player, 2, ok("a3"))
        while (message := await inbox.next()).get("event_ids") != out.event_ids:
            assert "gap" in message or message["version"] == 2  # a2's, if it came in time
    finally:
        for store in made:
            await store.close()
        cluster.stop()


async def test_a_slot_being_migrated_is_asked_of_its_target(
    redis_cluster: Cluster, cluster_url: str, stores: list[RedisStore]
) -> None:
    store = new(stores, cluster_url)
    await store.ping()
    key = _prefix(G, "p1")
    slot = key_slot(key.encode())
    source = redis_cluster.node_of(key)
    target = next(n for n in redis_cluster.nodes if n is not source)
    ids = {}
    for node in (source, target):
        with redis.Redis(port=node.port) as c:
            ids[node.port] = c.execute_command("CLUSTER", "MYID")
    with redis.Redis(port=target.port) as c:
        c.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
    with redis.Redis(port=source.port) as c:
        c.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
    try:
        with redis.Redis(port=target.port, single_connection_client=True) as c:
            c.execute_command("ASKING")  # the player's state has moved already
            c.hset(key + ":state", mapping={"@version": 5, "coins": 9})
        # not on the source: ASK, and the store reads it from the target after ASKING
        assert await store.load(G, "p1") == Snapshot(5, {"coins": 9})
        # a script's keys are split while the slot moves: Redis says TRYAGAIN, nothing
        # runs, the caller answers 503 and the client sends it again later
        with pytest.raises(StoreUnavailable, match="TRYAGAIN|rehashing"):
            await commit(store, "p1", 5, ok("a1"))
    finally:
        for node in (source, target):
            with redis.Redis(port=node.port) as c:
                c.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")


async def test_a_password_reaches_every_master(
    redis_cluster: Cluster, cluster_url: str, stores: list[RedisStore]
) -> None:
    password = "cluster-test-password"
    players = players_on_other_masters(redis_cluster)
    for node in redis_cluster.nodes:
        with redis.Redis(port=node.port) as c:
            c.config_set("requirepass", password)
    try:
        url = f"redis://:{password}@127.0.0.1:{redis_cluster.nodes[0].port}/0"
        store = new(stores, url)
        inbox = Inbox()
        for player in players:
            await store.subscribe(G, player, inbox)
            out = await commit(store, player, 0, ok("a1"))
            assert (await inbox.next())["event_ids"] == out.event_ids
        await store.ping()  # every master
        with pytest.raises(StoreUnavailable):
            await new(stores, redis_cluster.url).load(G, "p-0")  # no password: refused
    finally:
        for node in redis_cluster.nodes:
            with redis.Redis(port=node.port, password=password) as c:
                c.config_set("requirepass", "")


async def test_a_master_short_of_replicas_answers_unavailable(
    redis_cluster: Cluster, cluster_url: str, stores: list[RedisStore]
) -> None:
    store = new(stores, cluster_url)
    master = redis_cluster.node_of(_prefix(G, "p1"))
    with redis.Redis(port=master.port) as c:
        c.config_set("min-replicas-to-write", 1)  # it has none: it refuses writes
    try:
        with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
            await commit(store, "p1", 0, ok("a1"))
        assert await store.load(G, "p1") == Snapshot(0, None)  # nothing was written
    finally:
        with redis.Redis(port=master.port) as c:
            c.config_set("min-replicas-to-write", 0)
    assert (await commit(store, "p1", 0, ok("a1"))).status == "ok"
