"""Which `fill`s may find their slot already filled, where the runtime refuses them (`slot_busy`).

A `fill X[i] with ...` is *guarded* when, before it in the same action, a `require` says
`X[i] is empty` (or the `when` around it does), for the same slot written the same way,
with an index that cannot change while the action runs (parameters, `let` values,
constants and table cells of those), and no `fill`/`replace` of `X` came in between.
Every other `fill` may hit a filled slot: the checker warns (R075) and `rulesc explore`
looks for a way to make it happen. `replace` overwrites on purpose and is never reported.

Deliberately simple: a guard is recognised only in the same words, never proved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass

from . import ir

# a slot known to be empty at some point of an action: (its row of slots, its index)
Known = frozenset[tuple[str, ir.Expr]]
# reads of the state or the clock: a slot index made with one may name another slot later
_MOVING = (
    ir.ResourceRead,
    ir.SlotRead,
    ir.SlotFieldRead,
    ir.IsFilled,
    ir.Now,
    ir.LevelRead,
    ir.PeerRead,
    ir.PeerLevel,
)


def unguarded_fills(body: tuple) -> list[ir.Fill]:
    """The `fill`s of a body (an action's or a hook's) that may find their slot filled."""
    out: list[ir.Fill] = []
    _walk(body, frozenset(), out)
    return out


def _walk(body: tuple, empty: Known, out: list[ir.Fill]) -> Known:
    """Walk statements in order; `empty` is what is known empty before each. Returns what
    is known empty after them."""
    for s in body:
        if isinstance(s, ir.Require):
            empty |= _empty_if(s.cond, True)
        elif isinstance(s, ir.Fill):
            if not s.replace and (s.slots, s.index) not in empty:
                out.append(s)
            empty = _forget(empty, {s.slots})  # filled now; another index may name this slot
        elif isinstance(s, ir.When):
            _walk(s.body, empty | _empty_if(s.cond, True), out)
            _walk(s.otherwise, empty | _empty_if(s.cond, False), out)
            empty = _forget(empty, _filled_rows(s.body + s.otherwise))
        elif isinstance(s, ir.Pick):
            for b in s.branches:
                _walk(b.body, empty, out)
            empty = _forget(empty, _filled_rows(tuple(st for b in s.branches for st in b.body)))
    return empty


def _empty_if(cond: ir.Expr, holds: bool) -> Known:
    """The slots that are surely empty when `cond` is `holds` (true or false)."""
    if isinstance(cond, ir.IsFilled) and cond.filled != holds and _stable(cond.index):
        return frozenset({(cond.slots, cond.index)})
    if isinstance(cond, ir.Not):
        return _empty_if(cond.operand, not holds)
    if isinstance(cond, ir.Logic) and cond.op == ("and" if holds else "or"):
        return frozenset().union(*(_empty_if(c, holds) for c in cond.items))
    return frozenset()


def _stable(e: ir.Expr) -> bool:
    """Whether an index names the same slot all through the action."""
    return not any(isinstance(n, _MOVING) for n in _nodes(e))


def _forget(empty: Known, rows: set[str]) -> Known:
    return frozenset(k for k in empty if k[0] not in rows)


def _filled_rows(body: tuple) -> set[str]:
    return {n.slots for n in _nodes(body) if isinstance(n, ir.Fill)}


def _nodes(obj: object) -> Iterator[object]:
    if isinstance(obj, tuple):
        for item in obj:
            yield from _nodes(item)
    elif is_dataclass(obj) and not isinstance(obj, type):
        yield obj
        for f in fields(obj):
            if f.name not in ("type", "loc"):
                yield from _nodes(getattr(obj, f.name))
