"""Game server benchmarks (issue 3, item 7). Not part of the test suite.

Run from the repository root (redis-server must be installed):

    python bench/bench_server.py            # about 2 minutes on a 2-core machine
    python bench/bench_server.py --quick    # shorter phases, one round each (~30 s)
    python bench/bench_server.py --profile prof/   # also py-spy the server's rounds
    python bench/bench_server.py --history   # (a) also against a server with the history
                                             # sink on (sqlite, or --history URL)
    python bench/bench_server.py --history --history-only   # only (a)'s paired rounds
    python bench/bench_server.py --history --history-only --pin   # the serving process
        # on a core of its own, everything else (Redis, load, drainer, database) on the rest

Options: --players (WebSockets, 400), --conns (HTTP connections, 64), --seconds per
round (5), --rounds of each kind (3), --procs (load generator processes, 1).

It starts everything itself, on loopback ports, in a temporary directory, and stops it
at the end: a redis-server, the real server (`rulesc serve games/harvest --redis ...`,
built at start; `--production`, a fixed secret and admin token) in its own process, and
bench/echo_server.py in its own process. The load generator (raw asyncio protocols, so
it costs little per message) runs in worker processes too (`--procs`), so it never
shares an event loop with what it measures. It prints, measured in one run:

a. `act` frames over WebSockets: many connections (`--players`, each its own guest
   session), each sending one `act` after another (9 in 10 `buy_seed`, which keeps
   succeeding on coins granted at setup, 1 in 10 `daily_gift`, a cheap rejection after
   the first) — actions/s, accepted/rejected, p50/p99 latency — against the bare Tornado
   echo server fed the same frames by the same load generator. Rounds are interleaved.
b. HTTP `POST /actions` with one action against batches of 20 (`--conns` keep-alive
   connections, one player each): actions/s of each and the ratio.
c. store round trips per action and per batch, cold (the player's first call: nothing
   cached in the server) and warm, read from the server's `rulesc_store_calls_total`
   before and after, and cross-checked with Redis's own INFO commandstats (commands
   clients sent, not those run inside the commit script) and total_commands_processed
   (which also counts the commands inside scripts); plus the same ratio under the loads
   of (a) and (b).
d. the machine, the CPU each process used in each measured window and per action (so a
   reader sees whether the load generator or the server was the limit), the targets with
   PASS/MISS, and any warning or error the server logged.

Throughputs are the best round of each kind: the machine is shared, and other work only
ever slows a round down. All rounds are printed. Ratios are also given from CPU time
per action, which moves much less than throughput when other work takes the cores.
Guest sessions are made with a distinct X-Real-IP each (devices behind a proxy: the
server runs with --trust-proxy), so the per-address sign-in limit does not throttle the
setup; the per-player request limit stays at its default (50/s), below which every
player stays (hence 400 WebSockets: 100 ask for more than that); a frame the limit
refuses is not counted as an action, and the output warns when there are any.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import orjson
from tornado.util import _websocket_mask  # tornado's C speedup when it is built

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"
SECRET = "bench-secret-not-for-production"
ADMIN = "bench-admin-token"
GAME = "harvest"
HOST = "127.0.0.1"
FUNDS = 10_000_000  # coins granted to each load player: buy_seed never runs dry
BATCH = 20

# Commands the commit script runs inside Redis: INFO commandstats counts them too, but
# they are not round trips. The gateway itself sends EVALSHA, HGETALL and MGET.
SCRIPT_INSIDE = {
    "hget",
    "get",
    "set",
    "hset",
    "hdel",
    "del",
    "xadd",
    "publish",
    "spublish",
    # the listeners check of the commit script (runtime/redis_presence.py)
    "exists",
    "time",
    "zrange",
}


# -- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Pid:
    """A process we did not start ourselves (a server's worker), for its CPU time."""

    pid: int

    def cpu(self) -> float:
        """utime + stime in seconds (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` on `cpus` (a process's affinity is its threads')."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def database_backends(url: str) -> list[int]:
    """The pids of the history drainer's connections, when its database is on this
    machine (pg_stat_activity: the sink names its connection)."""
    if not url.startswith(("postgresql://", "postgres://")):
        return []
    import psycopg  # the `history` extra: only with --history postgresql://...

    from rulesc.runtime.history_postgres import APPLICATION

    if urllib.parse.urlsplit(url).hostname not in (None, "", "localhost", HOST):
        return []
    with psycopg.connect(url, autocommit=True) as conn:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        return [pid for (pid,) in conn.execute(query, (APPLICATION,)).fetchall()]


def history_processes(proc: Proc, timeout: float = 60.0) -> tuple[Pid, Pid]:
    """(the serving process, the history drainer) of a `serve --history`: both children
    of the supervisor `proc`; the drainer names its pid in the log."""
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(rb"^history drainer: pid (\d+)$", proc.log.read_bytes(), re.M)
        if found:
            break
        proc.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name}: no history drainer named in {proc.log}")
        time.sleep(0.1)
    drainer = int(found.group(1))
    children = Path(f"/proc/{proc.popen.pid}/task/{proc.popen.pid}/children").read_text()
    [serving] = [int(p) for p in children.split() if int(p) != drainer]
    return Pid(serving), Pid(drainer)


class Proc:
    """A child process with its log file, and the CPU time it has used so far."""

    def __init__(self, name: str, argv: list[str], log: Path, **kw: object) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]

    def cpu(self) -> float:
        """utime + stime in seconds (Linux /proc)."""
        return Pid(self.popen.pid).cpu()

    def check(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{tail}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat):
    what the kernel and other people's processes used shows here, not in ours."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) / hz, sum(ticks[:8]) / hz


def wait_until(what: str, proc: Proc, ready: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        proc.check()
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            if ready():  # type: ignore[operator]
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout}s; see {proc.log}")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1):
        return True


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def start_redis(tmp: Path) -> tuple[Proc, int]:
    port = free_port()
    # AOF with fsync once a second: the usual production setting (tests use `always`).
    proc = Proc(
        "redis-server",
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
            "everysec",
            "--dir",
            str(tmp),
        ],
        tmp / "redis.log",
    )
    wait_until("redis", proc, lambda: redis_cli(port, "PING").strip() == "PONG")
    return proc, port


def redis_cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout


def start_server(tmp: Path, redis_port: int, history: str | None = None) -> tuple[Proc, int]:
    port = free_port()
    name = "server-history" if history else "server"
    argv = [
        sys.executable,
        "-c",
        "from rulesc.cli.main import main; main()",
        "serve",
        str(HARVEST),
        "--host",
        HOST,
        "--port",
        str(port),
        "--redis",
        f"redis://{HOST}:{redis_port}/0",
        "--secret",
        SECRET,
        "--admin-token",
        ADMIN,
        "--production",
        "--data-dir",
        str(tmp / ("data-history" if history else "data")),
        "--trust-proxy",
        *(["--history", history] if history else []),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RULESC_")}
    proc = Proc("rulesc serve", argv, tmp / f"{name}.log", env=env, cwd=tmp)
    wait_until("rulesc serve", proc, lambda: http_ok(f"http://{HOST}:{port}/readyz"), 120)
    return proc, port


def start_echo(tmp: Path) -> tuple[Proc, int]:
    port = free_port()
    argv = [sys.executable, str(ROOT / "bench" / "echo_server.py"), "--port", str(port)]
    proc = Proc("echo server", argv, tmp / "echo.log")
    wait_until("echo server", proc, lambda: port_open(port))
    return proc, port


# -- a lean client: raw asyncio protocols, so the load generator costs little -------------


class Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (Content-Length bodies:
    what Tornado answers)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._need: int | None = None
        self._status = 0
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, port: int) -> Http:
        _, proto = await asyncio.get_running_loop().create_connection(cls, HOST, port)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._need is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end])
            self._status = int(head[9:12])
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            self._need = int(m.group(1)) if m else 0
            del self._buf[: end + 4]
        if len(self._buf) >= self._need:
            body = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            self._need = None
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self._status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection lost"))

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def http_request(
    method: str,
    path: str,
    body: object = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    data = b"" if body is None else orjson.dumps(body)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(data)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


OnMessage = Callable[[bytes | None], None]  # a text frame's payload; None: connection lost


class Ws(asyncio.Protocol):
    """One WebSocket client connection. Text frames go to `on_message`; server pings are
    answered. Frames we send are masked with a random key, as the RFC asks of clients."""

    def __init__(self, path: str, on_message: OnMessage) -> None:
        self.path = path
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buf = bytearray()
        self._upgraded = False

    @classmethod
    async def open(cls, port: int, path: str, on_message: OnMessage) -> Ws:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: cls(path, on_message), HOST, port)
        await proto.opened
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._upgraded:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buf[:end]).split(b"\r\n", 1)[0]
            del self._buf[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self._upgraded = True
            self.opened.set_result(None)
        buf = self._buf
        while len(buf) >= 2:
            n, pos = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < pos + n:
                return
            opcode, payload = buf[0] & 0x0F, bytes(buf[pos : pos + n])
            del buf[: pos + n]
            if opcode in (1, 2):  # Tornado does not fragment what it sends
                self.on_message(payload)
            elif opcode == 9:
                self._frame(0xA, payload)  # pong: the server closes silent connections

    def _frame(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.transport.write(head + mask + _websocket_mask(mask, payload))

    def send(self, text: bytes) -> None:
        self._frame(0x1, text)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost"))
        else:
            self.on_message(None)  # whoever waits for an answer must not hang

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._frame(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()


# -- load (runs in worker processes) ------------------------------------------------------

CODE = re.compile(rb'"code":"([a-z_]+)"')


@dataclass
class Load:
    """What one worker process does: `tokens` players (None: echo connections) hammer
    `port` from `go` (wall clock) for `warmup` + `seconds`; only `seconds` are counted."""

    kind: str  # "ws" | "echo" | "http"
    port: int
    tokens: list[str | None]
    run: str  # makes action ids unique per round
    go: float
    warmup: float
    seconds: float
    batch: int = 1


@dataclass
class Tally:
    done: int = 0  # answers in the window (WS: act frames; HTTP: requests)
    total: int = 0  # answers in the whole round, warm-up included
    actions: int = 0
    ok: int = 0
    rejected: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    pushes: int = 0
    lat: list[float] = field(default_factory=list)
    cpu: float = 0.0  # this worker's CPU seconds within the window
    late: float = 0.0  # seconds the worker was still connecting after `go`

    def add(self, other: Tally) -> None:
        self.done += other.done
        self.total += other.total
        self.actions += other.actions
        self.ok += other.ok
        self.rejected += other.rejected
        self.codes += other.codes
        self.pushes += other.pushes
        self.lat += other.lat
        self.cpu += other.cpu
        self.late = max(self.late, other.late)


def act_name(k: int) -> tuple[str, dict]:
    # 9 in 10 buy a seed (succeeds while coins last: FUNDS buy two million), 1 in 10 asks
    # for the daily gift (after the first a cheap `limit` rejection)
    if k % 10 == 9:
        return "daily_gift", {}
    return "buy_seed", {"kind": "wheat", "qty": 1}


def act_frame(run: str, k: int) -> bytes:
    name, params = act_name(k)
    return orjson.dumps({"type": "act", "id": f"{run}.{k}", "name": name, "params": params})


def run_load(load: Load) -> Tally:
    return asyncio.run(_run_load(load))


async def _run_load(load: Load) -> Tally:
    loop = asyncio.get_running_loop()
    start = loop.time() + (load.go - time.time()) + load.warmup  # the window, loop clock
    end = start + load.seconds
    tally = Tally()
    conns: list[Http | Ws] = []
    try:
        workers: list[Coroutine[Any, Any, None]] = []
        for i, token in enumerate(load.tokens):
            run = f"{load.run}.{i}"
            if load.kind == "http":
                http = await Http.open(load.port)
                conns.append(http)
                workers.append(_http_player(http, token, run, load.batch, start, end, tally))
            else:
                ws, work = await _ws_player(load, token, run, start, end, tally)
                conns.append(ws)
                workers.append(work)
        tally.late = max(0.0, time.time() - load.go)
        await asyncio.sleep(max(0.0, load.go - time.time()))
        cpu = asyncio.create_task(_cpu_in_window(start, end, tally))
        await asyncio.gather(*workers)
        await cpu
    finally:
        for conn in conns:
            conn.close()
    return tally


async def _cpu_in_window(start: float, end: float, tally: Tally) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start - loop.time()))
    before = time.process_time()
    await asyncio.sleep(max(0.0, end - loop.time()))
    tally.cpu = time.process_time() - before


async def open_player(
    port: int,
    token: str | None,
    on_push: Callable[[], None] = lambda: None,
) -> tuple[Ws, list[asyncio.Future[bytes] | None]]:
    """A player's WebSocket (token None: an echo connection), open and subscribed, and
    its waiter: set waiter[0] to a future before sending a frame, and the frame's answer
    (a `result` or `error` frame; for the echo, every frame) resolves it. Pushes (`state`,
    `event`) call on_push."""
    loop = asyncio.get_running_loop()
    echo = token is None
    waiter: list[asyncio.Future[bytes] | None] = [None]
    welcome = loop.create_future()

    def on_message(payload: bytes | None) -> None:
        if payload is None:  # the server closed the connection
            if waiter[0] is not None and not waiter[0].done():
                waiter[0].set_exception(ConnectionError("the server closed a WebSocket"))
        elif echo or payload.startswith((b'{"type":"result"', b'{"type":"error"')):
            w, waiter[0] = waiter[0], None
            if w is not None:
                w.set_result(payload)
        elif payload.startswith(b'{"type":"welcome"'):
            welcome.set_result(None)
        else:
            on_push()

    path = "/ws" if echo else f"/v1/{GAME}/ws?token={token}"
    conn = await Ws.open(port, path, on_message)
    if not echo:
        await welcome  # subscribed: from here every change is pushed to us
    return conn, waiter


async def _ws_player(
    load: Load, token: str | None, run: str, start: float, end: float, tally: Tally
) -> tuple[Ws, Coroutine[Any, Any, None]]:
    loop = asyncio.get_running_loop()
    echo = load.kind == "echo"

    def pushed() -> None:
        if start <= loop.time() <= end:
            tally.pushes += 1

    conn, waiter = await open_player(load.port, None if echo else token, pushed)

    async def work() -> None:
        await asyncio.sleep(max(0.0, load.go - time.time()))
        k = 0
        while (t0 := loop.time()) < end:
            fut = waiter[0] = loop.create_future()
            conn.send(act_frame(run, k))
            k += 1
            payload = await fut
            t1 = loop.time()
            tally.total += 1
            if t0 >= start and t1 <= end:
                tally.done += 1
                tally.lat.append(t1 - t0)
                if payload.startswith(b'{"type":"error"'):  # refused, not decided: no action
                    tally.codes.update(c.decode() for c in CODE.findall(payload))
                    continue
                tally.actions += 1
                if echo or b'"status":"ok"' in payload:
                    tally.ok += 1
                else:
                    tally.rejected += 1
                    tally.codes.update(c.decode() for c in CODE.findall(payload))

    return conn, work()


async def _http_player(
    conn: Http, token: str | None, run: str, batch: int, start: float, end: float, tally: Tally
) -> None:
    loop = asyncio.get_running_loop()
    path = f"/v1/{GAME}/actions"
    k = 0
    while (t0 := loop.time()) < end:
        actions = []
        for _ in range(batch):
            name, params = act_name(k)
            actions.append({"id": f"{run}.{k}", "name": name, "params": params})
            k += 1
        status, body = await conn.send(
            http_request("POST", path, {"actions": actions}, token=token)
        )
        t1 = loop.time()
        tally.total += 1
        if t0 >= start and t1 <= end:
            tally.done += 1
            tally.lat.append(t1 - t0)
            if status != 200:
                tally.codes[f"http {status}"] += 1
                continue
            tally.actions += batch
            ok = body.count(b'"status":"ok"')
            tally.ok += ok
            tally.rejected += batch - ok
            if ok < batch:
                tally.codes.update(c.decode() for c in CODE.findall(body))


# -- the bench ----------------------------------------------------------------------------


@dataclass
class Row:
    """One measured round."""

    label: str
    tally: Tally
    seconds: float
    cpu: dict[str, float]  # process -> CPU seconds in the window
    store_calls: float = 0.0  # gateway store round trips in the whole round
    machine: float = 0.0  # share of all the machine's cores busy in the window (anyone's)

    @property
    def per_s(self) -> float:
        return self.tally.actions / self.seconds

    def cpu_us(self, who: str | None = None) -> float:
        """CPU µs per action: of one process, or of all we started (None). On a shared
        machine this holds still where throughput moves with what others run."""
        used = self.cpu[who] if who else sum(self.cpu.values())
        return used / max(1, self.tally.actions) * 1e6

    def pct(self, q: float) -> float:
        lat = sorted(self.tally.lat)
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.profiles = 0
        self.pool = ProcessPoolExecutor(args.procs, mp_context=get_context("spawn"))
        # --pin: the serving processes' CPU, and the rest's (what this process starts
        # inherits the rest: set in main before anything starts)
        self.serving_cpus: set[int] = set()
        self.other_cpus: set[int] = set()

    def start(self) -> None:
        self.redis, self.redis_port = start_redis(self.tmp)
        self.procs.append(self.redis)
        t = time.perf_counter()
        self.server, self.port = start_server(self.tmp, self.redis_port)
        self.procs.append(self.server)
        self.server_start = time.perf_counter() - t
        self.echo, self.echo_port = start_echo(self.tmp)
        self.procs.append(self.echo)
        self.history_server: Proc | None = None
        if self.args.history:  # the same game on the same Redis, with the sink on
            self.history_server, self.history_port = start_server(
                self.tmp, self.redis_port, self.args.history
            )
            self.procs.append(self.history_server)
            self.history_serving, self.history_drainer = history_processes(self.history_server)
        if self.serving_cpus:
            pin(self.server.popen.pid, self.serving_cpus)
            if self.history_server is not None:
                pin(self.history_serving.pid, self.serving_cpus)
        # spawn the workers now, so starting them is not inside a measured round
        list(self.pool.map(abs, range(self.args.procs)))

    def stop(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        for proc in reversed(self.procs):
            proc.stop()

    # -- talking to the server from this process (setup and round-trip counts) --

    async def call(
        self, conn: Http, method: str, path: str, body: object = None, **kw: object
    ) -> dict:
        status, raw = await conn.send(http_request(method, path, body, **kw))  # type: ignore[arg-type]
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {raw[:300]!r}")
        return orjson.loads(raw)

    async def players(self, n: int, tag: str, *, fund: bool) -> list[tuple[str, str]]:
        """n guest sessions (player id, token), each granted FUNDS coins if `fund`."""
        conns = [await Http.open(self.port) for _ in range(8)]
        out: list[tuple[str, str]] = [("", "")] * n

        async def one(conn: Http, i: int) -> None:
            # each device signs in from its own (pretend) address behind a proxy: the
            # sign-in rate limit is per address, and a real game's players are not one
            ip = f"127.{100 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
            s = await self.call(
                conn,
                "POST",
                f"/v1/{GAME}/session",
                {"device_id": f"bench-{tag}-{i:06d}"},
                headers={"X-Real-IP": ip},
            )
            if fund:
                await self.call(
                    conn,
                    "POST",
                    f"/admin/{GAME}/players/{s['player_id']}/grant",
                    {"id": "bench-funds", "changes": {"coins": FUNDS}, "reason": "benchmark"},
                    token=ADMIN,
                )
            out[i] = (s["player_id"], s["token"])

        async def lane(j: int) -> None:
            for i in range(j, n, len(conns)):
                await one(conns[j], i)

        await asyncio.gather(*(lane(j) for j in range(len(conns))))
        for c in conns:
            c.close()
        return out

    async def store_calls(self) -> Counter[str]:
        conn = await Http.open(self.port)
        try:
            status, body = await conn.send(http_request("GET", "/metrics"))
        finally:
            conn.close()
        assert status == 200
        calls: Counter[str] = Counter()
        for m in re.finditer(rb'^rulesc_store_calls_total\{op="(\w+)"\} ([0-9.e+]+)$', body, re.M):
            calls[m.group(1).decode()] = int(float(m.group(2)))
        return calls

    def redis_stats(self) -> tuple[Counter[str], int]:
        """(calls by command, total_commands_processed), one INFO command."""
        text = redis_cli(self.redis_port, "INFO", "stats", "commandstats")
        calls: Counter[str] = Counter()
        total = 0
        for line in text.splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[8:].split(":", 1)
                calls[name] = int(rest.split("calls=", 1)[1].split(",", 1)[0])
            elif line.startswith("total_commands_processed:"):
                total = int(line.split(":", 1)[1])
        return calls, total

    # -- (a) and (b): load rounds --

    def round(self, label: str, kind: str, port: int, tokens: list, batch: int = 1) -> Row:
        a = self.args
        procs = a.procs
        go = time.time() + 1.0 + len(tokens) / 200  # time to connect (and get `welcome`)
        tag = f"{label.split()[0]}.{time.time_ns() % 10**12}"  # ids unique per round
        loads = [
            Load(kind, port, tokens[i::procs], f"{tag}.{i}", go, a.warmup, a.seconds, batch)
            for i in range(procs)
        ]
        before_calls = asyncio.run(self.store_calls())
        if self.serving_cpus and self.args.history:  # its connection may be new
            for pid in database_backends(self.args.history):
                with contextlib.suppress(OSError):  # not ours to move: left where it is
                    pin(pid, self.other_cpus)
        futures = [self.pool.submit(run_load, load) for load in loads]
        # CPU of the measured processes over the same window the workers count
        watched: dict[str, Proc | Pid] = {
            "server": self.server,
            "redis": self.redis,
            "echo": self.echo,
        }
        if self.history_server is not None and port == self.history_port:
            watched["server"] = self.history_serving  # the serving process: not the drainer
            watched["drainer"] = self.history_drainer
        time.sleep(max(0.0, go + a.warmup - time.time()))
        before = {k: p.cpu() for k, p in watched.items()}
        busy0, total0 = machine_busy()
        spy = self.profile(label, port)
        time.sleep(max(0.0, go + a.warmup + a.seconds - time.time()))
        cpu = {k: p.cpu() - before[k] for k, p in watched.items()}
        busy1, total1 = machine_busy()
        if spy is not None:
            spy.wait()
        tally = Tally()
        for f in futures:
            tally.add(f.result())
        cpu["load generator"] = tally.cpu
        if tally.late > 0.2:
            print(
                f"  warning: the load generator was still connecting {tally.late:.1f}s "
                "into the warm-up"
            )
        time.sleep(0.3)  # connections closed: let the server unsubscribe before counting
        calls = asyncio.run(self.store_calls())
        row = Row(
            label,
            tally,
            a.seconds,
            cpu,
            sum((calls - before_calls).values()),
            (busy1 - busy0) / max(1e-9, total1 - total0),
        )
        self.print_round(row)
        if self.history_server is not None:
            self.wait_history_drained(port == self.history_port)
        return row

    def wait_history_drained(self, say: bool) -> None:
        """Wait until the history drainer has caught up, so what it still owes one round
        does not take CPU from the next (a round of the server without the sink)."""
        started = time.perf_counter()
        waiting = -1
        while time.perf_counter() - started < 300:
            body = urllib.request.urlopen(f"http://{HOST}:{self.history_port}/metrics").read()
            found = re.search(rb"^rulesc_history_waiting ([0-9.e+]+)$", body, re.M)
            waiting = int(float(found.group(1))) if found else -1
            if waiting == 0:
                break
            time.sleep(0.2)
        if say:
            print(f"    (history drained {time.perf_counter() - started:.1f}s after the round)")

    def profile(self, label: str, port: int) -> subprocess.Popen | None:
        """With --profile DIR: py-spy samples the server through the window (collapsed
        stacks: flamegraph.pl or speedscope.app read them)."""
        if not self.args.profile or port != self.port:
            return None
        out = Path(self.args.profile)
        out.mkdir(parents=True, exist_ok=True)
        self.profiles += 1
        name = f"{self.profiles:02d}-{re.sub(r'[^a-z0-9]+', '-', label)}.txt"
        argv = [
            "py-spy",
            "record",
            "--pid",
            str(self.server.popen.pid),
            "--format",
            "raw",
            "--duration",
            str(max(1, int(self.args.seconds))),
            "--rate",
            "1000",
            "--output",
            str(out / name),
            "--nonblocking",
        ]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def print_round(self, row: Row) -> None:
        t = row.tally
        codes = ", ".join(f"{k} {v}" for k, v in t.codes.most_common())
        rej = f", rejected {t.rejected} ({codes})" if t.rejected or t.codes else ""
        if t.pushes:
            rej += f", state/event pushes {t.pushes}"
        cpu = " ".join(f"{k} {v / row.seconds:.0%}" for k, v in row.cpu.items() if v > 0.05)
        cpu += f"; machine {row.machine:.0%} busy"
        print(
            f"  {row.label:<18} {row.per_s:>9,.0f} actions/s  p50 {row.pct(0.5):6.2f} ms  "
            f"p99 {row.pct(0.99):6.2f} ms  ok {t.ok}{rej}; cpu: {cpu}",
            flush=True,
        )

    # -- (c): store round trips, one call at a time --

    async def round_trips(self) -> list[tuple[str, int, dict]]:
        n = self.args.rt_players
        fresh_single = await self.players(n, f"rt1-{time.time_ns()}", fund=False)
        fresh_batch = await self.players(n, f"rt2-{time.time_ns()}", fund=False)
        await asyncio.sleep(0.3)
        conn = await Http.open(self.port)
        rows: list[tuple[str, int, dict]] = []

        async def measure(label: str, players: list, batches: list[list[tuple]]) -> None:
            """Each player sends these batches (lists of (name, params)) in turn."""
            calls0 = await self.store_calls()
            cmds0, total0 = self.redis_stats()
            count = 0
            for _, token in players:
                for b, batch in enumerate(batches):
                    slug = re.sub(r"[^a-z0-9]+", "-", label)
                    actions = [
                        {"id": f"{slug}.{b}.{j}", "name": name, "params": params}
                        for j, (name, params) in enumerate(batch)
                    ]
                    body = await self.call(
                        conn, "POST", f"/v1/{GAME}/actions", {"actions": actions}, token=token
                    )
                    want = "rejected" if "rejected" in label else "ok"
                    got = {r["status"] for r in body["results"]}
                    if got != {want}:
                        raise RuntimeError(f"{label}: expected all {want}, got {body}")
                    count += 1
            calls = await self.store_calls() - calls0
            cmds, total = self.redis_stats()
            cmds = cmds - cmds0
            info = cmds.pop("info", 0)  # our own INFO command (the first one)
            sent = {k: v for k, v in cmds.items() if k not in SCRIPT_INSIDE}
            rows.append(
                (
                    label,
                    count,
                    {
                        "gateway": dict(calls),
                        "redis_sent": sent,
                        "redis_total": total - total0 - info,
                        "redis_all": dict(cmds),
                    },
                )
            )

        seed = ("buy_seed", {"kind": "wheat", "qty": 1})
        locked = ("buy_seed", {"kind": "pumpkin", "qty": 1})  # unlocks at level 4
        await measure("single, cold", fresh_single, [[seed]])
        await measure("single, warm", fresh_single, [[seed]] * 4)
        await measure("single rejected, warm", fresh_single, [[locked]] * 2)
        await measure("batch of 20, cold", fresh_batch, [[seed] * BATCH])
        await measure("batch of 20, warm", fresh_batch, [[seed] * BATCH])
        conn.close()
        return rows


def machine() -> list[str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import tornado

    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    return [
        f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}",
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"tornado {tornado.version}, redis-server {redis_v.split()[2].removeprefix('v=')}",
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def best(rows: list[Row]) -> Row:
    return max(rows, key=lambda r: r.per_s)


def main() -> int:
    parser = argparse.ArgumentParser(description="Game server benchmarks (issue 3, item 7).")
    # enough players that each stays under the default 50 requests/s per player
    parser.add_argument("--players", type=int, default=400, help="WebSocket connections")
    parser.add_argument("--conns", type=int, default=64, help="HTTP connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured per round")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured, per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind")
    parser.add_argument("--procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--rt-players", type=int, default=30, help="players for (c)")
    parser.add_argument("--quick", action="store_true", help="one short round of each")
    parser.add_argument(
        "--history",
        metavar="URL",
        nargs="?",
        const="sqlite",
        help="(a) also against a server with --history URL (default: sqlite in its data dir)",
    )
    parser.add_argument(
        "--history-only",
        action="store_true",
        help="with --history: only (a)'s paired rounds, sink off and on (no echo server)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the serving process on the first CPU alone; Redis, the load generator, the "
        "drainer and (on this machine) the history database's connection on the others",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy the server in each of its rounds (collapsed stacks)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.warmup, args.rt_players = 1, 3.0, 1.0, 10
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        print("redis-server and redis-cli are needed (Debian package redis-server)")
        return 2

    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) < 2:
        print("--pin needs two CPUs or more")
        return 2

    print("rulesc server benchmark (bench/bench_server.py)")
    for line in machine():
        print("  " + line)
    if args.pin:
        print(
            f"  pinned: the serving process on CPU {cpus[0]}; Redis, the load generator, the "
            f"history drainer and its database connection on CPU {','.join(map(str, cpus[1:]))}"
        )
        os.sched_setaffinity(0, set(cpus[1:]))  # what this process starts inherits it
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rulesc-bench-") as tmp_name:
        bench = Bench(args, Path(tmp_name))
        if args.pin:
            bench.serving_cpus, bench.other_cpus = {cpus[0]}, set(cpus[1:])
        try:
            bench.start()
            print(
                f"  server: `rulesc serve games/harvest --redis ...` (pack built in "
                f"{bench.server_start:.1f}s to ready), echo server, redis {bench.redis_port}; "
                f"load generator: {args.procs} process(es)\n"
            )
            return report(bench, args, started)
        finally:
            bench.stop()


def report_history(args: argparse.Namespace, off: list[Row], on: list[Row]) -> None:
    """Sink on vs off, by the median of the rounds' pairs (each pair ran back to back)."""
    throughput = statistics.median(b.per_s / a.per_s for a, b in zip(off, on, strict=True))
    cpu = statistics.median(
        b.cpu_us("server") / a.cpu_us("server") for a, b in zip(off, on, strict=True)
    )
    drainer = statistics.median(b.cpu_us("drainer") for b in on)
    print(
        f"  history sink on ({args.history}) vs off, median of {len(on)} paired rounds: "
        f"{throughput:.3f}x actions/s (target >= 0.95); serving process CPU per action "
        f"{cpu:.3f}x ({statistics.median(b.cpu_us('server') for b in on):.0f} vs "
        f"{statistics.median(a.cpu_us('server') for a in off):.0f} µs); the drainer process "
        f"{drainer:.0f} µs per action beside it"
    )


def report(bench: Bench, args: argparse.Namespace, started: float) -> int:
    ws_players = asyncio.run(bench.players(args.players, f"ws-{time.time_ns()}", fund=True))
    http_players = asyncio.run(bench.players(args.conns, f"http-{time.time_ns()}", fund=True))
    ws_tokens = [t for _, t in ws_players]
    http_tokens = [t for _, t in http_players]

    print(
        f"(a) `act` frames over {args.players} WebSockets, one after another per "
        f"connection ({args.seconds:g}s measured per round)"
    )
    echo_rows: list[Row] = []
    ws_rows: list[Row] = []
    history_rows: list[Row] = []
    for i in range(args.rounds):
        if not args.history_only:
            echo_rows.append(
                bench.round("echo server", "echo", bench.echo_port, [None] * args.players)
            )
        if bench.history_server is None:
            ws_rows.append(bench.round("rulesc act", "ws", bench.port, ws_tokens))
            continue
        # sink off and on back to back, in turns first: a pair shares the machine's mood
        for on in (False, True) if i % 2 == 0 else (True, False):
            if on:
                history_rows.append(
                    bench.round("act +history", "ws", bench.history_port, ws_tokens)
                )
            else:
                ws_rows.append(bench.round("rulesc act", "ws", bench.port, ws_tokens))
    if history_rows:
        report_history(args, ws_rows, history_rows)
    if args.history_only:
        return 0
    print(f"\n(b) HTTP POST /actions over {args.conns} keep-alive connections")
    single_rows: list[Row] = []
    batch_rows: list[Row] = []
    for _ in range(args.rounds):
        single_rows.append(bench.round("1 action/request", "http", bench.port, http_tokens))
        batch_rows.append(
            bench.round(f"{BATCH} actions/request", "http", bench.port, http_tokens, batch=BATCH)
        )

    print(
        f"\n(c) store round trips, one request at a time ({args.rt_players} fresh players per row)"
    )
    rt = asyncio.run(bench.round_trips())
    print(f"  {'':<24}{'requests':>9}{'gateway':>9}{'redis':>7}{'in redis':>10}   by kind")
    print(f"  {'':<24}{'':>9}{'per req':>9}{'sent':>7}{'per req':>10}")
    for label, count, d in rt:
        gw = sum(d["gateway"].values()) / count
        sent = sum(d["redis_sent"].values()) / count
        print(
            f"  {label:<24}{count:>9}{gw:>9.2f}{sent:>7.2f}{d['redis_total'] / count:>10.1f}   "
            f"gateway {d['gateway']}  redis {d['redis_sent']}"
        )
    # under load: the gateway's calls over whole rounds, per request answered in them
    for label, rows in (
        ("act frames, load (a)", ws_rows),
        ("single, load (b)", single_rows),
        ("batch of 20, load (b)", batch_rows),
    ):
        calls, done = sum(r.store_calls for r in rows), sum(r.tally.total for r in rows)
        print(f"  {label:<24}{done:>9}{calls / done:>9.2f}")
    print(
        "  gateway: rulesc_store_calls_total from /metrics; redis sent: INFO commandstats, "
        "less what runs inside scripts;\n  in redis: total_commands_processed, with the "
        "commands inside the commit script"
    )

    summary(echo_rows, ws_rows, single_rows, batch_rows, rt)
    log_problems(bench.server.log)
    print(f"\n  {time.perf_counter() - started:.0f}s in all")
    return 0


def log_problems(log: Path) -> None:
    """Warnings and errors the server logged during the run (e.g. a store timeout that
    answered `unavailable`): a benchmark that hides them would flatter the server."""
    lines = [
        ln
        for ln in log.read_text(errors="replace").splitlines()
        if " WARNING " in ln or " ERROR " in ln or "Traceback" in ln
    ]
    if not lines:
        print("\n  server log: no warnings or errors")
        return
    # one line per kind: without the time stamp, and numbers (timings) folded
    kinds = Counter(re.sub(r"\d+(\.\d+)?", "#", re.sub(r"^\S+ \S+ ", "", ln))[:110] for ln in lines)
    print(f"\n  server log: {len(lines)} warning/error lines:")
    for text, n in kinds.most_common(5):
        print(f"    {n} x {text}")


def summary(
    echo_rows: list[Row],
    ws_rows: list[Row],
    single_rows: list[Row],
    batch_rows: list[Row],
    rt: list,
) -> None:
    echo, ws = best(echo_rows), best(ws_rows)
    single, batch = best(single_rows), best(batch_rows)
    print("\nsummary (best round of each kind)")
    print(
        f"  {'':<20}{'actions/s':>10}{'p50 ms':>8}{'p99 ms':>8}   CPU µs per action"
        f"{'':<14}CPU used in the window"
    )
    print(f"  {'':<46}{'server':>7}{'redis':>7}{'loadgen':>8}{'all':>6}")
    for row in (echo, ws, single, batch):
        cpu = ", ".join(f"{k} {v / row.seconds:.0%}" for k, v in row.cpu.items() if v > 0.05)
        cpu += f"; machine {row.machine:.0%}"
        server = row.cpu_us("echo" if row is echo else "server")
        print(
            f"  {row.label:<20}{row.per_s:>10,.0f}{row.pct(0.5):>8.2f}{row.pct(0.99):>8.2f}"
            f"{server:>10.0f}{row.cpu_us('redis'):>7.0f}{row.cpu_us('load generator'):>8.0f}"
            f"{row.cpu_us():>6.0f}   {cpu}"
        )
    print(
        "  (the echo row's server column is the echo server; all: every process we started;\n"
        "   machine: share of both cores busy in the window, other people's work included)"
    )

    per_req = {label: sum(d["gateway"].values()) / count for label, count, d in rt}
    sent = {label: sum(d["redis_sent"].values()) / count for label, count, d in rt}
    ratio_a, ratio_b = ws.per_s / echo.per_s, batch.per_s / single.per_s
    # the same ratios from CPU per action: what they would be if every round had had the
    # same CPU (on a shared machine, it does not)
    cpu_a, cpu_b = echo.cpu_us() / ws.cpu_us(), single.cpu_us() / batch.cpu_us()
    targets = [
        (
            "a",
            "WS act/s vs echo messages/s",
            f"{ws.per_s:,.0f} / {echo.per_s:,.0f} = {ratio_a:.2f}",
            f"{cpu_a:.2f}",
            ">= 0.5",
            ratio_a >= 0.5,
        ),
        (
            "b",
            "HTTP actions/s, batches of 20 vs single",
            f"{batch.per_s:,.0f} / {single.per_s:,.0f} = {ratio_b:.1f}x",
            f"{cpu_b:.1f}x",
            ">= 8x",
            ratio_b >= 8,
        ),
    ]
    for label, limit in (
        ("single, cold", 2),
        ("batch of 20, cold", 2),
        ("single, warm", 1),
        ("batch of 20, warm", 1),
        ("single rejected, warm", 1),
    ):
        targets.append(
            (
                "c",
                f"store round trips: {label}",
                f"{per_req[label]:.2f} (redis {sent[label]:.2f})",
                "",
                f"<= {limit}",
                per_req[label] <= limit and sent[label] <= limit,
            )
        )
    print(f"\n  {'':<3}{'target':<42}{'measured':<26}{'by CPU':<8}{'goal':<8}")
    for part, what, measured, by_cpu, goal, ok in targets:
        print(f"  {part:<3}{what:<42}{measured:<26}{by_cpu:<8}{goal:<8}{'PASS' if ok else 'MISS'}")
    print(
        "  PASS/MISS is on measured throughput; `by CPU` is the same ratio from CPU µs per "
        "action (all processes)"
    )
    throttled = sum(
        r.tally.codes[c]
        for r in ws_rows + single_rows + batch_rows
        for c in ("rate_limited", "http 429")
    )
    if throttled:
        print(
            f"  warning: {throttled} answers were rate limited (50 requests/s per player): "
            "raise --players / --conns so each player asks less often"
        )


if __name__ == "__main__":
    sys.exit(main())
