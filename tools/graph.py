"""`rulesc graph`: the economy as a flow graph in Graphviz DOT, read from the typed IR.

Resources are pools (ellipses; refilling meters are fed by a `time` source), slots
are boxes of their own, actions are converters (boxes) with their limits and
cooldowns written on them, tables are notes listing their rows (one note per row with
`rows=True`) with a dotted edge to each action that reads them. An edge into an action
is a cost, out of it a gain, labelled with the amount as the rules write it; edges
inside `when` or `pick` are dashed and say which branch. The edges of one action to one
pool are merged into one, labelled with the range of amounts (a draw of 25 branches is
one edge, not 25), and a branch that gains or costs nothing draws no edge. What players send each other goes to and comes from one
node, `other players`; a loot draw gains what its tables may give (dashed). Loops that
`rulesc explore` finds and confirms are red, those that pay only while scheduled events
run too, named with the events in the title.

What a scheduled `event` changes while it runs is written where it acts: on each edge whose
amount reads a table cell the event sets (`harvest_festival: crop[wheat].sell 4 -> 8`), on
the table's note (or the row's), and on the action for a limit's count or a cell it reads
elsewhere (a `require`, a `when`).

The text is deterministic: nodes and edges are sorted, nothing depends on time.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rulesc.compiler import ir
from rulesc.compiler.irtext import statement_text, text, value_text

from .economy import regen_text
from .events import override_words
from .loops import Loop

LOOP_COLOR = "#d62728"


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    label: str
    branch: str | None = None  # the `when` or draw this flow depends on
    style: str | None = None  # dotted: a set, not a flow
    amount: int | None = None  # a constant amount (a plain pool), for merged ranges


class GraphvizMissing(Exception):
    pass


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _res(name: str) -> str:
    return f"res:{name}"


def _act(name: str) -> str:
    return f"act:{name}"


PLAYERS = "players"  # the other players: where `give` goes, `take` comes from


def _slots(name: str) -> str:
    return f"slots:{name}"


def flows(action: ir.Action, loot: dict[str, ir.Loot] | None = None) -> list[Edge]:
    walk = _Flows(action, loot or {})
    walk.block(action.body, None)
    return walk.out


def _amount(a: ir.Amount) -> str:
    return f"{a.label} {text(a.amount)}" if a.key is not None else text(a.amount)


class _Flows(ir.StatementVisitor[None]):
    """Each statement's edges, under the branch (`when ...`, `draw 1 in 3`) it runs in."""

    def __init__(self, action: ir.Action, loot: dict[str, ir.Loot]) -> None:
        self.out: list[Edge] = []
        self.act = _act(action.name)
        self.tables = loot

    def drawn(self, name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """The resources a loot table (and those it draws from) may give."""
        if name in seen or name not in self.tables:
            return set()
        got: set[str] = set()
        for entry in self.tables[name].entries:
            for item in entry.items:
                got |= (
                    {item.resource} if item.resource else self.drawn(item.loot or "", seen | {name})
                )
        return got

    def block(self, body: tuple[ir.Stmt, ...], branch: str | None) -> None:
        for s in body:
            self.visit(s, branch)

    def visit_Cost(self, s: ir.Cost, branch: str | None) -> None:
        self.out.extend(
            Edge(_res(a.resource), self.act, _amount(a), branch, None, _constant(a))
            for a in s.amounts
            if _constant(a) != 0
        )

    def visit_Gain(self, s: ir.Gain, branch: str | None) -> None:
        self.out.extend(
            Edge(self.act, _res(a.resource), _amount(a), branch, None, _constant(a))
            for a in s.amounts
            if _constant(a) != 0
        )

    def visit_SetResource(self, s: ir.SetResource, branch: str | None) -> None:
        self.out.append(
            Edge(self.act, _res(s.resource), f"set {s.label} = {text(s.value)}", branch, "dotted")
        )

    def visit_Fill(self, s: ir.Fill, branch: str | None) -> None:
        self.out.append(Edge(self.act, _slots(s.slots), "replace" if s.replace else "fill", branch))

    def visit_Empty(self, s: ir.Empty, branch: str | None) -> None:
        self.out.append(Edge(_slots(s.slots), self.act, "empty", branch))

    def visit_SetSlotField(self, s: ir.SetSlotField, branch: str | None) -> None:
        self.out.append(Edge(self.act, _slots(s.slots), f"set {s.field}", branch, "dotted"))

    def visit_GainLoot(self, s: ir.GainLoot, branch: str | None) -> None:
        self.out.extend(
            Edge(self.act, _res(r), f"loot {s.loot}", branch, "dashed")
            for r in sorted(self.drawn(s.loot))
        )

    def visit_Give(self, s: ir.Give, branch: str | None) -> None:
        what = (
            f"loot {s.loot}"
            if s.loot
            else ", ".join(f"{a.label} {text(a.amount)}" for a in s.amounts)
        )
        self.out.append(Edge(self.act, PLAYERS, f"give {what}", branch))

    def visit_Take(self, s: ir.Take, branch: str | None) -> None:
        self.out.append(Edge(PLAYERS, self.act, f"take {s.label} up to {text(s.amount)}", branch))

    def visit_When(self, s: ir.When, branch: str | None) -> None:
        self.block(s.body, _join(branch, f"when {text(s.cond)}"))
        self.block(s.otherwise, _join(branch, f"otherwise (not {text(s.cond)})"))

    def visit_Pick(self, s: ir.Pick, branch: str | None) -> None:
        if s.chance is not None:  # `chance P %`: the block, and its `otherwise`
            amount = s.branches[0].weight_expr
            assert amount is not None
            said = f"chance {text(amount)}" + ("%" if s.chance == 100 else " per mille")
            self.block(s.branches[0].body, _join(branch, said))
            self.block(s.branches[1].body, _join(branch, f"otherwise (not {said})"))
            return
        if s.computed:  # weights computed when drawn: say them as written
            for b in s.branches:
                weight = text(b.weight_expr) if b.weight_expr is not None else str(b.weight)
                self.block(b.body, _join(branch, f"draw weighted {weight}"))
            return
        total = sum(b.weight for b in s.branches)
        for b in s.branches:
            self.block(b.body, _join(branch, f"draw {b.weight} in {total}"))

    def visit_Require(self, s: ir.Stmt, branch: str | None) -> None:
        pass  # moves nothing: no edge

    visit_Let = visit_Limit = visit_Cooldown = visit_Emit = visit_Require


def _constant(a: ir.Amount) -> int | None:
    """The amount when it is a number written in the rules (of a pool without a row)."""
    if isinstance(a.amount, ir.Const) and type(a.amount.value) is int and a.key is None:
        return a.amount.value
    return None


def merged(edges: list[Edge]) -> list[Edge]:
    """One edge per source, target and kind of line: the amounts of parallel edges (the
    branches of a draw, say) as a range, `3..20`, or listed, `a | b`; their branches
    counted."""
    groups: dict[tuple[str, str, str | None], list[Edge]] = {}
    for e in sorted(set(edges)):
        groups.setdefault((e.source, e.target, e.style), []).append(e)
    out = []
    for (source, target, style), group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        amounts = [e.amount for e in group]
        if all(a is not None for a in amounts):
            lo, hi = (
                min(a for a in amounts if a is not None),
                max(a for a in amounts if a is not None),
            )
            label = value_text(lo) if lo == hi else f"{value_text(lo)}..{value_text(hi)}"
        else:
            label = " | ".join(dict.fromkeys(e.label for e in group))
        branches = [e.branch for e in group]
        branch = None if None in branches else f"in {len(set(branches))} branches"
        out.append(Edge(source, target, label, branch, style))
    return out


def table_readers(game: ir.Game) -> list[tuple[str, str]]:
    """(table, action) for each action that reads a table: a parameter of its rows, a
    `table[row].column`, or a pool counted per row."""
    keyed = {r.name: r.key for r in game.resources if r.key}
    names = {t.name for t in game.tables}
    out = set()
    for a in game.actions:
        used = {p.type.name for p in a.params if p.type.kind == "enum"}
        for n in ir.nodes(a.body):
            if isinstance(n, ir.TableGet):
                used.add(n.table)
            if isinstance(n, ir.Amount | ir.ResourceRead) and n.resource in keyed:
                used.add(keyed[n.resource])
        out |= {(t, a.name) for t in used if t in names}
    return sorted(out)


# a table's rows listed this many to a line in its node
ROWS_PER_LINE = 6


def _table_label(t: ir.Table) -> str:
    rows = [r for r, _ in t.rows]
    lines = [", ".join(rows[i : i + ROWS_PER_LINE]) for i in range(0, len(rows), ROWS_PER_LINE)]
    head = f"{t.name}: {len(rows)} row{'s' * (len(rows) != 1)}"
    columns = ", ".join(c.name for c in t.columns)
    return "\n".join([head, f"({columns})", *lines])


def _row_label(t: ir.Table, row: str, values: tuple) -> str:
    cells = ", ".join(f"{c.name} {value_text(v)}" for c, v in zip(t.columns, values, strict=False))
    return f"{t.name} {row}\n{cells}"


def _join(outer: str | None, inner: str) -> str:
    return inner if outer is None else f"{outer}; {inner}"


def _resource_label(r: ir.Resource, game: ir.Game) -> str:
    kind = r.kind + (f" per {r.key}" if r.key else "")
    parts = [
        r.name,
        f"{kind}, start {value_text(r.start)}"
        + (f", max {value_text(r.max)}" if r.max is not None else ""),
    ]
    if r.regen:
        parts.append(f"refills {regen_text(r)}")
    if game.level is not None and game.level.stat == r.name:
        parts.append("level at " + ", ".join(value_text(t) for t in game.level.thresholds))
    return "\n".join(parts)


def _action_label(a: ir.Action) -> str:
    head = f"{a.name}({', '.join(p.name for p in a.params)})" if a.params else a.name
    checks = [statement_text(s.loc) for s in a.body if isinstance(s, ir.Limit | ir.Cooldown)]
    return "\n".join([head, *checks])


def _hot(style: str) -> str:
    return f', color="{LOOP_COLOR}", fontcolor="{LOOP_COLOR}", penwidth=2.5, style="{style}"'


def loop_nodes(loop: Loop) -> set[str]:
    """The nodes a loop runs through: its actions, and the pools and slots they move."""
    out = {_act(c.action) for c, _ in loop.steps} | {_act(c.action) for c in loop.setup}
    for c, _ in loop.steps:
        for pool, _ in c.net:
            if "(" in pool:
                out.add(_slots(pool.split("(")[0]))
            else:
                out.add(_res(pool.split("[")[0]))
    return out


def _table(name: str) -> str:
    return f"table:{name}"


@dataclass
class EventNotes:
    """What scheduled events change, as lines to add to labels: by edge (source, target), by
    action node, by table and by table row."""

    edges: dict[tuple[str, str], list[str]]
    actions: dict[str, list[str]]
    tables: dict[str, list[str]]
    rows: dict[tuple[str, str], list[str]]


def _cells_read(exprs: list[object], lets: dict[str, ir.Expr]) -> list[ir.TableGet]:
    """The table reads in expressions, through the `let`s they use."""
    out: list[ir.TableGet] = []
    seen: set[str] = set()
    todo = list(exprs)
    while todo:
        for n in ir.nodes(todo.pop()):
            if isinstance(n, ir.TableGet):
                out.append(n)
            elif isinstance(n, ir.LocalRef) and n.name in lets and n.name not in seen:
                seen.add(n.name)
                todo.append(lets[n.name])
    return out


def _edge_exprs(s: ir.Stmt, act: str) -> list[tuple[tuple[str, str], list[object]]]:
    """The edges a statement draws, with the expressions behind each."""
    if isinstance(s, ir.Cost):
        return [((_res(a.resource), act), [a.key, a.amount]) for a in s.amounts]
    if isinstance(s, ir.Gain):
        return [((act, _res(a.resource)), [a.key, a.amount]) for a in s.amounts]
    if isinstance(s, ir.SetResource):
        return [((act, _res(s.resource)), [s.key, s.value])]
    if isinstance(s, ir.Fill):
        return [((act, _slots(s.slots)), [v for _, v in s.values])]
    if isinstance(s, ir.SetSlotField):
        return [((act, _slots(s.slots)), [s.value])]
    if isinstance(s, ir.Give):
        return [((act, PLAYERS), [x for a in s.amounts for x in (a.key, a.amount)])]
    if isinstance(s, ir.Take):
        return [((PLAYERS, act), [s.key, s.amount])]
    return []


def event_notes(game: ir.Game) -> EventNotes:
    notes = EventNotes({}, {}, {}, {})
    cells = [
        (e, o) for e in game.events for o in e.overrides if o.table is not None
    ]  # (event, override of a cell)
    counts = {o.limit: (e, o) for e in game.events for o in e.overrides if o.limit is not None}

    def said(e: ir.Event, o: ir.EventOverride) -> str:
        return f"{e.name}: {override_words(game, o)}"

    def matching(reads: list[ir.TableGet]) -> list[str]:
        return [
            said(e, o)
            for e, o in cells
            for r in reads
            if (r.table, r.column) == (o.table, o.column)
            and (not isinstance(r.key, ir.Const) or r.key.value == o.row)
        ]

    for e, o in cells:
        assert o.table is not None and o.row is not None
        notes.tables.setdefault(o.table, []).append(said(e, o))
        notes.rows.setdefault((o.table, o.row), []).append(said(e, o))
    for a in game.actions:
        act = _act(a.name)
        body = list(ir.walk_statements(a.body))
        lets = {s.name: s.value for s in body if isinstance(s, ir.Let)}
        on_edges: set[str] = set()
        for s in body:
            for edge, exprs in _edge_exprs(s, act):
                found = matching(_cells_read(exprs, lets))
                on_edges |= set(found)
                if found:
                    notes.edges.setdefault(edge, []).extend(found)
        elsewhere = [n for n in matching(_cells_read([a.body], lets)) if n not in on_edges]
        limits = [counts[s.key] for s in body if isinstance(s, ir.Limit) and s.key in counts]
        found = [said(e, o) for e, o in limits] + elsewhere
        if found:
            notes.actions[act] = found
    for table in (notes.edges, notes.actions, notes.tables, notes.rows):
        for key, lines in table.items():
            table[key] = list(dict.fromkeys(lines))  # type: ignore[index]
    return notes


def _noted(label: str, lines: list[str] | None) -> str:
    return "\n".join([label, *lines]) if lines else label


def to_dot(
    game: ir.Game,
    loops: list[Loop] | None = None,
    *,
    rows: bool = False,
    event_loops: list[tuple[Loop, str]] | None = None,
) -> str:
    """The graph; `event_loops`: loops that pay only while events run, with the words
    saying which (`only while harvest_festival runs`)."""
    said: list[tuple[Loop, str | None]] = [(lp, None) for lp in loops or []]
    said += list(event_loops or [])
    loops = [lp for lp, _ in said]
    per_loop = [loop_nodes(lp) for lp in loops]
    hot_nodes = set().union(*per_loop) if per_loop else set()
    notes = event_notes(game)

    lines = [f"digraph {_quote(game.id)} {{"]
    title = f"{game.title} ({game.id}): the economy"
    if loops:
        title += "\nloops found by rulesc explore (red): " + "; ".join(
            f"{' -> '.join(lp.actions)} (+{', +'.join(f'{value_text(v)} {p}' for p, v in lp.gained)} a turn"
            + (f", {words})" if words else ")")
            for lp, words in said
        )
    if game.events:
        title += "\nscheduled events (their changes are noted where they act): " + "; ".join(
            f"{e.name} {e.when}" for e in game.events
        )
    lines += [
        f"  graph [rankdir=TB, labelloc=t, fontname=Helvetica, fontsize=14, label={_quote(title)}];",
        "  node [fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=9];",
        "",
        "  // resources: pools; refilling meters are fed by time",
    ]
    meters = [r for r in game.resources if r.regen]
    if meters:
        lines.append('  "time" [shape=circle, style=filled, fillcolor="#eeeeee", label="time"];')
    for r in sorted(game.resources, key=lambda r: r.name):
        node = _res(r.name)
        double = "peripheries=2, " if r.regen else ""
        extra = _hot("bold") if node in hot_nodes else ""
        lines.append(
            f"  {_quote(node)} [shape=ellipse, {double}label={_quote(_resource_label(r, game))}{extra}];"
        )
    if game.slots:
        lines += ["", "  // slots: each holds something or nothing"]
    for s in sorted(game.slots, key=lambda s: s.name):
        node = _slots(s.name)
        label = f"{s.name}: {s.count} slots\n" + ", ".join(f.name for f in s.fields)
        extra = _hot("bold") if node in hot_nodes else ""
        lines.append(f"  {_quote(node)} [shape=box3d, label={_quote(label)}{extra}];")
    lines += ["", "  // actions: converters, with their limits and cooldowns"]
    for a in sorted(game.actions, key=lambda a: a.name):
        node = _act(a.name)
        extra = _hot("bold,rounded") if node in hot_nodes else ', style="rounded"'
        label = _noted(_action_label(a), notes.actions.get(node))
        lines.append(f"  {_quote(node)} [shape=box{extra}, label={_quote(label)}];")
    readers = table_readers(game)
    if readers:
        lines += ["", "  // tables: the rows actions read" + (", one node a row" if rows else "")]
    tables = {t.name: t for t in game.tables}
    for name in sorted({t for t, _ in readers}):
        t = tables[name]
        if rows:
            for row, values in t.rows:
                label = _quote(_noted(_row_label(t, row, values), notes.rows.get((name, row))))
                lines.append(f"  {_quote(_table(name) + ':' + row)} [shape=note, label={label}];")
        else:
            label = _quote(_noted(_table_label(t), notes.tables.get(name)))
            lines.append(f"  {_quote(_table(name))} [shape=note, label={label}];")
    loot = {lt.name: lt for lt in game.loot}
    edges = sorted(merged([e for a in game.actions for e in flows(a, loot)]))
    if any(PLAYERS in (e.source, e.target) for e in edges):
        lines += ["", "  // the other players: what actions send them and take from them"]
        lines.append(f'  {_quote(PLAYERS)} [shape=doublecircle, label="other players"];')
    lines += ["", "  // flows: costs into actions, gains out of them"]
    for r in sorted(meters, key=lambda r: r.name):
        lines.append(
            f'  "time" -> {_quote(_res(r.name))} [label={_quote("+" + regen_text(r))}, style=dashed];'
        )
    for name, action in readers:
        sources = [f"{_table(name)}:{r}" for r, _ in tables[name].rows] if rows else [_table(name)]
        for source in sources:
            target = _quote(_act(action))
            lines.append(f"  {_quote(source)} -> {target} [style=dotted, arrowhead=none];")
    for e in edges:
        label = _noted(
            e.label + (f"\n({e.branch})" if e.branch else ""), notes.edges.get((e.source, e.target))
        )
        attrs = [f"label={_quote(label)}"]
        if e.style or e.branch:
            attrs.append(f"style={e.style or 'dashed'}")
        if any(e.source in nodes and e.target in nodes for nodes in per_loop):
            attrs.append(f'color="{LOOP_COLOR}", fontcolor="{LOOP_COLOR}", penwidth=2.5')
        lines.append(f"  {_quote(e.source)} -> {_quote(e.target)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: str, fmt: str, out: Path) -> None:
    """Draw DOT text as svg or png with Graphviz's `dot` program."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"--format {fmt} needs Graphviz's `dot` program, which is not installed. "
            "Install it (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
            "or use --format dot and render the text elsewhere."
        )
    proc = subprocess.run(
        [exe, f"-T{fmt}", "-o", str(out)], input=dot.encode(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
