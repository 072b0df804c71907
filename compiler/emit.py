"""Typed IR to Python source: expressions and action bodies.

Reads only the IR. Every statement is preceded by a comment naming its `.rules`
line (`# harvest.rules:25: require ...`); the pack loader reads those comments
back to point errors inside a pack at the designer's line.
"""

from __future__ import annotations

import json
import keyword

from . import ir
from . import types as T

# names the generated functions use for themselves
_RESERVED = {"s", "p", "ctx", "rt", "state", "now"}


def py_name(name: str) -> str:
    """A rules name as a Python local: `yield` -> `yield_`, `s` -> `s_`."""
    if keyword.iskeyword(name) or name in _RESERVED or name in dir(__builtins__):
        return name + "_"
    return name


def table_const(name: str) -> str:
    return name.upper()


def literal(value: int | bool | str) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    return json.dumps(value)


def py_text(text: str) -> str:
    """Text for inside '...': backslashes and quotes escaped, and any character that is
    not printable (the parser lets none through, but a pack must always load) as `\\x..`."""
    out = text.replace("\\", "\\\\").replace("'", "\\'")
    if out.isprintable():
        return out
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in out)


class ExprEmitter:
    def __init__(self, game: ir.Game) -> None:
        self.game = game
        self.slots = {s.name: s for s in game.slots}
        # slots known to be filled at this point of an action, as (slots, index code): their
        # fields are read directly instead of through rt.slot_field's emptiness check
        self.filled: set[tuple[str, str]] = set()

    def __call__(self, e: ir.Expr) -> str:
        return self.expr(e)

    def expr(self, e: ir.Expr) -> str:
        if isinstance(e, ir.Const):
            return literal(e.value)
        if isinstance(e, ir.ParamRef | ir.LocalRef):
            return py_name(e.name)
        if isinstance(e, ir.ResourceRead):
            if e.key is None:
                return f's["{e.resource}"]'
            return f's["{e.resource}"][{self.expr(e.key)}]'
        if isinstance(e, ir.IsFilled):
            op = "is not" if e.filled else "is"
            return f's["{e.slots}"][{self.index(e.slots, e.index)}] {op} None'
        if isinstance(e, ir.SlotRead):
            return f's["{e.slots}"][{self.index(e.slots, e.index)}]'
        if isinstance(e, ir.SlotFieldRead):
            index = self.index(e.slots, e.index)
            if (e.slots, index) in self.filled:
                return f's["{e.slots}"][{index}]["{e.field}"]'
            return f'rt.slot_field(s, "{e.slots}", {index}, "{e.field}")'
        if isinstance(e, ir.TableGet):
            return f'{table_const(e.table)}[{self.expr(e.key)}]["{e.column}"]'
        if isinstance(e, ir.Now):
            return "ctx.now"
        if isinstance(e, ir.LevelRead):
            assert self.game.level is not None
            return f'level_of(s["{self.game.level.stat}"])'
        if (
            isinstance(e, ir.Arith)
            and e.op in "+-"
            and isinstance(e.left, ir.Arith)
            and e.left.op in "+-"
        ):
            return self.add_sub(e)
        if isinstance(e, ir.Arith):
            fn = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}[e.op]
            return f"rt.{fn}({self.expr(e.left)}, {self.expr(e.right)})"
        if isinstance(e, ir.Neg):
            return f"rt.neg({self.expr(e.operand)})"
        if isinstance(e, ir.CeilDiv):
            return f"rt.ceil_div({self.expr(e.left)}, {self.expr(e.right)})"
        if isinstance(e, ir.Compare):
            return f"{self.operand(e.left)} {e.op} {self.operand(e.right)}"
        if isinstance(e, ir.Logic):
            return f" {e.op} ".join(self.operand(i) for i in e.items)
        if isinstance(e, ir.Not):
            return f"not {self.operand(e.operand)}"
        if isinstance(e, ir.MinMax):
            return f"{e.func}({', '.join(self.expr(a) for a in e.args)})"
        if isinstance(e, ir.PeerRead):  # the snapshot the runtime read before the action
            read = f'ctx.peer({py_name(e.player)})["{e.resource}"]'
            return read if e.key is None else f"{read}[{self.expr(e.key)}]"
        if isinstance(e, ir.PeerLevel):
            assert self.game.level is not None
            return f'level_of(ctx.peer({py_name(e.player)})["{self.game.level.stat}"])'
        raise AssertionError(f"cannot emit {e!r}")

    def add_sub(self, e: ir.Arith) -> str:
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
        args = ", ".join(self.expr(t) for t in reversed(terms))
        return f'rt.add_sub("{"".join(reversed(ops))}", {args})'

    def negated(self, e: ir.Expr) -> str:
        """`not e`, written the way a person would: `a < b` rather than `not (a >= b)`."""
        if isinstance(e, ir.Compare):
            flip = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}[e.op]
            return f"{self.operand(e.left)} {flip} {self.operand(e.right)}"
        if isinstance(e, ir.IsFilled):
            return self.expr(ir.IsFilled(e.slots, e.index, not e.filled, e.type))
        if isinstance(e, ir.Not):
            return self.expr(e.operand)
        return f"not ({self.expr(e)})"

    def operand(self, e: ir.Expr) -> str:
        """An expression inside a larger boolean one, bracketed where precedence needs it."""
        text = self.expr(e)
        if isinstance(e, ir.Compare | ir.Logic | ir.Not | ir.IsFilled):
            return f"({text})"
        return text

    def index(self, slots: str, e: ir.Expr) -> str:
        """Parameters and constants are already in range; computed numbers are checked."""
        if isinstance(e, ir.Const) or e.type.kind == "slot_index":
            return self.expr(e)
        count = self.slots[slots].count
        return f'rt.check_index({self.expr(e)}, {count}, "{slots}")'

    def message(self, m: ir.Message) -> str:
        out = []
        for part in m.parts:
            if isinstance(part, str):
                out.append(py_text(part).replace("{", "{{").replace("}", "}}"))
            else:
                out.append("{" + self.formatted(part) + "}")
        return (
            "f'" + "".join(out) + "'"
            if any(not isinstance(p, str) for p in m.parts)
            else "'" + "".join(out) + "'"
        )

    def formatted(self, e: ir.Expr) -> str:
        if e.type == T.DURATION:
            return f"rt.fmt_duration({self.expr(e)})"
        if e.type == T.TIME:
            return f"rt.fmt_time({self.expr(e)})"
        if e.type == T.BOOL:
            return f"rt.fmt({self.expr(e)})"
        return self.expr(e)


