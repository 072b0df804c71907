"""Monte Carlo play of a game by its bots on the compiled pack (`rulesc simulate`).

Each run is one new player playing a bot for a number of days on a simulated clock:
each day the bot plays its sessions at random times (one in each equal part of the
day), and in each session up to its number of actions, stopping early when the game
accepts none of its tries. Runs are independent and reproducible: a run's random
choices come from a generator seeded by (seed, bot, run), and its player id is unique,
so the pack's own draws differ from run to run but not from one simulation to the next.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from dataclasses import dataclass, field

from rulesc.compiler import ir
from rulesc.runtime import engine
from rulesc.runtime.pack import Pack

from .botplay import BotPlayer
from .scenarios import give

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Monday 2026-01-05 00:00 UTC: runs start at the game's first `day starts` after it,
# so simulated day N is the game's day N (daily limits reset between days)
EPOCH_MS = 1_767_571_200_000
# the time a player takes for one action inside a session
ACTION_MS = 10_000


@dataclass
class Sample:
    day: int  # the day it was taken in (0: the start); an end-of-day sample belongs to its day
    time_ms: int  # since the start of the run
    values: dict[str, int]  # resource label (`coins`, `seed[wheat]`, `level`) -> value
    end_of_day: bool


@dataclass
class RunResult:
    run: int
    samples: list[Sample] = field(default_factory=list)
    level_reached_ms: dict[int, int] = field(
        default_factory=dict
    )  # level -> first time (since start)
    gained: Counter = field(default_factory=Counter)  # resource label -> total gained by actions
    spent: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)  # action -> times done
    sessions: int = 0
    meter_full_at_start: Counter = field(default_factory=Counter)  # meter -> sessions starting full
    broken: list[tuple[int, str]] = field(default_factory=list)  # (time since start, invariant)


@dataclass
class BotResult:
    bot: ir.Bot
    days: int
    runs: list[RunResult]


@dataclass(frozen=True)
class Options:
    days: int
    runs: int
    seed: int


def start_ms(game: ir.Game) -> int:
    return EPOCH_MS + game.day_start_minutes * 60_000


def simulate(pack: Pack, game: ir.Game, bots: list[ir.Bot], options: Options) -> list[BotResult]:
    return [
        BotResult(
            bot, options.days, [_run(pack, game, bot, options, r) for r in range(options.runs)]
        )
        for bot in bots
    ]


def _run(pack: Pack, game: ir.Game, bot: ir.Bot, options: Options, run: int) -> RunResult:
    rng = random.Random(f"{options.seed}/{bot.name}/{run}")
    player = BotPlayer(pack, game, bot, rng, f"sim-{options.seed}-{bot.name}-{run}")
    meters = {r.name: r.max for r in game.resources if r.kind == "meter"}
    start = start_ms(game)
    problems: list[str] = []
    state = give(pack, None, start, list(bot.given), problems)  # `given` in the bot, if any
    if problems:  # the checker keeps values within their resources (R093): cannot happen
        raise ValueError(f"bot {bot.name}: " + "; ".join(problems))
    now = start
    result = RunResult(run)
    if game.level is not None:  # a bot given its level's stat starts at that level
        for level in range(2, engine.view(pack, state, start)["level"] + 1):
            result.level_reached_ms[level] = 0
    result.samples.append(Sample(0, 0, _values(pack, state, start), True))
    window = DAY_MS // bot.sessions_per_day
    for day in range(options.days):
        day_start = start + day * DAY_MS
        for k in range(bot.sessions_per_day):
            # one session in each equal part of the day, at a random time in it; a session
            # that ran long pushes the next one back
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
                _tally(result, action, outcome, outcome.now - start, pack)
                now = outcome.now + ACTION_MS
            result.samples.append(Sample(day + 1, now - start, _values(pack, state, now), False))
        day_end = max(day_start + DAY_MS, now)
        result.samples.append(Sample(day + 1, day_end - start, _values(pack, state, day_end), True))
    return result


def _tally(result: RunResult, action: str, outcome: engine.Outcome, at: int, pack: Pack) -> None:
    result.actions[action] += 1
    for label, (before, after) in outcome.changes.items():
        if label == "level":
            for level in range(before + 1, after + 1):
                result.level_reached_ms.setdefault(level, at)
        elif isinstance(before, int) and isinstance(after, int) and not isinstance(before, bool):
            if after > before:
                result.gained[label] += after - before
            else:
                result.spent[label] += before - after
    for broken in engine.check_invariants(pack, outcome.state):
        if not any(b == broken for _, b in result.broken):
            result.broken.append((at, broken))


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


def to_csv(results: list[BotResult]) -> str:
    """Tidy rows: bot, run, day, time (hours since the start), resource, value."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["bot", "run", "day", "time", "resource", "value"])
    for r in results:
        for run in r.runs:
            for s in run.samples:
                hours = f"{s.time_ms / HOUR_MS:.2f}"
                for label, value in s.values.items():
                    out.writerow([r.bot.name, run.run, s.day, hours, label, value])
    return buf.getvalue()
