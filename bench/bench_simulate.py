"""`rulesc simulate` at the shape of issue 16: 46 bots x 20 runs x 112 days.

    python bench/bench_simulate.py                 # the full shape, on 1 then on 2 workers
    python bench/bench_simulate.py --days 28       # a quicker look

Generates the farming game of bench/gen_farm.py (a bot per crop), runs the command as a
child process once with `--jobs 1` and once with `--jobs 2`, and prints for each: the
wall time, the CPU time of the command and its workers, the peak memory — the largest
sum of the resident sizes of the command and its workers at once (sampled from /proc
every 0.1 s) and the largest single process (getrusage's ru_maxrss of the children) —
and the speedup. Targets: under 300 MB, and at least 1.6x faster on two cores.
The outputs of both runs must be the same bytes (the results do not depend on workers).

The machine is shared: before the runs it measures how much faster two processes do pure
CPU work than one (`calibration`), the most any program could gain at that moment.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_farm import write_game  # noqa: E402

RULESC = Path(sys.executable).with_name("rulesc")


def tree_rss_kb(pid: int) -> int:
    """The resident size of a process and all its descendants, in kB (0 once it is gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as f:
                total += next((int(x.split()[1]) for x in f if x.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run(game: Path, out: Path, jobs: int, args: argparse.Namespace) -> dict:
    argv = [str(RULESC), "simulate", str(game), "--out", str(out), "--jobs", str(jobs)]
    argv += ["--runs", str(args.runs), "--days", str(args.days), "--quiet", "--no-plots"]
    log = out.with_suffix(".log")
    started = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    peak = 0

    def watch() -> None:
        nonlocal peak
        while proc.poll() is None:
            peak = max(peak, tree_rss_kb(proc.pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    # wait4: this child's own usage, its workers' included (ru_maxrss: the largest of them)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    wall = time.perf_counter() - started
    output = log.read_text()
    if proc.returncode != 0:
        sys.exit(output)
    said = output.strip().splitlines()[-2]
    return {
        "jobs": jobs,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "tree_mb": peak / 1024,
        "single_mb": usage.ru_maxrss / 1024,  # kB on Linux
        "said": said,
        "summary": (out / "summary.txt").read_bytes() + (out / "bands.csv").read_bytes(),
    }


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def calibration() -> float:
    """How much faster 2 processes do pure CPU work than 1, on this machine now."""
    times = []
    for jobs in (1, 2):
        started = time.perf_counter()
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_burn, [4_000_000] * 8))
        times.append(time.perf_counter() - started)
    return times[0] / times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crops", type=int, default=46)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--days", type=int, default=112)
    parser.add_argument("--rounds", type=int, default=2, help="1 then 2 workers, this many times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        game = write_game(args.crops, Path(tmp) / "farm")
        print(
            f"rulesc simulate: {args.crops} bots x {args.runs} runs x {args.days} days "
            f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start)"
        )
        rounds = []
        for i in range(args.rounds):  # the best of each: the machine is shared
            rounds.append(
                (calibration(), *(run(game, Path(tmp) / f"out{i}-{j}", j, args) for j in (1, 2)))
            )
            print(f"  round {i + 1}: calibration {rounds[-1][0]:.2f}x, ", end="")
            print(", ".join(f"--jobs {r['jobs']} {r['wall']:.1f} s" for r in rounds[-1][1:]))
        results = [min((r[j] for r in rounds), key=lambda x: x["wall"]) for j in (1, 2)]
    print("  best of the rounds:")
    for r in results:
        print(
            f"  --jobs {r['jobs']}: {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU, "
            f"peak {r['tree_mb']:5.0f} MB (command + workers), "
            f"largest process {r['single_mb']:4.0f} MB"
        )
        print(f"           {r['said']}")
    one, two = results
    print(f"  speedup on 2 workers: {one['wall'] / two['wall']:.2f}x (target >= 1.6x)")
    print(
        "  calibration (pure CPU work, 2 processes vs 1, before each round): "
        + ", ".join(f"{r[0]:.2f}x" for r in rounds)
        + ": the most the machine allowed then"
    )
    print(f"  peak memory: {max(one['tree_mb'], two['tree_mb']):.0f} MB (target < 300 MB)")
    same = len({r["summary"] for rnd in rounds for r in rnd[1:]}) == 1
    print(f"  same summary and bands on 1 and 2 workers, every round: {same}")


if __name__ == "__main__":
    main()
