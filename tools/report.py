"""The economy report from the history database (`rulesc report`): what players did, per
UTC day, read from the tables the history sink writes (runtime/history.py).

- sources and sinks per resource per day: the sum of increases and of decreases in the
  ledger entries' `changes` ({label: [before, after]});
- daily active players: players with at least one entry that day;
- actions per day, and rejections by action and reason (counted by the sink);
- level distribution: each player's highest level seen in the history.

The shapes match `rulesc simulate`'s samples.csv: resources are labelled the same
(`coins`, `seed[wheat]`, `level`), and `--simulated DIR` lays a simulation's prediction
on the same plot: per active player, the net change of each resource per day (observed:
(sources - sinks) / daily active players; simulated: the median over runs of one
end-of-day value minus the previous). A simulation given a start date (`rulesc simulate
--start`: its samples have a `date` column) is aligned with the history by calendar date
(a simulated game day by the UTC date it starts on), so an event shows on its days in
both; one without dates by day index (day 1: the first day in the history and the first
simulated day). The plot says which.
One HTML file, its plots embedded (matplotlib PNGs as base64, the `sim` extra).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
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

from .simplot import MatplotlibMissing
from .simsummary import median


@dataclass
class Observed:
    game: str
    days: list[str] = field(default_factory=list)  # UTC days with entries, in order
    sources: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # day ->
    sinks: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    active: Counter = field(default_factory=Counter)  # day -> players
    actions: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # day ->
    rejections: Counter = field(default_factory=Counter)  # (action, reason) -> n
    levels: Counter = field(default_factory=Counter)  # level -> players


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


def observe(url: str, game: str) -> Observed:
    out = Observed(game)
    players_by_day: dict[str, set[str]] = defaultdict(set)
    level: dict[str, int] = {}
    query = (
        "SELECT player, day, action, entry FROM history_entries WHERE game = ? ORDER BY day, at_ms"
    )
    for player, day, action, entry in rows(url, query, (game,)):
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


def render(obs: Observed, simulated: Simulated | None = None) -> str:
    """The report as one HTML page."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MatplotlibMissing(
            "the report's plots need matplotlib: pip install 'rulesc[sim]'"
        ) from err
    parts = [
        f"<!doctype html><meta charset=utf-8><title>{html.escape(obs.game)}: economy report"
        "</title><style>body{font:14px sans-serif;margin:2em}td,th{padding:2px 8px;"
        "text-align:right}table{border-collapse:collapse}</style>",
        f"<h1>{html.escape(obs.game)}: economy report</h1>",
        f"<p>{len(obs.days)} days with play"
        + (f", {obs.days[0]} to {obs.days[-1]} (UTC)" if obs.days else "")
        + f"; {sum(obs.levels.values())} players.</p>",
    ]
    if not obs.days:
        parts.append("<p>No ledger entries in the history yet.</p>")
        return "\n".join(parts)
    x = list(range(len(obs.days)))
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(x, [obs.active[d] for d in obs.days], color="#1f77b4")
    ax.set_title("daily active players")
    _days_axis(ax, obs.days)
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
        ax.set_title(label, fontsize=10)
        _days_axis(ax, obs.days)
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
            days = simulated.net[label]
            x = align.simulated_x(list(days))
            ax.plot(x, list(days.values()), "--", color="#ff7f0e", label="simulated")
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


class Alignment:
    """Where observed and simulated days go on the net-change plots: by calendar date when
    the simulation has dates (x: days since the earliest date of either), else by index
    (x: day 1, 2, ... of each)."""

    def __init__(self, obs: Observed, simulated: Simulated | None) -> None:
        self.obs = obs
        self.sim = simulated
        self.dated = simulated is not None and simulated.by_date()
        if self.dated:
            assert simulated is not None
            every = sorted({*obs.days, *simulated.dates.values()})
            self.origin = _date(every[0])
            self.span = (_date(every[-1]) - self.origin).days + 1
            self.said = "Aligned by calendar date (UTC)"
            self.explained = (
                f"{self.said}: each simulated day on the date it starts (the simulation ran "
                "with `rulesc simulate --start`)."
            )
        else:
            self.said = "Aligned by day index (day 1: the first of each)"
            self.explained = (
                "Aligned by day index: day 1 is the first day in the history and the first "
                "simulated day (the simulation has no dates: `rulesc simulate --start` gives "
                "them)."
            )
        self.observed_x = (
            [self._x(d) for d in obs.days] if self.dated else list(range(1, len(obs.days) + 1))
        )

    def _x(self, day: str) -> int:
        return (_date(day) - self.origin).days

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
        ax.set_xlabel("date (UTC)", fontsize=8)

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


def _days_axis(ax: Any, days: list[str]) -> None:
    step = max(1, len(days) // 8)
    ax.set_xticks(range(0, len(days), step), days[::step], fontsize=7, rotation=30)


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
