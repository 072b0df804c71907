"""Compiler and compiled-code benchmarks (issue 2, item 9). Not part of the test suite.

Run from the repository root:

    python bench/bench_compiler.py           # about a minute on a 2-core machine
    python bench/bench_compiler.py --quick   # one round and games up to 1,000 actions

It prints, all measured in one run:

a. `check` and `build` of games/harvest: the first run in the process (cold: it builds
   the LALR parser and compiles the jinja template) and the best of later runs (warm);
b. check and build of generated games (bench/gen_game.py) of 250 to 2,000 actions, per
   action, and the ratio of the per-action time at 1,000 to that at 250 (linear: ~1.0);
c. loops of plant -> harvest -> sell through `engine.run` on the compiled harvest pack
   against the same loop through bench/handwritten_harvest.py, interleaved, after checking
   that both give the same results; µs per action and the ratio compiled / hand-written;
d. a summary table and the machine.

Times are CPU time of this process (time.process_time), not wall time. Compile times are
the best of several runs: on a shared machine other work only ever adds time, so the least
disturbed run is the truest. Absolute times still move from run to run; the ratios, each
measured within one run on interleaved rounds, are the figures to compare.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import handwritten_harvest as hw  # noqa: E402  (bench/ is not a package)
from gen_game import write_game  # noqa: E402

from rulesc.compiler.build import compile_game, write_pack  # noqa: E402
from rulesc.compiler.check import check_game  # noqa: E402
from rulesc.compiler.loader import load_game  # noqa: E402
from rulesc.runtime import engine  # noqa: E402
from rulesc.runtime.pack import Pack, load_pack  # noqa: E402

HARVEST = ROOT / "games" / "harvest"
T0 = 1_767_614_400_000  # Monday 2026-01-05 12:00 UTC, as the scenarios start
MINUTE = 60_000


def timed(fn: Callable[[], object]) -> float:
    """CPU seconds of this process for one call, after a collection so earlier garbage is not
    charged to it. CPU time rather than wall time: on a shared machine, the time other
    processes hold the cores is not ours (everything measured here is single-threaded)."""
    gc.collect()
    start = time.process_time()
    fn()
    return time.process_time() - start


def do_check(game: Path) -> None:
    """What `rulesc check` does: read and parse the files, then check them."""
    _, diags = check_game(load_game(game))
    if any(d.is_error for d in diags):
        raise SystemExit(f"{game} does not check: {diags[0]}")


def do_build(game: Path, out: Path) -> None:
    """What `rulesc build` does: check, generate the pack and write it."""
    result = compile_game(game)
    if result.files is None:
        raise SystemExit(f"{game} does not build")
    write_pack(result.files, out)


# ---- a. harvest -----------------------------------------------------------------------------


def bench_harvest(tmp: Path, runs: int) -> dict:
    out = tmp / "harvest_pack"
    cold_check = timed(lambda: do_check(HARVEST))  # first parse in the process: builds the parser
    cold_build = timed(lambda: do_build(HARVEST, out))  # first render: compiles the template
    checks, builds = [], []
    for _ in range(runs):
        checks.append(timed(lambda: do_check(HARVEST)))
        builds.append(timed(lambda: do_build(HARVEST, out)))
    return {
        "cold_check": cold_check,
        "cold_build": cold_build,
        "check": min(checks),
        "build": min(builds),
        "runs": runs,
    }


# ---- b. generated games ----------------------------------------------------------------------


def bench_scaling(tmp: Path, sizes: list[int], rounds: int) -> dict[int, dict]:
    games = {n: write_game(n, tmp / f"gen{n}") for n in sizes}
    times: dict[int, dict[str, list[float]]] = {n: {"check": [], "build": []} for n in sizes}
    for r in range(rounds):
        # sizes interleaved, in turn forwards and backwards, so a slow spell hits them all
        for n in sizes if r % 2 == 0 else sizes[::-1]:
            times[n]["check"].append(timed(lambda n=n: do_check(games[n])))
            times[n]["build"].append(timed(lambda n=n: do_build(games[n], tmp / f"gen{n}_pack")))
    return {n: {k: min(v) for k, v in t.items()} for n, t in times.items()}


# ---- c. compiled pack against hand-written code --------------------------------------------------


def cycle_steps(cycles: int) -> list[tuple[str, dict, int, str]]:
    """plant -> harvest -> sell over six plots, wheat and carrot in turn, 5 minutes a cycle:
    both are ready by then, and energy (1 every 3m) keeps up with one plant a cycle."""
    steps = []
    now = T0
    for i in range(cycles):
        kind, slot = ("wheat", "carrot")[i % 2], i % 6
        steps.append(("plant", {"slot": slot, "kind": kind}, now, f"a{3 * i}"))
        now += 5 * MINUTE
        steps.append(("harvest", {"slot": slot}, now, f"a{3 * i + 1}"))
        steps.append(
            ("sell", {"kind": kind, "qty": 3 if kind == "wheat" else 2}, now, f"a{3 * i + 2}")
        )
    return steps


def start_state(pack: Pack) -> dict:
    state = engine.prepare(pack, None, T0)
    return {**state, "seed": {**state["seed"], "wheat": 1_000_000, "carrot": 1_000_000}}


def loop_compiled(pack: Pack, state: dict, steps: list) -> dict:
    run = engine.run
    for name, params, now, action_id in steps:
        state = run(
            pack, state, name, params, now=now, player_id="bench", action_id=action_id
        ).state
    return state


def loop_handwritten(state: dict, steps: list) -> dict:
    run = hw.run
    for name, params, now, _action_id in steps:
        state = run(state, name, params, now=now).state
    return state


def same(a, b) -> bool:
    return (a.ok, a.state, a.now, a.changes, a.events, a.clamped, a.error) == (
        b.ok,
        b.state,
        b.now,
        b.changes,
        b.events,
        b.clamped,
        b.error,
    )


def check_equivalent(pack: Pack, state: dict, steps: list) -> int:
    """Both sides give the same outcome, step by step, and on rejections of every kind."""
    compared = 0
    a = b = state
    for name, params, now, action_id in steps:
        ra = engine.run(pack, a, name, params, now=now, player_id="bench", action_id=action_id)
        rb = hw.run(b, name, params, now=now)
        if not same(ra, rb):
            raise SystemExit(f"compiled and hand-written differ on {name}{params}:\n{ra}\n{rb}")
        a, b = ra.state, rb.state
        compared += 1
    busy = {
        **state,
        "field": [{"crop": "pumpkin", "ready_at": T0 + 3_600_000}, *state["field"][1:]],
    }
    broke = {**state, "energy": 0, "seed": {**state["seed"], "wheat": 0}, "_meters": {"energy": T0}}
    full = {**busy, "produce": {**state["produce"], "pumpkin": 999}}
    probes = [
        (busy, "plant", {"slot": 0, "kind": "wheat"}, T0),  # the plot is busy
        (broke, "plant", {"slot": 1, "kind": "wheat"}, T0 + 1000),  # two shortfalls at once
        (busy, "harvest", {"slot": 0}, T0 + 90_500),  # not ready: "Ready in 58m30s"
        (busy, "harvest", {"slot": 3}, T0),  # nothing planted
        (full, "harvest", {"slot": 0}, T0 + 3_600_000),  # produce clamped at 999
        (state, "sell", {"kind": "corn", "qty": 5}, T0),  # not enough produce
        (state, "sell", {"kind": "corn", "qty": "5"}, T0),  # strict: no coercion
        (state, "sell", {"kind": "corn", "qty": 0, "extra": 1}, T0),  # bounds, nothing extra
        (state, "harvest", {"slot": 6}, T0),  # no such plot
        (state, "plant", [1, 2], T0),  # not an object
        (state, "dance", {}, T0),  # no such action
        (busy, "harvest", {"slot": 0}, T0 - 5000),  # the clock never runs backwards
    ]
    for st, name, params, now in probes:
        ra = engine.run(pack, st, name, params, now=now, player_id="bench", action_id="probe")
        rb = hw.run(st, name, params, now=now)
        if not same(ra, rb):
            raise SystemExit(
                f"compiled and hand-written differ on probe {name}{params}:\n{ra}\n{rb}"
            )
        compared += 1
    return compared


def bench_runtime(tmp: Path, cycles: int, rounds: int) -> dict:
    result = compile_game(HARVEST, with_tests=False)
    assert result.files is not None
    pack = load_pack(write_pack(result.files, tmp / "runtime_pack"))
    state = start_state(pack)
    steps = cycle_steps(cycles)
    compared = check_equivalent(pack, state, steps)
    loop_compiled(pack, state, steps)  # warm both up once
    loop_handwritten(state, steps)
    compiled, hand, ratios = [], [], []
    for r in range(rounds):
        # alternate which goes first, so drift in the machine's speed favours neither
        first_compiled = r % 2 == 0
        if first_compiled:
            c = timed(lambda: loop_compiled(pack, state, steps))
        h = timed(lambda: loop_handwritten(state, steps))
        if not first_compiled:
            c = timed(lambda: loop_compiled(pack, state, steps))
        compiled.append(c / len(steps) * 1e6)
        hand.append(h / len(steps) * 1e6)
        ratios.append(c / h)
    return {
        "actions": len(steps),
        "rounds": rounds,
        "compared": compared,
        "compiled": statistics.median(compiled),
        "hand": statistics.median(hand),
        "compiled_min": min(compiled),
        "hand_min": min(hand),
        "ratio": statistics.median(ratios),
        "ratio_min": min(compiled) / min(hand),
    }


# ---- d. the machine and the report --------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
    }


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one round, games up to 1,000 actions")
    args = ap.parse_args()
    sizes = [250, 500, 1000] if args.quick else [250, 500, 1000, 2000]
    scale_rounds = 1 if args.quick else 3
    harvest_runs = 5 if args.quick else 15
    runtime_rounds = 10 if args.quick else 40

    info = machine()
    print(f"rulesc compiler benchmark — {info['python']}, {info['os']}")
    print(f"machine: {info['nproc']} cores, {info['cpu']}; load average at start {load_average()}")
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="rulesc-bench-") as tmp_dir:
        tmp = Path(tmp_dir)

        print("\na. games/harvest")
        h = bench_harvest(tmp, harvest_runs)
        print(
            f"   check  cold {ms(h['cold_check']):>10}   warm {ms(h['check']):>9}  (best of {h['runs']})"
        )
        print(
            f"   build  cold {ms(h['cold_build']):>10}   warm {ms(h['build']):>9}  (best of {h['runs']})"
        )
        print("   cold = the first run in the process, building the parser and the template;")
        print("   build = check + generate + write the pack, as `rulesc build` does")

        print(
            f"\nb. generated games (bench/gen_game.py), best of {scale_rounds} interleaved round(s)"
        )
        s = bench_scaling(tmp, sizes, scale_rounds)
        print(
            f"   {'actions':>7}  {'check':>10}  {'per action':>10}  {'build':>10}  {'per action':>10}"
        )
        for n, t in s.items():
            print(
                f"   {n:>7}  {ms(t['check']):>10}  {t['check'] / n * 1e3:>7.3f} ms"
                f"  {ms(t['build']):>10}  {t['build'] / n * 1e3:>7.3f} ms"
            )
        per = {n: (t["check"] / n, t["build"] / n) for n, t in s.items()}
        check_growth = per[1000][0] / per[250][0]
        build_growth = per[1000][1] / per[250][1]
        print(
            f"   per-action time at 1000 / at 250: check {check_growth:.2f}, build {build_growth:.2f}"
            "  (linear growth: ~1.0)"
        )
        if 2000 in per:
            print(
                f"   per-action time at 2000 / at 250: check {per[2000][0] / per[250][0]:.2f}, "
                f"build {per[2000][1] / per[250][1]:.2f}"
            )

        print("\nc. plant -> harvest -> sell: engine.run on the compiled pack vs hand-written")
        r = bench_runtime(tmp, cycles=600, rounds=runtime_rounds)
        print(
            f"   both sides agree on {r['compared']} outcomes (the loop step by step, and rejections)"
        )
        print(f"   {r['rounds']} interleaved rounds of {r['actions']} actions each")
        print(
            f"   compiled pack  {r['compiled']:6.2f} µs/action  (best round {r['compiled_min']:.2f})"
        )
        print(f"   hand-written   {r['hand']:6.2f} µs/action  (best round {r['hand_min']:.2f})")
        verdict = "within" if r["ratio"] <= 1.2 else "NOT within"
        print(
            f"   compiled / hand-written: {r['ratio']:.2f} (median of per-round ratios; best rounds "
            f"{r['ratio_min']:.2f}) — {verdict} the 1.2x target"
        )

    elapsed = time.perf_counter() - started
    print("\nd. summary")
    rows = [
        ("harvest check, warm (cold)", f"{ms(h['check'])} ({ms(h['cold_check'])})"),
        ("harvest build, warm (cold)", f"{ms(h['build'])} ({ms(h['cold_build'])})"),
        *[
            (
                f"{n}-action game: check / build per action",
                f"{per[n][0] * 1e3:.3f} / {per[n][1] * 1e3:.3f} ms",
            )
            for n in sizes
        ],
        (
            "per-action growth 1000 vs 250 (check / build)",
            f"{check_growth:.2f} / {build_growth:.2f}",
        ),
        ("plant/harvest/sell, compiled", f"{r['compiled']:.2f} µs/action"),
        ("plant/harvest/sell, hand-written", f"{r['hand']:.2f} µs/action"),
        ("compiled / hand-written", f"{r['ratio']:.2f}x (target 1.2x)"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"   {'figure':<{width}}  value")
    for k, v in rows:
        print(f"   {k:<{width}}  {v}")
    print(f"   machine: {info['nproc']} cores, {info['cpu']}, {info['python']}")
    print(f"   load average at end {load_average()}; took {elapsed:.0f} s")


if __name__ == "__main__":
    main()
