"""The economy as a flow model, read from the typed IR: actions as converters.

Each action is split into *cases*: one per table row of an enum parameter, per
representative value of an int parameter (its bounds, and the numbers its rules
compare or divide it by), per `when` branch the rules cannot decide statically,
and per content of a slot it works on. A case says what one run of the action
costs and gains, by pool:

- a resource pool: `coins`, `seed[wheat]`;
- a slot token: `field(crop=wheat)`, one filled slot of that content, so that
  "build, then demolish for a refund" is a flow like any other.

Amounts that depend on the player's state (`min(level, 4) * 5`) are taken at their
best for the player; a `pick one` counts as its worst draw for each pool, so a loop
found here gains whatever is drawn. A case is *bounded* when time limits it: a
`limit`, a `cooldown`, a cost in a meter that refills over time, or a `require` that
waits for a time to come. The explorer only reports what it has replayed on the
compiled pack, so the approximations here cost precision, never a false report.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from rulesc.compiler import ir
from rulesc.compiler import types as T
from rulesc.compiler.irtext import statement_text, text, value_text

MAX_INT_VALUES = 16  # representative values per int parameter
MAX_CASES_PER_ACTION = 4000


@dataclass(frozen=True, slots=True)
class Range:
    """An int (or duration, or time) known only to lie in lo..hi; None is unbounded."""

    lo: int | None
    hi: int | None


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()  # a bool or a row the rules cannot tell without the player's state
Value = int | bool | str | Range | _Unknown | None


class Infeasible(Exception):
    """This case cannot happen: a require fails, or the pack would reject it."""


@dataclass(frozen=True, slots=True)
class Case:
    action: str
    params: tuple[tuple[str, int | bool | str], ...]  # in declared order; slot numbers left out
    slot_params: tuple[str, ...]  # slot-number parameters: any free slot will do, chosen on replay
    choices: tuple[str, ...]  # the `when` branches this case takes, in words
    net: tuple[tuple[str, int], ...]  # pool -> change, nonzero, sorted
    costs: tuple[tuple[str, int], ...]
    gains: tuple[tuple[str, int], ...]
    needs: tuple[str, ...]  # slot tokens it reads and leaves as they were
    bounds: tuple[str, ...]  # why time limits it; empty: nothing does
    notes: tuple[str, ...]  # approximations made for this case
    pin: int | None  # the draw to pin on a replay: the worst for the player
    opaque: str | None = None  # why its flow cannot be modelled (then it is left out)

    @property
    def flow(self) -> dict[str, int]:
        return dict(self.net)

    @property
    def call(self) -> str:
        """How a scenario writes it, less the slot numbers: `buy_ore(qty: 2)`."""
        if not self.params:
            return self.action
        return f"{self.action}({', '.join(f'{k}: {value_text(v)}' for k, v in self.params)})"

    @property
    def ident(self) -> str:
        extra = f" [{'; '.join(self.choices)}]" if self.choices else ""
        needs = f" {{{', '.join(self.needs)}}}" if self.needs else ""
        return self.call + extra + needs


@dataclass
class Model:
    game: ir.Game
    cases: list[Case]
    tokens: set[str]  # pools that are slot tokens, not resources
    meters: dict[str, str]  # refilling meter -> "1 every 3m"
    skipped: list[str] = field(default_factory=list)  # cases left out, and why


def regen_text(r: ir.Resource) -> str:
    assert r.regen is not None
    return f"{r.regen[0]} every {value_text(r.regen[1], 'duration')}"


def build_model(game: ir.Game) -> Model:
    meters = {r.name: regen_text(r) for r in game.resources if r.regen}
    model = Model(game, [], set(), meters)
    walker = _Walker(game)
    for action in game.actions:
        if any(p.type == T.PLAYER for p in action.params):
            # the model is of one player's economy: what players do to each other is not in it
            model.skipped.append(f"{action.name}: acts on another player")
            continue
        cases, skipped = walker.action_cases(action)
        model.cases.extend(cases)
        model.skipped.extend(skipped)
        for c in cases:
            model.tokens.update(p for p, _ in c.net if "(" in p)
            model.tokens.update(c.needs)
    return model


# ---- parameters ------------------------------------------------------------------


def int_values(action: ir.Action, p: ir.Param) -> list[int]:
    """Representative values: the bounds, and each number the rules use, with its neighbours.

    Costs linear in the value only need the bounds; discounts by thresholds or by
    division (`qty / 10`) change at the numbers written in the rules.
    """
    assert p.lo is not None and p.hi is not None
    lo, hi = p.lo, p.hi
    if hi - lo < MAX_INT_VALUES:
        return list(range(lo, hi + 1))
    picks = [lo, lo + 1, hi - 1, hi]
    for n in ir.nodes(action.body):
        if isinstance(n, ir.Const) and n.type.kind == "int" and isinstance(n.value, int):
            picks += [n.value, n.value - 1, n.value + 1, 2 * n.value]
    inside = [v for v in dict.fromkeys(picks) if lo <= v <= hi]
    return sorted(inside[:MAX_INT_VALUES])


def param_values(game: ir.Game, action: ir.Action, p: ir.Param) -> list[Value]:
    kind = p.type.kind
    if kind == "enum":
        table = next(t for t in game.tables if t.name == p.type.name)
        return [row for row, _ in table.rows]
    if kind == "bool":
        return [False, True]
    if kind == "slot_index":
        return [Range(p.lo, p.hi)]
    if kind == "int":
        return list(int_values(action, p))
    return [UNKNOWN]


def value_count(game: ir.Game, p: ir.Param) -> int:
    """How many values a parameter can take."""
    if p.type.kind == "enum":
        return len(next(t for t in game.tables if t.name == p.type.name).rows)
    if p.type.kind == "bool":
        return 2
    if p.lo is not None and p.hi is not None:
        return p.hi - p.lo + 1
    return 1


# ---- one path through an action ----------------------------------------------------


@dataclass
class _Path:
    params: dict[str, Value]
    local: dict[str, Value] = field(default_factory=dict)
    slots: dict[str, dict | None] = field(
        default_factory=dict
    )  # slots name -> tracked fields, or None
    costs: dict[str, int] = field(default_factory=dict)
    gains: dict[str, int] = field(default_factory=dict)
    bounds: list[str] = field(default_factory=list)
    choices: tuple[str, ...] = ()
    draws: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)
    opaque: str | None = None

    def fork(self) -> _Path:
        return replace(
            self,
            local=dict(self.local),
            slots=dict(self.slots),
            costs=dict(self.costs),
            gains=dict(self.gains),
            bounds=list(self.bounds),
            notes=list(self.notes),
        )


class _Walker(ir.StatementVisitor[list[_Path]]):
    def __init__(self, game: ir.Game) -> None:
        self.game = game
        self.tables = {t.name: t for t in game.tables}
        self.resources = {r.name: r for r in game.resources}
        self.slots = {s.name: s for s in game.slots}
        self.levels = len(game.level.thresholds) if game.level else 1

    # -- cases

    def action_cases(self, action: ir.Action) -> tuple[list[Case], list[str]]:
        touched, why = self.touched_slots(action)
        choices = [param_values(self.game, action, p) for p in action.params]
        contents = [self.contents(name) for name in touched]
        combos: list[tuple[Any, ...]] = list(itertools.product(*choices, *contents))
        if len(combos) > MAX_CASES_PER_ACTION:
            return [], [f"{action.name}: too many cases ({len(combos)}) to model"]
        out: list[Case] = []
        skipped: list[str] = []
        for combo in combos:
            params: dict[str, Value] = dict(
                zip((p.name for p in action.params), combo, strict=False)
            )
            start: dict[str, dict | None] = dict(
                zip(touched, combo[len(action.params) :], strict=True)
            )
            path = _Path(params=params, slots=dict(start))
            if why:
                path.opaque = why
            paths = self.block(action.body, [path])
            for case in self.cases_from(action, params, start, paths):
                if case.opaque:
                    skipped.append(f"{case.ident}: {case.opaque}")
                else:
                    out.append(case)
        return out, sorted(set(skipped))

    def touched_slots(self, action: ir.Action) -> tuple[list[str], str | None]:
        """The slots an action works on; it must use one slot of each (else it is opaque)."""
        index: dict[str, set[str]] = {}
        for n in ir.nodes(action.body):
            if isinstance(
                n,
                ir.IsFilled | ir.SlotRead | ir.SlotFieldRead | ir.Fill | ir.Empty | ir.SetSlotField,
            ):
                index.setdefault(n.slots, set()).add(text(n.index))
        many = [name for name, idx in sorted(index.items()) if len(idx) > 1]
        why = f"works on more than one {many[0]} slot at once" if many else None
        return sorted(index), why

    def contents(self, slots: str) -> list[dict | None]:
        """Every content the explorer tells apart: empty, or each mix of enum and bool fields."""
        tracked = [f for f in self.slots[slots].fields if f.type.kind in ("enum", "bool")]
        options: list[list[bool] | list[str]] = []
        for f in tracked:
            if f.type.kind == "bool":
                options.append([False, True])
            else:
                options.append([row for row, _ in self.tables[f.type.name or ""].rows])
        filled = [
            dict(zip((f.name for f in tracked), combo, strict=True))
            for combo in itertools.product(*options)
        ]
        return [None, *filled]

    def cases_from(
        self, action: ir.Action, params: dict, start: dict, paths: list[_Path]
    ) -> list[Case]:
        """Paths that differ only by their draws become one case: the worst of the draws."""
        groups: dict[tuple[str, ...], list[_Path]] = {}
        for p in paths:
            groups.setdefault(p.choices, []).append(
                p
            )  # a draw is never chosen, even where it leaves a slot
        shown = tuple(
            (p.name, params[p.name]) for p in action.params if p.type.kind != "slot_index"
        )
        slot_params = tuple(p.name for p in action.params if p.type.kind == "slot_index")
        out = []
        for choices, group in sorted(groups.items()):
            nets = [self.path_net(p, start) for p in group]
            pools = sorted({k for n in nets for k in n})
            net = {k: min(n.get(k, 0) for n in nets) for k in pools}
            costs = {
                k: max(p.costs.get(k, 0) for p in group)
                for k in sorted({k for p in group for k in p.costs})
            }
            gains = {
                k: min(p.gains.get(k, 0) for p in group)
                for k in sorted({k for p in group for k in p.gains})
            }
            notes = sorted({n for p in group for n in p.notes})
            if len(group) > 1:
                notes.append(
                    f"a draw counts as its worst branch for each resource ({len(group)} outcomes)"
                )
            needs = sorted(
                self.token(name, start[name])
                for name in start
                if start[name] is not None and all(p.slots.get(name) == start[name] for p in group)
            )
            out.append(
                Case(
                    action=action.name,
                    params=shown,
                    slot_params=slot_params,
                    choices=choices,
                    net=tuple((k, v) for k, v in net.items() if v != 0),
                    costs=tuple((k, v) for k, v in costs.items() if v),
                    gains=tuple((k, v) for k, v in gains.items() if v),
                    needs=tuple(needs),
                    bounds=tuple(sorted({b for p in group for b in p.bounds})),
                    notes=tuple(notes),
                    pin=self.worst_pin(group, nets),
                    opaque=next((p.opaque for p in group if p.opaque), None),
                )
            )
        return out

    def worst_pin(self, group: list[_Path], nets: list[dict[str, int]]) -> int | None:
        """The branch number to pin on a replay: every draw takes it, and it gains the least."""
        if not any(p.draws for p in group):
            return None
        options = [
            (sum(v for k, v in n.items() if "(" not in k), p.draws[0] + 1)
            for p, n in zip(group, nets, strict=True)
            if p.draws and len(set(p.draws)) == 1
        ]
        return min(options)[1] if options else 1

    def token(self, slots: str, content: dict) -> str:
        inner = ",".join(f"{k}={value_text(v)}" for k, v in content.items())
        return f"{slots}({inner})"

    def path_net(self, p: _Path, start: dict) -> dict[str, int]:
        net: dict[str, int] = {}
        for k, v in p.costs.items():
            net[k] = net.get(k, 0) - v
        for k, v in p.gains.items():
            net[k] = net.get(k, 0) + v
        for name, before in start.items():
            after = p.slots.get(name)
            if before == after:
                continue
            if before is not None:
                tok = self.token(name, before)
                net[tok] = net.get(tok, 0) - 1
            if after is not None:
                tok = self.token(name, after)
                net[tok] = net.get(tok, 0) + 1
        return net

    # -- statements

    def block(self, body: tuple[ir.Stmt, ...], paths: list[_Path]) -> list[_Path]:
        for stmt in body:
            nxt: list[_Path] = []
            for p in paths:
                if p.opaque:
                    nxt.append(p)
                    continue
                with contextlib.suppress(Infeasible):  # a case that cannot happen is dropped
                    nxt.extend(self.stmt(stmt, p))
            paths = nxt
        return paths

    def stmt(self, s: ir.Stmt, p: _Path) -> list[_Path]:
        """The paths a statement leads to from `p`."""
        return self.visit(s, p)

    def visit_Require(self, s: ir.Require, p: _Path) -> list[_Path]:
        if self.eval(s.cond, p) is False:
            raise Infeasible
        wait = _waits_for(s.cond)
        if wait:
            p.bounds.append(f"waits until {wait}")
        return [p]

    def visit_Cost(self, s: ir.Cost, p: _Path) -> list[_Path]:
        for a in s.amounts:
            self.cost(a, p)
        return [p]

    def visit_Gain(self, s: ir.Gain, p: _Path) -> list[_Path]:
        for a in s.amounts:
            self.gain(a, p)
        return [p]

    def visit_Let(self, s: ir.Let, p: _Path) -> list[_Path]:
        p.local[s.name] = self.eval(s.value, p)
        return [p]

    def visit_Limit(self, s: ir.Limit | ir.Cooldown, p: _Path) -> list[_Path]:
        p.bounds.append(statement_text(s.loc))
        return [p]

    visit_Cooldown = visit_Limit

    def visit_SetResource(self, s: ir.SetResource, p: _Path) -> list[_Path]:
        p.opaque = f"sets {s.label} to a value that depends on the player's state"
        return [p]

    def visit_Fill(self, s: ir.Fill | ir.Empty | ir.SetSlotField, p: _Path) -> list[_Path]:
        self.slot_change(s, p)
        return [p]

    visit_Empty = visit_SetSlotField = visit_Fill

    def visit_Emit(self, s: ir.Emit, p: _Path) -> list[_Path]:
        return [p]

    def visit_When(self, s: ir.When, p: _Path) -> list[_Path]:
        cond = self.eval(s.cond, p)
        if cond is True:
            return self.block(s.body, [p])
        if cond is False:
            return self.block(s.otherwise, [p])
        yes, no = p.fork(), p.fork()
        yes.choices += (f"when {text(s.cond)}",)
        no.choices += (f"otherwise (not {text(s.cond)})",)
        return self.block(s.body, [yes]) + self.block(s.otherwise, [no])

    def visit_Pick(self, s: ir.Pick, p: _Path) -> list[_Path]:
        out = []
        for i, branch in enumerate(s.branches):
            q = p.fork()
            q.draws += (i,)
            out.extend(self.block(branch.body, [q]))
        return out

    def visit_GainLoot(self, s: ir.GainLoot, p: _Path) -> list[_Path]:
        return self.loot(s.loot, [p])

    def visit_Give(self, s: ir.Give | ir.Take, p: _Path) -> list[_Path]:
        # build_model leaves out actions with a `player` parameter, and only those give or take
        p.opaque = "acts on another player"
        return [p]

    visit_Take = visit_Give

    def loot(self, name: str, paths: list[_Path]) -> list[_Path]:
        """A draw from a loot table: a path per entry, as a `pick one` (nested tables too)."""
        table = next(t for t in self.game.loot if t.name == name)
        out = []
        for p in paths:
            for i, entry in enumerate(table.entries):
                q = p.fork()
                q.draws += (i,)
                for item in entry.items:
                    if item.resource is not None:
                        key = (
                            ir.Const(item.key, T.enum(self.resources[item.resource].key or ""))
                            if item.key
                            else None
                        )
                        label = (
                            item.resource if item.key is None else f"{item.resource}[{item.key}]"
                        )
                        self.gain(
                            ir.Amount(item.resource, key, ir.Const(item.amount, T.INT), label), q
                        )
                nested = [q]
                for item in entry.items:
                    if item.loot is not None:
                        nested = self.loot(item.loot, nested)
                out.extend(nested)
        return out

    def place(self, resource: str, key: ir.Expr | None, p: _Path) -> str | None:
        if key is None:
            return resource
        k = self.eval(key, p)
        return f"{resource}[{k}]" if isinstance(k, str) else None

    def cost(self, a: ir.Amount, p: _Path) -> None:
        pool = self.place(a.resource, a.key, p)
        if pool is None:
            p.opaque = f"which {a.resource} it costs depends on the player's state"
            return
        v = self.eval(a.amount, p)
        if isinstance(v, Range):
            low = max(v.lo or 0, 0)
            if v.lo is None or v.lo != v.hi:
                p.notes.append(f"cost {a.label} taken at its lowest ({low})")
            v = low
        if not isinstance(v, int) or isinstance(v, bool):
            p.opaque = f"cost {a.label} cannot be told"
            return
        if v < 0:
            raise Infeasible  # the pack rejects a negative cost
        if v == 0:
            return
        p.costs[pool] = p.costs.get(pool, 0) + v
        meter = self.resources[a.resource]
        if meter.regen:
            p.bounds.append(f"costs {a.resource}, a meter that refills {regen_text(meter)}")

    def gain(self, a: ir.Amount, p: _Path) -> None:
        pool = self.place(a.resource, a.key, p)
        if pool is None:
            p.opaque = f"which {a.resource} it gives depends on the player's state"
            return
        v = self.eval(a.amount, p)
        if isinstance(v, Range):
            if v.hi is None:
                p.opaque = f"gain {a.label} {text(a.amount)} depends on the player's state"
                return
            if v.lo != v.hi:
                p.notes.append(f"gain {a.label} taken at its highest ({v.hi})")
            v = v.hi
        if not isinstance(v, int) or isinstance(v, bool):
            p.opaque = f"gain {a.label} cannot be told"
            return
        if v < 0:
            raise Infeasible
        if v:
            p.gains[pool] = p.gains.get(pool, 0) + v

    def slot_change(self, s: ir.Fill | ir.Empty | ir.SetSlotField, p: _Path) -> None:
        tracked = {f.name for f in self.slots[s.slots].fields if f.type.kind in ("enum", "bool")}
        if isinstance(s, ir.Empty):
            p.slots[s.slots] = None
            return
        if isinstance(s, ir.Fill):
            if not s.replace and p.slots.get(s.slots) is not None:
                raise Infeasible  # `fill` into a filled slot is refused (slot_busy)
            content = {}
            for name, expr in s.values:
                if name in tracked:
                    content[name] = self.eval(expr, p)
            if any(v is UNKNOWN or isinstance(v, Range) for v in content.values()):
                p.opaque = f"fills {s.slots} with contents that depend on the player's state"
            p.slots[s.slots] = content
            return
        current = p.slots.get(s.slots)
        if current is None:
            raise Infeasible  # setting a field of an empty slot is rejected
        if s.field in tracked:
            v = self.eval(s.value, p)
            if v is UNKNOWN or isinstance(v, Range):
                p.opaque = f"sets {s.slots}.{s.field} to a value that depends on the player's state"
            p.slots[s.slots] = {**current, s.field: v}

    # -- expressions: concrete where the case decides them, ranges or UNKNOWN otherwise

    def eval(self, e: ir.Expr, p: _Path) -> Value:  # noqa: C901 - one branch per node kind
        if isinstance(e, ir.Const):
            return e.value
        if isinstance(e, ir.ParamRef):
            return p.params.get(e.name, UNKNOWN)
        if isinstance(e, ir.LocalRef):
            return p.local.get(e.name, UNKNOWN)
        if isinstance(e, ir.ResourceRead):
            r = self.resources[e.resource]
            return Range(0, r.max)
        if isinstance(e, ir.LevelRead):
            return Range(1, self.levels)
        if isinstance(e, ir.Now):
            return Range(None, None)
        if isinstance(e, ir.CalendarRead):  # moves with time, as `now`
            return UNKNOWN if e.part == "period" else Range(None, None)
        if isinstance(e, ir.Member):
            return UNKNOWN
        if isinstance(e, ir.SlotRead):
            return UNKNOWN
        if isinstance(e, ir.IsFilled):
            if e.slots not in p.slots:
                return UNKNOWN
            return (p.slots[e.slots] is not None) == e.filled
        if isinstance(e, ir.SlotFieldRead):
            content = p.slots.get(e.slots)
            if e.slots in p.slots and content is None:
                raise Infeasible  # reading a field of an empty slot is rejected
            if content is not None and e.field in content:
                return content[e.field]
            return Range(None, None) if e.type.kind in ("int", "duration", "time") else UNKNOWN
        if isinstance(e, ir.TableGet):
            return self.table_get(e, p)
        if isinstance(e, ir.KeyPair):  # one keyed resource: the pool `produce[wheat, gold]`
            first, second = self.eval(e.first, p), self.eval(e.second, p)
            both = isinstance(first, str) and isinstance(second, str)
            return f"{first}, {second}" if both else UNKNOWN
        if isinstance(e, ir.Arith):
            return _arith(e.op, self.eval(e.left, p), self.eval(e.right, p))
        if isinstance(e, ir.CeilDiv):
            return _arith("ceil/", self.eval(e.left, p), self.eval(e.right, p))
        if isinstance(e, ir.Neg):
            return _arith("-", 0, self.eval(e.operand, p))
        if isinstance(e, ir.MinMax):
            return _minmax(e.func, [self.eval(a, p) for a in e.args])
        if isinstance(e, ir.Compare):
            return _compare(e.op, self.eval(e.left, p), self.eval(e.right, p))
        if isinstance(e, ir.Not):
            v = self.eval(e.operand, p)
            return (not v) if isinstance(v, bool) else UNKNOWN
        if isinstance(e, ir.Logic):
            values = [self.eval(i, p) for i in e.items]
            decisive = e.op == "or"  # True decides an `or`, False an `and`
            if any(v is decisive for v in values):
                return decisive
            return (not decisive) if all(isinstance(v, bool) for v in values) else UNKNOWN
        raise AssertionError(f"cannot evaluate {e!r}")

    def table_get(self, e: ir.TableGet, p: _Path) -> Value:
        table = self.tables[e.table]
        col = [c.name for c in table.columns].index(e.column)
        key = self.eval(e.key, p)
        if isinstance(key, str):
            return dict(table.rows)[key][col]
        cells = [values[col] for _, values in table.rows]
        numbers = [c for c in cells if isinstance(c, int) and not isinstance(c, bool)]
        if len(numbers) == len(cells):
            return Range(min(numbers), max(numbers))
        return UNKNOWN


def _waits_for(cond: ir.Expr) -> str | None:
    """`now >= X` (or `X <= now`, also inside an `and`): the action waits for X to come."""
    items = cond.items if isinstance(cond, ir.Logic) and cond.op == "and" else (cond,)
    for c in items:
        if isinstance(c, ir.Compare):
            if isinstance(c.left, ir.Now) and c.op in (">=", ">"):
                return text(c.right)
            if isinstance(c.right, ir.Now) and c.op in ("<=", "<"):
                return text(c.left)
    return None


# ---- interval arithmetic -----------------------------------------------------------------


def _as_range(v: Value) -> Range | None:
    if isinstance(v, Range):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return Range(v, v)
    return None


def _arith(op: str, a: Value, b: Value) -> Value:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        x, y = int(a), int(b)  # type: ignore[arg-type]
        if op in ("/", "%", "ceil/") and y == 0:
            raise Infeasible  # the pack rejects a division by zero
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return x // y
        if op == "%":
            return x % y
        return -(-x // y)
    ra, rb = _as_range(a), _as_range(b)
    if ra is None or rb is None:
        return Range(None, None)

    def add(u: int | None, v: int | None) -> int | None:
        return None if u is None or v is None else u + v

    if op == "+":
        return Range(add(ra.lo, rb.lo), add(ra.hi, rb.hi))
    if op == "-":
        return Range(
            add(ra.lo, None if rb.hi is None else -rb.hi),
            add(ra.hi, None if rb.lo is None else -rb.lo),
        )
    if op == "*" and None not in (ra.lo, ra.hi, rb.lo, rb.hi):
        products = [u * v for u in (ra.lo, ra.hi) for v in (rb.lo, rb.hi)]  # type: ignore[operator]
        return Range(min(products), max(products))
    if op in ("/", "ceil/") and rb.lo == rb.hi and rb.lo is not None and rb.lo > 0:
        d = rb.lo

        def div(u: int | None) -> int | None:
            if u is None:
                return None
            return u // d if op == "/" else -(-u // d)

        return Range(div(ra.lo), div(ra.hi))
    if op == "%" and rb.lo == rb.hi and rb.lo is not None and rb.lo > 0:
        return Range(0, rb.lo - 1)
    return Range(None, None)


def _minmax(func: str, values: list[Value]) -> Value:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return (min if func == "min" else max)(values)  # type: ignore[type-var]
    ranges = [_as_range(v) for v in values]
    if any(r is None for r in ranges):
        return Range(None, None)
    los = [r.lo for r in ranges if r]
    his = [r.hi for r in ranges if r]
    if func == "min":
        lo = None if None in los else min(los)  # type: ignore[type-var]
        hi = min((h for h in his if h is not None), default=None)
    else:
        lo = max((v for v in los if v is not None), default=None)
        hi = None if None in his else max(his)  # type: ignore[type-var]
    return Range(lo, hi)


def _compare(op: str, a: Value, b: Value) -> Value:
    concrete = (int, bool, str)
    if isinstance(a, concrete) and isinstance(b, concrete):
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]  # type: ignore[operator]
    ra, rb = _as_range(a), _as_range(b)
    if ra is None or rb is None:
        return UNKNOWN
    # decided when the ranges do not overlap in the way that matters
    if op in ("<", "<=", ">", ">="):
        if op in (">", ">="):
            ra, rb, op = rb, ra, "<" if op == ">" else "<="
        if (
            ra.hi is not None
            and rb.lo is not None
            and (ra.hi < rb.lo or (op == "<=" and ra.hi <= rb.lo))
        ):
            return True
        if (
            ra.lo is not None
            and rb.hi is not None
            and (ra.lo > rb.hi or (op == "<" and ra.lo >= rb.hi))
        ):
            return False
    return UNKNOWN
