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
    ir.CalendarRead,
    ir.LevelRead,
    ir.PeerRead,
    ir.PeerLevel,
)


def unguarded_fills(body: tuple) -> list[ir.Fill]:
    """The `fill`s of a body (an action's or a hook's) that may find their slot filled."""
    walk = _Guards()
    walk.block(body, frozenset())
    return walk.unguarded


class _Guards(ir.StatementVisitor[Known]):
    """Walks statements in order: each visit takes what is known empty before the statement
    and returns what is known empty after it, noting the `fill`s that are not guarded."""

    def __init__(self) -> None:
        self.unguarded: list[ir.Fill] = []

    def block(self, body: tuple, empty: Known) -> Known:
        for s in body:
            empty = self.visit(s, empty)
        return empty

    def visit_Require(self, s: ir.Require, empty: Known) -> Known:
        return empty | _empty_if(s.cond, True)

    def visit_Fill(self, s: ir.Fill, empty: Known) -> Known:
        if not s.replace and (s.slots, s.index) not in empty:
            self.unguarded.append(s)
        return _forget(empty, {s.slots})  # filled now; another index may name this slot

    def visit_When(self, s: ir.When, empty: Known) -> Known:
        self.block(s.body, empty | _empty_if(s.cond, True))
        self.block(s.otherwise, empty | _empty_if(s.cond, False))
        return _forget(empty, _filled_rows(s.body + s.otherwise))

    def visit_Pick(self, s: ir.Pick, empty: Known) -> Known:
        for b in s.branches:
            self.block(b.body, empty)
        return _forget(empty, _filled_rows(tuple(st for b in s.branches for st in b.body)))

    def visit_Cost(self, s: ir.Stmt, empty: Known) -> Known:
        return empty  # fills no slot, and does not tell one is empty

    visit_Gain = visit_SetResource = visit_SetSlotField = visit_Empty = visit_Let = visit_Cost
    visit_Limit = visit_Cooldown = visit_Emit = visit_Give = visit_Take = visit_GainLoot = (
        visit_Cost
    )


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
    return not any(isinstance(n, _MOVING) for n in ir.nodes(e))


def _forget(empty: Known, rows: set[str]) -> Known:
    return frozenset(k for k in empty if k[0] not in rows)


def _filled_rows(body: tuple) -> set[str]:
    return {n.slots for n in ir.nodes(body) if isinstance(n, ir.Fill)}
