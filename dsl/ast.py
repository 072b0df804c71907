"""The syntax tree of .rules files: frozen, slotted dataclasses, each with its span.

One grammar rule, one node class. Nothing here knows about lark; parser.py builds
these nodes and is the only module that imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rulesc.pack_contract import ANY_ROW as ANY_ROW  # `*` in a migrate line

from .diagnostics import Span

# ---- expressions ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    span: Span


@dataclass(frozen=True, slots=True)
class DurationLit:
    ms: int
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class StringLit:
    """A message; `parts` alternate literal text and `{expr}` interpolations."""

    parts: tuple[str | Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class Now:
    span: Span


@dataclass(frozen=True, slots=True)
class LevelRef:
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / %
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and, or
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class IsSlot:
    """`x is empty` (filled=False) or `x is filled` (filled=True)."""

    operand: Expr
    filled: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    base: Expr
    index: Expr
    span: Span
    index2: Expr | None = None  # `produce[kind, q]`: the second key of an item of two tables


@dataclass(frozen=True, slots=True)
class Attr:
    base: Expr
    name: str
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    func: str  # min, max, ceil
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class IsRow:
    """`season is spring`: whether a row (of a table or a calendar) is that one."""

    operand: Expr
    row: Name
    span: Span


@dataclass(frozen=True, slots=True)
class InSet:
    """`season in crop[kind].seasons`: whether a row is in a `set of` cell."""

    item: Expr
    set: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class CalendarExpr:
    """`day of season` (part "day"), `next season` (part "next") and `next day` (calendar
    None: the game's days)."""

    part: str
    calendar: Name | None
    span: Span


Expr = (
    IntLit
    | DurationLit
    | BoolLit
    | StringLit
    | Name
    | Now
    | LevelRef
    | Binary
    | Neg
    | Compare
    | BoolOp
    | Not
    | IsSlot
    | Index
    | Attr
    | Call
    | IsRow
    | InSet
    | CalendarExpr
)


# ---- statements -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """A place in the player's state: `coins`, `seed[kind]`, `field[slot].ready_at`."""

    name: str
    name_span: Span
    index: Expr | None
    field: str | None
    span: Span
    index2: Expr | None = None  # `produce[kind, q]`: the second key of an item of two tables


@dataclass(frozen=True, slots=True)
class Amount:
    place: Place
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Require:
    cond: Expr
    message: StringLit | None
    span: Span


@dataclass(frozen=True, slots=True)
class Cost:
    amounts: tuple[Amount, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Gain:
    amounts: tuple[Amount, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Set:
    place: Place
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class FieldValue:
    name: str
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Fill:
    """`fill X[i] with ...` (refused at run time when the slot is filled) or, with
    replace=True, `replace X[i] with ...` (overwrites whatever the slot holds)."""

    place: Place
    values: tuple[FieldValue, ...]
    span: Span
    replace: bool = False


@dataclass(frozen=True, slots=True)
class Empty:
    place: Place
    span: Span


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Period:
    kind: str  # day, week, span, calendar
    ms: int  # the window length (0 for a calendar's: the checker knows it)
    span: Span
    calendar: str | None = None  # `per season`


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    period: Period
    per: Name | None
    span: Span


@dataclass(frozen=True, slots=True)
class Cooldown:
    duration: DurationLit
    per: Name | None
    span: Span


@dataclass(frozen=True, slots=True)
class NamedArg:
    name: str
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Emit:
    event: str
    args: tuple[NamedArg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Give:
    """`give friend coins 10, gems 1` or `give friend loot chest`: gains delivered to
    another player (a `player` parameter) through that player's inbox."""

    target: Name
    amounts: tuple[Amount, ...]
    loot: Name | None
    span: Span


@dataclass(frozen=True, slots=True)
class Take:
    """`take target trophies up to 5`: what the other player has, at most the amount,
    moved to this player (decided in the other player's own step)."""

    target: Name
    place: Place
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class GainLoot:
    """`gain loot common_chest`: draw from a named loot table."""

    loot: Name
    span: Span


@dataclass(frozen=True, slots=True)
class When:
    cond: Expr
    body: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Branch:
    weight: int  # 0 when computed: see weight_expr
    weight_span: Span
    body: tuple[Stmt, ...]
    span: Span
    weight_expr: Expr | None = None  # `crop[kind].weight: ...`: computed when drawn


@dataclass(frozen=True, slots=True)
class Chance:
    """`chance EXPR %` (out_of=100) or `chance EXPR per mille` (1000), with its block and
    an optional `otherwise`."""

    amount: Expr
    out_of: int
    body: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Pick:
    branches: tuple[Branch, ...]
    span: Span


Stmt = (
    Require
    | Cost
    | Gain
    | Set
    | Fill
    | Empty
    | Let
    | Limit
    | Cooldown
    | Emit
    | When
    | Pick
    | Chance
    | Give
    | Take
    | GainLoot
)


# ---- declarations -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GameDecl:
    id: str
    title: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class DayStartDecl:
    minutes: int  # after midnight
    zone: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Regen:
    amount: int
    every: DurationLit
    span: Span


@dataclass(frozen=True, slots=True)
class ResourceDecl:
    kind: str  # currency, meter, stat
    name: str
    start: IntLit | None
    max: IntLit | None
    regen: Regen | None
    name_span: Span
    span: Span
    public: bool = False  # other players may read it (`target.power`)


@dataclass(frozen=True, slots=True)
class LevelDecl:
    stat: Name
    thresholds: tuple[IntLit, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: Name
    span: Span
    is_set: bool = False  # `seasons: set of season`: each cell names some rows


@dataclass(frozen=True, slots=True)
class NameSet:
    """A cell of a `set of` column naming several rows: `spring summer`."""

    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    cells: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class TableDecl:
    name: str
    source: StringLit | None  # a CSV file beside the rules
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class ItemDecl:
    name: str
    key: Name | None  # `item seed of crop`
    start: IntLit | None
    max: IntLit | None
    regen: Regen | None
    name_span: Span
    span: Span
    public: bool = False
    key2: Name | None = None  # `item produce of crop, quality`: counted per pair of rows


@dataclass(frozen=True, slots=True)
class SlotField:
    name: str
    type: Name
    span: Span


@dataclass(frozen=True, slots=True)
class SlotsDecl:
    name: str
    count: IntLit
    fields: tuple[SlotField, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: Name
    lo: IntLit | None
    hi: IntLit | None
    span: Span


@dataclass(frozen=True, slots=True)
class ActionDecl:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class LootAmount:
    """`coins 50` in a loot entry."""

    place: Place
    amount: IntLit
    span: Span


@dataclass(frozen=True, slots=True)
class LootRef:
    """`loot rare_chest` in a loot entry: a draw from another table."""

    name: Name
    span: Span


@dataclass(frozen=True, slots=True)
class LootEntry:
    weight: int
    weight_span: Span
    items: tuple[LootAmount | LootRef, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LootDecl:
    name: str
    entries: tuple[LootEntry, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class HookDecl:
    """`on level_up` / `on receive` with the statements the runtime runs then."""

    event: Name
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LeaderboardDecl:
    """`leaderboard weekly_power by power resets weekly`."""

    name: str
    stat: Name
    resets: Name | None
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class MigratePlace:
    """`gems`, `seed[carrot]`, `crop[carrot]` or a pair `produce[beet, *]` in a `migrate`
    line: names of older rules too, so only the checker knows what they are. A key may be
    ANY_ROW (`*`: every row of that key)."""

    name: str
    key: str | None
    span: Span
    key2: str | None = None  # the second key of a pair: `produce[beet, gold]`

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.key, self.key2) if k is not None)


@dataclass(frozen=True, slots=True)
class MigrateDecl:
    """`migrate seed[carrot] -> seed[wheat]`, `migrate gems -> coins * 3`,
    `migrate seed[carrot] -> nothing` (target None) or `migrate gems * 2` (scale: no target)."""

    source: MigratePlace
    target: MigratePlace | None
    times: int
    scale: bool
    span: Span


@dataclass(frozen=True, slots=True)
class ConstDecl:
    """`let season_length = 28d` at the top level: a constant of the game."""

    name: str
    expr: Expr
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class EventOverride:
    """A line under an `event`: `crop[wheat].sell = 12` (a table's cell; `limit` None) or
    `limit daily_gift 2 per day` (the count of an action's limit: `name` is the action,
    `value` the count, `limit` its period)."""

    name: str
    row: str | None
    column: str | None
    value: Expr
    limit: Period | None
    span: Span


@dataclass(frozen=True, slots=True)
class EventDecl:
    """`event NAME from DATE [CLOCK] to DATE [CLOCK]` (start and end as written) or
    `event NAME every day|week [on WEEKDAY] [at CLOCK] for DURATION`, with its overrides."""

    name: str
    start: str | None  # "2026-10-25" or "2026-10-25 18:00"
    end: str | None
    every: Period | None
    weekday: Name | None
    at: str | None  # "18:00"
    length: DurationLit | None
    overrides: tuple[EventOverride, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class CalendarDecl:
    """`calendar season every 28d from 2026-03-01: spring, summer, fall, winter`."""

    name: str
    every: DurationLit
    start: str | None  # `from YYYY-MM-DD` as written
    start_span: Span | None
    periods: tuple[Name, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class InvariantDecl:
    cond: Expr
    message: StringLit | None
    span: Span


# ---- scenarios ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScenarioPlace:
    name: str
    key: str | int | tuple[str, str] | None  # a pair for an item of two tables
    field: str | None
    span: Span
    player: str | None = None  # `bob.coins`: another player of the scenario


@dataclass(frozen=True, slots=True)
class StateValue:
    place: ScenarioPlace
    value: Expr  # literal: int, duration, bool, enum name, or `empty`
    span: Span


@dataclass(frozen=True, slots=True)
class EmptyLit:
    span: Span


@dataclass(frozen=True, slots=True)
class Given:
    values: tuple[StateValue, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Expect:
    values: tuple[StateValue, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ExpectEvent:
    event: str
    span: Span
    player: str | None = None  # `expect bob event received`


@dataclass(frozen=True, slots=True)
class Wait:
    duration: DurationLit
    span: Span


@dataclass(frozen=True, slots=True)
class WaitUntil:
    """`wait until 2026-10-25` or `wait until 2026-10-25 18:00` (UTC) in a scenario."""

    moment: str
    span: Span


@dataclass(frozen=True, slots=True)
class CallArg:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Do:
    action: str
    args: tuple[CallArg, ...]
    draw: int | None
    fails: bool
    fail_text: str | None  # a message to match, or an error code
    span: Span
    player: str | None = None  # `as bob do ...`
    draws: tuple[int, ...] = ()  # `draws 3, 1`: the draws in order (`draw` is the first)


Step = Given | Expect | ExpectEvent | Wait | WaitUntil | Do


@dataclass(frozen=True, slots=True)
class ScenarioDecl:
    title: str
    steps: tuple[Step, ...]
    span: Span


# ---- bots (bots/*.rules) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnyValue:
    """`any`: the simulator picks a valid value of the parameter's type at random."""

    span: Span


@dataclass(frozen=True, slots=True)
class BotArg:
    name: str
    value: Expr | AnyValue
    span: Span


@dataclass(frozen=True, slots=True)
class BotTry:
    """`try sell(kind: any, qty: 10) when coins < 500`."""

    action: str
    action_span: Span
    args: tuple[BotArg, ...]
    when: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class BotRate:
    """`sessions 3 per day` (what="sessions") or `actions 12 per session` (what="actions")."""

    what: str
    count: IntLit
    span: Span


@dataclass(frozen=True, slots=True)
class BotDecl:
    name: str
    title: str | None
    rates: tuple[BotRate, ...]
    tries: tuple[BotTry, ...]
    name_span: Span
    span: Span
    given: tuple[StateValue, ...] = ()  # `given coins 500`: where each of its runs starts


Decl = (
    GameDecl
    | DayStartDecl
    | ResourceDecl
    | LevelDecl
    | TableDecl
    | ItemDecl
    | SlotsDecl
    | ActionDecl
    | InvariantDecl
    | ScenarioDecl
    | BotDecl
    | LootDecl
    | HookDecl
    | LeaderboardDecl
    | MigrateDecl
    | ConstDecl
    | EventDecl
    | CalendarDecl
)


@dataclass(frozen=True, slots=True)
class Module:
    file: str
    decls: tuple[Decl, ...]
