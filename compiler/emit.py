"""Typed IR to Python source: the one place that writes a pack's Python.

Expressions and action bodies become lines here, and so does every value of the module's
tables (`module_parts`); the template (templates/pack.py.j2) only arranges them. Every
statement is preceded by a comment naming its `.rules` line (`# harvest.rules:25:
require ...`); the pack loader reads those comments back to point errors inside a pack at
the designer's line.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from rulesc.pack_contract import line_marker

from . import ir
from . import types as T
from .pysrc import (
    Chain,
    Doc,
    Group,
    Pre,
    call,
    escape,
    flat,
    layout,
    literal_doc,
    parens,
    py_literal,
    py_str,
    quote_for,
    statement,
)

# names the generated functions use for themselves
_RESERVED = {"s", "p", "ctx", "rt", "state", "now"}
_BUILTINS = frozenset(vars(builtins))  # (the module: `__builtins__` may be its dict)
# comparisons negated by flipping the operator: exact, since the rules have no floats
_FLIPPED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
# how tightly an expression binds, to bracket it only where Python needs it (or a reader would)
_OR, _AND, _NOT, _COMPARE, _ATOM = range(5)


def py_name(name: str) -> str:
    """A rules name as a Python local: `yield` -> `yield_`, `s` -> `s_`."""
    if keyword.iskeyword(name) or name in _RESERVED or name in _BUILTINS:
        return name + "_"
    return name


# names the pack's module defines or imports besides its actions
_MODULE_NAMES = {"new_state", "settle", "level_of", "invariants", "during_events", "rt"}
_MODULE_NAMES |= {"Annotated", "BaseModel", "Field", "Literal", "annotations"}


def action_fn(name: str) -> str:
    """An action's Python function: its own name, unless that is a word of Python or a name
    the pack's module already has (`raise` -> `raise_`, `settle` -> `settle_`); ACTIONS maps
    the action's name to it, so players never see the difference."""
    if keyword.iskeyword(name) or name in _MODULE_NAMES or name in _BUILTINS:
        return name + "_"
    return name


def param_field(name: str) -> str:
    """A parameter's field on its params model: `import` -> `import_` (its alias stays `import`)."""
    return name + "_" if keyword.iskeyword(name) else name


def table_const(name: str) -> str:
    return name.upper()


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def marker(loc: ir.Loc) -> str:
    """The comment before generated code naming its `.rules` line (read back by runtime/pack.py)."""
    return line_marker(loc.file, loc.line, loc.text)


def _binding(doc: Doc) -> int:
    if isinstance(doc, Chain):
        return {"or": _OR, "and": _AND}.get(doc.op, _COMPARE)
    if isinstance(doc, Pre) and doc.prefix == "not ":
        return _NOT
    return _ATOM


def _negates_plainly(e: ir.Expr) -> bool:
    """Whether `not e` has a form without `not`: comparisons flip, `not x` loses its `not`,
    and `a and b` turns into `not a or not b` when a and b do."""
    if isinstance(e, ir.Logic):
        return all(_negates_plainly(i) for i in e.items)
    return isinstance(e, ir.Compare | ir.IsFilled | ir.Not | ir.Member)


