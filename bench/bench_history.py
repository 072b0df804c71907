"""The history drainer on one Redis node and on a three-master Redis Cluster: its CPU per
feed item, and on the cluster what a round costs when nothing waits (every slot's feed
looked at). Not part of the test suite.

Run from the repository root (redis-server and redis-cli must be installed):

    python bench/bench_history.py                 # 20,000 items, about a minute
    python bench/bench_history.py --items 5000    # a smoke run

It starts a redis-server and a cluster (tests/clusterkit.py) on loopback ports in a
temporary directory, fills the history feed with `--items` items (one ledger entry each,
one in four with a rejection too) of `--players` players straight into the streams (as
the commit script appends them: one stream on one node, the stream of each player's slot
on the cluster), and drains them with a history.Drainer (batch BATCH) into a SQLite
history file, in this process: the CPU it used (all threads: the SQLite writes run on the
sink's thread) per item, and the wall time. Each layout is drained `--repeat` times (the
feed filled again, a new history file each time); the best counts. Then, on the cluster:
idle rounds (every feed empty) and /metrics' status read, each the CPU of this process
per call, and the time the masters spent in the scan scripts per call (INFO commandstats:
how long one script holds a master).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rulesc.runtime.history import BATCH, HISTORY_KEY, Drainer, SqliteSink  # noqa: E402
from rulesc.runtime.redis_history import feed_key_for  # noqa: E402
from rulesc.runtime.redis_keys import player_prefix  # noqa: E402
from rulesc.runtime.store_redis import RedisStore  # noqa: E402
from tests.clusterkit import Cluster, free_ports  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402

GAME = "bench"


def fill(client: redis.Redis | redis.RedisCluster, items: int, players: int, cluster: bool) -> None:
    pipe = client.pipeline(transaction=False)
    t0 = 1_800_000_000_000
    for i in range(items):
        player = f"player-{i % players:05d}"
        key = feed_key_for(player_prefix(GAME, player)) if cluster else HISTORY_KEY
        entry = {"action": "sell", "changes": {"coins": [i, i + 5]}, "time": t0 + i}
        rejections = [["harvest", "empty_plot"]] if i % 4 == 0 else []
        fields = {
            "g": GAME,
            "p": player,
            "e": orjson.dumps([[f"{t0 + i}-0", entry]]),
            "r": orjson.dumps(rejections),
        }
        pipe.xadd(key, fields)  # type: ignore[arg-type]
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()


async def drain(url: str, history: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of draining the whole feed."""
    store = RedisStore(url, history=True)
    drainer = Drainer(store.history_feed(), SqliteSink(history))
    try:
        await store.ping()
        cpu, wall = time.process_time(), time.perf_counter()
        await drainer.drain()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        status = await store.history_feed().status()
        assert status.waiting == 0, status
        return cpu, wall
    finally:
        await drainer.close()
        await store.close()


def script_usec(ports: list[int]) -> dict[int, tuple[int, int]]:
    """Per master: (EVALSHA calls, µs) so far."""
    out = {}
    for port in ports:
        with redis.Redis(port=port) as c:
            stat = c.info("commandstats").get("cmdstat_evalsha", {"calls": 0, "usec": 0})
            out[port] = (int(stat["calls"]), int(stat["usec"]))
    return out


async def idle(cluster: Cluster, rounds: int) -> None:
    store = RedisStore(cluster.url, history=True)
    feed = store.history_feed()
    ports = [n.port for n in cluster.nodes]
    try:
        await store.ping()
        await feed.read_many(BATCH)  # the scripts loaded, the tags table made
        await feed.status()
        for what, call in (
            ("idle round (read_many)", lambda: feed.read_many(BATCH)),
            ("status (/metrics)", feed.status),
        ):
            before = script_usec(ports)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(rounds):
                await call()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            after = script_usec(ports)
            calls = sum(after[p][0] - before[p][0] for p in ports)
            usec = sum(after[p][1] - before[p][1] for p in ports)
            print(
                f"cluster {what}: {1000 * cpu / rounds:.2f} ms CPU here, "
                f"{1000 * wall / rounds:.2f} ms wall per call; "
                f"{calls / rounds:.0f} scripts per call, {usec / max(1, calls):.0f} µs each "
                f"on its master ({usec / rounds / 1000:.2f} ms of the masters' time per call)"
            )
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--players", type=int, nargs="+", default=[2000, 20])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle-rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as d:
        tmp = Path(d)
        (tmp / "single").mkdir()
        single = RedisServer(free_ports(1)[0], tmp / "single")
        single.start()
        cluster = Cluster(tmp / "cluster").start()
        try:
            for players in args.players:
                for name, url in (("single node", single.url), ("3-master cluster", cluster.url)):
                    best: tuple[float, float] | None = None
                    for r in range(args.repeat):
                        if name == "single node":
                            with redis.Redis.from_url(url) as c:
                                c.flushall()
                                fill(c, args.items, players, cluster=False)
                        else:
                            cluster.flush()
                            with redis.RedisCluster.from_url(url) as rc:
                                fill(rc, args.items, players, cluster=True)
                        got = await drain(url, tmp / f"h-{players}-{name[0]}-{r}.sqlite3")
                        best = got if best is None or got[0] < best[0] else best
                    assert best is not None
                    cpu, wall = best
                    print(
                        f"{name}, {players} players: {1e6 * cpu / args.items:.1f} µs CPU per "
                        f"item ({args.items / wall:,.0f} items/s wall)"
                    )
            cluster.flush()
            await idle(cluster, args.idle_rounds)
        finally:
            cluster.stop()
            single.stop()


if __name__ == "__main__":
    asyncio.run(main())
