"""The economy report from the history database (`rulesc report`): what players did, per
game day, read from the tables the history sink writes (runtime/history.py).

- sources and sinks per resource per day: the sum of increases and of decreases in the
  ledger entries' `changes` ({label: [before, after]});
- daily active players: players with at least one entry that day;
- actions per day, and rejections by action and reason (counted by the sink);
- level distribution: each player's highest level seen in the history;
- the game's scheduled events (its pack's schema.json `events`): the days each ran shaded
  on the plots, and the per-day figures on days with and without each.

Days are the game's days: from its `day starts` (the pack's `day_starts_ms`) to the next,
named by the UTC date they start on, as `rulesc simulate --start` names its days and as the
daily leaderboards do, so an entry at 02:00 UTC belongs to the day before when days start
at 04:00. The history keeps rejections per UTC day only: the report shows their totals,
which the day boundary does not change. Without the pack (none found, no `--rules`) the
days are UTC days and no event is shown, and the page says so.

The shapes match `rulesc simulate`'s samples.csv: resources are labelled the same
(`coins`, `seed[wheat]`, `level`), and `--simulated DIR` lays a simulation's prediction
on the same plot: per active player, the net change of each resource per day (observed:
(sources - sinks) / daily active players; simulated: the median over runs of one
end-of-day value minus the previous). A simulation given a start date (`rulesc simulate
--start`: its samples have a `date` column) is aligned with the history by calendar date
(a simulated game day and an observed one by the date they start on), so an event shows
on its days in both; one without dates by day index (day 1: the first day in the history
and the first simulated day). The plot says which.
One HTML file, its plots embedded (matplotlib PNGs as base64, the `sim` extra).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import functools
import html
import io
import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rulesc.compiler.build import compile_game
from rulesc.dsl.diagnostics import render_all
from rulesc.pack_contract import DAY_MS, MANIFEST_FILE, SCHEMA_FILE

from .simplot import EVENT_COLOURS, MatplotlibMissing, shade_events
from .simsummary import median
from .simulate import EventRun, runs_within


class NoPack(Exception):
    """The game folder or pack named for the report cannot be read."""


@dataclass(frozen=True)
class ScheduledEvent:
    name: str
    when: str  # as the rules say it: `from 2026-10-25 to 2026-11-01`
    schedule: tuple[int, int, int | None]  # (starts ms, lasts ms, every ms or None)


@dataclass(frozen=True)
class GameDays:
    """What the report reads of the game's pack: when its days start and its scheduled
    events (in the order the rules declare them). The default: UTC days, no events."""

    day_starts_ms: int = 0
    events: tuple[ScheduledEvent, ...] = ()
    source: str | None = None  # the pack or game folder it came from; None: no pack
    game: str | None = None  # the pack's game id

    @staticmethod
    def of_schema(schema: dict, source: str) -> GameDays:
        entries = schema.get("events", {})

        def declared(name: str) -> tuple[str, int, str]:  # `harvest.rules:142`
            where, _, line = str(entries[name].get("source", "")).rpartition(":")
            return (where, int(line) if line.isdigit() else 0, name)

        events = tuple(
            ScheduledEvent(
                name,
                entries[name]["when"],
                (entries[name]["starts_ms"], entries[name]["lasts_ms"], entries[name]["every_ms"]),
            )
            for name in sorted(entries, key=declared)
        )
        return GameDays(int(schema.get("day_starts_ms", 0)), events, source, schema.get("game"))


def game_days(path: Path) -> GameDays:
    """The days and events of a pack directory, or of a game folder (compiled here)."""
    if (path / MANIFEST_FILE).is_file():
        try:
            schema = orjson.loads((path / SCHEMA_FILE).read_bytes())
        except (OSError, ValueError) as err:
            raise NoPack(f"cannot read the pack at {path}: {err}") from err
        return GameDays.of_schema(schema, str(path))
    if path.is_dir() and any(path.glob("*.rules")):
        result = compile_game(path, with_tests=False, with_bots=False)
        if not result.ok or result.files is None:
            raise NoPack(render_all(result.diagnostics, result.sources.texts))
        return GameDays.of_schema(orjson.loads(result.files[SCHEMA_FILE]), str(path))
    raise NoPack(f"{path} is neither a game folder (*.rules) nor a pack ({MANIFEST_FILE})")


def find_pack(data_dir: Path, game: str) -> Path | None:
    """The newest pack of the game the server built into its data directory
    (DATA_DIR/packs/GAME-VERSION), if any."""
    found = [
        p
        for p in (data_dir / "packs").glob(f"{game}-*")
        if (p / MANIFEST_FILE).is_file() and _manifest_game(p) == game
    ]
    return max(found, key=lambda p: (p / MANIFEST_FILE).stat().st_mtime) if found else None


def _manifest_game(pack: Path) -> str | None:
    try:
        return orjson.loads((pack / MANIFEST_FILE).read_bytes()).get("game")
    except (OSError, ValueError):
        return None


@dataclass
class Observed:
    game: str
    days: list[str] = field(default_factory=list)  # game days with entries, in order
    sources: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # day ->
    sinks: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    active: Counter = field(default_factory=Counter)  # day -> players
    actions: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # day ->
    rejections: Counter = field(default_factory=Counter)  # (action, reason) -> n
    levels: Counter = field(default_factory=Counter)  # level -> players (whose level moved)
    players: int = 0  # players with an entry
    day_starts_ms: int = 0  # the game's days start this long after UTC midnight

    def starts(self, day: str) -> int:
        """When a game day starts (ms, UTC)."""
        return _midnight(day) + self.day_starts_ms


def rows(url: str, query: str, params: tuple) -> Iterable[tuple]:
    """A query on the history database: postgresql://... or a SQLite file."""
    if url.startswith(("postgresql://", "postgres://")):
        # imported on use: only a PostgreSQL history needs psycopg (the `history` extra)
        import psycopg

        with psycopg.connect(url) as conn:
            yield from conn.execute(query.replace("?", "%s"), params)
        return
    path = url.removeprefix("sqlite://")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no history database at {path}")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        yield from conn.execute(query, params)


