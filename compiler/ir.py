"""The typed IR: what the checker produces and the only thing codegen reads.

Names are resolved, every expression has its type, and every statement knows the
`.rules` line it came from (`loc`), so generated code can point back at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Type

node = dataclass(frozen=True, slots=True)


@node
class Loc:
    file: str  # relative to the game folder
    line: int
    text: str  # the designer's source line, for comments and messages


# ---- expressions ----------------------------------------------------------------


@node
class Const:
    value: int | bool | str
    type: Type


@node
class ParamRef:
    name: str
    type: Type


@node
class LocalRef:
    name: str
    type: Type


@node
class ResourceRead:
    resource: str
    key: Expr | None  # for items keyed by an enum
    type: Type


@node
class SlotRead:
    """`field[slot]` as a whole: only used with `is empty` / `is filled`."""

    slots: str
    index: Expr
    type: Type


@node
class SlotFieldRead:
    slots: str
    index: Expr
    field: str
    type: Type


@node
class IsFilled:
    slots: str
    index: Expr
    filled: bool
    type: Type


@node
class TableGet:
    table: str
    key: Expr
    column: str
    type: Type


@node
class Now:
    type: Type


@node
class LevelRead:
    type: Type


@node
class Arith:
    op: str
    left: Expr
    right: Expr
    type: Type


@node
class Neg:
    operand: Expr
    type: Type


@node
class Compare:
    op: str
    left: Expr
    right: Expr
    type: Type


@node
class Logic:
    op: str  # and, or
    items: tuple[Expr, ...]
    type: Type


@node
class Not:
    operand: Expr
    type: Type


@node
class MinMax:
    func: str  # min, max
    args: tuple[Expr, ...]
    type: Type


@node
class CeilDiv:
    left: Expr
    right: Expr
    type: Type


Expr = (
    Const | ParamRef | LocalRef | ResourceRead | SlotRead | SlotFieldRead | IsFilled
    | TableGet | Now | LevelRead | Arith | Neg | Compare | Logic | Not | MinMax | CeilDiv
)


@node
class Message:
    """A message for players: literal text and typed interpolations."""

    parts: tuple[str | Expr, ...]


# ---- statements -------------------------------------------------------------------


@node
class Amount:
    resource: str
    key: Expr | None
    amount: Expr
    label: str  # how the rules name it, for messages: `seed[kind]`


@node
class Require:
    cond: Expr
    message: Message | None
    loc: Loc


@node
class Cost:
    amounts: tuple[Amount, ...]
    loc: Loc


@node
class Gain:
    amounts: tuple[Amount, ...]
    loc: Loc


@node
class SetResource:
    resource: str
    key: Expr | None
    value: Expr
    label: str
    loc: Loc


@node
class SetSlotField:
    slots: str
    index: Expr
    field: str
    value: Expr
    loc: Loc


@node
class Fill:
    slots: str
    index: Expr
    values: tuple[tuple[str, Expr], ...]  # every field of the slot, in declared order
    loc: Loc


@node
class Empty:
    slots: str
    index: Expr
    loc: Loc


@node
class Let:
    name: str
    value: Expr
    loc: Loc


@node
class Limit:
    key: str  # unique per limit statement of the game
    count: int
    period: str  # day, week, span
    period_ms: int
    per: str | None  # a parameter name
    loc: Loc


@node
class Cooldown:
    key: str
    ms: int
    per: str | None
    loc: Loc


@node
class Emit:
    event: str
    args: tuple[tuple[str, Expr], ...]
    loc: Loc


@node
class When:
    cond: Expr
    body: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    loc: Loc


@node
class Branch:
    weight: int
    body: tuple[Stmt, ...]
    loc: Loc


@node
class Pick:
    branches: tuple[Branch, ...]
    loc: Loc


Stmt = (
    Require | Cost | Gain | SetResource | SetSlotField | Fill | Empty | Let | Limit | Cooldown
    | Emit | When | Pick
)


# ---- declarations ---------------------------------------------------------------------


@node
class Resource:
    name: str
    kind: str  # currency, meter, stat, item
    key: str | None  # the enum table an item is keyed by
    start: int
    max: int | None
    regen: tuple[int, int] | None  # (amount, every ms)
    loc: Loc


@node
class Column:
    name: str
    type: Type


@node
class Table:
    name: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, tuple[int | bool | str, ...]], ...]
    loc: Loc


@node
class Slots:
    name: str
    count: int
    fields: tuple[Column, ...]
    loc: Loc


@node
class Level:
    stat: str
    thresholds: tuple[int, ...]
    loc: Loc


@node
class Param:
    name: str
    type: Type
    lo: int | None
    hi: int | None


@node
class Action:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    writes: tuple[str, ...]  # top-level state keys the action may change, sorted
    loc: Loc


@node
class Invariant:
    cond: Expr
    message: Message | None
    loc: Loc


# ---- scenarios ----------------------------------------------------------------------


@node
class StatePath:
    """A place in a player's state as a scenario names it: `seed[corn]`, `field[0].crop`."""

    name: str
    key: str | int | None
    field: str | None
    label: str


@node
class GivenStep:
    values: tuple[tuple[StatePath, object], ...]
    loc: Loc


@node
class ExpectStep:
    values: tuple[tuple[StatePath, object], ...]
    loc: Loc


@node
class ExpectEventStep:
    event: str
    loc: Loc


@node
class WaitStep:
    ms: int
    loc: Loc


@node
class DoStep:
    action: str
    params: tuple[tuple[str, object], ...]
    draw: int | None
    fails: bool
    fail_text: str | None
    loc: Loc


Step = GivenStep | ExpectStep | ExpectEventStep | WaitStep | DoStep


@node
class Scenario:
    title: str
    steps: tuple[Step, ...]
    loc: Loc


@node
class SourceFile:
    path: str  # relative to the game folder
    sha256: str


@node
class Game:
    id: str
    title: str
    day_start_minutes: int
    resources: tuple[Resource, ...]
    tables: tuple[Table, ...]
    slots: tuple[Slots, ...]
    level: Level | None
    actions: tuple[Action, ...]
    invariants: tuple[Invariant, ...]
    scenarios: tuple[Scenario, ...]
    sources: tuple[SourceFile, ...]  # the pack's sources (scenarios are not part of it)
