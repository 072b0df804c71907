"""`event` declarations: when each runs (UTC) and what it sets while it runs.

An event sets table cells (`crop[wheat].sell = 12`) and limits' counts (`limit daily_gift 2
per day`), nothing else. Two events that set the same cell or limit must never run at the
same time (R092): which value wins would depend on the order of declarations.
"""

from __future__ import annotations

import datetime as dt

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span
from rulesc.pack_contract import DAY_MS, event_occurrence

from .. import ir
from .. import types as T
from .context import INT64_MAX, INT64_MIN, Context, a_type, did_you_mean_or, example_of

CODE = "R091"
OVERLAP = "R092"
HINT = "`event NAME from 2026-10-25 to 2026-11-01` or `every week on saturday for 2d`: " + (
    "rulesc explain R091"
)
# days after the Unix epoch (a Thursday) of each weekday's first time
WEEKDAYS = {
    "thursday": 0,
    "friday": 1,
    "saturday": 2,
    "sunday": 3,
    "monday": 4,
    "tuesday": 5,
    "wednesday": 6,
}
Schedule = tuple[int, int, int | None]


def check_events(c: Context, decls: list, actions: list[ir.Action]) -> list[ir.Event]:
    out: list[ir.Event] = []
    spans: dict[str, Span] = {}  # each event's name, for R092's note
    for d in decls:
        if not isinstance(d, ast.EventDecl):
            continue
        c.check_snake(d.name, d.name_span)
        if any(e.name == d.name for e in out):
            c.error(CODE, f"there are two events named `{d.name}`", d.name_span, HINT)
            continue
        schedule = _schedule(c, d)
        overrides = [_override(c, o, actions) for o in d.overrides]
        if schedule is None or None in overrides:
            continue
        event = ir.Event(
            d.name, *schedule, tuple(o for o in overrides if o), _when(d), c.loc(d.name_span)
        )
        _check_overlaps(c, event, out, d, spans)
        spans[d.name] = d.name_span
        out.append(event)
    return out


# ---- when


def _when(d: ast.EventDecl) -> str:
    """The schedule in one canonical spelling: `from 2026-10-25 to 2026-11-01`."""
    if d.every is None or d.length is None:
        return f"from {d.start} to {d.end}"
    on = f" on {d.weekday.id}" if d.weekday else ""
    at = f" at {d.at}" if d.at else ""
    return f"every {d.every.kind}{on}{at} for {d.length.text}"


def moment_ms(c: Context, text: str, span: Span) -> int | None:
    """`2026-10-25` or `2026-10-25 18:00`, UTC, in ms since the epoch."""
    try:
        fmt = "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
        moment = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
    except ValueError:
        c.error(CODE, f"`{text}` is not a date (and time) of the calendar", span, HINT)
        return None
    return int(moment.timestamp()) * 1000


def _clock(c: Context, text: str, span: Span) -> int | None:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours > 23 or minutes > 59:
        c.error(CODE, f"`{text}` is not a time of day", span, "from 00:00 to 23:59 (UTC)")
        return None
    return (hours * 60 + minutes) * 60_000


def _schedule(c: Context, d: ast.EventDecl) -> Schedule | None:
    if d.start is not None and d.end is not None:
        start, end = moment_ms(c, d.start, d.span), moment_ms(c, d.end, d.span)
        if start is None or end is None:
            return None
        if end <= start:
            c.error(CODE, f"`{d.name}` ends before it starts", d.span, HINT)
            return None
        return (start, end - start, None)
    assert d.every is not None and d.length is not None
    every = d.every
    if every.kind == "span":
        c.error(CODE, "an event repeats every day or every week", every.span, HINT)
        return None
    start = 0 if d.at is None else _clock(c, d.at, d.span)
    if start is None:
        return None
    if every.kind == "week":
        if d.weekday is None:
            c.error(CODE, "say which day of the week", every.span, "e.g. `every week on saturday`")
            return None
        day = WEEKDAYS.get(d.weekday.id)
        if day is None:
            hint = did_you_mean_or(d.weekday.id, WEEKDAYS, "monday, tuesday, ... sunday")
            c.error(CODE, f"`{d.weekday.id}` is not a day of the week", d.weekday.span, hint)
            return None
        start += day * DAY_MS
    elif d.weekday is not None:
        c.error(CODE, "an event every day runs on every day", d.weekday.span, "remove `on ...`")
        return None
    if not 0 < d.length.ms <= every.ms:
        c.error(
            CODE,
            f"an event every {every.kind} lasts more than 0 and at most a {every.kind}",
            d.length.span,
            HINT,
        )
        return None
    return (start, d.length.ms, every.ms)


# ---- what it sets