class ExprEmitter:
    def __init__(self, game: ir.Game) -> None:
        self.game = game
        self.slots = {s.name: s for s in game.slots}
        # slots known to be filled at this point of an action, as (slots, index code): their
        # fields are read directly instead of through rt.slot_field's emptiness check
        self.filled: set[tuple[str, str]] = set()
        # the quote of strings: inside an f-string, the other one than the f-string's
        self.quote: str | None = None
        # table columns some event sets a cell of: read through during_events at `ctx.now`
        self.overridden = {
            (o.table, o.column) for ev in game.events for o in ev.overrides if o.table
        }
        self.now: str | None = "ctx.now"  # None where no clock is at hand (invariants)

    def __call__(self, e: ir.Expr) -> str:
        return flat(self.expr(e))

    def lit(self, value: int | bool | str | None) -> str:
        return py_literal(value, self.quote)

    def state(self, name: str, *keys: Doc) -> str:
        """`s["name"][key]...`: a read of the player's state."""
        return f"s[{self.lit(name)}]" + "".join(f"[{flat(k)}]" for k in keys)

    def expr(self, e: ir.Expr) -> Doc:
        if isinstance(e, ir.Const):
            if e.name is not None:  # a constant of the game: read where the pack lists them
                return f"CONSTANTS[{self.lit(e.name)}]"
            return self.lit(e.value)
        if isinstance(e, ir.ParamRef | ir.LocalRef):
            return py_name(e.name)
        if isinstance(e, ir.ResourceRead):
            if isinstance(e.key, ir.KeyPair):  # nested: s["produce"][kind][q]
                return self.state(e.resource, self.expr(e.key.first), self.expr(e.key.second))
            return (
                self.state(e.resource)
                if e.key is None
                else self.state(e.resource, self.expr(e.key))
            )
        if isinstance(e, ir.KeyPair):  # the rt helpers take the pair as one key
            return Group("(", (self.expr(e.first), self.expr(e.second)), ")")
        if isinstance(e, ir.IsFilled):
            return Chain(
                "is not" if e.filled else "is",
                (self.state(e.slots, self.index(e.slots, e.index)), "None"),
            )
        if isinstance(e, ir.SlotRead):
            return self.state(e.slots, self.index(e.slots, e.index))
        if isinstance(e, ir.SlotFieldRead):
            index = self.index(e.slots, e.index)
            if (e.slots, flat(index)) in self.filled:
                return self.state(e.slots, index, self.lit(e.field))
            return call("rt.slot_field", "s", self.lit(e.slots), index, self.lit(e.field))
        if isinstance(e, ir.TableGet):
            key = flat(self.expr(e.key))
            usual = f"{table_const(e.table)}[{key}][{self.lit(e.column)}]"
            if self.now is None or (e.table, e.column) not in self.overridden:
                return usual
            place = Group("(", (self.lit(e.table), key, self.lit(e.column)), ")")
            return call("during_events", place, usual, self.now)
        if isinstance(e, ir.Now):
            return "ctx.now"
        if isinstance(e, ir.LevelRead):
            assert self.game.level is not None
            return f"level_of({self.state(self.game.level.stat)})"
        if (
            isinstance(e, ir.Arith)
            and e.op in "+-"
            and isinstance(e.left, ir.Arith)
            and e.left.op in "+-"
        ):
            return self.add_sub(e)
        if isinstance(e, ir.Arith):
            fn = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}[e.op]
            return call(f"rt.{fn}", self.expr(e.left), self.expr(e.right))
        if isinstance(e, ir.Neg):
            return call("rt.neg", self.expr(e.operand))
        if isinstance(e, ir.CeilDiv):
            return call("rt.ceil_div", self.expr(e.left), self.expr(e.right))
        if isinstance(e, ir.Compare):
            return self.compare(e.op, e.left, e.right)
        if isinstance(e, ir.Logic):
            return Chain(e.op, tuple(self.chained(e)))
        if isinstance(e, ir.Not):
            return self.negated(e.operand)
        if isinstance(e, ir.MinMax):
            return call(e.func, *(self.expr(a) for a in e.args))
        if isinstance(e, ir.PeerRead):  # the snapshot the runtime read before the action
            read = f"ctx.peer({py_name(e.player)})[{self.lit(e.resource)}]"
            return read if e.key is None else f"{read}[{flat(self.expr(e.key))}]"
        if isinstance(e, ir.PeerLevel):
            assert self.game.level is not None
            return f"level_of(ctx.peer({py_name(e.player)})[{self.lit(self.game.level.stat)}])"
        if isinstance(e, ir.CalendarRead):
            return self.calendar(e)
        if isinstance(e, ir.Member):
            return Chain("in", (self.operand(e.item, _ATOM), self.operand(e.set, _ATOM)))
        raise AssertionError(f"cannot emit {e!r}")

    def calendar(self, e: ir.CalendarRead) -> Doc:
        """A calendar at `ctx.now`, computed by the rt helpers from its (start, every, periods)."""
        if e.calendar is None:  # `next day`
            return call("rt.next_day", "ctx.now", "DAY_START_MS")
        helper = {"period": "rt.period_of", "day": "rt.day_of_period", "next": "rt.next_period"}
        return call(helper[e.part], "ctx.now", f"CALENDARS[{self.lit(e.calendar)}]")

    def add_sub(self, e: ir.Arith) -> Doc:
        """`a + b - c` as `rt.add_sub("+-", a, b, c)`: one call, where nested rt.add and rt.sub
        calls would put a long sum past the brackets Python allows (200)."""
        ops: list[str] = []
        terms: list[ir.Expr] = []
        node: ir.Expr = e
        while isinstance(node, ir.Arith) and node.op in "+-":  # the left spine, from the end
            ops.append(node.op)
            terms.append(node.right)
            node = node.left
        terms.append(node)
        return call(
            "rt.add_sub", self.lit("".join(reversed(ops))), *(self.expr(t) for t in reversed(terms))
        )

    def compare(self, op: str, left: ir.Expr, right: ir.Expr) -> Doc:
        # a comparison inside a comparison is bracketed: `a < b == c` would chain them
        return Chain(op, (self.operand(left, _ATOM), self.operand(right, _ATOM)))

    def chained(self, e: ir.Logic, negate: bool = False) -> Iterator[Doc]:
        """The operands of `a and b ...`, each negated for De Morgan's form of `not (...)`.
        After `a and`, or `not a or`, a holds: what a shows filled, the operands after it
        read directly. One `and`/`or` inside another is bracketed, as a reader expects."""
        known = set(self.filled)
        for item in e.items:
            yield self.operand(item, _AND + 1, negate)
            if e.op == "and":
                self.filled |= self.filled_by(item)
        self.filled = known

    def negated(self, e: ir.Expr) -> Doc:
        """`not e`, written the way a person would: `a < b` rather than `not (a >= b)`, `x is
        None` rather than `not (x is not None)`, and `a < b or c is None` for `not (a >= b and
        c is not None)` when every operand negates so; otherwise `not (a and b)`."""
        if isinstance(e, ir.Compare):
            return self.compare(_FLIPPED[e.op], e.left, e.right)
        if isinstance(e, ir.IsFilled):
            return self.expr(ir.IsFilled(e.slots, e.index, not e.filled, e.type))
        if isinstance(e, ir.Not):
            return self.expr(e.operand)
        if isinstance(e, ir.Member):
            return Chain("not in", (self.operand(e.item, _ATOM), self.operand(e.set, _ATOM)))
        if isinstance(e, ir.Logic) and _negates_plainly(e):
            return Chain("or" if e.op == "and" else "and", tuple(self.chained(e, negate=True)))
        return Pre("not ", self.operand(e, _NOT + 1))

    def operand(self, e: ir.Expr, level: int, negate: bool = False) -> Doc:
        """`e` (or `not e`) inside an expression binding at `level`, bracketed when it binds
        more loosely."""
        doc = self.negated(e) if negate else self.expr(e)
        return parens(doc) if _binding(doc) < level else doc

    def filled_by(self, cond: ir.Expr) -> set[tuple[str, str]]:
        """The slots `cond` being true shows are filled (`field[slot] is filled and ...`), where
        the index is a parameter, a `let` or a constant, so it names the same slot later on."""
        if isinstance(cond, ir.Logic) and cond.op == "and":
            return set().union(*(self.filled_by(c) for c in cond.items))
        if (
            isinstance(cond, ir.IsFilled)
            and cond.filled
            and isinstance(cond.index, ir.ParamRef | ir.LocalRef | ir.Const)
        ):
            return {(cond.slots, flat(self.index(cond.slots, cond.index)))}
        return set()

    def index(self, slots: str, e: ir.Expr) -> Doc:
        """Parameters and constants are already in range; computed numbers are checked."""
        if isinstance(e, ir.Const) or e.type.kind == "slot_index":
            return self.expr(e)
        count = self.slots[slots].count
        return call("rt.check_index", self.expr(e), str(count), self.lit(slots))

    def message(self, m: ir.Message) -> str:
        """A message as a string, or an f-string when it shows values."""
        text = "".join(p for p in m.parts if isinstance(p, str))
        if all(isinstance(p, str) for p in m.parts):
            return py_str(text)
        outer = quote_for(text)
        out = []
        with self.quoted("'" if outer == '"' else '"'):  # before Python 3.12, the other quote
            for part in m.parts:
                if isinstance(part, str):
                    out.append(escape(part, outer).replace("{", "{{").replace("}", "}}"))
                else:
                    out.append("{" + flat(self.formatted(part)) + "}")
        return f"f{outer}{''.join(out)}{outer}"

    @contextmanager
    def quoted(self, quote: str) -> Iterator[None]:
        before, self.quote = self.quote, quote
        try:
            yield
        finally:
            self.quote = before

    def formatted(self, e: ir.Expr) -> Doc:
        if e.type == T.DURATION:
            return call("rt.fmt_duration", self.expr(e))
        if e.type == T.TIME:
            return call("rt.fmt_time", self.expr(e))
        if e.type == T.BOOL:
            return call("rt.fmt", self.expr(e))
        return self.expr(e)


