"""The typed IR: what the checker produces and the only thing codegen reads.

Names are resolved, every expression has its type, and every statement knows the
`.rules` line it came from (`loc`), so generated code can point back at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar, Generic, TypeVar, get_args

from rulesc.dsl import ast
from rulesc.dsl.syntax_errors import strip_comment

from .types import Type


@dataclass(frozen=True, slots=True)
class Loc:
    file: str  # relative to the game folder
    line: int
    text: str  # the designer's source line, for comments and messages

    @property
    def code(self) -> str:
        """The line without its trailing comment (a `#` inside a message is kept)."""
        return strip_comment(self.text).rstrip()


# ---- expressions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    value: int | bool | str
    type: Type
    name: str | None = None  # a constant of the game (`let season_length = 28d`): its name


@dataclass(frozen=True, slots=True)
class ParamRef:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class LocalRef:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class ResourceRead:
    resource: str
    key: Expr | None  # for items keyed by an enum
    type: Type


@dataclass(frozen=True, slots=True)
class SlotRead:
    """`field[slot]` as a whole: only used with `is empty` / `is filled`."""

    slots: str
    index: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class SlotFieldRead:
    slots: str
    index: Expr
    field: str
    type: Type


@dataclass(frozen=True, slots=True)
class IsFilled:
    slots: str
    index: Expr
    filled: bool
    type: Type


@dataclass(frozen=True, slots=True)
class TableGet:
    table: str
    key: Expr
    column: str
    type: Type


@dataclass(frozen=True, slots=True)
class Now:
    type: Type


@dataclass(frozen=True, slots=True)
class LevelRead:
    type: Type


@dataclass(frozen=True, slots=True)
class Arith:
    op: str
    left: Expr
    right: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Expr
    right: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # and, or
    items: tuple[Expr, ...]
    type: Type


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class MinMax:
    func: str  # min, max
    args: tuple[Expr, ...]
    type: Type


@dataclass(frozen=True, slots=True)
class CeilDiv:
    left: Expr
    right: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class PeerRead:
    """`target.power`: a public resource of another player (a `player` parameter), read
    from a snapshot of that player's state taken before the action runs."""

    player: str  # the parameter
    resource: str
    key: Expr | None
    type: Type


@dataclass(frozen=True, slots=True)
class PeerLevel:
    """`target.level`, when the level's stat is public."""

    player: str
    type: Type


@dataclass(frozen=True, slots=True)
class KeyPair:
    """The key of an item of two tables, `[kind, q]` in `produce[kind, q]`: a row of each
    (the state holds such an item nested: `{"wheat": {"gold": 3}}`)."""

    first: Expr
    second: Expr
    type: Type  # Type("pair", "crop,quality")


@dataclass(frozen=True, slots=True)
class CalendarRead:
    """A calendar at `now`: part "period" (`season`: its period, a row of the calendar),
    "day" (`day of season`: 1 on its first day) or "next" (`next season`: when the next
    period starts). calendar None: the game's days (`next day`: the next `day starts`)."""

    calendar: str | None
    part: str
    type: Type


@dataclass(frozen=True, slots=True)
class Member:
    """`season in crop[kind].seasons`: whether a row is in a `set of` cell."""

    item: Expr
    set: Expr
    type: Type


Expr = (
    Const
    | ParamRef
    | LocalRef
    | ResourceRead
    | SlotRead
    | SlotFieldRead
    | IsFilled
    | TableGet
    | Now
    | LevelRead
    | Arith
    | Neg
    | Compare
    | Logic
    | Not
    | MinMax
    | CeilDiv
    | PeerRead
    | PeerLevel
    | KeyPair
    | CalendarRead
    | Member
)


@dataclass(frozen=True, slots=True)
class Message:
    """A message for players: literal text and typed interpolations."""

    parts: tuple[str | Expr, ...]


# ---- statements -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Amount:
    resource: str
    key: Expr | None
    amount: Expr
    label: str  # how the rules name it, for messages: `seed[kind]`


