"""A real three-master Redis Cluster for tests and benchmarks, made of redis-server
processes on free loopback ports (no replicas: a master that stops takes its slots down
until it is back, which is what the fault tests want).

Each node keeps an append-only file with `appendfsync always`, so a reply to a write
means it is on disk and a restarted master comes back with every acknowledged commit.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import redis

from .conftest import RedisServer
from .systemkit import need

MASTERS = 3
NODE_TIMEOUT_MS = 2000  # how long before the others call a silent node failed


def free_ports(n: int) -> list[int]:
    """n distinct free ports (all held open together, so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def node_options(bus_port: int) -> list[str]:
    """redis-server options of a cluster node (on top of RedisServer's AOF settings)."""
    return [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",
        str(bus_port),
        "--cluster-node-timeout",
        str(NODE_TIMEOUT_MS),
        # the other masters keep serving their slots while one is down
        "--cluster-require-full-coverage",
        "no",
        # a new replica gets its first copy at once, not after waiting 5 s for others
        "--repl-diskless-sync-delay",
        "0",
    ]


class Cluster:
    def __init__(self, data_dir: Path, masters: int = MASTERS) -> None:
        ports = free_ports(2 * masters)
        self.nodes: list[RedisServer] = []
        for i in range(masters):
            port, bus = ports[2 * i], ports[2 * i + 1]
            node_dir = data_dir / f"node{i}"
            node_dir.mkdir(parents=True, exist_ok=True)
            self.nodes.append(RedisServer(port, node_dir, node_options(bus)))

    @property
    def url(self) -> str:
        """Any node's URL: the store finds the others (and that it is a cluster) itself."""
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> Cluster:
        need("redis-server", "redis-cli")
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{n.port}" for n in self.nodes],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        self.wait_ok(timeout)
        return self

    def add_replica(self, master: RedisServer, data_dir: Path) -> RedisServer:
        """A new node that replicates `master` (and takes over its slots if it fails)."""
        port, bus = free_ports(2)
        data_dir.mkdir(parents=True, exist_ok=True)
        replica = RedisServer(port, data_dir, node_options(bus))
        replica.start()
        with redis.Redis(port=master.port) as c:
            master_id = c.execute_command("CLUSTER", "MYID").decode()
        self.nodes.append(replica)
        deadline = time.monotonic() + 30
        with redis.Redis(port=port) as c:
            bus_port = master.extra[master.extra.index("--cluster-port") + 1]
            c.execute_command("CLUSTER", "MEET", "127.0.0.1", master.port, bus_port)
            asked = False
            while True:  # REPLICATE (once) needs the master known; then the first sync
                if not asked and master_id.encode() in c.execute_command("CLUSTER", "NODES"):
                    with contextlib.suppress(redis.ResponseError):
                        asked = c.execute_command("CLUSTER", "REPLICATE", master_id) == b"OK"
                if asked and c.info("replication").get("master_link_status") == "up":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the replica did not sync in time")
                time.sleep(0.05)
        self.wait_ok()
        return replica

    def ensure_up(self) -> None:
        """Start any node a test left down, and wait until the cluster is whole again."""
        if not all(n.running for n in self.nodes):
            for node in self.nodes:
                node.start()
        self.wait_ok()

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every node says the cluster is ok and knows every master."""
        deadline = time.monotonic() + timeout
        while True:
            if all(self._node_ok(n) for n in self.nodes):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the test cluster did not come up in time")
            time.sleep(0.05)

    def _node_ok(self, node: RedisServer) -> bool:
        try:
            with redis.Redis(port=node.port, socket_timeout=1) as c:
                info = c.cluster("info")
                return (
                    info["cluster_state"] == "ok"
                    and int(info["cluster_known_nodes"]) == len(self.nodes)
                    and int(info["cluster_slots_ok"]) == 16384
                )
        except redis.RedisError:
            return False

    def flush(self) -> None:
        for node in self.nodes:
            with redis.Redis(port=node.port) as c:
                c.flushall()

    def node_of(self, key: str | bytes) -> RedisServer:
        """The master that holds `key`'s slot."""
        slot = redis.crc.key_slot(key.encode() if isinstance(key, str) else key)
        with redis.Redis(port=next(n for n in self.nodes if n.running).port) as c:
            for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    port = master[1]
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(f"no master holds slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(kill=True)