class BodyEmitter:
    """One action's statements as indented Python lines."""

    def __init__(self, game: ir.Game) -> None:
        self.e = ExprEmitter(game)
        self.resources = {r.name: r for r in game.resources}
        # limits some event sets the count of
        self.limits = {o.limit for ev in game.events for o in ev.overrides if o.limit}
        self.lines: list[str] = []
        self.picks = 0

    def emit(self, body: tuple, depth: int = 1) -> list[str]:
        for stmt in body:
            self.stmt(stmt, depth)
        if not body:
            self.line(depth, "pass")
        return self.lines

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def code(self, depth: int, doc: Doc, head: str = "", tail: str = "") -> None:
        """A statement, split over lines when it does not fit."""
        self.lines += statement(head, doc, depth, tail)

    def forget_emptied(self, body: tuple) -> None:
        """After `empty X[...]` anywhere in `body`, no slot of X is known to be filled: the index
        emptied may be the same slot under another name."""
        for st in body:
            if isinstance(st, ir.Empty):
                self.e.filled = {f for f in self.e.filled if f[0] != st.slots}
            elif isinstance(st, ir.When):
                self.forget_emptied(st.body)
                self.forget_emptied(st.otherwise)
            elif isinstance(st, ir.Pick):
                for b in st.branches:
                    self.forget_emptied(b.body)

    def block(self, body: tuple, d: int, known: set[tuple[str, str]]) -> None:
        """A nested block: what it learns about filled slots stays inside it."""
        self.e.filled = set(known)
        self.emit(body, d)

    def key(self, key: ir.Expr | None) -> Doc | None:
        return None if key is None else self.e.expr(key)

    def maximum(self, resource: str) -> str | None:
        mx = self.resources[resource].max
        return None if mx is None else py_literal(mx)

    def per(self, name: str | None) -> str | None:
        return None if name is None else py_name(name)

    def amounts(self, amounts: tuple[ir.Amount, ...]) -> Group:
        """`((resource, row or None, amount), ...)`: what ctx.cost and ctx.give take."""
        e = self.e
        rows = (
            Group("(", (py_literal(a.resource), self.key(a.key) or "None", e.expr(a.amount)), ")")
            for a in amounts
        )
        return Group("(", tuple(rows), ")", one_tuple=True)

    def draw(self, s: ir.Pick) -> Doc:
        """The 0-based branch drawn: from literal weights, or computed ones checked when drawn."""
        if s.chance is not None:
            amount = s.branches[0].weight_expr
            assert amount is not None
            return call("ctx.chance", self.e.expr(amount), py_literal(s.chance))
        if not s.computed:
            return call("ctx.draw", literal_doc(tuple(b.weight for b in s.branches)))
        weights = tuple(
            self.e.expr(b.weight_expr) if b.weight_expr is not None else py_literal(b.weight)
            for b in s.branches
        )
        return call("ctx.draw_weights", Group("(", weights, ")", one_tuple=True))

    def stmt(self, s: ir.Stmt, d: int) -> None:
        e = self.e
        self.line(d, marker(s.loc))
        if isinstance(s, ir.Require):
            if s.message is not None:
                msg = e.message(s.message)
            else:
                msg = py_str("requires " + s.loc.code.removeprefix("require").strip())
            self.code(d, e.negated(s.cond), "if ", ":")
            self.code(d + 1, call("rt.Rejected", py_literal("precondition"), msg), "raise ")
            e.filled |= e.filled_by(s.cond)
        elif isinstance(s, ir.Cost):
            if len(s.amounts) == 1:
                a = s.amounts[0]
                self.code(
                    d,
                    call(
                        "ctx.cost_one",
                        "s",
                        py_literal(a.resource),
                        e.expr(a.amount),
                        key=self.key(a.key),
                    ),
                )
            else:
                self.code(d, call("ctx.cost", "s", self.amounts(s.amounts)))
        elif isinstance(s, ir.Gain):
            for a in s.amounts:
                gain = call(
                    "ctx.gain",
                    "s",
                    py_literal(a.resource),
                    e.expr(a.amount),
                    key=self.key(a.key),
                    maximum=self.maximum(a.resource),
                )
                self.code(d, gain)
        elif isinstance(s, ir.SetResource):
            put = call(
                "ctx.set_amount",
                "s",
                py_literal(s.resource),
                e.expr(s.value),
                key=self.key(s.key),
                maximum=self.maximum(s.resource),
            )
            self.code(d, put)
        elif isinstance(s, ir.SetSlotField):
            index = e.index(s.slots, s.index)
            self.code(
                d,
                call(
                    "ctx.set_field",
                    "s",
                    py_literal(s.slots),
                    index,
                    py_literal(s.field),
                    e.expr(s.value),
                ),
            )
        elif isinstance(s, ir.Fill):
            values = Group(
                "{", tuple(Pre(f"{py_literal(name)}: ", e.expr(v)) for name, v in s.values), "}"
            )
            helper = "ctx.replace_slot" if s.replace else "ctx.fill_slot"
            self.code(d, call(helper, "s", py_literal(s.slots), e.index(s.slots, s.index), values))
        elif isinstance(s, ir.Empty):
            self.code(d, call("ctx.empty", "s", py_literal(s.slots), e.index(s.slots, s.index)))
            self.forget_emptied((s,))
        elif isinstance(s, ir.Let):
            self.code(d, e.expr(s.value), f"{py_name(s.name)} = ")
        elif isinstance(s, ir.Limit):
            count: Doc = str(s.count)
            if s.key in self.limits:
                place = Group("(", (py_literal("limit"), py_literal(s.key)), ")")
                count = call("during_events", place, count, "ctx.now")
            self.code(
                d,
                call(
                    "ctx.limit",
                    "s",
                    py_literal(s.key),
                    count,
                    py_literal(s.period),
                    py_literal(s.period_ms),
                    per=self.per(s.per),
                    origin=None if s.label is None else py_literal(s.origin),
                    label=None if s.label is None else py_literal(s.label),
                ),
            )
        elif isinstance(s, ir.Cooldown):
            self.code(
                d,
                call("ctx.cooldown", "s", py_literal(s.key), py_literal(s.ms), per=self.per(s.per)),
            )
        elif isinstance(s, ir.Emit):
            data = Group(
                "{", tuple(Pre(f"{py_literal(name)}: ", e.expr(v)) for name, v in s.args), "}"
            )
            self.code(d, call("ctx.emit", py_literal(s.event), data))
        elif isinstance(s, ir.When):
            known = set(e.filled)
            self.code(d, e.expr(s.cond), "if ", ":")
            self.block(s.body, d + 1, known | e.filled_by(s.cond))
            link = s
            while _chained(link.otherwise):  # `otherwise when C`: an elif
                nested = link.otherwise[0]
                assert isinstance(nested, ir.When)
                link = nested
                self.line(d, marker(link.loc))
                e.filled = set(known)
                self.code(d, e.expr(link.cond), "elif ", ":")
                self.block(link.body, d + 1, known | e.filled_by(link.cond))
            if link.otherwise:
                self.line(d, "else:")
                self.block(link.otherwise, d + 1, known)
            e.filled = known
            self.forget_emptied((s,))
        elif isinstance(s, ir.Give):
            if s.loot is not None:
                gains: Doc = call("ctx.draw_loot", "LOOT", py_literal(s.loot))
            else:
                gains = self.amounts(s.amounts)
            self.code(d, call("ctx.give", py_name(s.player), gains))
        elif isinstance(s, ir.Take):
            self.code(
                d,
                call(
                    "ctx.take",
                    py_name(s.player),
                    py_literal(s.resource),
                    e.expr(s.amount),
                    key=self.key(s.key),
                ),
            )
        elif isinstance(s, ir.GainLoot):
            self.code(d, call("ctx.gain_loot", "s", "LOOT", py_literal(s.loot), "RESOURCES"))
        elif isinstance(s, ir.Pick):
            known = set(e.filled)
            self.picks += 1
            var = "branch" if self.picks == 1 else f"branch_{self.picks}"
            self.code(d, self.draw(s), f"{var} = ")
            branches = s.branches
            if len(branches) > 1 and not branches[-1].body:  # `nothing` last: no `else: pass`
                branches = branches[:-1]
            for i, b in enumerate(branches):
                last = i == len(branches) - 1 and branches is s.branches
                keyword_ = "if" if i == 0 else "else" if last else "elif"
                self.line(d, f"{keyword_} {var} == {i}:" if keyword_ != "else" else "else:")
                self.block(b.body, d + 1, known)
            e.filled = known
            self.forget_emptied((s,))
        else:
            raise AssertionError(f"cannot emit {s!r}")


