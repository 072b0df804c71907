"""Pass 4b, constants: `let season_length = 28d` at the top level.

A constant's value is computed here, once, from literals, other constants, table cells
and `min`/`max`/`ceil`; it cannot read a player's state or the clock (R076). Its type is
its value's (int, duration, bool or a table's row). Uses of it become `ir.Const` with the
constant's name, which codegen writes as `CONSTANTS["name"]` (one place in the pack where
a value could later be overridden). Constants may use each other in any order across
files; a constant that needs itself is R076.
"""

from __future__ import annotations

from rulesc.dsl import ast

from .. import ir
from .context import INT64_MAX, INT64_MIN, Context, Scope
from .expressions import Expressions

_ALLOWED_TYPES = ("int", "duration", "bool", "enum")


class _NotConstant(Exception):
    """The expression reads something that is not known before the game runs."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


_BY_ZERO = "division by zero"


class _Overflow(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def check_constants(c: Context, exprs: Expressions, decls: list) -> list[ir.Constant]:
    """Every top-level `let`, computed in an order where each comes after what it uses."""
    # a constant whose name another declaration had first was reported (R011) and is left out
    pending = [
        d for d in decls if isinstance(d, ast.ConstDecl) and c.decl_spans.get(d.name) == d.name_span
    ]
    for d in pending:
        owners = c.row_owner.get(d.name)
        if owners:
            c.error(
                "R076",
                f"`{d.name}` is already a row of table `{owners[0]}`",
                d.name_span,
                "give the constant another name",
            )
            c.broken.add(d.name)
    pending = [d for d in pending if d.name not in c.broken]
    names = {d.name for d in pending}
    while pending:
        ready = [d for d in pending if not (_names_in(d.expr) & (names - set(c.constants)))]
        if not ready:  # every one left needs one of the others: a loop
            for d in pending:
                c.error(
                    "R076",
                    f"the constant `{d.name}` is computed from itself",
                    d.name_span,
                    "compute it from literals and other constants only",
                )
                c.broken.add(d.name)
            break
        for d in ready:
            pending.remove(d)
            constant = _constant(c, exprs, d)
            if constant is None:
                c.broken.add(d.name)
                names.discard(d.name)
            else:
                c.constants[d.name] = constant
    return list(c.constants.values())


def _constant(c: Context, exprs: Expressions, d: ast.ConstDecl) -> ir.Constant | None:
    typed = exprs.expr(d.expr, Scope())
    if typed is None:
        return None
    if typed.type.kind not in _ALLOWED_TYPES:
        c.error(
            "R076",
            f"a constant cannot be {typed.type}",
            d.expr.span,
            "a constant is a whole number, a duration, true/false or a table's row",
        )
        return None
    if any(isinstance(n, ir.CalendarRead) for n in ir.nodes(typed)):
        c.error(
            "R084",
            "a constant cannot read the calendar",
            d.expr.span,
            "a constant is computed before the game runs; the calendar moves with time: "
            "read it in an action or a hook",
        )
        return None
    try:
        value = fold(typed, c)
    except _NotConstant as err:
        c.error(
            "R076",
            f"a constant cannot read {err.what}",
            d.expr.span,
            "a constant is computed before the game runs: from literals, other constants "
            "and table cells; use a `let` inside the action for a value of the player's state",
        )
        return None
    except _Overflow as err:
        if err.why == _BY_ZERO:
            c.error("R032", "division by zero", d.expr.span, "divide by a number other than 0")
        else:
            c.error(
                "R031",
                f"the constant `{d.name}` cannot be computed: {err.why}",
                d.expr.span,
                "numbers go from -9223372036854775808 to 9223372036854775807",
            )
        return None
    return ir.Constant(d.name, value, typed.type, c.loc(d.span))


def _names_in(e: object) -> set[str]:
    """The bare names an expression mentions (any of them may be a constant)."""
    if isinstance(e, ast.Name):
        return {e.id}
    if isinstance(e, tuple):
        return set().union(*(_names_in(x) for x in e)) if e else set()
    out: set[str] = set()
    for attr in ("left", "right", "operand", "base", "index", "items", "args"):
        if hasattr(e, attr):
            out |= _names_in(getattr(e, attr))
    return out


def fold(e: ir.Expr, c: Context) -> int | bool | str:
    """The value of a constant expression, computed as the runtime would (rt.add, rt.div...)."""
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.TableGet):
        key = fold(e.key, c)
        table = c.tables[e.table]
        col = [col.name for col in table.columns].index(e.column)
        return dict(table.rows)[str(key)][col]
    if isinstance(e, ir.Neg):
        return _fit(-_int(fold(e.operand, c)))
    if isinstance(e, ir.Arith):
        return _arith(e.op, _int(fold(e.left, c)), _int(fold(e.right, c)))
    if isinstance(e, ir.CeilDiv):
        right = _int(fold(e.right, c))
        if right == 0:
            raise _Overflow(_BY_ZERO)
        return _fit(-(-_int(fold(e.left, c)) // right))
    if isinstance(e, ir.MinMax):
        values = [_int(fold(a, c)) for a in e.args]
        return min(values) if e.func == "min" else max(values)
    if isinstance(e, ir.Compare):
        return _compare(e.op, fold(e.left, c), fold(e.right, c))
    if isinstance(e, ir.Logic):
        values = [bool(fold(i, c)) for i in e.items]
        return all(values) if e.op == "and" else any(values)
    if isinstance(e, ir.Not):
        return not fold(e.operand, c)
    raise _NotConstant(_WHAT.get(type(e), "the player's state"))


_WHAT: dict[type, str] = {
    ir.Now: "`now`",
    ir.LevelRead: "`level`",
    ir.ResourceRead: "the player's state",
    ir.SlotFieldRead: "the player's slots",
    ir.SlotRead: "the player's slots",
    ir.IsFilled: "the player's slots",
}


def _int(v: int | bool | str) -> int:
    assert isinstance(v, int) and not isinstance(v, bool)  # the checker typed it
    return v


def _fit(v: int) -> int:
    if not INT64_MIN <= v <= INT64_MAX:
        raise _Overflow(f"{v} does not fit in 64 bits")
    return v


def _arith(op: str, a: int, b: int) -> int:
    if op in "/%" and b == 0:
        raise _Overflow(_BY_ZERO)
    if op == "+":
        return _fit(a + b)
    if op == "-":
        return _fit(a - b)
    if op == "*":
        return _fit(a * b)
    if op == "/":
        return _fit(a // b)
    return a % b


def _compare(op: str, a: object, b: object) -> bool:
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    assert isinstance(a, int) and isinstance(b, int)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
