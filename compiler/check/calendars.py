"""Pass 2a, calendars: `calendar season every 28d from 2026-03-01: spring, summer, ...`.

A calendar is the same for every player (a shared live world has one season at a time):
its periods follow each other from its start, at `day starts` (UTC) on the `from` date, or
on 1970-01-01 without one, and go round again. Its periods become the rows of a table
named after it (with no columns), so `season`, a column of type `season` and a `season`
parameter are typed like any row, and `season == spring` compares as rows do."""

from __future__ import annotations

import datetime as dt

from rulesc.dsl import ast
from rulesc.pack_contract import DAY_MS

from .. import ir
from .context import Context


def check_calendars(c: Context, decls: list) -> None:
    """Declare every calendar: its periods as a table's rows, itself in c.calendars."""
    for d in decls:
        if isinstance(d, ast.CalendarDecl):
            calendar = _calendar(c, d)
            if calendar is None:
                c.broken.add(d.name)
                continue
            c.calendars[d.name] = calendar
            c.table_names.add(d.name)
            for period in calendar.periods:
                c.row_owner.setdefault(period, []).append(d.name)
            rows = tuple((p, ()) for p in calendar.periods)
            c.tables[d.name] = ir.Table(d.name, (), rows, calendar.loc)


def _calendar(c: Context, d: ast.CalendarDecl) -> ir.Calendar | None:
    ok = True
    if d.every.ms <= 0 or d.every.ms % DAY_MS:
        c.error(
            "R083",
            f"a calendar's period is whole days, not {d.every.text}",
            d.every.span,
            "write a number of days or weeks, such as `every 28d`",
        )
        ok = False
    start = 0
    if d.start is not None and d.start_span is not None:
        try:
            day = dt.date.fromisoformat(d.start)
        except ValueError:
            c.error(
                "R083",
                f"`{d.start}` is not a date",
                d.start_span,
                "write the first day of the calendar as YYYY-MM-DD (UTC), such as 2026-03-01",
            )
            ok = False
        else:
            start = (day - dt.date(1970, 1, 1)).days * DAY_MS
    seen: dict[str, ast.Name] = {}
    for p in d.periods:
        if p.id in seen:
            c.error(
                "R011",
                f"period `{p.id}` appears twice in calendar `{d.name}`",
                p.span,
                "name each period once",
                [("first listed here", seen[p.id].span)],
            )
            ok = False
        seen.setdefault(p.id, p)
        c.check_snake(p.id, p.span)
    if not ok:
        return None
    return ir.Calendar(
        d.name,
        start + c.day_start * 60_000,
        d.every.ms,
        tuple(p.id for p in d.periods),
        c.loc(d.span),
    )
