"""Scheduled events for the designer tools: which can run at once, and the game while they run.

An `event` sets table cells and limits' counts while it runs (docs/language.md "Events"),
so a loop that loses money all year may pay during a festival. `explore` and `graph` read
the rules as declared; this module gives them the rest:

- `event_sets`: each distinct set of events that runs at some moment, from the schedule
  (each event alone where it ever runs alone, two or more where their runs overlap), with
  the first such moment at or after the scenarios' start, so a scenario can `wait until` it.
  The set of events running only changes where a run starts or ends, so the starts and
  ends of the runs are the moments to look at: two weeks of them (every recurring event
  repeats each day or each week) from the scenarios' start and from each fixed event's
  start and end.
- `during`: the game as the rules read it while a set runs: its cells and counts replaced
  (the IR is the same otherwise), for the static model of economy.py.
- `changes`: what a set changes in that model, case by case, in words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from rulesc.compiler import ir
from rulesc.compiler.irtext import value_text
from rulesc.pack_contract import DAY_MS, event_occurrence, event_runs

from .economy import Case, Model
from .scenarios import SCENARIO_EPOCH_MS

WEEK_MS = 7 * DAY_MS
MAX_EVENT_SETS = 12  # sets searched, at most (the smallest first)
MINUTE_MS = 60_000


def and_words(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def only_while(names: list[str]) -> str:
    """`only while harvest_festival runs`, `only while a and b run at once`."""
    if len(names) == 1:
        return f"only while {names[0]} runs"
    return f"only while {and_words(names)} run at once"


@dataclass(frozen=True)
class EventSet:
    events: tuple[ir.Event, ...]  # in declaration order
    moment: int  # the first moment (ms, UTC) from the scenarios' start when exactly these run

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]

    @property
    def words(self) -> str:
        return and_words(self.names)

    @property
    def only_while(self) -> str:
        return only_while(self.names)

    @property
    def wait_line(self) -> str:
        """The scenario step that moves the clock into the set's run."""
        when = dt.datetime.fromtimestamp(self.moment / 1000, dt.UTC)
        return "wait until " + when.strftime(
            "%Y-%m-%d" if when.hour == when.minute == 0 else "%Y-%m-%d %H:%M"
        )

    def to_json(self) -> dict:
        return {"events": self.names, "from": self.wait_line.removeprefix("wait until ")}


