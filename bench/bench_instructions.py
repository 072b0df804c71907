"""Instructions the server runs per `act` frame, counted by valgrind's callgrind.

    python bench/bench_instructions.py                       # this checkout, and the echo
    python bench/bench_instructions.py --tree /tmp/old /tmp/new   # A/B of two source trees
    python bench/bench_instructions.py --history      # the serving process with the history
                                                      # feed's append vs without

Wall and CPU time on a shared machine move by 15-20% between runs of the same code,
so a change worth 3% cannot be seen in them (bench_server.py compares ratios within one
run for that reason). Instructions executed do not depend on what else runs: the same
code counts the same within about 1%. They are not time (a 64 KiB memset is 65,536
"instructions" under callgrind and a microsecond on the CPU), but a change that takes
Python work off the path shows as fewer of them: use this to decide whether a change
pays, and bench_server.py for what the machine does.

Each server runs under `valgrind --tool=callgrind` (about 50x slower), on a Redis of its
own run. The load generator opens `--players` WebSockets (not counted), warms up, then
callgrind's counters are zeroed, every connection sends `--acts` frames one after another
(the bench's mix: 9 in 10 `buy_seed`), and the counters are dumped. A `--tree` is a
directory that holds a `rulesc` package laid out as installed; for a commit:

    git worktree add /tmp/old HEAD~1
    mkdir -p /tmp/old-pkg/rulesc && cp /tmp/old/rulesc/*.py /tmp/old-pkg/rulesc/
    for d in dsl compiler runtime cli; do ln -s /tmp/old/$d /tmp/old-pkg/rulesc/$d; done

Needs valgrind (Debian's package), redis-server and `callgrind_control`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_server as b  # noqa: E402  (the bench's processes, client and sessions)


async def drive(
    port: int,
    tokens: list[str | None],
    acts: int,
    run: str,
    zero: Callable[[], None],
    dump: Callable[[], None],
) -> int:
    """Open a WebSocket per token, warm up, then `acts` frames on each between zero() and
    dump(); the number of `error` answers."""
    loop = asyncio.get_running_loop()
    conns = [await b.open_player(port, token) for token in tokens]
    errors = 0

    async def player(i: int, n: int, tag: str) -> None:
        nonlocal errors
        ws, waiter = conns[i]
        for k in range(n):
            fut = waiter[0] = loop.create_future()
            ws.send(b.act_frame(f"{run}.{tag}.{i}", k))
            if (await fut).startswith(b'{"type":"error"'):
                errors += 1

    await asyncio.gather(*(player(i, 3, "warm") for i in range(len(conns))))
    zero()
    await asyncio.gather(*(player(i, acts, "m") for i in range(len(conns))))
    dump()
    for ws, _ in conns:
        ws.close()
    return errors


def measure(
    name: str,
    tree: str | None,
    echo: bool,
    args: argparse.Namespace,
    tmp: Path,
    redis_port: int,
    history: str | None = None,
) -> float:
    """Instructions per frame of the server (with `history`: `serve --history URL
    --no-history-drainer`, the serving process with the feed's append and no drainer)."""
    port = b.free_port()
    out = tmp / f"callgrind.{port}.%p"  # a forked worker or drainer dumps to its own file
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RULESC_")}
    if echo:
        argv += [sys.executable, str(b.ROOT / "bench" / "echo_server.py"), "--port", str(port)]
    else:
        argv += [
            sys.executable,
            "-c",
            "from rulesc.cli.main import main; main()",
            "serve",
            str(b.HARVEST),
            "--host",
            b.HOST,
            "--port",
            str(port),
            "--redis",
            f"redis://{b.HOST}:{redis_port}/0",
            "--secret",
            b.SECRET,
            "--admin-token",
            b.ADMIN,
            "--production",
            "--data-dir",
            str(tmp / f"d{port}"),
            "--trust-proxy",
            # the serving process as it runs beside its drainer: with the feed's append,
            # the drainer left out (callgrind_control cannot reach a forked child)
            *(["--history", history, "--no-history-drainer"] if history else []),
        ]
        if tree:
            env["PYTHONPATH"] = tree  # (the server's cwd is tmp: no checkout shadows it)
    proc = b.Proc(name, argv, tmp / f"{port}.log", env=env, cwd=tmp)
    try:
        if echo:
            b.wait_until(name, proc, lambda: b.port_open(port), 300)
            tokens: list[str | None] = [None] * args.players
        else:
            b.wait_until(name, proc, lambda: b.http_ok(f"http://{b.HOST}:{port}/readyz"), 600)
            bench = b.Bench.__new__(b.Bench)  # only its sign-in helper is used
            bench.port = port
            players = asyncio.run(bench.players(args.players, f"ir-{port}", fund=True))
            tokens = [t for _, t in players]
        pid = str(proc.popen.pid)

        def control(flag: str) -> None:
            subprocess.run(
                ["callgrind_control", flag, pid],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        started = time.perf_counter()
        errors = asyncio.run(
            drive(
                port, tokens, args.acts, f"ir{port}", lambda: control("-z"), lambda: control("-d")
            )
        )
        dumps = sorted(tmp.glob(f"callgrind.{port}.{pid}*"), key=os.path.getmtime)
        total = 0
        for line in dumps[-1].read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
        n = args.players * args.acts
        print(
            f"  {name:<40} {total / n / 1000:8.1f} k instructions per frame  "
            f"({n} frames, {errors} errors, {time.perf_counter() - started:.0f}s)",
            flush=True,
        )
        return total / n
    finally:
        proc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tree",
        nargs="*",
        default=[],
        help="source trees to compare (default: the installed rulesc)",
    )
    parser.add_argument("--players", type=int, default=200, help="WebSockets")
    parser.add_argument(
        "--acts", type=int, default=10, help="frames each sends in the counted window"
    )
    parser.add_argument("--no-echo", action="store_true", help="skip the echo server")
    parser.add_argument(
        "--history",
        metavar="URL",
        nargs="?",
        const="sqlite",
        help="also each tree with --history URL (default: sqlite in its data dir)",
    )
    args = parser.parse_args()
    print("instructions per frame under callgrind (see the docstring for what they mean)")
    with tempfile.TemporaryDirectory(prefix="rulesc-ir-") as name:
        tmp = Path(name)
        redis, redis_port = b.start_redis(tmp)
        try:
            if not args.no_echo:
                measure("echo server", None, True, args, tmp, redis_port)
            for tree in args.tree or [None]:
                label = f"rulesc act {tree or '(installed)'}"
                off = measure(label, tree, False, args, tmp, redis_port)
                if args.history:
                    on = measure(
                        f"{label} +history", tree, False, args, tmp, redis_port, args.history
                    )
                    print(f"  serving process, history sink on / off: {on / off:.3f}x instructions")
        finally:
            redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
