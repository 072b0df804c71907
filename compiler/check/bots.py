"""Pass 10, bots: `bot` declarations (bots/*.rules): scripted players for `rulesc simulate`.

A bot names the actions it tries, in priority order, with a value or `any` for each
parameter, and how often it plays. Bots live in their own folder, like scenarios in
tests/: they are never part of the built pack, so editing one does not change the
pack's version. Runs after the rules are checked, on the same context and expressions, so a bot's
values and conditions are typed exactly like an action's.
"""

from __future__ import annotations

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .. import ir
from .. import types as T
from .context import INT64_MAX, Context, Scope, did_you_mean
from .expressions import Expressions
from .scenarios import Scenarios

# how often a bot may play: a session every quarter of an hour at most, and a session
# of at most a thousand actions, so one simulated day stays bounded
MAX_SESSIONS_PER_DAY = 96
MAX_ACTIONS_PER_SESSION = 1000
_RATES = {
    "sessions": ("sessions {n} per day", "day", MAX_SESSIONS_PER_DAY),
    "actions": ("actions {n} per session", "session", MAX_ACTIONS_PER_SESSION),
}


def check_bots(c: Context, exprs: Expressions) -> list[ir.Bot]:
    """Every bot of the game, typed; misplaced ones are reported (R060)."""
    for m in [*c.src.rules, *c.src.tests]:
        for d in m.decls:
            if isinstance(d, ast.BotDecl):
                c.error(
                    "R060",
                    "bots belong in the bots/ folder",
                    d.name_span,
                    "move this bot to a file under bots/ beside the rules: bots are not part of the game",
                )
    bots: list[ir.Bot] = []
    seen: dict[str, Span] = {}
    for m in c.src.bots:
        for d in m.decls:
            if not isinstance(d, ast.BotDecl):
                c.error(
                    "R060",
                    "only bots belong in the bots/ folder",
                    d.span,
                    "move declarations and actions beside the rules, and scenarios to tests/",
                )
                continue
            if d.name in seen:
                c.error(
                    "R011",
                    f"bot `{d.name}` is declared twice",
                    d.name_span,
                    "rename one of them",
                    [("first declared here", seen[d.name])],
                )
                continue
            seen[d.name] = d.name_span
            bot = _bot(c, exprs, d)
            if bot is not None:
                bots.append(bot)
    return bots


def _bot(c: Context, exprs: Expressions, d: ast.BotDecl) -> ir.Bot | None:
    c.check_snake(d.name, d.name_span)
    sessions = _rate(c, d, "sessions")
    actions = _rate(c, d, "actions")
    if not d.tries:
        c.error(
            "R061",
            f"bot `{d.name}` tries no action",
            d.name_span,
            "list the actions it tries, most wanted first: `  try harvest(slot: any)`",
        )
    tries = [_try(c, exprs, t) for t in d.tries]
    given = [_given(c, sv) for sv in d.given]
    if sessions is None or actions is None or not tries or any(t is None for t in tries):
        return None
    if any(g is None for g in given):
        return None
    return ir.Bot(
        d.name,
        d.title or d.name,
        sessions,
        actions,
        tuple(t for t in tries if t is not None),
        c.loc(d.span),
        tuple(g for g in given if g is not None),
    )


def _given(c: Context, sv: ast.StateValue) -> tuple[ir.StatePath, object] | None:
    """`given coins 500`: a value the bot's runs start with, checked as a scenario's `given`
    (R034); a bot plays alone (no `bob.coins`) and a value must fit its resource (R093)."""
    if sv.place.player is not None:
        c.error(
            "R093",
            "a bot plays alone: it cannot give another player's state",
            sv.place.span,
            f"give its own: `given {sv.place.name} ...`",
        )
        return None
    checked = Scenarios(c).state_value(sv, given=True)
    if checked is None:
        return None
    path, value = checked
    res = c.resources.get(path.name)
    top = res.max if res is not None and res.max is not None else INT64_MAX
    if isinstance(value, int) and value > top:
        c.error(
            "R093",
            f"`{path.label}` cannot start at {value}: its max is {top}",
            sv.value.span,
            f"give at most `{path.label} {top}`",
        )
        return None
    return checked


def _rate(c: Context, d: ast.BotDecl, what: str) -> int | None:
    """`sessions N per day` or `actions N per session`: written once, within its range."""
    example, unit, top = _RATES[what]
    found = [r for r in d.rates if r.what == what]
    if not found:
        c.error(
            "R062",
            f"bot `{d.name}` does not say how many {what} it plays per {unit}",
            d.name_span,
            f"add the line `  {example.format(n=3 if what == 'sessions' else 12)}` under it",
        )
        return None
    if len(found) > 1:
        c.error(
            "R062",
            f"`{what}` is given twice",
            found[1].span,
            "keep one line",
            [("first given here", found[0].span)],
        )
        return None
    n = found[0].count
    if not 1 <= n.value <= top:
        c.error(
            "R062",
            f"{n.value} {what} per {unit} is out of range",
            n.span,
            f"a bot plays 1 to {top} {what} per {unit}",
        )
        return None
    return n.value


