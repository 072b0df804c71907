"""What the compiler writes and the runtime reads: the rule pack's format, in one place.

Both `rulesc.compiler` (which writes packs) and `rulesc.runtime` (which loads and runs
them) import this module; it imports neither (tests/test_layers.py holds it to that).
Change something here and both sides change together.
"""

from __future__ import annotations

import re

# ---- the pack directory -----------------------------------------------------------------

# What generated code and the engine agree on. Format 2: actions report the places they
# write (Context.changes) instead of the engine diffing the state. Format 3: the pack may
# also use players meeting players (`player` params, give/take, loot, hooks, leaderboards);
# a pack without them was still written as format 2. Format 4: packs pass the rt helpers'
# optional arguments by name (`ctx.gain(s, "seed", 3, key=kind)`), which runtimes before it
# cannot take; every pack is written as format 4. Formats 1 to 3 still run (rt.LegacyContext).
# Format 5: the pack may draw with computed weights (`ctx.chance`, `ctx.draw_weights`: a
# `chance P %`, a `pick one` weight from a column). Format 6: the pack has scheduled events
# (EVENTS, OVERRIDES) and reads what they override through rt.event_runs. Format 7: the pack
# may have calendars (`CALENDARS`, rt.period_of, rt.day_of_period, rt.next_period,
# rt.next_day, ctx.limit's origin and label, `_calendar` in the state for an `on
# season_change` hook). Format 8: the pack may have items of two tables (held nested,
# `{"wheat": {"gold": 3}}`, passed to the rt helpers as a tuple key). Format 9: the pack's
# `migrate` lines may reach items of two tables (pair lines, `"source": ["produce",
# ["beet", "*"]]`; row lines moving the pairs of a row) or convert a row by count
# (`crop[beet] -> coins * 3`), which a runtime before it would skip or take for a drop.
# A pack is written in the oldest format that runs what it uses (format_needed): with none
# of these, format 4.
PACK_FORMAT = 9  # the newest format this runtime runs


def format_needed(
    *,
    computed_draws: bool,
    events: bool,
    calendars: bool,
    pair_items: bool = False,
    pair_migrations: bool = False,
) -> int:
    """The oldest pack format that has what a pack uses."""
    if pair_migrations:
        return 9
    if pair_items:
        return 8
    if calendars:
        return 7
    if events:
        return 6
    return 5 if computed_draws else 4


# In a `migrate` line of schema.json, a key of a pair that stands for every row of its table
# (`"source": ["produce", ["beet", "*"]]`); in a pair target, the source's row there.
ANY_ROW = "*"

MANIFEST_FILE = "manifest.json"  # game id, version, format, sources; its presence makes a pack
SCHEMA_FILE = "schema.json"
MODULE_FILE = "rules.py"  # named again in the manifest's "module"

# ---- line markers: every generated statement names the `.rules` line it came from -------

_MARKER = re.compile(r"^\s*# (?P<file>[^:\s]+\.rules):(?P<line>\d+): (?P<text>.*)$")


def line_marker(file: str, line: int, text: str) -> str:
    """The comment above a generated statement: `# harvest.rules:25: require ...`."""
    return f"# {file}:{line}: {text}"


def build_line_map(source: str) -> dict[int, tuple[str, int, str]]:
    """Generated line -> the `.rules` line it came from, read from the marker comments."""
    out: dict[int, tuple[str, int, str]] = {}
    current: tuple[str, int, str] | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        m = _MARKER.match(line)
        if m:
            current = (m["file"], int(m["line"]), m["text"])
        elif line and not line[0].isspace():
            current = None  # a new top-level definition
        if current is not None:
            out[number] = current
    return out


# ---- durations: spelled the same in the rules, in the tools' reports and in players' messages

DAY_MS = 86_400_000
# the units a `.rules` duration is written in (dsl/parser.py reads them)
DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_SHOWN_UNITS = ("d", "h", "m", "s")  # what fmt_duration writes: no weeks, no milliseconds


def fmt_duration(ms: int) -> str:
    """Compact, rounded up to whole seconds: 90_000 -> `1m30s`, 0 -> `0s`."""
    if ms < 0:
        return "-" + fmt_duration(-ms)
    seconds = -(-ms // 1000)
    if seconds == 0:
        return "0s"
    out = []
    rest = seconds * 1000
    for unit in _SHOWN_UNITS:
        size = DURATION_UNITS[unit]
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


# ---- scheduled events: when an `event` runs, on the server's clock (UTC) -----------------
# A schedule is (starts_at ms, lasts ms, repeats every ms or None). A recurring event's
# start is its first time after the Unix epoch (`every week on saturday` starts on
# 1970-01-03), so the same rules always give the same times.


def event_occurrence(schedule: tuple[int, int, int | None], now: int) -> tuple[int, int] | None:
    """(start, end) of the event's run that covers `now`, else of its next run; None when it
    has run for the last time."""
    start, length, every = schedule
    if every is not None and now >= start:
        start += (now - start) // every * every  # the latest start at or before now
        if now >= start + length:
            start += every
    if now >= start + length:
        return None
    return start, start + length


def event_runs(schedule: tuple[int, int, int | None], now: int) -> bool:
    """Whether the event runs at `now` (a run covers its start, not its end)."""
    run = event_occurrence(schedule, now)
    return run is not None and run[0] <= now