class BodyEmitter:
    """One action's statements as indented Python lines."""

    def __init__(self, game: ir.Game) -> None:
        self.e = ExprEmitter(game)
        self.resources = {r.name: r for r in game.resources}
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

    def where(self, loc: ir.Loc, depth: int) -> None:
        self.line(depth, f"# {loc.file}:{loc.line}: {loc.text}")

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
            return {(cond.slots, self.e.index(cond.slots, cond.index))}
        return set()

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

    def stmt(self, s: ir.Stmt, d: int) -> None:
        e = self.e
        self.where(s.loc, d)
        if isinstance(s, ir.Require):
            if s.message is not None:
                msg = e.message(s.message)
            else:
                msg = json.dumps("requires " + s.loc.code.removeprefix("require").strip())
            self.line(d, f"if {e.negated(s.cond)}:")
            self.line(d + 1, f'raise rt.Rejected("precondition", {msg})')
            e.filled |= self.filled_by(s.cond)
        elif isinstance(s, ir.Cost):
            items = [
                f'"{a.resource}", {e.expr(a.key) if a.key else "None"}, {e.expr(a.amount)}'
                for a in s.amounts
            ]
            if len(items) == 1:
                self.line(d, f"ctx.cost_one(s, {items[0]})")
            else:
                self.line(d, f"ctx.cost(s, ({', '.join(f'({i})' for i in items)}))")
        elif isinstance(s, ir.Gain):
            for a in s.amounts:
                mx = self.resources[a.resource].max
                key = e.expr(a.key) if a.key else "None"
                self.line(
                    d,
                    f'ctx.gain(s, "{a.resource}", {key}, {e.expr(a.amount)}, {literal(mx) if mx is not None else "None"})',
                )
        elif isinstance(s, ir.SetResource):
            mx = self.resources[s.resource].max
            key = e.expr(s.key) if s.key else "None"
            self.line(
                d,
                f'ctx.set_amount(s, "{s.resource}", {key}, {e.expr(s.value)}, {literal(mx) if mx is not None else "None"})',
            )
        elif isinstance(s, ir.SetSlotField):
            index = e.index(s.slots, s.index)
            self.line(d, f'ctx.set_field(s, "{s.slots}", {index}, "{s.field}", {e.expr(s.value)})')
        elif isinstance(s, ir.Fill):
            values = ", ".join(f'"{name}": {e.expr(v)}' for name, v in s.values)
            helper = "replace_slot" if s.replace else "fill_slot"
            self.line(d, f'ctx.{helper}(s, "{s.slots}", {e.index(s.slots, s.index)}, {{{values}}})')
        elif isinstance(s, ir.Empty):
            self.line(d, f'ctx.empty(s, "{s.slots}", {e.index(s.slots, s.index)})')
            self.forget_emptied((s,))
        elif isinstance(s, ir.Let):
            self.line(d, f"{py_name(s.name)} = {e.expr(s.value)}")
        elif isinstance(s, ir.Limit):
            per = py_name(s.per) if s.per else "None"
            self.line(
                d,
                f'ctx.limit(s, "{s.key}", {s.count}, "{s.period}", {literal(s.period_ms)}, {per})',
            )
        elif isinstance(s, ir.Cooldown):
            per = py_name(s.per) if s.per else "None"
            self.line(d, f'ctx.cooldown(s, "{s.key}", {literal(s.ms)}, {per})')
        elif isinstance(s, ir.Emit):
            data = ", ".join(f'"{name}": {e.expr(v)}' for name, v in s.args)
            self.line(d, f'ctx.emit("{s.event}", {{{data}}})')
        elif isinstance(s, ir.When):
            known = set(e.filled)
            self.line(d, f"if {e.expr(s.cond)}:")
            self.block(s.body, d + 1, known | self.filled_by(s.cond))
            if s.otherwise:
                self.line(d, "else:")
                self.block(s.otherwise, d + 1, known)
            e.filled = known
            self.forget_emptied((s,))
        elif isinstance(s, ir.Give):
            if s.loot is not None:
                self.line(d, f'ctx.give({py_name(s.player)}, ctx.draw_loot(LOOT, "{s.loot}"))')
            else:
                gains = ", ".join(
                    f'("{a.resource}", {e.expr(a.key) if a.key else "None"}, {e.expr(a.amount)})'
                    for a in s.amounts
                )
                self.line(
                    d,
                    f"ctx.give({py_name(s.player)}, ({gains}{',' if len(s.amounts) == 1 else ''}))",
                )
        elif isinstance(s, ir.Take):
            key = e.expr(s.key) if s.key else "None"
            self.line(
                d, f'ctx.take({py_name(s.player)}, "{s.resource}", {key}, {e.expr(s.amount)})'
            )
        elif isinstance(s, ir.GainLoot):
            self.line(d, f'ctx.gain_loot(s, LOOT, "{s.loot}", RESOURCES)')
        elif isinstance(s, ir.Pick):
            known = set(e.filled)
            self.picks += 1
            var = "branch" if self.picks == 1 else f"branch_{self.picks}"
            weights = ", ".join(str(b.weight) for b in s.branches)
            self.line(d, f"{var} = ctx.draw(({weights},))")
            for i, b in enumerate(s.branches):
                keyword_ = "if" if i == 0 else "elif" if i < len(s.branches) - 1 else "else"
                self.line(d, f"{keyword_} {var} == {i}:" if keyword_ != "else" else "else:")
                self.block(b.body, d + 1, known)
            e.filled = known
            self.forget_emptied((s,))
        else:
            raise AssertionError(f"cannot emit {s!r}")