def _try(c: Context, exprs: Expressions, t: ast.BotTry) -> ir.BotTry | None:
    actions = {a.name: a for a in c.actions_by_name()}
    decl = actions.get(t.action)
    if decl is None:
        if not c.reported(t.action):
            c.error(
                "R061",
                f"unknown action `{t.action}`",
                t.action_span,
                did_you_mean(t.action, actions) or "the actions are: " + ", ".join(sorted(actions)),
            )
        return None
    names = [p.name for p in decl.params]
    params = c.action_params.get(
        t.action, {}
    )  # the typed ones: a parameter with a mistake is missing
    given: dict[str, ast.BotArg] = {}
    for a in t.args:
        if a.name not in names:
            c.error(
                "R061",
                f"`{t.action}` has no parameter `{a.name}`",
                a.span,
                did_you_mean(a.name, names) or f"parameters: {', '.join(names) or 'none'}",
            )
            return None
        if a.name in given:
            c.error(
                "R061",
                f"`{a.name}` is given twice",
                a.span,
                "give each parameter once",
                [("first given here", given[a.name].span)],
            )
            return None
        given[a.name] = a
    missing = [n for n in names if n not in given]
    if missing:
        said = ", ".join(f"`{n}`" for n in missing)
        c.error(
            "R061",
            f"`{t.action}` needs a value for {said}",
            t.span,
            f"give each parameter a value, or `any` to pick one at random: `try {t.action}("
            + ", ".join(f"{n}: any" for n in names)
            + ")`",
        )
        return None
    if len(params) != len(names):
        return None  # a parameter's own mistake is reported with the action
    others = [n for n, p in params.items() if p.type.kind == "player"]
    if others:
        c.error(
            "R061",
            f"`{t.action}` names another player (`{others[0]}`): a bot plays alone",
            t.action_span,
            "simulations play one player at a time; leave actions on other players out of bots",
        )
        return None
    chosen = {n: p for n, p in params.items() if _chosen(given[n].value, names)}
    args = [_arg(c, exprs, t, params[n], given[n], chosen) for n in params]
    when = None
    if t.when is not None:
        when = exprs.expect_type(t.when, Scope(params=dict(params)), T.BOOL, "a condition")
        if when is None:
            return None
    if any(a is None for a in args):
        return None
    return ir.BotTry(t.action, tuple(a for a in args if a is not None), when, c.loc(t.span))


def _arg(
    c: Context,
    exprs: Expressions,
    t: ast.BotTry,
    p: ir.Param,
    a: ast.BotArg,
    chosen: dict[str, ir.Param],
) -> ir.BotArg | None:
    """One parameter's value: `any`, or an expression of its type. It may read the player's
    state and the parameters whose values read no parameter (those are known first)."""
    if isinstance(a.value, ast.AnyValue):
        return ir.BotArg(p.name, None)
    for name in _names(a.value):
        if name.id in c.action_params.get(t.action, {}) and name.id not in chosen:
            c.error(
                "R061",
                f"`{name.id}` is computed too, so `{p.name}` cannot use it",
                name.span,
                "a value may use parameters given `any` or a value that reads no parameter",
            )
            return None
    want = T.enum(p.type.name or "") if p.type.kind == "enum" else p.type
    value = exprs.expect_type(a.value, Scope(params=dict(chosen)), want, f"a value for `{p.name}`")
    if value is None:
        return None
    if (
        isinstance(value, ir.Const)
        and isinstance(value.value, int)
        and not isinstance(value.value, bool)
        and p.lo is not None
        and p.hi is not None
        and not p.lo <= value.value <= p.hi
    ):
        c.error(
            "R061",
            f"`{p.name}: {value.value}` is outside {p.lo}..{p.hi}",
            a.value.span,
            f"the action would reject it: give a value from {p.lo} to {p.hi}, or `any`",
        )
        return None
    return ir.BotArg(p.name, value)


def _chosen(e: ast.Expr | ast.AnyValue, params: list[str]) -> bool:
    """`any`, or a value that reads no parameter: known before the values computed from them."""
    return isinstance(e, ast.AnyValue) or not any(n.id in params for n in _names(e))


def _names(e) -> list[ast.Name]:
    """Every name an expression reads (not the fields it names)."""
    if isinstance(e, ast.Name):
        return [e]
    out: list[ast.Name] = []
    for f in getattr(e, "__slots__", ()):
        if f == "span":
            continue
        child = getattr(e, f)
        for x in child if isinstance(child, tuple) else (child,):
            if hasattr(x, "__slots__") and not isinstance(x, Span | str):
                out += _names(x)
    return out
