"""One HTML file a designer can open or send: the simulated dates, the scheduled events that
run within them (when, what they set, their colour in the plots), the summary and every
bot's plot, the plots embedded as base64 PNGs (no file beside it needed). Written by
`rulesc simulate`."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from rulesc.compiler import ir

from .simplot import EVENT_COLOURS
from .simulate import DAY_MS, BotResult, Calendar, Options, utc

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:90em}"
    "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:13px}"
    "img{max-width:100%;border:1px solid #ddd}"
    "td,th{padding:2px 10px;text-align:left;vertical-align:top}table{border-collapse:collapse}"
    ".swatch{display:inline-block;width:1em;height:1em;opacity:.5;vertical-align:middle}"
)


def write(
    game: ir.Game,
    results: list[BotResult],
    summaries: list[str],
    plots: dict[str, Path],
    options: Options,
    out: Path,
) -> Path:
    """`plots`: bot name -> its PNG (a bot without one is shown without a picture)."""
    title = f"{game.title}: simulation, {options.runs} runs of {options.days} days (seed {options.seed})"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if results:
        parts += _calendar(results[0].calendar)
    for result, summary in zip(results, summaries, strict=True):
        name = result.bot.name
        parts.append(f'<h2 id="{html.escape(name)}">bot {html.escape(name)}</h2>')
        png = plots.get(name)
        if png is not None:
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(f'<img alt="bot {html.escape(name)}" src="data:image/png;base64,{data}">')
        parts.append(f"<pre>{html.escape(summary)}</pre>")
    parts.append("</body></html>")
    out.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return out


def _calendar(when: Calendar) -> list[str]:
    """When the simulated days are, and the events that run within them."""
    end = when.start_ms + when.days * DAY_MS
    out = [f"<p>Day 1 starts {utc(when.start_ms)} UTC; day {when.days} ends {utc(end)} UTC.</p>"]
    if not when.events:
        return out + ["<p>No scheduled event runs within these days.</p>"]
    rows = []
    for i, event in enumerate(when.events):
        colour = EVENT_COLOURS[i % len(EVENT_COLOURS)]
        runs = [r for r in when.runs if r.event == event.name]
        shown = "<br>".join(
            f"days {r.first_day}-{r.last_day}: {utc(r.starts_ms)} to {utc(r.ends_ms)}"
            for r in runs[:5]
        ) + (f"<br>and {len(runs) - 5} more runs" if len(runs) > 5 else "")
        sets = ", ".join(o.text for o in event.overrides) or "nothing (shown in the state only)"
        rows.append(
            f'<tr><td><span class="swatch" style="background:{colour}"></span> '
            f"{html.escape(event.name)}</td><td>{html.escape(event.when)}</td>"
            f"<td>{shown}</td><td>{html.escape(sets)}</td></tr>"
        )
    return [
        *out,
        "<h2>Scheduled events</h2>",
        "<p>Shaded in the plots, in these colours (UTC; the simulated days count from day 1).</p>",
        "<table><tr><th>event</th><th>when</th><th>runs within the days</th><th>sets</th></tr>",
        *rows,
        "</table>",
    ]