def _runs_in(event: ir.Event, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    t = start
    while t < end:
        run = event_occurrence(event.schedule, t)
        if run is None or run[0] >= end:
            break
        out.append(run)
        t = run[1]
    return out


def event_sets(game: ir.Game, after: int = SCENARIO_EPOCH_MS) -> tuple[list[EventSet], int]:
    """Every set of the game's events that runs (exactly those) at some moment at or after
    `after`, each with its first such moment on a whole minute, smallest sets first; and how
    many more sets there were past MAX_EVENT_SETS."""
    events = list(game.events)
    first = _first_moments(events, after)
    found = [
        EventSet(tuple(events[i] for i in key), t)
        for key, t in sorted(first.items(), key=lambda kv: (len(kv[0]), kv[0]))
        if key
    ]
    return found[:MAX_EVENT_SETS], max(0, len(found) - MAX_EVENT_SETS)


def quiet_moment(game: ir.Game, after: int = SCENARIO_EPOCH_MS) -> EventSet | None:
    """Where the game as declared is played: None when no event runs at `after` (the clock
    stays where scenarios start), else the empty set at the first minute none runs (None
    too if one always runs)."""
    events = list(game.events)
    if not any(event_runs(e.schedule, after) for e in events):
        return None
    t = _first_moments(events, after).get(())
    return None if t is None else EventSet((), t)


def _first_moments(events: list[ir.Event], after: int) -> dict[tuple[int, ...], int]:
    """Each set of events (by index) that runs at some moment from `after`, and the first
    such moment on a whole minute."""
    if not events:
        return {}
    # between two starts or ends of fixed events, recurring ones repeat every week: two weeks
    # from each such boundary (and from `after`) show every set there is
    boundaries = {after} | {
        max(after, t)
        for e in events
        if e.every_ms is None
        for t in (e.start_ms, e.start_ms + e.length_ms)
    }
    moments = set()
    for start, end in ((b, b + 2 * WEEK_MS) for b in sorted(boundaries)):
        moments.add(start)
        for e in events:
            for run in _runs_in(e, start, end):
                moments |= {t for t in run if start <= t < end}
    first: dict[tuple[int, ...], int] = {}
    for t in sorted(moments):
        if t < after or t % MINUTE_MS:
            continue  # a scenario waits until a whole minute
        running = tuple(i for i, e in enumerate(events) if event_runs(e.schedule, t))
        first.setdefault(running, t)
    return first


# ---- the game while a set runs


def during(game: ir.Game, events: tuple[ir.Event, ...]) -> ir.Game:
    """The game with what `events` set: their table cells and their limits' counts."""
    cells: dict[tuple[str, str, str], int | bool | str] = {}
    counts: dict[str, int] = {}
    for e in events:
        for o in e.overrides:
            if o.limit is not None:
                counts[o.limit] = int(o.value)
            else:
                assert o.table is not None and o.row is not None and o.column is not None
                cells[(o.table, o.row, o.column)] = o.value
    tables = tuple(_table(t, cells) for t in game.tables)
    actions = tuple(replace(a, body=_counted(a.body, counts)) for a in game.actions)
    return replace(game, tables=tables, actions=actions)


def _table(t: ir.Table, cells: dict) -> ir.Table:
    if not any(key[0] == t.name for key in cells):
        return t
    names = [c.name for c in t.columns]
    rows = tuple(
        (row, tuple(cells.get((t.name, row, names[i]), v) for i, v in enumerate(values)))
        for row, values in t.rows
    )
    return replace(t, rows=rows)


def _counted(body: tuple[ir.Stmt, ...], counts: dict[str, int]) -> tuple[ir.Stmt, ...]:
    out: list[ir.Stmt] = []
    for s in body:
        if isinstance(s, ir.Limit) and s.key in counts:
            s = replace(s, count=counts[s.key])
        elif isinstance(s, ir.When):
            s = replace(s, body=_counted(s.body, counts), otherwise=_counted(s.otherwise, counts))
        elif isinstance(s, ir.Pick):
            branches = tuple(replace(b, body=_counted(b.body, counts)) for b in s.branches)
            s = replace(s, branches=branches)
        elif ir.blocks(s):
            raise ir.UnhandledNode(s, "events._counted")  # a new statement holding blocks
        out.append(s)
    return tuple(out)


def override_words(game: ir.Game, o: ir.EventOverride) -> str:
    """`crop[wheat].sell 5 -> 8`, `limit daily_gift 1 -> 2 per day`: what it was and what it is."""
    if o.limit is not None:
        for a in game.actions:
            for s in ir.walk_statements(a.body):
                if isinstance(s, ir.Limit) and s.key == o.limit:
                    per = o.text.split(None, 3)[3] if len(o.text.split()) > 3 else ""
                    return f"limit {a.name} {s.count} -> {value_text(o.value)} {per}".rstrip()
        return o.text
    assert o.row is not None
    table = next(t for t in game.tables if t.name == o.table)
    col = next(i for i, c in enumerate(table.columns) if c.name == o.column)
    kind = table.columns[col].type.kind
    usual = dict(table.rows)[o.row][col]
    return f"{o.table}[{o.row}].{o.column} {value_text(usual, kind)} -> {value_text(o.value, kind)}"


# ---- what a set changes in the static model


def _flow_words(net: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{v:+d} {p}" for p, v in net) or "nothing"


def _keyed(model: Model) -> dict[tuple[str, int], Case]:
    """Cases by ident and rank among those of that ident (cases from different slot contents
    can read alike); both models list an action's cases in the same order."""
    out: dict[tuple[str, int], Case] = {}
    seen: dict[str, int] = {}
    for c in model.cases:
        n = seen.get(c.ident, 0)
        seen[c.ident] = n + 1
        out[(c.ident, n)] = c
    return out


def changes(usual: Model, now: Model) -> list[str]:
    """Each action case whose flow (or what bounds it) differs while the events run:
    `buy_seed(kind: wheat): -6 coins, +1 seed[wheat] -> -3 coins, +1 seed[wheat]`."""
    before, after = _keyed(usual), _keyed(now)
    out = []
    for key, c in after.items():
        old = before.get(key)
        if old is None:
            out.append(f"{c.ident}: possible only now, {_flow_words(c.net)}")
        elif old.net != c.net:
            out.append(f"{c.ident}: {_flow_words(old.net)} -> {_flow_words(c.net)}")
        elif old.bounds != c.bounds:
            out.append(f"{c.ident}: {'; '.join(old.bounds)} -> {'; '.join(c.bounds)}")
    out += [f"{key[0]}: not possible now" for key in before if key not in after]
    return out


def by_resource(usual: Model, now: Model) -> list[str]:
    """The sources and sinks of each resource that change while the events run, by action:
    `coins: given more by sell and market_order; taken less by buy_seed`."""
    before, after = _keyed(usual), _keyed(now)
    moves: dict[str, dict[str, list[str]]] = {}
    for key in list(after) + [k for k in before if k not in after]:
        old, new = before.get(key), after.get(key)
        was = dict(old.net) if old else {}
        now_net = dict(new.net) if new else {}
        case = new or old
        assert case is not None
        action = case.action
        for pool in sorted(set(was) | set(now_net)):
            if "(" in pool:
                continue  # a slot token, not a resource
            a, b = was.get(pool, 0), now_net.get(pool, 0)
            if a == b:
                continue
            if max(a, b) > 0:  # a source
                how = "given more by" if b > a else "given less by"
            else:  # a sink
                how = "taken less by" if b > a else "taken more by"
            names = moves.setdefault(pool, {}).setdefault(how, [])
            if action not in names:
                names.append(action)
    out = []
    for pool, hows in sorted(moves.items()):
        said = [f"{how} {and_words(names)}" for how, names in hows.items()]
        out.append(f"{pool}: {'; '.join(said)}")
    return out