def _chained(otherwise: tuple) -> bool:
    """Whether an `otherwise` block is an `otherwise when` (one `when`, written on its line)."""
    return (
        len(otherwise) == 1
        and isinstance(otherwise[0], ir.When)
        and otherwise[0].loc.code.startswith("otherwise")
    )


# ---- the module around the actions: what the template (templates/pack.py.j2) lays out -------


def _assign(name: str, value: Doc, depth: int = 0) -> list[str]:
    return statement(f"{name} = ", value, depth)


def _table(entries: Mapping[str, Doc]) -> Group:
    """A module-level dict, one entry per line even when it would fit on one."""
    return Group(
        "{", tuple(Pre(f"{py_literal(k)}: ", v) for k, v in entries.items()), "}", explode=True
    )


def param_type(p: ir.Param) -> str:
    if p.type.kind == "enum":
        return camel(p.type.name or "")
    if p.type == T.BOOL:
        return "bool"
    if p.type == T.PLAYER:  # a player id: the runtime checks that the player exists
        return "Annotated[str, Field(min_length=1, max_length=128)]"
    return f"Annotated[int, Field(ge={p.lo}, le={p.hi})]"


def player_params(game: ir.Game) -> dict[str, tuple[str, ...]]:
    """Each action's `player` parameters (the actions that have some)."""
    out = {a.name: tuple(p.name for p in a.params if p.type == T.PLAYER) for a in game.actions}
    return {name: params for name, params in out.items() if params}


