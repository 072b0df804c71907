"""PNG plots of a simulation: per resource, the median over runs and the 10th-90th
percentile band, by day. One picture per bot, one small chart per resource that moved;
the times when scheduled events run are shaded, a colour per event, named in the legend.

matplotlib is an optional dependency (`pip install 'rulesc[sim]'`): the rest of
rulesc, the server included, never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rulesc.compiler import ir

from .simulate import BotResult, EventRun

# one per event, in the order the rules declare them (the band and median are blue, the
# max red): then round again
EVENT_COLOURS = ("#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")


class MatplotlibMissing(Exception):
    pass


def plot(game: ir.Game, result: BotResult, out: Path) -> Path:
    """Draw one bot's results into `out` (a .png file) and return it."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display, the same picture everywhere
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MatplotlibMissing("plots need matplotlib: pip install 'rulesc[sim]'") from err
    labels = _moving(result)
    maxima = {r.name: r.max for r in game.resources}
    cols = min(4, max(1, len(labels)))
    rows = max(1, math.ceil(len(labels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    days = list(range(result.days + 1))
    for ax, label in zip([a for row in axes for a in row], labels, strict=False):
        low, mid, high = result.bands[label]
        ax.fill_between(
            days, low, high, color="#1f77b4", alpha=0.25, linewidth=0, label="10th-90th percentile"
        )
        ax.plot(days, mid, color="#1f77b4", linewidth=1.8, label="median")
        top = maxima.get(label.split("[", 1)[0]) if label != "level" else None
        if top is not None and top <= 2 * max([*high, 1]):
            ax.axhline(top, color="#d62728", linestyle="--", linewidth=1, label="max")
        when = result.calendar
        shade_events(ax, [e.name for e in when.events], when.runs, when.x)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(f"day (day 1: {result.calendar.date(1)})", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in [a for row in axes for a in row][len(labels) :]:
        ax.axis("off")
    legend: dict = {}  # one entry per kind of line, whichever chart has it
    for ax in [a for row in axes for a in row]:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(name, handle)
    fig.legend(list(legend.values()), list(legend), loc="upper right", fontsize=8, ncol=3)
    bot = result.bot
    fig.suptitle(
        f"{game.title}: bot {bot.name}, {len(result.runs)} runs of {result.days} days "
        f"from {result.calendar.date(1)}",
        fontsize=12,
        x=0.01,
        horizontalalignment="left",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    out.parent.mkdir(parents=True, exist_ok=True)
    # no timestamp in the file: the same simulation draws the same bytes
    fig.savefig(out, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return out


def shade_events(
    ax: Any, names: Sequence[str], runs: Iterable[EventRun], x: Callable[[int], float]
) -> None:
    """Each event's runs as vertical bands over the whole height of the chart, a colour per
    event (EVENT_COLOURS, in the order of `names`), named in the legend (`event NAME`); one
    collection an event, however many times it runs. `x`: a moment (ms) on the chart's
    x axis. Shared by simulate's plots and `rulesc report`'s."""
    runs = list(runs)
    for i, name in enumerate(names):
        spans = [(x(r.starts_ms), x(r.ends_ms) - x(r.starts_ms)) for r in runs if r.event == name]
        ax.broken_barh(
            spans,
            (0, 1),
            transform=ax.get_xaxis_transform(),
            facecolors=EVENT_COLOURS[i % len(EVENT_COLOURS)],
            alpha=0.18,
            linewidth=0,
            zorder=0,  # behind the data
            label=f"event {name}",
        )


def _moving(result: BotResult) -> list[str]:
    """The resources whose value changes in some run (a flat line says nothing)."""
    moved = {label for run in result.runs for label in run.moved}
    return [label for label in result.bands if label in moved]