@dataclass(frozen=True, slots=True)
class Require:
    cond: Expr
    message: Message | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Cost:
    amounts: tuple[Amount, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Gain:
    amounts: tuple[Amount, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class SetResource:
    resource: str
    key: Expr | None
    value: Expr
    label: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class SetSlotField:
    slots: str
    index: Expr
    field: str
    value: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Fill:
    slots: str
    index: Expr
    values: tuple[tuple[str, Expr], ...]  # every field of the slot, in declared order
    loc: Loc
    replace: bool = False  # `replace`: overwrite a filled slot; `fill` refuses it (slot_busy)


@dataclass(frozen=True, slots=True)
class Empty:
    slots: str
    index: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Limit:
    key: str  # unique per limit statement of the game
    count: int
    period: str  # day, week, span
    period_ms: int
    per: str | None  # a parameter name
    loc: Loc
    # `per season`: a span of the calendar's period length, from its start (origin), named
    # after it in messages (label)
    origin: int = 0
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Cooldown:
    key: str
    ms: int
    per: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Emit:
    event: str
    args: tuple[tuple[str, Expr], ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class When:
    cond: Expr
    body: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Branch:
    weight: int  # 0 when computed: see weight_expr
    body: tuple[Stmt, ...]
    loc: Loc
    weight_expr: Expr | None = None  # a weight computed when drawn (`crop[kind].weight`)


@dataclass(frozen=True, slots=True)
class Pick:
    """`pick one`, or a `chance P %` (chance=100) / `chance P per mille` (chance=1000): then
    branch 1 is the chance's block with weight_expr P, branch 2 its `otherwise` (the rest)."""

    branches: tuple[Branch, ...]
    loc: Loc
    chance: int | None = None

    @property
    def computed(self) -> bool:
        """Whether its weights are computed when drawn (ctx.chance, ctx.draw_weights)."""
        return self.chance is not None or any(b.weight_expr is not None for b in self.branches)


@dataclass(frozen=True, slots=True)
class Give:
    """Gains for another player, delivered exactly once through that player's inbox and
    applied in that player's own step. `loot`: the gains are drawn here, from that table."""

    player: str  # a `player` parameter
    amounts: tuple[Amount, ...]
    loot: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Take:
    """What the other player has of a resource, at most `amount`: decided in that player's
    step, and what was taken comes back to this player's inbox."""

    player: str
    resource: str
    key: Expr | None
    amount: Expr
    label: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class GainLoot:
    loot: str
    loc: Loc


Stmt = (
    Require
    | Cost
    | Gain
    | SetResource
    | SetSlotField
    | Fill
    | Empty
    | Let
    | Limit
    | Cooldown
    | Emit
    | When
    | Pick
    | Give
    | Take
    | GainLoot
)


# ---- declarations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    kind: str  # currency, meter, stat, item
    key: str | None  # the enum table an item is keyed by
    start: int
    max: int | None
    regen: tuple[int, int] | None  # (amount, every ms)
    loc: Loc
    public: bool = False  # other players may read it in a snapshot (`target.power`)
    key2: str | None = None  # `item produce of crop, quality`: the second table


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, tuple[int | bool | str, ...]], ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Slots:
    name: str
    count: int
    fields: tuple[Column, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Level:
    stat: str
    thresholds: tuple[int, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: Type
    lo: int | None
    hi: int | None


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    writes: tuple[str, ...]  # top-level state keys the action may change, sorted
    loc: Loc


@dataclass(frozen=True, slots=True)
class LootItem:
    """One thing a loot entry gives: an amount of a resource, or a draw from another table."""

    resource: str | None
    key: str | None  # the row, for an item counted per row
    amount: int
    loot: str | None  # a nested table (then resource is None)


@dataclass(frozen=True, slots=True)
class LootEntry:
    weight: int
    items: tuple[LootItem, ...]


@dataclass(frozen=True, slots=True)
class Loot:
    name: str
    entries: tuple[LootEntry, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Hook:
    """Statements the runtime runs: `level_up` after a step raised the level, `receive`
    after a delivery from another player was applied (with `sender` in scope)."""

    event: str
    body: tuple[Stmt, ...]
    writes: tuple[str, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Leaderboard:
    name: str
    stat: str
    resets: str  # daily, weekly, never
    loc: Loc


@dataclass(frozen=True, slots=True)
class Migration:
    """A `migrate` line: how a state made under older rules is brought to these, once per
    player (docs/language.md "Migrations"). `kind`: "move" (the amount goes to `target`
    times `times`, or is dropped when `target` is None), "row" (a table's row renamed to
    `target_key` or dropped: every resource counted per the table, every pair of an item
    of two tables using it, and every slot field of it; or, with another resource as
    `target`, converted into it by count), "pair" (pairs of an item of two tables: the
    source keys `source_key, source_key2`, either `*` for every row; a pair target's `*`
    keeps the source's row there) or "scale" (the amount times `times`, in place)."""

    kind: str
    source: str
    source_key: str | None
    target: str | None
    target_key: str | None
    times: int
    text: str  # the line without `migrate`, one canonical spelling: its id is a hash of it
    loc: Loc
    source_key2: str | None = None  # the second key of a pair (kind "pair", or a scale)
    target_key2: str | None = None  # the second key of a pair target


@dataclass(frozen=True, slots=True)
class Constant:
    """`let season_length = 28d` at the top level: its value, computed by the checker."""

    name: str
    value: int | bool | str
    type: Type
    loc: Loc


@dataclass(frozen=True, slots=True)
class EventOverride:
    """What an event sets while it runs: a table's cell (`table`, `row`, `column`) or the
    count of a limit (`limit`: the ir.Limit's key; table, row and column None)."""

    table: str | None
    row: str | None
    column: str | None
    limit: str | None
    value: int | bool | str
    text: str  # as written, e.g. `crop[wheat].sell = 12`
    loc: Loc

    @property
    def key(self) -> tuple[str, ...]:
        """How the pack's OVERRIDES name it: (table, row, column) or ("limit", key)."""
        if self.limit is not None:
            return ("limit", self.limit)
        assert self.table is not None and self.row is not None and self.column is not None
        return (self.table, self.row, self.column)


@dataclass(frozen=True, slots=True)
class Event:
    """A scheduled event (docs/language.md "Events"): it runs from `start_ms` for
    `length_ms`, again every `every_ms` when that is not None (pack_contract.event_runs)."""

    name: str
    start_ms: int
    length_ms: int
    every_ms: int | None
    overrides: tuple[EventOverride, ...]
    when: str  # the schedule as written, e.g. `from 2026-10-25 to 2026-11-01`
    loc: Loc

    @property
    def schedule(self) -> tuple[int, int, int | None]:
        return (self.start_ms, self.length_ms, self.every_ms)


@dataclass(frozen=True, slots=True)
class Calendar:
    """`calendar season every 28d from 2026-03-01: spring, ...`: periods of `every` ms, the
    first starting at `start` (ms since the epoch, at `day starts`), then round again. Its
    periods are the rows of a table of its name (with no columns), so they type like rows."""

    name: str
    start: int
    every: int
    periods: tuple[str, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Invariant:
    cond: Expr
    message: Message | None
    loc: Loc


# ---- scenarios ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatePath:
    """A place in a player's state as a scenario names it: `seed[corn]`, `field[0].crop`."""

    name: str
    key: str | int | tuple[str, str] | None  # a pair: `produce[wheat, gold]`
    field: str | None
    label: str
    player: str | None = None  # another player of the scenario (`bob.coins`); None: `me`


@dataclass(frozen=True, slots=True)
class AfterStart:
    """A time in a scenario, written as a duration after the scenario's start (`2d 3h`)."""

    ms: int


@dataclass(frozen=True, slots=True)
class GivenStep:
    values: tuple[tuple[StatePath, object], ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class ExpectStep:
    values: tuple[tuple[StatePath, object], ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class ExpectEventStep:
    event: str
    loc: Loc
    player: str | None = None


@dataclass(frozen=True, slots=True)
class WaitStep:
    ms: int
    loc: Loc
    until: int | None = None  # `wait until DATE`: the time (ms, UTC) the clock moves to


@dataclass(frozen=True, slots=True)
class DoStep:
    action: str
    params: tuple[tuple[str, object], ...]
    draw: int | None
    fails: bool
    fail_text: str | None
    loc: Loc
    player: str | None = None  # `as bob do ...`
    draws: tuple[int, ...] = ()  # every pinned draw in order (`draws 3, 1`)


Step = GivenStep | ExpectStep | ExpectEventStep | WaitStep | DoStep


@dataclass(frozen=True, slots=True)
class Scenario:
    title: str
    steps: tuple[Step, ...]
    loc: Loc


# ---- bots (bots/*.rules): scripted players for `rulesc simulate` --------------------


@dataclass(frozen=True, slots=True)
class BotArg:
    name: str
    value: Expr | None  # None: `any`, a valid value picked at random


@dataclass(frozen=True, slots=True)
class BotTry:
    action: str
    args: tuple[BotArg, ...]  # every parameter of the action, in the action's order
    when: Expr | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Bot:
    name: str
    title: str
    sessions_per_day: int
    actions_per_session: int
    tries: tuple[BotTry, ...]  # in priority order
    loc: Loc
    # `given coins 500`: each run starts from a new player with these values, as a scenario's
    given: tuple[tuple[StatePath, object], ...] = ()


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # relative to the game folder
    sha256: str


@dataclass(frozen=True, slots=True)
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
    bots: tuple[Bot, ...] = ()  # not part of the pack either
    loot: tuple[Loot, ...] = ()
    hooks: tuple[Hook, ...] = ()
    leaderboards: tuple[Leaderboard, ...] = ()
    migrations: tuple[Migration, ...] = ()
    constants: tuple[Constant, ...] = ()
    events: tuple[Event, ...] = ()
    calendars: tuple[Calendar, ...] = ()


# ---- walking the IR (and the AST's statements) --------------------------------------------
#
# Every tool that dispatches on statements does it through a Visitor below,
# so a statement added to the language fails loudly (UnhandledNode) in each tool that does
# not handle it yet, instead of being skipped. docs/architecture.md lists the places to touch.

STATEMENTS: tuple[type, ...] = get_args(Stmt)
EXPRESSIONS: tuple[type, ...] = get_args(Expr)
AST_STATEMENTS: tuple[type, ...] = get_args(ast.Stmt)
# statements that hold no other statements (When and Pick hold blocks: see `blocks`)
LEAF_STATEMENTS = (
    Require,
    Cost,
    Gain,
    SetResource,
    SetSlotField,
    Fill,
    Empty,
    Let,
    Limit,
    Cooldown,
    Emit,
    Give,
    Take,
    GainLoot,
)
AST_LEAF_STATEMENTS = (
    ast.Require,
    ast.Cost,
    ast.Gain,
    ast.Set,
    ast.Fill,
    ast.Empty,
    ast.Let,
    ast.Limit,
    ast.Cooldown,
    ast.Emit,
    ast.Give,
    ast.Take,
    ast.GainLoot,
)


class UnhandledNode(NotImplementedError):
    """A walker met a node class it has no case for: most likely a statement (or expression)
    new to the language that this tool was not taught yet."""

    def __init__(self, node: object, walker: object) -> None:
        name = walker if isinstance(walker, str) else type(walker).__qualname__
        super().__init__(f"{type(node).__name__} is not handled by {name}")


R = TypeVar("R")


class Visitor(Generic[R]):
    """Dispatch on a node's class to the method `visit_<ClassName>` (as in the stdlib's ast).

    A family base (StatementVisitor, AstStatementVisitor) names the classes it
    walks in NODES; `visit` raises UnhandledNode for a class without a method, and every
    concrete visitor is listed in `Visitor.registry`, so a test can show that each one has
    a method for every class of its family.
    """

    NODES: ClassVar[tuple[type, ...]] = ()
    registry: ClassVar[list[type[Visitor]]] = []
    _methods: ClassVar[dict[type, str]] = {}

    def __init_subclass__(cls, *, family: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._methods = {
            t: f"visit_{t.__name__}" for t in cls.NODES if hasattr(cls, f"visit_{t.__name__}")
        }
        if not family:
            Visitor.registry.append(cls)

    @classmethod
    def unhandled(cls) -> list[str]:
        """The classes of the family this visitor has no method for (none, when complete)."""
        return [t.__name__ for t in cls.NODES if t not in cls._methods]

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> R:
        name = self._methods.get(type(node))
        if name is None:
            raise UnhandledNode(node, self)
        return getattr(self, name)(node, *args, **kwargs)


class StatementVisitor(Visitor[R], family=True):
    """One method per IR statement class."""

    NODES = STATEMENTS


class AstStatementVisitor(Visitor[R], family=True):
    """One method per statement class of the parsed rules (rulesc.dsl.ast), for the checker."""

    NODES = AST_STATEMENTS


def blocks(s: Any) -> tuple[tuple, ...]:
    """The blocks of statements nested in a statement, IR or AST (both write When and Pick
    alike): `when`'s body and `otherwise`, each branch of a `pick one`; () for the others."""
    if isinstance(s, When | ast.When):
        return (s.body, s.otherwise)
    if isinstance(s, Pick | ast.Pick):
        return tuple(b.body for b in s.branches)
    if isinstance(s, ast.Chance):
        return (s.body, s.otherwise)
    if isinstance(s, LEAF_STATEMENTS + AST_LEAF_STATEMENTS):
        return ()
    raise UnhandledNode(s, "ir.blocks")


def walk_statements(body: Iterable) -> Iterator[Any]:
    """Every statement of a body, nested blocks too, in the order they are written."""
    for s in body:
        yield s
        for block in blocks(s):
            yield from walk_statements(block)


def nodes(obj: object) -> Iterator[object]:
    """Every IR node inside `obj` (statements, expressions, amounts...), depth first; the
    generic walk for questions like "which resources does this body read"."""
    if isinstance(obj, tuple):
        for item in obj:
            yield from nodes(item)
    elif is_dataclass(obj) and not isinstance(obj, type):
        yield obj
        for f in fields(obj):
            if f.name not in ("type", "loc"):
                yield from nodes(getattr(obj, f.name))