def module_parts(game: ir.Game, version: str, compiler_version: str) -> dict:
    """Everything rules.py shows, as names, literals and lines of code."""
    minutes = game.day_start_minutes
    return {
        "game_id": game.id,
        "doc_title": escape(game.title, '"'),  # inside the module's """docstring"""
        "version": version,
        "compiler_version": compiler_version,
        "sources": [(src.path, src.sha256[:16]) for src in game.sources],
        "constants": [
            *_assign("GAME_ID", py_literal(game.id)),
            *_assign("TITLE", py_literal(game.title)),
            *_assign("PACK_VERSION", py_literal(version)),
            *_assign("COMPILER_VERSION", py_literal(compiler_version)),
            *_constants(game),
            *_calendars(game),
        ],
        "day_start": py_literal(minutes * 60_000),
        "day_start_clock": f"{minutes // 60:02d}:{minutes % 60:02d}",
        "tables": [_table_parts(t) for t in game.tables],
        "state": _state_parts(game),
        "new_state": layout(_new_state(game), 1, "return "),
        "meters": [_meter_parts(r) for r in game.resources if r.regen],
        "first_level": game.level.thresholds[0] if game.level else 0,
        "loot": [(marker(lt.loc), layout(_loot(lt), 1, suffix=",")) for lt in game.loot],
        "player_params": _player_params(game),
        "leaderboards": [
            (
                f"{py_literal(lb.name)}: {py_literal((lb.stat, lb.resets))}",
                f"{lb.loc.file}:{lb.loc.line}",
            )
            for lb in game.leaderboards
        ],
        "actions": [_action_parts(game, a) for a in game.actions],
        "hooks": [_hook_parts(game, h) for h in game.hooks],
        "hook_table": _assign(
            "HOOKS",
            _table(
                {
                    h.event: Group("(", (f"on_{h.event}", literal_doc(tuple(h.writes))), ")")
                    for h in game.hooks
                }
            ),
        ),
        "action_table": _assign(
            "ACTIONS",
            _table(
                {
                    a.name: Group(
                        "(",
                        (action_fn(a.name), camel(a.name) + "Params", literal_doc(tuple(a.writes))),
                        ")",
                    )
                    for a in game.actions
                }
            ),
        ),
        "invariants": [_invariant_parts(_no_clock(game), inv) for inv in game.invariants],
        "events": _event_parts(game),
    }


