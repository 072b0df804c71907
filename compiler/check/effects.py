"""Pass 6, effects: the order of checks and effects in a body (R028), the `fill`s that may
find their slot filled (R075), and the state keys a body may change (its `writes`)."""

from __future__ import annotations

from collections.abc import Iterable

from rulesc.dsl import ast

from .. import ir
from ..slotfill import unguarded_fills
from .context import Context, plural

# what a statement of the rules is, for the order of a body: a check refuses the action, an
# effect changes something (tests/test_ir_visitors.py shows every statement is one or the
# other, or a `let`)
EFFECTS = (
    ast.Gain,
    ast.Set,
    ast.Fill,
    ast.Empty,
    ast.Emit,
    ast.When,
    ast.Pick,
    ast.Chance,
    ast.Give,
    ast.Take,
    ast.GainLoot,
)
CHECKS = (ast.Require, ast.Cost, ast.Limit, ast.Cooldown)
NEITHER = (ast.Let,)


def check_order(c: Context, body: tuple) -> None:
    """Everything an action checks comes before anything it changes.

    Reported once per action, at the first check that comes too late.
    """
    first_effect = next((s for s in body if isinstance(s, EFFECTS)), None)
    if first_effect is None:
        return
    late = [s for s in body[body.index(first_effect) :] if isinstance(s, CHECKS)]
    if not late:
        return
    others = f" (and the {plural(len(late) - 1, 'other check')} after it)" if len(late) > 1 else ""
    word = type(late[0]).__name__.lower()
    c.error(
        "R028",
        f"`{word}` after an effect",
        late[0].span,
        f"move it{others} above line {first_effect.span.line}: "
        "an action checks everything before it changes anything",
        [("the first effect is here", first_effect.span)],
    )


def busy_fills(c: Context, stmts: tuple, body: list) -> None:
    """R075 at each `fill` that may find its slot filled (slotfill.py says which)."""
    busy = {f.loc.line for f in unguarded_fills(tuple(body))}
    for s in ir.walk_statements(stmts):
        if isinstance(s, ast.Fill) and s.span.line in busy:
            slot = c.source(s.place.span)
            c.warn(
                "R075",
                f"`{slot}` may already be filled here: the action would be refused (slot_busy)",
                s.place.span,
                f'check it first with `require {slot} is empty else "..."`, '
                f"or write `replace {slot} with ...` to overwrite it on purpose",
            )


def writes(c: Context, body: Iterable[ir.Stmt]) -> tuple[str, ...]:
    """The top-level state keys a body may change, sorted, so the engine copies only those."""
    return tuple(sorted(Writes(c.loot).of(body)))


class Writes(ir.StatementVisitor[set[str]]):
    """What each statement may change in the player's own state."""

    def __init__(self, loot: dict[str, ir.Loot]) -> None:
        self.loot = loot

    def of(self, body: Iterable[ir.Stmt]) -> set[str]:
        out: set[str] = set()
        for s in body:
            out |= self.visit(s)
        return out

    def visit_Cost(self, s: ir.Cost | ir.Gain) -> set[str]:
        return {a.resource for a in s.amounts}

    visit_Gain = visit_Cost

    def visit_SetResource(self, s: ir.SetResource) -> set[str]:
        return {s.resource}

    def visit_SetSlotField(self, s: ir.SetSlotField | ir.Fill | ir.Empty) -> set[str]:
        return {s.slots}

    visit_Fill = visit_Empty = visit_SetSlotField

    def visit_Limit(self, s: ir.Limit) -> set[str]:
        return {"_limits"}

    def visit_Cooldown(self, s: ir.Cooldown) -> set[str]:
        return {"_cooldowns"}

    def visit_Require(self, s: ir.Require | ir.Let | ir.Emit) -> set[str]:
        return set()

    visit_Let = visit_Emit = visit_Require

    def visit_Give(self, s: ir.Give | ir.Take) -> set[str]:
        return set()  # the other player's state changes, in that player's own step

    visit_Take = visit_Give  # what was taken comes back later, through this player's inbox

    def visit_GainLoot(self, s: ir.GainLoot) -> set[str]:
        return self.loot_resources(s.loot, set())

    def visit_When(self, s: ir.When) -> set[str]:
        return self.of(s.body) | self.of(s.otherwise)

    def visit_Pick(self, s: ir.Pick) -> set[str]:
        return self.of(st for b in s.branches for st in b.body)

    def loot_resources(self, name: str, seen: set[str]) -> set[str]:
        """What a loot table (and the tables it draws from) may give."""
        if name in seen or name not in self.loot:
            return set()
        seen.add(name)
        out: set[str] = set()
        for entry in self.loot[name].entries:
            for item in entry.items:
                if item.resource is not None:
                    out.add(item.resource)
                elif item.loot is not None:
                    out |= self.loot_resources(item.loot, seen)
        return out
