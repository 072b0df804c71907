"""Limits a player can dodge, found in the IR (warnings: the designer may mean them).

- `limit 1 per day per kind` on an action whose costs and gains do not depend on
  `kind`: the "daily" reward is paid once per row of the table.
- The same free reward behind two actions, each with its own limit: a player
  claims both.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ir
from .economy import Case, Model, nodes, param_values, value_count
from .irtext import statement_text, value_text
from .replay import Do

MAX_CLAIMS = 12  # claims a replay makes to show a dodge


@dataclass(frozen=True)
class Dodge:
    kind: str  # "per_param" or "twin"
    actions: tuple[str, ...]
    summary: str
    explanation: str
    steps: tuple[Do, ...]  # the claims to replay; empty when a replay would be too long
    given: tuple[tuple[str, int], ...]  # what the claims cost, given first
    allowed: int  # how many claims the designer's limits seem to allow in one window


def find_dodges(model: Model) -> list[Dodge]:
    out = []
    for action in model.game.actions:
        out.extend(_per_param(model, action))
    out.extend(_twins(model))
    return out


def _refs(e: object, deps: dict[str, set[str]]) -> set[str]:
    found: set[str] = set()
    for n in nodes(e):
        if isinstance(n, ir.ParamRef):
            found.add(n.name)
        elif isinstance(n, ir.LocalRef):
            found |= deps.get(n.name, set())
    return found


def effect_params(action: ir.Action) -> set[str]:
    """Parameters that what the action costs or gives depends on (through `let`s too)."""
    deps: dict[str, set[str]] = {}
    out: set[str] = set()

    def walk(body: tuple[ir.Stmt, ...]) -> None:
        for s in body:
            if isinstance(s, ir.Let):
                deps[s.name] = _refs(s.value, deps)
            elif isinstance(s, ir.When):
                out.update(_refs(s.cond, deps))
                walk(s.body)
                walk(s.otherwise)
            elif isinstance(s, ir.Pick):
                for b in s.branches:
                    walk(b.body)
            elif not isinstance(s, ir.Require | ir.Limit | ir.Cooldown | ir.Emit):
                out.update(_refs(s, deps))

    walk(action.body)
    return out


def _limits(body: tuple[ir.Stmt, ...]) -> list[ir.Limit | ir.Cooldown]:
    return [n for n in nodes(body) if isinstance(n, ir.Limit | ir.Cooldown)]


def _gives(action: ir.Action) -> bool:
    return any(isinstance(n, ir.Gain) for n in nodes(action.body))


def _per_param(model: Model, action: ir.Action) -> list[Dodge]:
    params = {p.name: p for p in action.params}
    cases = sorted((c for c in model.cases if c.action == action.name), key=lambda c: c.ident)
    out = []
    for lim in _limits(action.body):
        if lim.per is None or lim.per in effect_params(action) or not _gives(action):
            continue
        p = params[lim.per]
        n = value_count(model.game, p)
        if n < 2 or not cases:
            continue
        allowed = lim.count if isinstance(lim, ir.Limit) else 1
        statement = statement_text(lim.loc)
        reward = ", ".join(f"{k} {value_text(v)}" for k, v in cases[0].gains) or "its reward"
        explanation = (
            f"`{statement}` counts each {lim.per} apart, but what {action.name} costs and gives does "
            f"not depend on {lim.per}: a player claims it {n} times as often, once per {lim.per} "
            f"({n} values), {reward} each time."
        )
        steps, given = _claims(model, action, p, cases, allowed)
        out.append(
            Dodge(
                "per_param",
                (action.name,),
                f"`{statement}` on {action.name} is dodged by changing {lim.per}: {n}x the reward",
                explanation,
                steps,
                given,
                allowed,
            )
        )
    return out


def _claims(
    model: Model, action: ir.Action, p: ir.Param, cases: list[Case], allowed: int
) -> tuple[tuple[Do, ...], tuple[tuple[str, int], ...]]:
    """Claim `allowed` times for each of a few values of the parameter: more than the limit allows."""
    shown = max(2, MAX_CLAIMS // max(allowed, 1))
    if allowed * 2 > MAX_CLAIMS:
        return (), ()
    if p.type.kind == "slot_index":
        values: list = list(range(min(value_count(model.game, p), shown)))
    elif p.type.kind == "int":
        values = list(range(p.lo or 0, (p.lo or 0) + min(value_count(model.game, p), shown)))
    else:
        values = param_values(model.game, action, p)[:shown]
    order = tuple(q.name for q in action.params)
    steps: list[Do] = []
    costs: dict[str, int] = {}
    for v in values:
        case = next((c for c in cases if dict(c.params).get(p.name, v) == v), cases[0])
        params = {**dict(case.params), p.name: v}
        free = tuple(s for s in case.slot_params if s != p.name)
        for _ in range(allowed):
            steps.append(Do(action.name, tuple(params.items()), free, case.pin, order))
            for k, amount in case.costs:
                costs[k] = costs.get(k, 0) + amount
    return tuple(steps), tuple(sorted(costs.items()))


def _twins(model: Model) -> list[Dodge]:
    """Actions that pay exactly the same thing for nothing, each behind its own limit or cooldown."""
    groups: dict[tuple[tuple[str, int], ...], dict[str, Case]] = {}
    for c in sorted(model.cases, key=lambda c: c.ident):
        limited = c.bounds and all(b.startswith(("limit", "cooldown")) for b in c.bounds)
        if limited and c.gains and not c.costs:
            groups.setdefault(c.gains, {}).setdefault(c.action, c)
    out = []
    reported: set[tuple[str, ...]] = set()
    for gains, by_action in sorted(groups.items()):
        cases = list(by_action.values())
        names = tuple(c.action for c in cases)
        if len(cases) < 2 or names in reported:
            continue
        reported.add(names)
        what = ", ".join(f"{k} {value_text(v)}" for k, v in gains)
        limits = "; ".join(f"{c.action}: `{'`, `'.join(c.bounds)}`" for c in cases)
        explanation = (
            f"{_and(names)} each give {what} for nothing, each under its own limit ({limits}). "
            f"If they are meant as one reward, a player collects it {len(cases)} times per period."
        )
        params = {a.name: tuple(p.name for p in a.params) for a in model.game.actions}
        steps = tuple(Do(c.action, c.params, c.slot_params, c.pin, params[c.action]) for c in cases)
        out.append(
            Dodge(
                "twin",
                names,
                f"{_and(names)} give the same free reward ({what}) under separate limits",
                explanation,
                steps,
                (),
                1,
            )
        )
    return out


def _and(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