def _no_clock(game: ir.Game) -> ExprEmitter:
    """Invariants hold of a state at any time: they read tables as declared."""
    expr = ExprEmitter(game)
    expr.now = None
    return expr


def _event_parts(game: ir.Game) -> dict | None:
    """EVENTS (name: schedule) and OVERRIDES (place: ((event, value), ...)), or None."""
    if not game.events:
        return None
    schedules = [
        (
            marker(ev.loc),
            layout(Pre(f"{py_literal(ev.name)}: ", literal_doc(ev.schedule)), 1, suffix=","),
        )
        for ev in game.events
    ]
    overrides: dict[tuple, list] = {}
    for ev in game.events:
        for o in ev.overrides:
            overrides.setdefault(o.key, []).append((ev.name, o.value))
    return {
        "schedules": schedules,
        "overrides": _assign(
            "OVERRIDES",
            Group(
                "{",
                tuple(
                    Pre(f"{py_literal(k)}: ", literal_doc(tuple(v))) for k, v in overrides.items()
                ),
                "}",
                explode=True,
            ),
        ),
    }


def _constants(game: ir.Game) -> list[str]:
    """The game's constants (`let season_length = 28d`), by name: one place for the values,
    so a later override changes them here (only when the game has some)."""
    if not game.constants:
        return []
    return _assign("CONSTANTS", _table({k.name: py_literal(k.value) for k in game.constants}))


