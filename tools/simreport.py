"""One HTML file a designer can open or send: the summary and every bot's plot, the plots
embedded as base64 PNGs (no file beside it needed). Written by `rulesc simulate`."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from rulesc.compiler import ir

from .simulate import BotResult, Options

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:90em}"
    "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:13px}"
    "img{max-width:100%;border:1px solid #ddd}"
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
