"""Scale-out benchmarks (issue 4, item 5). Not part of the test suite.

Run from the repository root (redis-server and redis-cli must be installed):

    python bench/bench_scale.py            # about 3 minutes on a 2-core machine
    python bench/bench_scale.py --quick    # a smoke run: short rounds, 1,000 connections

It starts everything itself on loopback ports in a temporary directory and stops it at
the end: a single redis-server, a three-master Redis Cluster (tests/clusterkit.py), and
`rulesc serve` processes of the bank game (tests/games/bank: `earn` adds a coin, so
every action is a commit). It prints, from one run:

1. actions/s for four layouts: 1 and 2 server processes, each on the single Redis and
   on the cluster; the 2/1 process ratio on each store and the cluster/single ratio for
   each process count. The load: WebSocket `act` frames, one after another per player
   (`--players` players, a new id each, each answered with a result and pushed as a
   state frame), from `--loaders` load processes, players split evenly over the
   server processes. Rounds of the four layouts are interleaved; the best round of each
   counts (other work on a shared machine only ever slows a round down). The CPU seconds
   each process used in the best round are printed, so a reader can see what was busy.
2. the memory of `--idle` idle WebSocket connections (10,000) on one server process: its
   RSS before and after they open, divided by their number. Each connection is its own
   player (tokens signed with the server's secret here, so no sign-in is needed) and
   holds its own subscription on Redis. `ulimit -n` is raised (setrlimit) for this
   process and its children.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rulesc.runtime.auth import GuestTokens  # noqa: E402
from tests.clusterkit import Cluster, free_ports  # noqa: E402

BANK = ROOT / "tests" / "games" / "bank"
GAME = "bank"
SECRET = "bench-scale-secret"
HOST = "127.0.0.1"
TARGET_KB = 50  # per idle connection


# -- processes ----------------------------------------------------------------------------


class Proc:
    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.log = name, log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_redis(tmp: Path) -> tuple[Proc, str]:
    port = free_ports(1)[0]
    tmp.mkdir(parents=True, exist_ok=True)
    # the same persistence as each cluster node (AOF, fsync always): a fair comparison
    proc = Proc(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(tmp),
        ],
        tmp / "redis.log",
    )
    url = f"redis://{HOST}:{port}/0"
    wait(
        lambda: (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            == "PONG"
        ),
        "redis",
    )
    return proc, url


def start_server(
    tmp: Path, name: str, redis_url: str, ping_interval: float = 15.0
) -> tuple[Proc, int]:
    port = free_ports(1)[0]
    # no cap per address: the idle-connections run opens 10,000 from this one
    argv = [
        sys.executable,
        "-c",
        "from rulesc.cli.main import app; app()",
        "serve",
        str(BANK),
        "--host",
        HOST,
        "--port",
        str(port),
        "--redis",
        redis_url,
        "--production",
        "--secret",
        SECRET,
        "--admin-token",
        "bench-admin",
        "--rate",
        "0",
        "--ws-ping-interval",
        str(ping_interval),
        "--data-dir",
        str(tmp / f"data-{name}"),
        "--max-connections-per-address",
        "0",
    ]
    proc = Proc(name, argv, tmp / f"{name}.log")
    wait(lambda: http_ok(f"http://{HOST}:{port}/readyz"), name, proc)
    return proc, port


def wait(ready, what: str, proc: Proc | None = None, timeout: float = 120) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{what} exited; see {proc.log}")
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout}s")
        time.sleep(0.05)


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


# -- a lean WebSocket client (the load generator must cost little) ------------------------
# Client frames must be masked; a zero masking key makes masking a no-op, so frames are
# built once with plain byte concatenation.


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x81]) + (
        bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    )
    return head + b"\0\0\0\0" + payload


class Ws:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    @classmethod
    async def open(cls, port: int, token: str) -> Ws:
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /v1/{GAME}/ws?token={token} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.decode(errors="replace"))
        ws = cls(reader, writer)
        await ws.recv()  # welcome: subscribed from here on
        return ws

    async def recv(self) -> bytes:
        b0, b1 = await self.r.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.r.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.r.readexactly(8), "big")
        payload = await self.r.readexactly(n)
        if b0 & 0x0F == 0x9:  # a ping: answer it
            self.w.write(bytes([0x8A, 0x80 | n]) + b"\0\0\0\0" + payload)
            return await self.recv()
        return payload

    def send(self, payload: bytes) -> None:
        self.w.write(_frame(payload))


def tokens(prefix: str, n: int) -> list[str]:
    signer = GuestTokens(SECRET)
    now = int(time.time() * 1000)
    return [signer.issue(f"{prefix}-{i}", GAME, now)[0] for i in range(n)]


# -- load: one function run in each load process ------------------------------------------


def load_worker(
    ports: list[int], toks: list[str], run: str, start: float, end: float
) -> tuple[int, int, float]:
    """(actions answered ok in [start, end], other answers, CPU seconds this process used)."""
    return asyncio.run(_load(ports, toks, run, start, end))


async def _load(
    ports: list[int], toks: list[str], run: str, start: float, end: float
) -> tuple[int, int, float]:
    socks = [await Ws.open(ports[i % len(ports)], t) for i, t in enumerate(toks)]
    counts = [0, 0]
    await asyncio.sleep(max(0.0, start - time.time()))
    cpu0 = time.process_time()

    async def player(n: int, ws: Ws) -> None:
        k = 0
        while time.time() < end:
            k += 1
            ws.send(
                b'{"type":"act","id":"%s-%d-%d","name":"earn","params":{}}' % (run.encode(), n, k)
            )
            while True:  # skip the state push; a result (or an error) answers the act
                frame = await ws.recv()
                if frame.startswith((b'{"type":"result"', b'{"type":"error"')):
                    break
            if time.time() <= end:
                counts[0 if b'"status":"ok"' in frame else 1] += 1

    await asyncio.gather(*(player(n, ws) for n, ws in enumerate(socks)))
    cpu = time.process_time() - cpu0
    for ws in socks:
        ws.w.close()
    return counts[0], counts[1], cpu


async def _hold(port: int, toks: list[str], hold: float, opened: int) -> int:
    """Open a WebSocket for each token (200 at a time), hold them `hold` s, close them."""
    socks: list[Ws] = []
    sem = asyncio.Semaphore(200)

    async def one(t: str) -> None:
        async with sem:
            socks.append(await Ws.open(port, t))

    await asyncio.gather(*(one(t) for t in toks))
    Path(f"/tmp/.bench-scale-opened-{opened}").write_text(str(len(socks)))
    await asyncio.sleep(hold)
    for ws in socks:
        ws.w.close()
    return len(socks)


def hold_worker(port: int, toks: list[str], hold: float, index: int) -> int:
    return asyncio.run(_hold(port, toks, hold, index))


# -- the benchmark ------------------------------------------------------------------------


@dataclass
class Layout:
    name: str
    procs: list[Proc]
    ports: list[int]
    store_pids: list[int]
    window: float = 0.0  # seconds measured per round
    rounds: list[tuple[float, float, dict[str, float]]] = field(default_factory=list)

    def best(self) -> tuple[float, float, dict[str, float]]:
        return max(self.rounds, key=lambda r: r[0])


def run_round(
    pool: ProcessPoolExecutor, layout: Layout, players: int, loaders: int, window: float, tag: str
) -> None:
    run = "".join(c if c.isalnum() else "_" for c in f"{layout.name}-{tag}")  # an id's part
    toks = tokens(run, players)
    share = [toks[i::loaders] for i in range(loaders)]
    start = time.time() + 2.0 + players / 500  # time to connect first
    end = start + window
    watched = {f"server{i + 1}": p.pid for i, p in enumerate(layout.procs)}
    watched |= {f"redis{i + 1}": pid for i, pid in enumerate(layout.store_pids)}
    futures = [pool.submit(load_worker, layout.ports, s, run, start, end) for s in share]
    time.sleep(max(0.0, start - time.time()))
    before = {k: cpu_seconds(pid) for k, pid in watched.items()}
    time.sleep(max(0.0, end - time.time()))
    cpu = {k: cpu_seconds(pid) - before[k] for k, pid in watched.items()}
    ok = other = 0
    load_cpu = 0.0
    for f in futures:
        a, b, c = f.result(timeout=window + 120)
        ok, other, load_cpu = ok + a, other + b, load_cpu + c
    cpu["load"] = load_cpu
    layout.window = window
    layout.rounds.append((ok / window, other / window, cpu))
    print(
        f"  {layout.name:<26} {ok / window:8.0f} actions/s  (other answers {other})  "
        + "  ".join(f"{k} {v:.1f}s" for k, v in cpu.items()),
        flush=True,
    )


def throughput(
    tmp: Path, args: argparse.Namespace, single_url: str, single_pid: int, cluster: Cluster
) -> list[Layout]:
    cluster_pids = [n._proc.pid for n in cluster.nodes if n._proc is not None]  # noqa: SLF001
    layouts: list[Layout] = []
    try:
        for store, url, pids in (
            ("single Redis", single_url, [single_pid]),
            ("3-master cluster", cluster.url, cluster_pids),
        ):
            for n in (1, 2):
                layout = Layout(f"{n} proc, {store}", [], [], pids)
                layouts.append(layout)
                for i in range(n):
                    proc, port = start_server(tmp, f"server-{len(layouts)}-{i}", url)
                    layout.procs.append(proc)
                    layout.ports.append(port)
        print(
            f"\n1. throughput: {args.players} players, {args.rounds} rounds of "
            f"{args.window:.0f} s per layout, interleaved; {args.loaders} load processes"
        )
        with ProcessPoolExecutor(args.loaders, mp_context=get_context("fork")) as pool:
            for r in range(args.rounds):
                print(f" round {r + 1}")
                for layout in layouts:
                    run_round(pool, layout, args.players, args.loaders, args.window, f"r{r}")
    finally:
        for layout in layouts:
            for p in layout.procs:
                p.stop()
    return layouts


def idle_memory(tmp: Path, args: argparse.Namespace, redis_url: str) -> tuple[int, int, int]:
    """(RSS before in KB, RSS after in KB, connections opened) for one server process."""
    # pings every 15 s (the default) keep running: idle means no actions, not no traffic
    proc, port = start_server(tmp, "idle", redis_url)
    try:
        toks = tokens("idle", args.idle)
        before = rss_kb(proc.pid)
        hold = 20.0 + args.idle / 400
        share = [toks[i :: args.loaders] for i in range(args.loaders)]
        with ProcessPoolExecutor(args.loaders, mp_context=get_context("fork")) as pool:
            futures = [pool.submit(hold_worker, port, s, hold, i) for i, s in enumerate(share)]
            deadline = time.monotonic() + hold
            while time.monotonic() < deadline:  # until every loader has opened its share
                marks = [Path(f"/tmp/.bench-scale-opened-{i}") for i in range(args.loaders)]
                if all(m.exists() for m in marks):
                    break
                time.sleep(0.2)
            time.sleep(2.0)  # let the server settle (subscriptions confirmed, buffers freed)
            after = rss_kb(proc.pid)
            opened = sum(f.result(timeout=hold + 120) for f in futures)
        return before, after, opened
    finally:
        for i in range(args.loaders):
            Path(f"/tmp/.bench-scale-opened-{i}").unlink(missing_ok=True)
        proc.stop()


def raise_nofile(need: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need)) if hard != resource.RLIM_INFINITY else max(soft, need)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return f"ulimit -n {soft} -> {want} (hard {hard})"


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, CPython "
        f"{platform.python_version()}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--loaders", type=int, default=2, help="load generator processes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per round")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections to hold")
    args = parser.parse_args()
    # SIGTERM stops it like Ctrl-C: the finally blocks stop every process it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.quick:
        args.rounds, args.window, args.idle, args.players = 1, 3.0, 1_000, 100
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    print("machine:", machine())
    print(raise_nofile(2 * args.idle + 2_000))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        tmp = Path(d)
        single, single_url = start_redis(tmp / "redis")
        cluster = Cluster(tmp / "cluster").start()
        try:
            layouts = throughput(tmp, args, single_url, single.pid, cluster)
            print(f"\n2. idle WebSocket connections on one process ({args.idle:,}, single Redis)")
            before, after, opened = idle_memory(tmp, args, single_url)
        finally:
            cluster.stop()
            single.stop()
    report(layouts, before, after, opened, time.monotonic() - started)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


def report(layouts: list[Layout], before: int, after: int, opened: int, took: float) -> None:
    best = {lay.name: lay.best()[0] for lay in layouts}
    print("\nactions/s (best round):")
    for lay in layouts:
        rate, _, cpu = lay.best()
        done = rate * lay.window  # actions answered in that round
        server = sum(v for k, v in cpu.items() if k.startswith("server")) / done * 1e6
        store = sum(v for k, v in cpu.items() if k.startswith("redis")) / done * 1e6
        print(
            f"  {lay.name:<26} {rate:8.0f}   CPU per action: servers {server:.0f} µs, "
            f"Redis {store:.0f} µs; CPU s in that round: "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        )
    s1, s2 = best["1 proc, single Redis"], best["2 proc, single Redis"]
    c1, c2 = best["1 proc, 3-master cluster"], best["2 proc, 3-master cluster"]
    print("ratios:")
    print(f"  2 processes / 1, single Redis:      {s2 / s1:.2f}")
    print(f"  2 processes / 1, cluster:           {c2 / c1:.2f}")
    print(f"  cluster / single Redis, 1 process:  {c1 / s1:.2f}")
    print(f"  cluster / single Redis, 2 processes: {c2 / s2:.2f}")
    per = (after - before) / max(opened, 1)
    verdict = "PASS" if per < TARGET_KB else "MISS"
    print(
        f"idle connections: {opened:,} opened; RSS {before / 1024:.1f} MiB -> "
        f"{after / 1024:.1f} MiB; {per:.1f} KB per connection (target < {TARGET_KB} KB: "
        f"{verdict})"
    )
    print(f"took {took:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
