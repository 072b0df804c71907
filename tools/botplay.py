"""One bot's choice of what to do next, played on the compiled pack (`rulesc simulate`).

A step is the first `try`, in the order written, that the game accepts. A try with
`any` parameters picks, at random, one of the combinations of values the game accepts:
the candidates of each `any` parameter are first narrowed by the action's own checks
that read only that parameter (a free plot, seeds of that kind), then combinations are
tried in a random order (a sample of them when there are many) until one is accepted.
Conditions and values are compiled with the pack's expression emitter, so they mean
exactly what they mean in an action; the engine has the last word on every action.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from types import SimpleNamespace

from rulesc.compiler import ir
from rulesc.runtime import engine
from rulesc.runtime.pack import Pack
from rulesc.runtime.rt import Rejected

from .precheck import Check, Evaluator, ExprCompiler, first_checks, reads, rejects

# an int parameter given `any` with a wider range is sampled, not enumerated
INT_ENUMERATE = 16
INT_SAMPLES = 8
# the most combinations of `any` values tried for one `try` in one step
MAX_COMBINATIONS = 64


@dataclass(frozen=True)
class _Value:
    """A parameter given a value (not `any`): worked out once a step, or once per combination
    when it reads other parameters."""

    param: ir.Param
    evaluate: Evaluator
    per_combination: bool


@dataclass
class _Try:
    action: str
    anys: list[ir.Param]  # the parameters given `any`, in the action's order
    values: list[_Value]
    once: list[Check]  # read no `any` parameter: checked once a step
    by_value: dict[str, list[Check]]  # read one `any` parameter only: narrow its candidates
    per_combination: list[Check]  # the rest (and the `let`s they need), in the action's order


class BotPlayer:
    """Chooses and plays a bot's next action for one player of one run."""

    def __init__(
        self,
        pack: Pack,
        game: ir.Game,
        bot: ir.Bot,
        rng: random.Random,
        player_id: str,
        draw_key: str | None = None,
    ) -> None:
        self.pack = pack
        self.draw_key = draw_key  # seeds the pack's draws (engine.run); None: the pack version
        self.rng = rng
        self.player_id = player_id
        self.count = 0  # actions played: each gets its own id, so each draws afresh
        self.rows = {t.name: [r[0] for r in t.rows] for t in game.tables}
        compiler = ExprCompiler(game, vars(pack.module))
        actions = {a.name: a for a in game.actions}
        self.tries = [_compile(compiler, t, actions[t.action]) for t in bot.tries]

    def step(self, state: dict, now: int) -> tuple[str, dict, engine.Outcome] | None:
        """The first try the game accepts, played: (action, params, outcome); None if none is."""
        settled = engine.prepare(self.pack, state, now)
        ctx = SimpleNamespace(now=now)
        for t in self.tries:
            played = self.attempt(t, settled, ctx)
            if played is not None:
                return played
        return None

    def attempt(
        self, t: _Try, state: dict, ctx: SimpleNamespace
    ) -> tuple[str, dict, engine.Outcome] | None:
        fixed: dict = {}
        if not self.work_out(t, state, ctx, fixed, per_combination=False) or rejects(
            t.once, state, ctx, fixed
        ):
            return None
        options = [self.narrowed(t, p, state, ctx, fixed) for p in t.anys]
        total = math.prod(len(o) for o in options)
        if total == 0:
            return None
        for index in (
            self.rng.sample(range(total), min(total, MAX_COMBINATIONS)) if total > 1 else (0,)
        ):
            params = dict(fixed)
            for p, values in zip(t.anys, options, strict=True):  # `index` in mixed radix
                index, i = divmod(index, len(values))
                params[p.name] = values[i]
            if not self.work_out(t, state, ctx, params, per_combination=True):
                continue
            if rejects(t.per_combination, state, ctx, dict(params)):
                continue
            self.count += 1
            outcome = engine.run(
                self.pack,
                state,
                t.action,
                params,
                now=ctx.now,
                player_id=self.player_id,
                action_id=f"sim-{self.count}",
                draw_key=self.draw_key,
            )
            if outcome.ok:
                return t.action, params, outcome
        return None

    def work_out(
        self, t: _Try, state: dict, ctx: SimpleNamespace, params: dict, *, per_combination: bool
    ) -> bool:
        """Compute the given values of one kind into `params`; False when one cannot be
        computed in this state (it reads an empty slot's field, say)."""
        for v in t.values:
            if v.per_combination != per_combination:
                continue
            try:
                value = v.evaluate(state, ctx, params)
            except Rejected:
                return False
            p = v.param
            if p.lo is not None and p.hi is not None and not isinstance(value, bool):
                value = min(max(int(value), p.lo), p.hi)  # type: ignore[call-overload]
            params[p.name] = value
        return True

    def narrowed(
        self, t: _Try, p: ir.Param, state: dict, ctx: SimpleNamespace, fixed: dict
    ) -> list:
        """The candidates of an `any` parameter that pass the checks reading it alone."""
        checks = t.by_value.get(p.name)
        if not checks:
            return self.candidates(p)
        values = dict(fixed)  # these checks bind no `let`: one dict serves every candidate
        out = []
        for v in self.candidates(p):
            values[p.name] = v
            if not rejects(checks, state, ctx, values):
                out.append(v)
        return out

    def candidates(self, p: ir.Param) -> list:
        if p.type.kind == "enum":
            return self.rows[p.type.name or ""]
        if p.type.kind == "bool":
            return [False, True]
        assert p.lo is not None and p.hi is not None
        if p.hi - p.lo < INT_ENUMERATE:
            return list(range(p.lo, p.hi + 1))
        return self.rng.sample(range(p.lo, p.hi + 1), INT_SAMPLES)


def _compile(compiler: ExprCompiler, t: ir.BotTry, action: ir.Action) -> _Try:
    params = {p.name: p for p in action.params}
    names = list(params)
    anys = [params[a.name] for a in t.args if a.value is None]
    values = [
        _Value(params[a.name], compiler(a.value, names), bool(reads(a.value)))
        for a in t.args
        if a.value is not None
    ]
    computed = {v.param.name for v in values if v.per_combination}
    any_names = {p.name for p in anys}
    checks = first_checks(compiler, action)
    if t.when is not None:  # the bot's own condition narrows like the action's
        checks.insert(0, Check(None, compiler(t.when, names), reads(t.when)))
    lets = {c.let for c in checks if c.let is not None}
    out = _Try(t.action, anys, values, [], {}, [])
    for c in checks:
        touched = c.reads & any_names
        if c.let is not None or c.reads & (lets | computed) or len(touched) > 1:
            out.per_combination.append(c)
        elif touched:
            out.by_value.setdefault(next(iter(touched)), []).append(c)
        else:
            out.once.append(c)
    return out
