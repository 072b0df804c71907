"""What a simulation says, in numbers and words: the summary `rulesc simulate` prints.

Per bot: when each level is reached, income per day of each currency, what the bot
did, and where resources pile up — growing without bound, reaching their max early,
or (for meters) sitting full so their regeneration goes to waste. Medians are over the
runs; every number comes from the samples and tallies of compiler/simulate.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import ir
from .simulate import DAY_MS, BotResult

# a resource "grows without bound" when its median rises on at least this share of the
# days in the second half of the simulation and at least doubles over that half
GROWTH_DAYS_SHARE = 0.8
# a meter "sits full" when it is at its max at this share of session starts or more
FULL_SHARE = 0.5


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def by_day(result: BotResult, label: str) -> list[list[int]]:
    """The end-of-day values of one resource: one list per day (0..days), one value per run."""
    days: list[list[int]] = [[] for _ in range(result.days + 1)]
    for run in result.runs:
        for s in run.samples:
            if s.end_of_day:
                days[s.day].append(s.values[label])
    return days


@dataclass(frozen=True)
class PileUp:
    label: str
    said: str


def pile_ups(game: ir.Game, result: BotResult) -> list[PileUp]:
    """Resources that grow without bound, reach their max early, or sit full (meters)."""
    out: list[PileUp] = []
    kinds = {r.name: r for r in game.resources}
    labels = list(result.runs[0].samples[0].values) if result.runs else []
    for label in labels:
        res = kinds.get(label.split("[", 1)[0])
        if res is None or res.kind == "stat":
            continue  # a stat (xp) is a counter: it is meant to grow
        if res.kind == "meter":
            said = _sits_full(result, res)
        else:
            said = _reaches_max(result, label, res) or _grows(result, label)
        if said:
            out.append(PileUp(label, said))
    return out


def _sits_full(result: BotResult, res: ir.Resource) -> str | None:
    sessions = sum(r.sessions for r in result.runs)
    full = sum(r.meter_full_at_start[res.name] for r in result.runs)
    if not sessions or full / sessions < FULL_SHARE:
        return None
    return (
        f"full ({res.max}) at {100 * full / sessions:.0f}% of session starts: "
        f"its regeneration is wasted while it waits"
    )


def _reaches_max(result: BotResult, label: str, res: ir.Resource) -> str | None:
    if res.max is None:
        return None
    days: list[float] = []
    for run in result.runs:
        hit = next((s.time_ms for s in run.samples if s.values[label] >= res.max), None)
        if hit is not None:
            days.append(hit / DAY_MS)
    if not days:
        return None
    return (
        f"reaches its max ({res.max}) on day {median(days):.1f} (median of the "
        f"{len(days)}/{len(result.runs)} runs that do)"
    )


def _grows(result: BotResult, label: str) -> str | None:
    medians = [median(v) for v in by_day(result, label)]
    half = len(medians) // 2
    second = medians[half:]
    if len(second) < 3:
        return None
    rises = sum(b > a for a, b in zip(second, second[1:], strict=False))
    start, end = second[0], second[-1]
    if rises < GROWTH_DAYS_SHARE * (len(second) - 1) or end < 2 * max(start, 1):
        return None
    rate = (end - start) / (len(second) - 1)
    return (
        f"grows without bound: +{rate:,.0f} a day over the last {len(second) - 1} days "
        f"(median {start:,.0f} on day {half}, {end:,.0f} on day {len(medians) - 1})"
    )


def level_times(game: ir.Game, result: BotResult) -> list[tuple[int, float | None, int]]:
    """(level, median day first reached among the runs that reach it, how many runs do)."""
    if game.level is None:
        return []
    out = []
    for level in range(2, len(game.level.thresholds) + 1):
        days = [
            r.level_reached_ms[level] / DAY_MS for r in result.runs if level in r.level_reached_ms
        ]
        out.append((level, median(days) if days else None, len(days)))
    return out


def income(game: ir.Game, result: BotResult) -> list[tuple[str, float, float, float]]:
    """(currency, median gained a day, median spent a day, median net a day)."""
    out = []
    for r in game.resources:
        if r.kind != "currency":
            continue
        gained = [run.gained[r.name] / result.days for run in result.runs]
        spent = [run.spent[r.name] / result.days for run in result.runs]
        net = [g - s for g, s in zip(gained, spent, strict=True)]
        out.append((r.name, median(gained), median(spent), median(net)))
    return out


def render(game: ir.Game, result: BotResult) -> str:
    bot = result.bot
    title = f" — {bot.title}" if bot.title != bot.name else ""
    lines = [
        f"bot {bot.name}{title}: {len(result.runs)} runs of {result.days} days, "
        f"{bot.sessions_per_day} sessions a day, up to {bot.actions_per_session} actions each"
    ]
    levels = level_times(game, result)
    if levels:
        lines.append("")
        lines.append("  time to each level (median)")
        for level, day, runs in levels:
            when = f"day {day:.1f}" if day is not None else f"not within {result.days} days"
            lines.append(f"    level {level:<3} {when:<22} {runs}/{len(result.runs)} runs")
    money = income(game, result)
    if money:
        lines.append("")
        lines.append(
            _table(
                ["  income per day (median)", "gained", "spent", "net"],
                [
                    [f"    {name}", _num(g), _num(s), _num(n, signed=True)]
                    for name, g, s, n in money
                ],
            )
        )
    lines.append("")
    lines.append("  actions per day (median)")
    names = sorted({a for run in result.runs for a in run.actions})
    per_day = [(a, median([run.actions[a] / result.days for run in result.runs])) for a in names]
    for a, n in sorted(per_day, key=lambda x: (-x[1], x[0])):
        lines.append(f"    {a:<24} {n:,.1f}")
    lines.append("")
    lines.append("  where resources pile up")
    found = pile_ups(game, result)
    width = max((len(p.label) for p in found), default=0)
    lines += [f"    {p.label:<{width}}  {p.said}" for p in found] or [
        "    nothing: no resource grows without bound or sits at its max"
    ]
    broken = [(run.run, at, what) for run in result.runs for at, what in run.broken]
    if broken:
        lines.append("")
        lines.append(
            f"  invariants broken in {len({b[0] for b in broken})} of {len(result.runs)} runs"
        )
        for run, at, what in broken[:5]:
            lines.append(f"    run {run}, day {at / DAY_MS:.1f}: {what}")
    return "\n".join(lines) + "\n"


def _num(x: float, signed: bool = False) -> str:
    x = round(x) or 0  # no "-0"
    return f"{x:+,}" if signed else f"{x:,}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """The first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, *rows]:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)
