"""What a simulation says, in numbers and words: the summary `rulesc simulate` prints.

Per bot: when each level is reached, income per day of each currency, what the bot
did, and where resources pile up — growing without bound, reaching their max early,
or (for meters) sitting full so their regeneration goes to waste. Medians are over the
runs, with the 10th-90th percentile band across runs beside them; with a window
(`--window 28d`) the net income and the actions are also given window by window; when
scheduled events run within the simulated days, when they run and what they set, and the
same figures on the days each event runs and on the days none does.
Every number comes from the tallies and bands of tools/simulate.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rulesc.compiler import ir

from .simulate import BAND_HIGH, BAND_LOW, DAY_MS, BotResult, percentile, utc

# a resource "grows without bound" when its median rises on at least this share of the
# days in the second half of the simulation and at least doubles over that half
GROWTH_DAYS_SHARE = 0.8
# a meter "sits full" when it is at its max at this share of session starts or more
FULL_SHARE = 0.5


def median(values: Sequence[float]) -> float:
    return percentile(list(values), 50)


@dataclass(frozen=True)
class Spread:
    """A number across runs: its median and its 10th-90th percentile band."""

    low: float
    mid: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        v = list(values)
        return cls(percentile(v, BAND_LOW), percentile(v, 50), percentile(v, BAND_HIGH))


@dataclass(frozen=True)
class PileUp:
    label: str
    said: str


def pile_ups(game: ir.Game, result: BotResult) -> list[PileUp]:
    """Resources that grow without bound, reach their max early, or sit full (meters)."""
    out: list[PileUp] = []
    kinds = {r.name: r for r in game.resources}
    for label in result.bands:
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
    days = [r.reached_max[label] / DAY_MS for r in result.runs if label in r.reached_max]
    if not days:
        return None
    return (
        f"reaches its max ({res.max}) on day {median(days):.1f} (median of the "
        f"{len(days)}/{len(result.runs)} runs that do)"
    )


def _grows(result: BotResult, label: str) -> str | None:
    medians = result.bands[label].mid
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
        f"grows without bound: +{rate:,.2f} a day over the last {len(second) - 1} days "
        f"(median {start:,.0f} on day {half}, {end:,.0f} on day {len(medians) - 1})"
    )


def level_times(game: ir.Game, result: BotResult) -> list[tuple[int, Spread | None, int]]:
    """(level, the day first reached among the runs that reach it, how many runs do)."""
    if game.level is None:
        return []
    out = []
    for level in range(2, len(game.level.thresholds) + 1):
        days = [
            r.level_reached_ms[level] / DAY_MS for r in result.runs if level in r.level_reached_ms
        ]
        out.append((level, Spread.of(days) if days else None, len(days)))
    return out


@dataclass(frozen=True)
class Window:
    first: int  # 0-based day
    end: int  # exclusive

    @property
    def days(self) -> int:
        return self.end - self.first

    @property
    def indices(self) -> Sequence[int]:
        return range(self.first, self.end)

    def label(self) -> str:
        return f"days {self.first + 1}-{self.end}"


@dataclass(frozen=True)
class DaySet:
    """Days that need not follow each other: those an event runs on, or no event does."""

    name: str
    indices: tuple[int, ...]  # 0-based days

    @property
    def days(self) -> int:
        return len(self.indices)

    def label(self) -> str:
        return self.name


def windows(days: int, size: int | None) -> list[Window]:
    """The whole run, or consecutive windows of `size` days (the last one may be shorter)."""
    if size is None or size >= days:
        return [Window(0, days)]
    return [Window(d, min(d + size, days)) for d in range(0, days, size)]


def event_days(result: BotResult) -> list[DaySet]:
    """Per event that runs within the simulated days, the days it runs on (at some time of
    the day), then the days no event runs on (when there are any)."""
    when = result.calendar
    out = [DaySet(e.name, tuple(d - 1 for d in when.event_days(e.name))) for e in when.events]
    quiet = when.quiet_days()
    if out and quiet:
        out.append(DaySet("no event", tuple(d - 1 for d in quiet)))
    return out


def _per_day(by_day: Sequence[int] | None, w: Window | DaySet) -> float:
    if not by_day or not w.days:
        return 0.0
    if isinstance(w, Window):
        return sum(by_day[w.first : w.end]) / w.days
    return sum(by_day[i] for i in w.indices) / w.days


def income(
    game: ir.Game, result: BotResult, window: Window | DaySet | None = None
) -> list[tuple[str, Spread, Spread, Spread]]:
    """(currency, gained a day, spent a day, net a day) across runs, in the window."""
    w = window or Window(0, result.days)
    out = []
    for r in game.resources:
        if r.kind != "currency":
            continue
        gained = [_per_day(run.gained_by_day.get(r.name), w) for run in result.runs]
        spent = [_per_day(run.spent_by_day.get(r.name), w) for run in result.runs]
        net = [g - s for g, s in zip(gained, spent, strict=True)]
        out.append((r.name, Spread.of(gained), Spread.of(spent), Spread.of(net)))
    return out


def actions(
    result: BotResult, window: Window | DaySet | None = None
) -> list[tuple[str, float, Spread]]:
    """(action, its mean a day over runs, its spread across runs), most played first. The
    mean, not the median: an action most runs never play still shows its rate."""
    w = window or Window(0, result.days)
    names = sorted({a for run in result.runs for a in run.actions_by_day})
    out = []
    for a in names:
        rates = [_per_day(run.actions_by_day.get(a), w) for run in result.runs]
        out.append((a, sum(rates) / len(rates), Spread.of(rates)))
    return sorted(out, key=lambda x: (-x[1], x[0]))


def render(game: ir.Game, result: BotResult, window_days: int | None = None) -> str:
    bot = result.bot
    title = f" — {bot.title}" if bot.title != bot.name else ""
    lines = [
        f"bot {bot.name}{title}: {len(result.runs)} runs of {result.days} days, "
        f"{bot.sessions_per_day} sessions a day, up to {bot.actions_per_session} actions each",
        f"  (medians over the runs; in brackets the {BAND_LOW}th-{BAND_HIGH}th percentile "
        "across runs)",
    ]
    levels = level_times(game, result)
    if levels:
        lines.append("")
        lines.append("  time to each level")
        for level, day, runs in levels:
            when = (
                f"day {day.mid:.1f} [{day.low:.1f}-{day.high:.1f}]"
                if day is not None
                else f"not within {result.days} days"
            )
            lines.append(f"    level {level:<3} {when:<26} {runs}/{len(result.runs)} runs")
    money = income(game, result)
    if money:
        lines.append("")
        lines.append(
            _table(
                ["  income per day", "gained", "spent", "net", "net band"],
                [
                    [f"    {name}", _rate(g.mid), _rate(s.mid), _rate(n.mid, True), _band(n)]
                    for name, g, s, n in money
                ],
            )
        )
    lines.append("")
    lines.append(
        _table(
            ["  actions per day (mean)", "rate", "band"],
            [[f"    {a}", _rate(mean), _band(s, False)] for a, mean, s in actions(result)],
        )
    )
    parts = windows(result.days, window_days)
    if len(parts) > 1:
        lines += ["", *_by_window(game, result, parts)]
    by_event = event_days(result)
    if by_event:
        lines += ["", *_by_event(game, result, by_event)]
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
    faults = [(run.run, at, what) for run in result.runs for at, what in run.hook_faults]
    if faults:
        lines.append("")
        lines.append(
            f"  the rules faulted {sum(run.faults for run in result.runs)} times in a hook, in "
            f"{len({f[0] for f in faults})} of {len(result.runs)} runs (a bug in the rules)"
        )
        for run, at, what in faults[:5]:
            lines.append(f"    run {run}, day {at / DAY_MS:.1f}: {what}")
    return "\n".join(lines) + "\n"


def _by_event(game: ir.Game, result: BotResult, parts: list[DaySet]) -> list[str]:
    """When each event runs (days and dates), then the by-window table with a column per
    event (the days it runs on) and one for the days without any."""
    when = result.calendar
    lines = ["  scheduled events in the simulated days"]
    width = max(len(e.name) for e in when.events)
    for e in when.events:
        runs = [r for r in when.runs if r.event == e.name]
        days = _spans(when.event_days(e.name))
        first, last = utc(runs[0].starts_ms), utc(runs[-1].ends_ms)
        dates = (
            f"from {first} to {last} UTC"
            if len(runs) == 1
            else f"{len(runs)} runs, the first from {first}, the last until {last} UTC"
        )
        lines.append(f"    {e.name:<{width}}  {e.when}")
        lines.append(f"    {'':<{width}}  {days}: {dates}")
        if e.overrides:
            lines.append(f"    {'':<{width}}  sets {', '.join(o.text for o in e.overrides)}")
    lines.append("")
    return lines + _by_window(game, result, parts, "  on the days each event runs")


def _spans(days: list[int]) -> str:
    """`days 6-12`, `days 3, 5-6` (the first 4 spans, then how many more)."""
    spans: list[list[int]] = []
    for d in days:
        if spans and spans[-1][1] == d - 1:
            spans[-1][1] = d
        else:
            spans.append([d, d])
    shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:4]]
    more = f" and {len(spans) - 4} more" if len(spans) > 4 else ""
    word = "day" if len(days) == 1 else "days"
    return f"{word} {', '.join(shown)}{more}"


def _by_window(
    game: ir.Game, result: BotResult, parts: Sequence[Window | DaySet], title: str | None = None
) -> list[str]:
    """Net income a day (median) of each currency and each action's mean rate, a column
    per window."""
    header = [title or f"  by window of {parts[0].days} days", *(w.label() for w in parts)]
    nets = [income(game, result, w) for w in parts]
    rows = [
        [f"    net {name} a day"] + [_rate(per[i][3].mid, True) for per in nets]
        for i, (name, *_) in enumerate(nets[0])
    ]
    rates = [dict((a, mean) for a, mean, _ in actions(result, w)) for w in parts]
    for a, _mean, _spread in actions(result):
        rows.append([f"    {a} a day"] + [_rate(r.get(a, 0.0)) for r in rates])
    return [_table(header, rows)]


def _rate(x: float, signed: bool = False) -> str:
    """Two decimals, or two significant digits for a rate below 0.01 that is not zero (a
    rare action shows 0.0036, not 0.00)."""
    if x == 0:
        return "0"
    sign = "+" if signed and x > 0 else ""
    if abs(x) < 0.01:
        return f"{sign}{x:.2g}"
    return f"{sign}{x:,.2f}"


def _band(s: Spread, signed: bool = True) -> str:
    return f"[{_rate(s.low, signed)} .. {_rate(s.high, signed)}]"


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
