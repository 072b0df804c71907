"""Monte Carlo play of a game by its bots on the compiled pack (`rulesc simulate`).

Each run is one new player playing a bot for a number of days on a simulated clock:
each day the bot plays its sessions at random times (one in each equal part of the
day), and in each session up to its number of actions, stopping early when the game
accepts none of its tries. Runs are independent and reproducible: a run's random
choices come from a generator seeded by (seed, bot, run), and its player id is unique,
so the pack's own draws differ from run to run but not from one simulation to the next.
The pack's draws are seeded by the rules' meaning (compiler.build.meaning_hash), not by the
pack version: a comment, a new layout or `rulesc fmt` plays the same games.

At scale (dozens of bots, hundreds of days) nothing keeps every sample: a run returns its
end-of-day values and its tallies by day, and once a bot's runs are all in they are reduced
to per-day percentile bands (O(days x resources) a bot). Raw samples go to a CSV file only
when asked for, written run by run. Runs may be spread over worker processes: each run's
result depends on (seed, bot, run) only, and results are reduced in run order, so the
output is the same whatever the number of workers.

The clock starts at the game's `day starts` on a UTC date: `Options.start`, by default
Monday 2026-01-05. Scheduled events (`event ...`) apply on the simulated clock as on a
server's; `Calendar` says which simulated days each event's runs fall on. With a start
date given, the per-day outputs (samples, bands) also carry each day's calendar date.
"""

from __future__ import annotations

import csv
import datetime as dt
import multiprocessing
import random
import shutil
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from rulesc.compiler import ir
from rulesc.compiler.build import meaning_hash
from rulesc.pack_contract import event_occurrence
from rulesc.runtime import engine
from rulesc.runtime.pack import Pack, load_pack

from .botplay import BotPlayer
from .scenarios import give

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Monday 2026-01-05 (UTC), the start date when none is given: runs start at the game's
# first `day starts` after a start date's midnight, so simulated day N is the game's day N
# (daily limits reset between days)
EPOCH = dt.date(2026, 1, 5)
# the time a player takes for one action inside a session
ACTION_MS = 10_000
SAMPLES_HEADER = ["bot", "run", "day", "time", "resource", "value"]
# with a start date: each day's calendar date after its number
DATED_SAMPLES_HEADER = ["bot", "run", "day", "date", "time", "resource", "value"]
# a worker process takes a second or so to start (a fresh interpreter importing rulesc):
# worth it only for this many bot steps (sessions x actions per session) or more
STEPS_PER_WORKER = 200_000
# runs are handed to workers in chunks: about this many chunks per worker
CHUNKS_PER_WORKER = 16
# the percentiles a band spans across runs
BAND_LOW, BAND_HIGH = 10, 90


@dataclass
class RunResult:
    run: int
    # resource label (`coins`, `seed[wheat]`, `level`) -> its value at the end of each day
    # (index 0: the start); emptied once the bot's bands are worked out
    end_of_day: dict[str, list[int]] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)  # labels whose value ever left its start
    reached_max: dict[str, int] = field(default_factory=dict)  # label -> first time at its max
    level_reached_ms: dict[int, int] = field(
        default_factory=dict
    )  # level -> first time (since start)
    # resource label -> amount gained (spent) by actions on each day; action -> times a day
    gained_by_day: dict[str, Sequence[int]] = field(default_factory=dict)
    spent_by_day: dict[str, Sequence[int]] = field(default_factory=dict)
    actions_by_day: dict[str, Sequence[int]] = field(default_factory=dict)
    sessions: int = 0
    meter_full_at_start: Counter = field(default_factory=Counter)  # meter -> sessions starting full
    broken: list[tuple[int, str]] = field(default_factory=list)  # (time since start, invariant)
    # hooks that faulted (a bug in the rules, not a designed hook_failed): (time since
    # start, the message with its .rules line), each message once; `faults`: how many
    hook_faults: list[tuple[int, str]] = field(default_factory=list)
    faults: int = 0

    @property
    def gained(self) -> Counter:
        return Counter({k: sum(v) for k, v in self.gained_by_day.items()})

    @property
    def spent(self) -> Counter:
        return Counter({k: sum(v) for k, v in self.spent_by_day.items()})

    @property
    def actions(self) -> Counter:
        return Counter({k: sum(v) for k, v in self.actions_by_day.items()})