def _calendars(game: ir.Game) -> list[str]:
    """`calendar season every 28d ...`: name -> (start ms, period ms, its periods in order)."""
    if not game.calendars:
        return []
    return _assign(
        "CALENDARS",
        _table({k.name: literal_doc((k.start, k.every, k.periods)) for k in game.calendars}),
    )


def calendar_hooks(game: ir.Game) -> list[str]:
    """The calendars with an `on <name>_change` hook: the state remembers their period."""
    events = {h.event for h in game.hooks}
    return [k.name for k in game.calendars if f"{k.name}_change" in events]


def _player_params(game: ir.Game) -> list[str]:
    params = player_params(game)
    return (
        _assign("PLAYER_PARAMS", _table({n: literal_doc(p) for n, p in params.items()}))
        if params
        else []
    )


def _table_parts(table: ir.Table) -> dict:
    names = Group("Literal[", tuple(py_literal(row[0]) for row in table.rows), "]")
    rows = {
        name: Group(
            "{",
            tuple(
                Pre(f"{py_literal(c.name)}: ", py_literal(v))
                for c, v in zip(table.columns, values, strict=True)
            ),
            "}",
        )
        for name, values in table.rows
    }
    return {
        "marker": marker(table.loc),
        "enum": _assign(camel(table.name), names),
        "rows": _assign(table_const(table.name), _table(rows)),
    }


def _state_parts(game: ir.Game) -> dict:
    level = game.level
    return {
        "resources": _assign(
            "RESOURCES",
            _table({r.name: literal_doc((r.kind, r.start, r.max)) for r in game.resources}),
        ),
        "meters": _assign(
            "METERS",
            _table(
                {
                    r.name: literal_doc((r.max, r.regen[0], r.regen[1]))
                    for r in game.resources
                    if r.regen
                }
            ),
        ),
        "slots": _assign(
            "SLOTS",
            _table(
                {
                    sl.name: literal_doc((sl.count, tuple(f.name for f in sl.fields)))
                    for sl in game.slots
                }
            ),
        ),
        "level": [
            *_assign("LEVEL_STAT", py_literal(level.stat if level else None)),
            *_assign("LEVEL_THRESHOLDS", literal_doc(tuple(level.thresholds) if level else ())),
        ],
    }


