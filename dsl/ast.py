"""The syntax tree of .rules files: frozen, slotted dataclasses, each with its span.

One grammar rule, one node class. Nothing here knows about lark; parser.py builds
these nodes and is the only module that imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Span

node = dataclass(frozen=True, slots=True)


# ---- expressions ----------------------------------------------------------


@node
class IntLit:
    value: int
    span: Span


@node
class DurationLit:
    ms: int
    text: str
    span: Span


@node
class BoolLit:
    value: bool
    span: Span


@node
class StringLit:
    """A message; `parts` alternate literal text and `{expr}` interpolations."""

    parts: tuple[str | Expr, ...]
    span: Span


@node
class Name:
    id: str
    span: Span


@node
class Now:
    span: Span


@node
class LevelRef:
    span: Span


@node
class Binary:
    op: str  # + - * / %
    left: Expr
    right: Expr
    span: Span


@node
class Neg:
    operand: Expr
    span: Span


@node
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span


@node
class BoolOp:
    op: str  # and, or
    items: tuple[Expr, ...]
    span: Span


@node
class Not:
    operand: Expr
    span: Span


@node
class IsSlot:
    """`x is empty` (filled=False) or `x is filled` (filled=True)."""

    operand: Expr
    filled: bool
    span: Span


@node
class Index:
    base: Expr
    index: Expr
    span: Span


@node
class Attr:
    base: Expr
    name: str
    name_span: Span
    span: Span


@node
class Call:
    func: str  # min, max, ceil
    args: tuple[Expr, ...]
    span: Span


Expr = (
    IntLit | DurationLit | BoolLit | StringLit | Name | Now | LevelRef | Binary | Neg | Compare | BoolOp | Not | IsSlot | Index | Attr | Call
)


# ---- statements -------------------------------------------------------------


@node
class Place:
    """A place in the player's state: `coins`, `seed[kind]`, `field[slot].ready_at`."""

    name: str
    name_span: Span
    index: Expr | None
    field: str | None
    span: Span


@node
class Amount:
    place: Place
    expr: Expr
    span: Span


@node
class Require:
    cond: Expr
    message: StringLit | None
    span: Span


@node
class Cost:
    amounts: tuple[Amount, ...]
    span: Span


@node
class Gain:
    amounts: tuple[Amount, ...]
    span: Span


@node
class Set:
    place: Place
    expr: Expr
    span: Span


@node
class FieldValue:
    name: str
    expr: Expr
    span: Span


@node
class Fill:
    place: Place
    values: tuple[FieldValue, ...]
    span: Span


@node
class Empty:
    place: Place
    span: Span


@node
class Let:
    name: str
    expr: Expr
    span: Span


@node
class Period:
    kind: str  # day, week, span
    ms: int  # the window length
    span: Span


@node
class Limit:
    count: int
    period: Period
    per: Name | None
    span: Span


@node
class Cooldown:
    duration: DurationLit
    per: Name | None
    span: Span


@node
class NamedArg:
    name: str
    expr: Expr
    span: Span


@node
class Emit:
    event: str
    args: tuple[NamedArg, ...]
    span: Span


@node
class When:
    cond: Expr
    body: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    span: Span


@node
class Branch:
    weight: int
    weight_span: Span
    body: tuple[Stmt, ...]
    span: Span


@node
class Pick:
    branches: tuple[Branch, ...]
    span: Span


Stmt = (
    Require | Cost | Gain | Set | Fill | Empty | Let | Limit | Cooldown | Emit | When | Pick
)


# ---- declarations -------------------------------------------------------------


@node
class GameDecl:
    id: str
    title: str | None
    span: Span


@node
class DayStartDecl:
    minutes: int  # after midnight
    zone: str | None
    span: Span


@node
class Regen:
    amount: int
    every: DurationLit
    span: Span


@node
class ResourceDecl:
    kind: str  # currency, meter, stat
    name: str
    start: IntLit | None
    max: IntLit | None
    regen: Regen | None
    name_span: Span
    span: Span


@node
class LevelDecl:
    stat: Name
    thresholds: tuple[IntLit, ...]
    span: Span


@node
class Column:
    name: str
    type: Name
    span: Span


@node
class Row:
    name: str
    cells: tuple[Expr, ...]
    span: Span


@node
class TableDecl:
    name: str
    source: StringLit | None  # a CSV file beside the rules
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    name_span: Span
    span: Span


@node
class ItemDecl:
    name: str
    key: Name | None  # `item seed of crop`
    start: IntLit | None
    max: IntLit | None
    regen: Regen | None
    name_span: Span
    span: Span


@node
class SlotField:
    name: str
    type: Name
    span: Span


@node
class SlotsDecl:
    name: str
    count: IntLit
    fields: tuple[SlotField, ...]
    name_span: Span
    span: Span


@node
class Param:
    name: str
    type: Name
    lo: IntLit | None
    hi: IntLit | None
    span: Span


@node
class ActionDecl:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    name_span: Span
    span: Span


@node
class InvariantDecl:
    cond: Expr
    message: StringLit | None
    span: Span


# ---- scenarios ------------------------------------------------------------------


@node
class ScenarioPlace:
    name: str
    key: str | int | None
    field: str | None
    span: Span


@node
class StateValue:
    place: ScenarioPlace
    value: Expr  # literal: int, duration, bool, enum name, or `empty`
    span: Span


@node
class EmptyLit:
    span: Span


@node
class Given:
    values: tuple[StateValue, ...]
    span: Span


@node
class Expect:
    values: tuple[StateValue, ...]
    span: Span


@node
class ExpectEvent:
    event: str
    span: Span


@node
class Wait:
    duration: DurationLit
    span: Span


@node
class CallArg:
    name: str
    value: Expr
    span: Span


@node
class Do:
    action: str
    args: tuple[CallArg, ...]
    draw: int | None
    fails: bool
    fail_text: str | None  # a message to match, or an error code
    span: Span


Step = (
    Given | Expect | ExpectEvent | Wait | Do
)


@node
class ScenarioDecl:
    title: str
    steps: tuple[Step, ...]
    span: Span


Decl = (
    GameDecl | DayStartDecl | ResourceDecl | LevelDecl | TableDecl | ItemDecl | SlotsDecl | ActionDecl | InvariantDecl | ScenarioDecl
)


@node
class Module:
    file: str
    decls: tuple[Decl, ...]