class Band(NamedTuple):
    """One resource's end-of-day values across runs: per day (0..days), the 10th, 50th and
    90th percentile (arrays of doubles: 8 bytes a number, not a float object's 32)."""

    low: array
    mid: array
    high: array


@dataclass(frozen=True)
class Options:
    days: int
    runs: int
    seed: int
    # the UTC date the runs start on (at the game's `day starts`); None: EPOCH, and the
    # outputs give days by number only
    start: dt.date | None = None


def start_ms(game: ir.Game, start: dt.date | None = None) -> int:
    """When runs start: the game's `day starts` on the start date (UTC)."""
    return _midnight_ms(start or EPOCH) + game.day_start_minutes * 60_000


def _midnight_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


@dataclass(frozen=True)
class EventRun:
    """One run of a scheduled event within the simulated days, cut to them."""

    event: str
    starts_ms: int  # on the simulated clock (ms since the Unix epoch)
    ends_ms: int  # exclusive
    first_day: int  # the simulated days (1-based) it touches, first and last
    last_day: int


@dataclass(frozen=True)
class Calendar:
    """The simulated days on the calendar: when day 1 starts, each day's UTC date, and the
    runs of the game's events that fall within them."""

    start_ms: int
    days: int
    dated: bool  # a start date was given: the per-day outputs carry dates
    runs: tuple[EventRun, ...]
    events: tuple[ir.Event, ...]  # the game's events that run within the days, in order

    def date(self, day: int) -> str:
        """The UTC date game day `day` (1-based) starts on; day 0 (the start) is day 1's."""
        at = self.start_ms + max(0, day - 1) * DAY_MS
        return dt.datetime.fromtimestamp(at / 1000, dt.UTC).strftime("%Y-%m-%d")

    def x(self, ms: int) -> float:
        """A moment as a position on a by-day axis (0: the start, N: the end of day N)."""
        return (ms - self.start_ms) / DAY_MS

    def event_days(self, event: str) -> list[int]:
        """The simulated days (1-based) on which the event runs at some time."""
        days = {
            d for r in self.runs if r.event == event for d in range(r.first_day, r.last_day + 1)
        }
        return sorted(days)

    def quiet_days(self) -> list[int]:
        """The simulated days on which no event runs."""
        busy = {d for r in self.runs for d in range(r.first_day, r.last_day + 1)}
        return [d for d in range(1, self.days + 1) if d not in busy]


def calendar(game: ir.Game, options: Options) -> Calendar:
    """The simulation's days and every run of an event within them, event by event."""
    start = start_ms(game, options.start)
    runs = runs_within(
        [(e.name, e.schedule) for e in game.events], start, start + options.days * DAY_MS
    )
    named = {r.event for r in runs}
    return Calendar(
        start,
        options.days,
        options.start is not None,
        tuple(runs),
        tuple(e for e in game.events if e.name in named),
    )


