"""A fast "surely rejected?" filter for an action, for bots that try many parameters.

A bot tries each of its actions with many combinations of `any` values, and most are
rejected. Running each through the engine (validation, copies, the action) costs ten
times more than evaluating the action's own checks. This module compiles the first
checks of an action (its `require`s, `let`s, limits and cooldowns up to its first
cost, and that cost) into Python with the pack's expression emitter and the runtime's
own limit reading. It says no only when the engine would: each check it makes, the
engine makes on the same state. What it cannot see (what follows a cost, checks inside
`when`) is left to the engine, which always has the last word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from rulesc.compiler import ir
from rulesc.compiler import types as T
from rulesc.compiler.emit import ExprEmitter, py_name
from rulesc.runtime import rt
from rulesc.runtime.rt import Rejected

# (state, ctx with .now, values by rules name) -> the value
Evaluator = Callable[[dict, SimpleNamespace, dict], object]


class ExprCompiler:
    """Typed IR expressions to Python functions, run in the pack module's namespace."""

    def __init__(self, game: ir.Game, namespace: dict) -> None:
        self.emit = ExprEmitter(game)
        self.namespace = namespace

    def __call__(self, e: ir.Expr, names: list[str]) -> Evaluator:
        # a real function (not eval per call): bots evaluate these hundreds of thousands of times
        bind = "".join(f"    {py_name(n)} = values.get({n!r})\n" for n in names if n in reads(e))
        source = f"def evaluate(s, ctx, values):\n{bind}    return {self.emit(e)}\n"
        defined: dict = {}
        exec(compile(source, "<bot>", "exec"), self.namespace, defined)  # noqa: S102 - emitted from checked IR
        return defined["evaluate"]


@dataclass(frozen=True)
class Check:
    """One step of an action's first checks: a `let` (binds `let`) or a condition."""

    let: str | None
    evaluate: Evaluator
    reads: frozenset[str]  # the parameters and `let` values it reads


def first_checks(compiler: ExprCompiler, action: ir.Action) -> list[Check]:
    """The checks an action makes before its first effect, in order, as Python."""
    walk = _FirstChecks(compiler, [p.name for p in action.params])
    for s in action.body:
        if not walk.visit(s):
            break
    return walk.checks


class _FirstChecks(ir.StatementVisitor[bool]):
    """Each visit adds a statement's checks and says whether what follows it still reads the
    state the action started with (False: stop there)."""

    def __init__(self, compiler: ExprCompiler, names: list[str]) -> None:
        self.compiler = compiler
        self.names = names
        self.checks: list[Check] = []

    def visit_Let(self, s: ir.Let) -> bool:
        self.names.append(s.name)
        self.checks.append(Check(s.name, self.compiler(s.value, self.names), reads(s.value)))
        return True

    def visit_Require(self, s: ir.Require) -> bool:
        self.checks.append(Check(None, self.compiler(s.cond, self.names), reads(s.cond)))
        return True

    def visit_Cost(self, s: ir.Cost) -> bool:
        for a in s.amounts:  # enough of each, as the engine checks before spending
            enough = ir.Compare(">=", ir.ResourceRead(a.resource, a.key, T.INT), a.amount, T.BOOL)
            self.checks.append(Check(None, self.compiler(enough, self.names), reads(enough)))
        return False  # a cost spends: what follows reads the state after it

    def visit_Limit(self, s: ir.Limit | ir.Cooldown) -> bool:
        day_start = self.compiler.namespace["DAY_START_MS"]
        during = self.compiler.namespace.get("during_events")  # a pack with events (format 5)
        per = frozenset((s.per,)) if s.per else frozenset()
        self.checks.append(Check(None, _window_open(s, day_start, during), per))
        return True

    visit_Cooldown = visit_Limit

    def visit_Gain(self, s: ir.Stmt) -> bool:
        return False  # the first effect (or a block): what follows depends on it

    visit_SetResource = visit_SetSlotField = visit_Fill = visit_Empty = visit_Emit = visit_Gain
    visit_When = visit_Pick = visit_Give = visit_Take = visit_GainLoot = visit_Gain


def _window_open(
    s: ir.Limit | ir.Cooldown, day_start_ms: int, during: Callable | None = None
) -> Evaluator:
    """A limit or cooldown as a condition: true while it would let the action run (with the
    count an event running at `ctx.now` gives the limit, as the pack's own check has it)."""
    if isinstance(s, ir.Limit):

        def limit(state: dict, ctx: SimpleNamespace, values: dict) -> bool:
            per = values[s.per] if s.per else None
            count = s.count if during is None else during(("limit", s.key), s.count, ctx.now)
            return not rt.limit_reached(
                state, s.key, count, s.period, s.period_ms, per, ctx.now, day_start_ms, s.origin
            )

        return limit

    def cooldown(state: dict, ctx: SimpleNamespace, values: dict) -> bool:
        return not rt.cooling_down(state, s.key, values[s.per] if s.per else None, ctx.now)

    return cooldown


def rejects(checks: list[Check], state: dict, ctx: SimpleNamespace, values: dict) -> bool:
    """True only when the engine would reject the action with these values now.

    Each condition is one the engine checks on this same state, so a condition that
    fails (or cannot be worked out: an empty slot's field, an overflow) is a rejection
    whatever else is checked, and in whatever order.
    """
    try:
        for check in checks:
            value = check.evaluate(state, ctx, values)
            if check.let is not None:
                values[check.let] = value
            elif not value:
                return True
    except Rejected:
        return True
    return False


def reads(e) -> frozenset[str]:
    """The parameters and `let` values an expression reads."""
    if isinstance(e, ir.ParamRef | ir.LocalRef):
        return frozenset((e.name,))
    out: frozenset[str] = frozenset()
    for f in getattr(e, "__slots__", ()):
        child = getattr(e, f)
        for x in child if isinstance(child, tuple) else (child,):
            if hasattr(x, "__slots__") and not isinstance(x, str):
                out |= reads(x)
    return out
