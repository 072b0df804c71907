"""Typed IR expressions written back the way a designer writes them.

The exploit finder and the economy graph both quote the rules ("cost coins
crop[kind].seed_cost * qty"); the IR keeps no source text for sub-expressions.
"""

from __future__ import annotations

from rulesc.pack_contract import fmt_duration

from . import ir

# binding strength, loosest first: `a or b and c` groups as `a or (b and c)`
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _ATOM = range(8)
_ARITH_LEVEL = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "%": _MUL}


def text(e: ir.Expr) -> str:
    return _text(e, _OR)


def value_text(value: object, kind: str = "int") -> str:
    """A constant as the rules spell it: 10_000, 2m, true, wheat."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int) and kind == "duration":
        return fmt_duration(value) if value % 1000 == 0 else f"{value}ms"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    return str(value)


def _level(e: ir.Expr) -> int:
    if isinstance(e, ir.Logic):
        return _OR if e.op == "or" else _AND
    if isinstance(e, ir.Not):
        return _NOT
    if isinstance(e, ir.Compare | ir.IsFilled):
        return _CMP
    if isinstance(e, ir.Arith):
        return _ARITH_LEVEL[e.op]
    if isinstance(e, ir.Neg):
        return _UNARY
    return _ATOM


def _text(e: ir.Expr, outer: int) -> str:
    out = _bare(e)
    return f"({out})" if _level(e) < outer else out


def _bare(e: ir.Expr) -> str:
    if isinstance(e, ir.Const):
        return value_text(e.value, e.type.kind)
    if isinstance(e, ir.ParamRef | ir.LocalRef):
        return e.name
    if isinstance(e, ir.ResourceRead):
        return e.resource if e.key is None else f"{e.resource}[{text(e.key)}]"
    if isinstance(e, ir.SlotRead):
        return f"{e.slots}[{text(e.index)}]"
    if isinstance(e, ir.SlotFieldRead):
        return f"{e.slots}[{text(e.index)}].{e.field}"
    if isinstance(e, ir.IsFilled):
        return f"{e.slots}[{text(e.index)}] is {'filled' if e.filled else 'empty'}"
    if isinstance(e, ir.TableGet):
        return f"{e.table}[{text(e.key)}].{e.column}"
    if isinstance(e, ir.Now):
        return "now"
    if isinstance(e, ir.LevelRead):
        return "level"
    if isinstance(e, ir.Arith):
        level = _ARITH_LEVEL[e.op]
        # the right operand binds tighter: a - (b - c) keeps its brackets
        return f"{_text(e.left, level)} {e.op} {_text(e.right, level + 1)}"
    if isinstance(e, ir.Neg):
        return f"-{_text(e.operand, _UNARY)}"
    if isinstance(e, ir.Compare):
        return f"{_text(e.left, _ADD)} {e.op} {_text(e.right, _ADD)}"
    if isinstance(e, ir.Logic):
        level = _OR if e.op == "or" else _AND
        return f" {e.op} ".join(_text(i, level + 1) for i in e.items)
    if isinstance(e, ir.Not):
        return f"not {_text(e.operand, _NOT)}"
    if isinstance(e, ir.MinMax):
        return f"{e.func}({', '.join(text(a) for a in e.args)})"
    if isinstance(e, ir.CeilDiv):
        return f"ceil({_text(e.left, _MUL)} / {_text(e.right, _MUL + 1)})"
    if isinstance(e, ir.PeerRead):
        return f"{e.player}.{e.resource}" + (f"[{text(e.key)}]" if e.key is not None else "")
    if isinstance(e, ir.PeerLevel):
        return f"{e.player}.level"
    if isinstance(e, ir.KeyPair):
        return f"{text(e.first)}, {text(e.second)}"
    if isinstance(e, ir.CalendarRead):
        if e.part == "period":
            return e.calendar or ""
        return f"day of {e.calendar}" if e.part == "day" else f"next {e.calendar or 'day'}"
    if isinstance(e, ir.Member):
        return f"{_text(e.item, _ADD)} in {_text(e.set, _ADD)}"
    raise AssertionError(f"no text for {e!r}")


def statement_text(loc: ir.Loc) -> str:
    """A statement's line as written, less a trailing comment: `limit 1 per day`."""
    return loc.code.strip()


def amount_text(a: ir.Amount) -> str:
    """`seed[kind] qty`, as in `gain seed[kind] qty`."""
    return f"{a.label} {text(a.amount)}"