def _new_state(game: ir.Game) -> Group:
    tables = {t.name: t for t in game.tables}
    entries: dict[str, Doc] = {}
    for r in game.resources:
        if r.key and r.key2:  # two tables: nested, {"wheat": {"gold": 0, ...}, ...}
            second = {row[0]: r.start for row in tables[r.key2].rows}
            entries[r.name] = literal_doc({row[0]: second for row in tables[r.key].rows})
        elif r.key:
            entries[r.name] = literal_doc({row[0]: r.start for row in tables[r.key].rows})
        else:
            entries[r.name] = py_literal(r.start)
    for sl in game.slots:
        entries[sl.name] = f"[None] * {sl.count}"
    entries["_meters"] = Group(
        "{", tuple(Pre(f"{py_literal(r.name)}: ", "now") for r in game.resources if r.regen), "}"
    )
    hooked = calendar_hooks(game)
    if hooked:  # the period each was in when last seen: its hook runs when it changed
        entries["_calendar"] = Group(
            "{",
            tuple(
                Pre(
                    f"{py_literal(k)}: ",
                    call("rt.period_number", "now", f"CALENDARS[{py_literal(k)}]"),
                )
                for k in hooked
            ),
            "}",
        )
    entries["_limits"] = "{}"
    entries["_cooldowns"] = "{}"
    entries["_now"] = "now"
    return _table(entries)


def _meter_parts(r: ir.Resource) -> dict:
    assert r.regen is not None and r.max is not None
    name = py_literal(r.name)
    regenerate = call(
        "rt.regenerate",
        f"state[{name}]",
        f'state["_meters"][{name}]',
        "now",
        maximum=py_literal(r.max),
        amount=py_literal(r.regen[0]),
        every=py_literal(r.regen[1]),
    )
    return {"name": name, "regenerate": statement("value, since = ", regenerate, 1)}


def _loot(lt: ir.Loot) -> Pre:
    """`"name": ((weight, gains as (resource, row, amount), tables drawn from as well), ...)`."""
    entries = []
    for entry in lt.entries:
        gains = tuple((i.resource, i.key, i.amount) for i in entry.items if i.resource)
        nested = tuple(i.loot for i in entry.items if i.loot)
        entries.append(literal_doc((entry.weight, gains, nested)))
    return Pre(
        f"{py_literal(lt.name)}: ", Group("(", tuple(entries), ")", one_tuple=True, explode=True)
    )


def _field_type(p: ir.Param) -> str:
    """A field named as in the rules; one renamed for Python (param_field) keeps the rules'
    name as its alias, which is what clients send."""
    if param_field(p.name) == p.name:
        return param_type(p)
    return f"Annotated[{param_type(p)}, Field(alias={py_literal(p.name)})]"


def _action_parts(game: ir.Game, a: ir.Action) -> dict:
    return {
        "name": a.name,
        "params_class": camel(a.name) + "Params",
        "fn": action_fn(a.name),
        "fields": [(param_field(p.name), _field_type(p)) for p in a.params],
        "marker": marker(a.loc),
        "params": [f"    {py_name(p.name)} = p.{param_field(p.name)}" for p in a.params],
        "body": BodyEmitter(game).emit(a.body),
    }


def _hook_parts(game: ir.Game, h: ir.Hook) -> dict:
    return {"event": h.event, "marker": marker(h.loc), "body": BodyEmitter(game).emit(h.body)}


def _invariant_parts(expr: ExprEmitter, inv: ir.Invariant) -> dict:
    if inv.message is not None:
        message = expr.message(inv.message)
    else:
        code = inv.loc.code.removeprefix("invariant").strip()
        message = py_str(f"invariant {code} broken ({inv.loc.file}:{inv.loc.line})")
    return {
        "marker": marker(inv.loc),
        "test": statement("if ", expr.negated(inv.cond), 1, ":"),
        "report": layout(call("broken.append", message), 2),
    }