def _override(
    c: Context, o: ast.EventOverride, actions: list[ir.Action]
) -> ir.EventOverride | None:
    text = " ".join(c.source(o.span).split())
    if o.limit is not None:
        return _limit(c, o, actions, text)
    table = c.tables.get(o.name)
    if table is None:
        c.error(
            CODE,
            f"`{o.name}` is not a table: an event sets tables' cells and limits",
            o.span,
            did_you_mean_or(o.name, c.tables, "e.g. `crop[wheat].sell = 12`"),
        )
        return None
    if o.row not in {name for name, _ in table.rows}:
        rows = [name for name, _ in table.rows]
        hint = did_you_mean_or(str(o.row), rows, "the rows are: " + ", ".join(rows))
        c.error(CODE, f"`{o.row}` is not a row of `{table.name}`", o.span, hint)
        return None
    column = next((col for col in table.columns if col.name == o.column), None)
    if column is None:
        columns = [col.name for col in table.columns]
        hint = did_you_mean_or(str(o.column), columns, "the columns are: " + ", ".join(columns))
        c.error(CODE, f"`{table.name}` has no column `{o.column}`", o.span, hint)
        return None
    value = _value(c, o.value, column)
    if value is None:
        return None
    return ir.EventOverride(table.name, o.row, column.name, None, value, text, c.loc(o.span))


def _value(c: Context, e: ast.Expr, col: ir.Column) -> int | bool | str | None:
    t = col.type
    if t == T.INT and isinstance(e, ast.IntLit) and INT64_MIN <= e.value <= INT64_MAX:
        return e.value
    if t == T.DURATION and isinstance(e, ast.DurationLit):
        return e.ms
    if t == T.BOOL and isinstance(e, ast.BoolLit):
        return e.value
    if t.kind == "enum" and isinstance(e, ast.Name) and t.name in c.row_owner.get(e.id, ()):
        return e.id
    rows = c.row_names(t.name) if t.kind == "enum" else []
    c.error(
        "R016",
        f"`{c.source(e.span)}` is not {a_type(t)} (column `{col.name}`)",
        e.span,
        example_of(t, rows),
    )
    return None


def _limit(
    c: Context, o: ast.EventOverride, actions: list[ir.Action], text: str
) -> ir.EventOverride | None:
    assert o.limit is not None and isinstance(o.value, ast.IntLit)
    action = next((a for a in actions if a.name == o.name), None)
    if action is None:
        names = [a.name for a in actions]
        hint = did_you_mean_or(o.name, names, "the actions are: " + ", ".join(sorted(names)))
        c.error(CODE, f"`{o.name}` is not an action", o.span, hint)
        return None
    limits = [
        s
        for s in ir.walk_statements(action.body)
        if isinstance(s, ir.Limit) and (s.period, s.period_ms) == (o.limit.kind, o.limit.ms)
    ]
    if len(limits) != 1:
        what = "no limit" if not limits else "more than one limit"
        c.error(
            CODE,
            f"`{o.name}` has {what} per {c.source(o.limit.span)}",
            o.span,
            "an event sets the count of one `limit N per ...` of the action",
        )
        return None
    if o.value.value < 1:
        c.error(CODE, "a limit's count is at least 1", o.value.span, HINT)
        return None
    return ir.EventOverride(None, None, None, limits[0].key, o.value.value, text, c.loc(o.span))


# ---- two events setting the same thing at the same time


def can_overlap(a: Schedule, b: Schedule) -> bool:
    """Whether two schedules ever run at the same time. Recurring ones repeat every day or
    week, so two weeks from the later start show every way they meet."""
    if a[2] is not None and b[2] is None:
        a, b = b, a  # a fixed one first: one run to compare
    t = max(a[0], b[0]) - a[1]
    horizon = t + 14 * DAY_MS + a[1]
    while t <= horizon:
        run = event_occurrence(a, t)
        if run is None:
            return False
        other = event_occurrence(b, run[0])
        if other is not None and other[0] < run[1]:
            return True
        if a[2] is None:
            return False
        t = run[1]
    return False


def _check_overlaps(
    c: Context, event: ir.Event, earlier: list[ir.Event], d: ast.EventDecl, spans: dict
) -> None:
    for other in earlier:
        shared = {o.key for o in event.overrides} & {o.key for o in other.overrides}
        if shared and can_overlap(event.schedule, other.schedule):
            o = next(o for o in event.overrides if o.key in shared)
            c.error(
                OVERLAP,
                f"`{event.name}` and `{other.name}` both set `{o.text.split('=')[0].strip()}`"
                " and can run at the same time",
                _span_of(d, o),
                "give each its own cells, or schedule them apart: rulesc explain R092",
                [(f"`{other.name}` is declared here", spans[other.name])],
            )


def _span_of(d: ast.EventDecl, o: ir.EventOverride) -> Span:
    return next((x.span for x in d.overrides if x.span.line == o.loc.line), d.name_span)