def game_day(at_ms: int, day_starts_ms: int) -> str:
    """The game day a moment belongs to, named by the UTC date the day starts on."""
    return _date_of((at_ms - day_starts_ms) // DAY_MS)


def observe(url: str, game: str, day_starts_ms: int = 0) -> Observed:
    """The history of one game, by game day (days start `day_starts_ms` after UTC midnight:
    the pack's `day_starts_ms`)."""
    out = Observed(game, day_starts_ms=day_starts_ms)
    players_by_day: dict[str, set[str]] = defaultdict(set)
    level: dict[str, int] = {}
    query = "SELECT player, at_ms, action, entry FROM history_entries WHERE game = ? ORDER BY at_ms"
    for player, at_ms, action, entry in rows(url, query, (game,)):
        day = game_day(int(at_ms), day_starts_ms)
        changes = (orjson.loads(entry) if isinstance(entry, str | bytes) else entry)["changes"]
        players_by_day[day].add(player)
        out.actions[day][action] += 1
        for label, pair in changes.items():
            before, after = pair[0], pair[-1]
            if not _number(before) or not _number(after):
                continue  # slots and flags change too: only amounts are sources and sinks
            if label == "level":
                level[player] = max(level.get(player, 0), after)
            elif after > before:
                out.sources[day][label] += after - before
            elif before > after:
                out.sinks[day][label] += before - after
    out.days = sorted(players_by_day)
    out.active = Counter({d: len(p) for d, p in players_by_day.items()})
    out.levels = Counter(level.values())
    out.players = len(set().union(*players_by_day.values()))
    # rejections are counted per UTC day in the history: only their totals are shown
    query = "SELECT action, reason, count FROM history_rejections WHERE game = ?"
    for action, reason, n in rows(url, query, (game,)):
        out.rejections[(action, reason)] += int(n)
    return out


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


@dataclass
class Simulated:
    """A simulation's prediction: per resource, the net change per simulated day (1..N)."""

    net: dict[str, dict[int, float]]  # label -> day -> the median over runs (and bots)
    dates: dict[int, str]  # day -> its UTC date; empty when the simulation had no start date

    def by_date(self) -> bool:
        return bool(self.dates)


def simulated_net(samples_csv: Path) -> Simulated:
    """Per resource: the median over runs (and bots) of the net change per day (day 1..N),
    and each day's date when the samples give them."""
    end: dict[tuple[str, str, str], dict[int, int]] = defaultdict(dict)  # (bot, run, label)
    dates: dict[int, str] = {}
    with samples_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            day = int(row["day"])
            end[(row["bot"], row["run"], row["resource"])][day] = int(row["value"])
            if row.get("date"):
                dates[day] = row["date"]
    per_day: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for (_bot, _run, label), by_day in end.items():
        for day in sorted(by_day):
            if day - 1 in by_day:
                per_day[label][day].append(by_day[day] - by_day[day - 1])
    net = {
        label: {d: median(days[d]) for d in sorted(days)} for label, days in per_day.items() if days
    }
    shown = {d for days in net.values() for d in days}
    return Simulated(net, {d: dates[d] for d in sorted(shown) if d in dates})


def observed_net(obs: Observed) -> dict[str, list[float]]:
    """Per resource: (sources - sinks) / daily active players, per day in order."""
    labels = sorted({k for d in obs.days for k in (*obs.sources[d], *obs.sinks[d])})
    return {
        label: [
            (obs.sources[d][label] - obs.sinks[d][label]) / max(1, obs.active[d]) for d in obs.days
        ]
        for label in labels
    }


@dataclass
class EventDays:
    """One scheduled event over the observed days: its runs within them (cut to them) and
    how much of each observed day it ran."""

    name: str
    when: str
    colour: str  # its colour on the plots (as simulate's: EVENT_COLOURS, in order)
    runs: list[EventRun]
    share: dict[str, float]  # observed day -> the part of that game day it ran (0 to 1)

    @property
    def all_day(self) -> list[str]:
        return [d for d, part in self.share.items() if part >= 1]

    @property
    def part_day(self) -> list[str]:
        return [d for d, part in self.share.items() if 0 < part < 1]

    @property
    def without(self) -> list[str]:
        return [d for d, part in self.share.items() if part <= 0]


def event_days(obs: Observed, days: GameDays) -> list[EventDays]:
    """The game's events that run within the observed days (from the first's start to the
    last's end), in declaration order, and the part of each observed day each ran."""
    if not obs.days:
        return []
    start, end = obs.starts(obs.days[0]), obs.starts(obs.days[-1]) + DAY_MS
    runs = runs_within([(e.name, e.schedule) for e in days.events], start, end)
    out: list[EventDays] = []
    for event in days.events:
        mine = [r for r in runs if r.event == event.name]
        if not mine:
            continue
        share = {}
        for day in obs.days:
            lo, hi = obs.starts(day), obs.starts(day) + DAY_MS
            ran = sum(max(0, min(hi, r.ends_ms) - max(lo, r.starts_ms)) for r in mine)
            share[day] = ran / DAY_MS
        colour = EVENT_COLOURS[len(out) % len(EVENT_COLOURS)]
        out.append(EventDays(event.name, event.when, colour, mine, share))
    return out


def daily_figures(obs: Observed) -> dict[str, dict[str, float]]:
    """The per-day figures the events are compared on: daily active players, actions
    applied, and each resource's net change per active player (as on the net plot)."""
    out: dict[str, dict[str, float]] = {
        "daily active players": {d: float(obs.active[d]) for d in obs.days},
        "actions applied": {d: float(sum(obs.actions[d].values())) for d in obs.days},
    }
    for label, values in observed_net(obs).items():
        out[f"net {label} per active player"] = dict(zip(obs.days, values, strict=True))
    return out


@dataclass(frozen=True)
class Compared:
    """One figure on the days without an event, with it all day and with it part of the
    day: (days, mean over them); the mean is None without such days."""

    event: str
    figure: str
    without: tuple[int, float | None]
    all_day: tuple[int, float | None]
    part_day: tuple[int, float | None]

    @property
    def change(self) -> float | None:
        """All-day mean minus the mean without the event."""
        with_, without = self.all_day[1], self.without[1]
        return None if with_ is None or without is None else with_ - without


def compare(obs: Observed, events: list[EventDays]) -> list[Compared]:
    """Each figure of daily_figures, for each event, on its days and the others (observed
    days with play only; other events may run on either side)."""
    figures = daily_figures(obs)

    def mean(values: dict[str, float], days: list[str]) -> tuple[int, float | None]:
        return (len(days), sum(values[d] for d in days) / len(days) if days else None)

    return [
        Compared(
            e.name,
            figure,
            mean(values, e.without),
            mean(values, e.all_day),
            mean(values, e.part_day),
        )
        for e in events
        for figure, values in figures.items()
    ]


def render(obs: Observed, simulated: Simulated | None = None, days: GameDays | None = None) -> str:
    """The report as one HTML page; `days`: the game's days and events (its pack's)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MatplotlibMissing(
            "the report's plots need matplotlib: pip install 'rulesc[sim]'"
        ) from err
    days = days or GameDays()
    parts = [
        f"<!doctype html><meta charset=utf-8><title>{html.escape(obs.game)}: economy report"
        "</title><style>body{font:14px sans-serif;margin:2em}td,th{padding:2px 8px;"
        "text-align:right}table{border-collapse:collapse}"
        ".swatch{display:inline-block;width:1em;height:1em;opacity:.5;vertical-align:middle}"
        "</style>",
        f"<h1>{html.escape(obs.game)}: economy report</h1>",
        f"<p>{len(obs.days)} days with play"
        + (f", {obs.days[0]} to {obs.days[-1]}" if obs.days else "")
        + f"; {obs.players} players.</p>",
        f"<p>{html.escape(days_said(obs, days))}</p>",
    ]
    if not obs.days:
        parts.append("<p>No ledger entries in the history yet.</p>")
        return "\n".join(parts)
    events = event_days(obs, days)
    first = obs.days[0]
    span = (_date(obs.days[-1]) - _date(first)).days + 1
    x = [(_date(d) - _date(first)).days for d in obs.days]  # days since the first, gaps kept

    def x_of_ms(ms: int) -> float:  # a day's bar is centred on its x: it starts half before
        return (ms - obs.starts(first)) / DAY_MS - 0.5

    def shade(ax: Any, x_of: Any = x_of_ms) -> None:
        shade_events(ax, [e.name for e in events], [r for e in events for r in e.runs], x_of)

    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(x, [obs.active[d] for d in obs.days], color="#1f77b4", label="players")
    shade(ax)
    ax.set_title("daily active players")
    _calendar_axis(ax, first, span)
    if events:
        ax.legend(fontsize=8)
    fig.tight_layout()
    parts += ["<h2>Daily active players</h2>", _png(fig, plt)]

    net = observed_net(obs)
    labels = list(net)
    cols = min(3, max(1, len(labels)))
    nrows = max(1, math.ceil(len(labels) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), squeeze=False)
    flat = [a for row in axes for a in row]
    for ax, label in zip(flat, labels, strict=False):
        ax.bar(x, [obs.sources[d][label] for d in obs.days], color="#2ca02c", label="sources")
        ax.bar(x, [-obs.sinks[d][label] for d in obs.days], color="#d62728", label="sinks")
        shade(ax)
        ax.set_title(label, fontsize=10)
        _calendar_axis(ax, first, span)
    for ax in flat[len(labels) :]:
        ax.axis("off")
    flat[0].legend(fontsize=8)
    fig.tight_layout()
    parts += ["<h2>Sources and sinks per resource per day</h2>", _png(fig, plt)]

    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), squeeze=False)
    flat = [a for row in axes for a in row]
    align = Alignment(obs, simulated)
    for ax, label in zip(flat, labels, strict=False):
        ax.plot(align.observed_x, net[label], "o-", color="#1f77b4", label="observed")
        if simulated and label in simulated.net:
            by_day = simulated.net[label]
            ax.plot(
                align.simulated_x(list(by_day)),
                list(by_day.values()),
                "--",
                color="#ff7f0e",
                label="simulated",
            )
        shade(ax, align.x_of_ms)
        ax.set_title(f"{label}: net per active player", fontsize=10)
        align.axis(ax)
        ax.grid(alpha=0.3)
    for ax in flat[len(labels) :]:
        ax.axis("off")
    flat[0].legend(fontsize=8)
    title = "Net change per active player per day"
    if simulated:
        title += ": observed vs simulated"
        fig.suptitle(align.said, fontsize=9, x=0.01, horizontalalignment="left")
        fig.tight_layout(rect=(0, 0, 1, 0.94 if nrows == 1 else 0.97))
    else:
        fig.tight_layout()
    parts += [f"<h2>{title}</h2>"]
    if simulated:
        parts.append(f"<p>{html.escape(align.explained)}{html.escape(align.overlap())}</p>")
    parts.append(_png(fig, plt))

    parts += _events_section(obs, days, events)

    if obs.levels:
        fig, ax = plt.subplots(figsize=(7, 2.8))
        levels = sorted(obs.levels)
        ax.bar([str(v) for v in levels], [obs.levels[v] for v in levels], color="#9467bd")
        ax.set_title("players by highest level reached")
        parts += ["<h2>Level distribution</h2>", _png(fig, plt)]

    actions: Counter[str] = Counter()
    for d in obs.days:
        actions.update(obs.actions[d])
    parts.append("<h2>Actions</h2>" + _table(["action", "applied"], actions.most_common()))
    parts.append(
        "<h2>Rejections by reason</h2>"
        + _table(
            ["action", "reason", "rejected"],
            [(a, r, n) for (a, r), n in obs.rejections.most_common()],
        )
    )
    return "\n".join(parts)


def days_said(obs: Observed, days: GameDays) -> str:
    """What a day is on this page, and where that came from."""
    if days.source is None:
        return (
            "Days are UTC days (midnight to midnight): no pack of the game was found, so "
            "neither its `day starts` nor its events are known (`rulesc report --rules` "
            "names the game folder or pack)."
        )
    clock = f"{days.day_starts_ms // 3_600_000:02d}:{days.day_starts_ms // 60_000 % 60:02d}"
    return (
        f"Days are the game's days (from {days.source}): each from `day starts` "
        f"({clock} UTC) to the next, named by the UTC date it starts on, as `rulesc simulate "
        "--start` names its days, so observed and simulated days are the same spans of time. "
        "Rejections are kept per UTC day in the history: only their totals are shown below, "
        "which that does not change."
    )


def _events_section(obs: Observed, days: GameDays, events: list[EventDays]) -> list[str]:
    if days.source is None:
        return []
    out = ["<h2>Scheduled events</h2>"]
    if not events:
        said = (
            "The game has no scheduled events."
            if not days.events
            else (
                "None of the game's scheduled events ("
                + ", ".join(e.name for e in days.events)
                + ") ran within the observed days."
            )
        )
        return [*out, f"<p>{html.escape(said)}</p>"]
    out.append(
        "<p>Shaded on the plots above, in these colours (UTC). A day counts as with an event "
        "when the event ran all of that game day, without it when it did not run at all; "
        "days it ran for part of are shown apart.</p>"
    )
    rows = []
    for e in events:
        ran = "<br>".join(f"{_utc(r.starts_ms)} to {_utc(r.ends_ms)}" for r in e.runs[:5]) + (
            f"<br>and {len(e.runs) - 5} more runs" if len(e.runs) > 5 else ""
        )
        part = ", ".join(f"{d} ({e.share[d]:.0%})" for d in e.part_day) or "none"
        rows.append(
            f'<tr><td><span class="swatch" style="background:{e.colour}"></span> '
            f"{html.escape(e.name)}</td><td>{html.escape(e.when)}</td><td>{ran}</td>"
            f"<td>{len(e.all_day)}</td><td>{html.escape(part)}</td></tr>"
        )
    out += [
        "<table><tr><th>event</th><th>when</th><th>runs within the observed days</th>"
        "<th>days with play it ran all day</th><th>days with play it ran part of</th></tr>",
        *rows,
        "</table>",
        "<h3>Days with and without each event</h3>",
        "<p>The mean of each figure over the observed days with play (other events may run "
        "on either side).</p>",
    ]
    body = [
        (
            c.event,
            c.figure,
            _mean(c.without),
            _mean(c.all_day),
            "" if c.change is None else f"{c.change:+.2f}",
            _mean(c.part_day),
        )
        for c in compare(obs, events)
    ]
    header = ["event", "per day", "without it", "with it (all day)", "with - without"]
    out.append(_table([*header, "part of the day"], body))
    return out


def _mean(counted: tuple[int, float | None]) -> str:
    n, mean = counted
    return "no day" if mean is None else f"{mean:.2f} ({n} day{'s' if n != 1 else ''})"


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


class Alignment:
    """Where observed and simulated days go on the net-change plots: by calendar date when
    the simulation has dates (x: days since the earliest date of either), else by index
    (x: day 1, 2, ... of each; an observed day's index counts the days since the first
    observed day, played or not)."""

    def __init__(self, obs: Observed, simulated: Simulated | None) -> None:
        self.obs = obs
        self.sim = simulated
        self.dated = simulated is not None and simulated.by_date()
        if self.dated:
            assert simulated is not None
            every = sorted({*obs.days, *simulated.dates.values()})
            self.origin = _date(every[0])
            self.first = 0  # x of the origin
            self.span = (_date(every[-1]) - self.origin).days + 1
            self.said = "Aligned by calendar date (game days)"
            self.explained = (
                f"{self.said}: each simulated day on the date it starts, as each observed "
                "day (the simulation ran with `rulesc simulate --start`)."
            )
        else:
            self.origin = _date(obs.days[0]) if obs.days else dt.date(1970, 1, 1)
            self.first = 1
            self.said = "Aligned by day index (day 1: the first of each)"
            self.explained = (
                "Aligned by day index: day 1 is the first day in the history and the first "
                "simulated day (the simulation has no dates: `rulesc simulate --start` gives "
                "them)."
            )
        self.observed_x = [self._x(d) for d in obs.days]

    def _x(self, day: str) -> int:
        return (_date(day) - self.origin).days + self.first

    def x_of_ms(self, ms: int) -> float:
        """A moment on the x axis: a day's point at its x, the day from half before."""
        start = _midnight(self.origin.isoformat()) + self.obs.day_starts_ms
        return (ms - start) / DAY_MS + self.first - 0.5

    def simulated_x(self, days: list[int]) -> list[int]:
        if not self.dated:
            return days
        assert self.sim is not None
        return [self._x(self.sim.dates[d]) for d in days]

    def axis(self, ax: Any) -> None:
        if not self.dated:
            ax.set_xlabel("day (by index)", fontsize=8)
            return
        step = max(1, self.span // 6)
        ticks = list(range(0, self.span, step))
        names = [(self.origin + dt.timedelta(t)).isoformat() for t in ticks]
        ax.set_xticks(ticks, names, fontsize=7, rotation=30, ha="right")
        ax.set_xlabel("game day (the date it starts on)", fontsize=8)

    def overlap(self) -> str:
        """A sentence when the simulated and observed dates do not meet (or nothing)."""
        if not self.dated or self.sim is None or not self.obs.days:
            return ""
        dates = list(self.sim.dates.values())
        if set(dates) & set(self.obs.days):
            return ""
        return (
            f" The simulated days ({dates[0]} to {dates[-1]}) and the observed days "
            f"({self.obs.days[0]} to {self.obs.days[-1]}) do not overlap."
        )


def _date(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


def _midnight(day: str) -> int:
    """UTC midnight of a date, in ms."""
    return (_date(day) - dt.date(1970, 1, 1)).days * DAY_MS


@functools.lru_cache(maxsize=1024)
def _date_of(days: int) -> str:  # once per day, not per entry
    return (dt.date(1970, 1, 1) + dt.timedelta(days)).isoformat()


def _calendar_axis(ax: Any, first: str, span: int) -> None:
    """Ticks for x = days since `first` (every day on the axis, played or not)."""
    step = max(1, span // 8)
    ticks = list(range(0, span, step))
    names = [(_date(first) + dt.timedelta(t)).isoformat() for t in ticks]
    ax.set_xticks(ticks, names, fontsize=7, rotation=30, ha="right")
    ax.set_xlim(-0.5, span - 0.5)


def _png(fig: Any, plt: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _table(header: list[str], body: Iterable[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body
    )
    return f"<table><tr>{head}</tr>{cells or '<tr><td>none</td></tr>'}</table>"