def runs_within(
    events: Iterable[tuple[str, tuple[int, int, int | None]]], start: int, end: int
) -> list[EventRun]:
    """Every run of each (name, schedule) between `start` and `end` (ms, UTC), cut to them,
    event by event in the order given; days count from `start` (day 1: its first 24 hours).
    `rulesc report` reads the observed days' runs with it too."""
    runs: list[EventRun] = []
    for name, schedule in events:
        now = start
        while (run := event_occurrence(schedule, now)) is not None and run[0] < end:
            s, e = max(run[0], start), min(run[1], end)
            runs.append(
                EventRun(name, s, e, (s - start) // DAY_MS + 1, (e - 1 - start) // DAY_MS + 1)
            )
            if run[1] >= end:
                break  # runs to the end of the days (or for good)
            now = run[1]
    return runs


@dataclass
class BotResult:
    bot: ir.Bot
    days: int
    runs: list[RunResult]
    calendar: Calendar
    bands: dict[str, Band] = field(default_factory=dict)  # label -> its band, by day


def percentile(values: list[int] | list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def workers(bots: list[ir.Bot], options: Options, jobs: int) -> int:
    """How many worker processes pay off, up to `jobs` (1: play in this process)."""
    steps = sum(b.sessions_per_day * b.actions_per_session for b in bots) * options.days
    useful = steps * options.runs // STEPS_PER_WORKER
    return max(1, min(jobs, useful, len(bots) * options.runs))


def simulate(
    pack: Pack,
    game: ir.Game,
    bots: list[ir.Bot],
    options: Options,
    *,
    jobs: int = 1,
    samples: Path | None = None,
    on_run: Callable[[], None] | None = None,
) -> list[BotResult]:
    """Every bot's runs, played in this process (jobs=1) or by `jobs` worker processes;
    `samples`: also write every sample there (CSV); `on_run`: called as each run ends."""
    when = calendar(game, options)
    with tempfile.TemporaryDirectory(prefix="rulesc-samples-") as parts:
        job = _Job(game, tuple(bots), meaning_hash(game), options, Path(parts) if samples else None)
        tasks = [(b, r) for b in range(len(bots)) for r in range(options.runs)]
        played = _in_process(pack, job, tasks) if jobs <= 1 else _in_workers(pack, job, tasks, jobs)
        pending: dict[int, dict[int, RunResult]] = {}
        results: dict[int, BotResult] = {}
        for b, run in played:
            pending.setdefault(b, {})[run.run] = run
            if on_run is not None:
                on_run()
            if len(pending[b]) == options.runs:  # the bot's runs are all in: reduce them
                done = pending.pop(b)
                runs = [done[r] for r in range(options.runs)]
                results[b] = BotResult(bots[b], options.days, runs, when, _bands(runs))
        if samples is not None:
            _join_samples(Path(parts), tasks, samples, when.dated)
    return [results[b] for b in range(len(bots))]


@dataclass(frozen=True)
class _Job:
    game: ir.Game
    bots: tuple[ir.Bot, ...]
    draw_key: str
    options: Options
    parts: Path | None  # where each run writes its samples, when they are asked for


def _in_process(pack: Pack, job: _Job, tasks: list[tuple[int, int]]) -> Iterator:
    for b, r in tasks:
        yield b, _run(pack, job, b, r)


_worker: tuple[Pack, _Job] | None = None  # a worker process's pack and job


def _start_worker(pack_dir: str, job: _Job) -> None:
    global _worker
    _worker = (load_pack(pack_dir), job)


def _work(b: int, r: int) -> tuple[int, RunResult]:
    assert _worker is not None
    pack, job = _worker
    return b, _run(pack, job, b, r)


def _in_workers(pack: Pack, job: _Job, tasks: list[tuple[int, int]], jobs: int) -> Iterator:
    """Runs in task order, played by `jobs` processes a chunk of runs at a time (one message
    a chunk, not a run). `spawn`: workers start clean (no copy of this process's threads or
    memory), the same on every platform."""
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(job.options.runs, len(tasks) // (jobs * CHUNKS_PER_WORKER)))
    with ProcessPoolExecutor(jobs, context, _start_worker, (str(pack.path), job)) as pool:
        bots, runs = zip(*tasks, strict=True)
        yield from pool.map(_work, bots, runs, chunksize=chunk)


def _run(pack: Pack, job: _Job, bot_index: int, run: int) -> RunResult:
    game, options = job.game, job.options
    bot = job.bots[bot_index]
    rng = random.Random(f"{options.seed}/{bot.name}/{run}")
    player_id = f"sim-{options.seed}-{bot.name}-{run}"
    player = BotPlayer(pack, game, bot, rng, player_id, job.draw_key)
    meters = {r.name: r.max for r in game.resources if r.kind == "meter"}
    maxima = {r.name: r.max for r in game.resources if r.max is not None}
    start = start_ms(game, options.start)
    dated = _dates(game, options) if options.start is not None else None
    problems: list[str] = []
    state = give(pack, None, start, list(bot.given), problems)  # `given` in the bot, if any
    if problems:  # the checker keeps values within their resources (R093): cannot happen
        raise ValueError(f"bot {bot.name}: " + "; ".join(problems))
    now = start
    result = RunResult(run)
    out: IO[str] | None = None
    if job.parts is not None:
        out = (job.parts / _part(bot_index, run)).open("w", encoding="utf-8", newline="")
    rows = csv.writer(out, lineterminator="\n") if out is not None else None
    first = _values(pack, state, start)
    result.end_of_day = {label: [v] for label, v in first.items()}

    def sample(day: int, at: int, values: dict[str, int], end_of_day: bool) -> None:
        for label, value in values.items():
            if value != first.get(label):
                result.moved.add(label)
            top = maxima.get(label.split("[", 1)[0]) if label != "level" else None
            if top is not None and value >= top:
                result.reached_max.setdefault(label, at)
            if end_of_day:
                result.end_of_day.setdefault(label, [0] * day).append(value)
        if rows is not None:
            hours = f"{at / HOUR_MS:.2f}"
            if dated is None:
                rows.writerows([bot.name, run, day, hours, k, v] for k, v in values.items())
            else:
                date = dated[day]
                rows.writerows([bot.name, run, day, date, hours, k, v] for k, v in values.items())

    if game.level is not None:  # a bot given its level's stat starts at that level
        for level in range(2, engine.view(pack, state, start)["level"] + 1):
            result.level_reached_ms[level] = 0
    try:
        sample(0, 0, first, False)
        window = DAY_MS // bot.sessions_per_day
        for day in range(options.days):
            day_start = start + day * DAY_MS
            for k in range(bot.sessions_per_day):
                # one session in each equal part of the day, at a random time in it; a
                # session that ran long pushes the next one back
                now = max(now, day_start + k * window + rng.randrange(window))
                result.sessions += 1
                view = engine.view(pack, state, now)
                for name, top in meters.items():
                    result.meter_full_at_start[name] += view[name] == top
                for _ in range(bot.actions_per_session):
                    played = player.step(state, now)
                    if played is None:
                        break  # nothing the bot tries is possible now: the session ends
                    action, _params, outcome = played
                    state = outcome.state
                    _tally(result, action, outcome, outcome.now - start, pack, options.days)
                    now = outcome.now + ACTION_MS
                sample(day + 1, now - start, _values(pack, state, now), False)
            day_end = max(day_start + DAY_MS, now)
            sample(day + 1, day_end - start, _values(pack, state, day_end), True)
    finally:
        if out is not None:
            out.close()
    for tallies in (result.gained_by_day, result.spent_by_day, result.actions_by_day):
        for key, counts in tallies.items():  # kept for the whole simulation: compactly
            tallies[key] = array("q", counts)
    return result


def _tally(
    result: RunResult, action: str, outcome: engine.Outcome, at: int, pack: Pack, days: int
) -> None:
    day = min(at // DAY_MS, days - 1)  # a session running past the last midnight: the last day
    _add(result.actions_by_day, action, day, 1, days)
    for label, (before, after) in outcome.changes.items():
        if label == "level":
            for level in range(before + 1, after + 1):
                result.level_reached_ms.setdefault(level, at)
        elif isinstance(before, int) and isinstance(after, int) and not isinstance(before, bool):
            if after > before:
                _add(result.gained_by_day, label, day, after - before, days)
            else:
                _add(result.spent_by_day, label, day, before - after, days)
    for event in engine.hook_faults(outcome.events):
        result.faults += 1
        what = f"hook `on {event['data']['hook']}`: {event['data']['message']}"
        if not any(f == what for _, f in result.hook_faults):
            result.hook_faults.append((at, what))
    for broken in engine.check_invariants(pack, outcome.state):
        if not any(b == broken for _, b in result.broken):
            result.broken.append((at, broken))


def _add(by_day: dict[str, Sequence[int]], key: str, day: int, amount: int, days: int) -> None:
    counts = by_day.get(key)
    if counts is None:
        counts = by_day[key] = [0] * days
    assert isinstance(counts, list)  # arrays only once the run is over
    counts[day] += amount


def _values(pack: Pack, state: dict, now: int) -> dict[str, int]:
    """Every resource's value at `now` (keyed items one per row), and `level`."""
    view = engine.view(pack, state, now)
    out: dict[str, int] = {}
    for name in pack.module.RESOURCES:
        value = view[name]
        if isinstance(value, dict):
            for key, v in value.items():
                out[f"{name}[{key}]"] = v
        else:
            out[name] = value
    if "level" in view:
        out["level"] = view["level"]
    return out


def _bands(runs: list[RunResult]) -> dict[str, Band]:
    """Each resource's 10th-50th-90th percentile band by day, and the runs' per-day values
    let go (a bot's result keeps O(days x resources), whatever the number of runs)."""
    labels = list(dict.fromkeys(label for run in runs for label in run.end_of_day))
    out: dict[str, Band] = {}
    for label in labels:
        series = [run.end_of_day.get(label, []) for run in runs]
        days = max(len(s) for s in series)
        by_day = [[s[d] for s in series if d < len(s)] for d in range(days)]
        out[label] = Band(
            array("d", [percentile(v, BAND_LOW) for v in by_day]),
            array("d", [percentile(v, 50) for v in by_day]),
            array("d", [percentile(v, BAND_HIGH) for v in by_day]),
        )
    for run in runs:
        run.end_of_day = {}
    return out


def _dates(game: ir.Game, options: Options) -> list[str]:
    """Each day's date (0..days), worked out once a run: not a strftime a sample."""
    days = Calendar(start_ms(game, options.start), options.days, True, (), ())
    return [days.date(d) for d in range(options.days + 1)]


def _part(bot_index: int, run: int) -> str:
    return f"{bot_index:05d}-{run:06d}.csv"


def _join_samples(parts: Path, tasks: list[tuple[int, int]], out: Path, dated: bool) -> None:
    """The runs' sample files, one after the other in (bot, run) order, under one header."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        header = DATED_SAMPLES_HEADER if dated else SAMPLES_HEADER
        csv.writer(f, lineterminator="\n").writerow(header)
        for b, r in tasks:
            with (parts / _part(b, r)).open(encoding="utf-8") as part:
                shutil.copyfileobj(part, f)


def write_bands(results: list[BotResult], out: Path) -> Path:
    """Tidy rows, one per bot, day and resource: the 10th percentile, the median and the
    90th percentile of its end-of-day value across runs (day 0: the start); with a start
    date, each day's date after its number."""
    with out.open("w", encoding="utf-8", newline="") as f:
        rows = csv.writer(f, lineterminator="\n")
        dated = bool(results) and results[0].calendar.dated
        when = ["date"] if dated else []
        rows.writerow(["bot", "day", *when, "resource", f"p{BAND_LOW}", "median", f"p{BAND_HIGH}"])
        for r in results:
            dates = [r.calendar.date(d) for d in range(r.days + 1)] if dated else []
            for label, band in r.bands.items():
                for day, values in enumerate(zip(*band, strict=True)):
                    on = [dates[day]] if dated else []
                    rows.writerow([r.bot.name, day, *on, label, *(_number(v) for v in values)])
    return out


def write_events(days: Calendar, out: Path) -> Path:
    """One row per run of an event within the simulated days (cut to them): the days it
    touches and when it starts and ends, UTC."""
    with out.open("w", encoding="utf-8", newline="") as f:
        rows = csv.writer(f, lineterminator="\n")
        rows.writerow(["event", "first_day", "last_day", "starts", "ends"])
        for run in days.runs:
            rows.writerow(
                [run.event, run.first_day, run.last_day, utc(run.starts_ms), utc(run.ends_ms)]
            )
    return out


def utc(ms: int) -> str:
    """`2026-10-25 00:00` (UTC)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _number(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:.2f}"
