"""The checker's driver: runs the passes in order over one Context.

AST to typed IR: name resolution, types, bounds and the designer's mistakes. Mistakes are
collected as diagnostics and checking goes on, so one run shows them all. A node that
cannot be typed becomes None and its parents stay quiet about it (one mistake, one
diagnostic). Each pass is a module of this package with one job; they depend on each
other one way only (context <- typenames, names, tables, declarations <- expressions <-
statements <- effects, actions, social <- scenarios, bots <- driver).
"""

from __future__ import annotations

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Diagnostic, Span

from .. import ir
from ..loader import GameSources
from .actions import Actions
from .bots import check_bots
from .calendars import check_calendars
from .constants import check_constants
from .context import Context
from .declarations import Declarations
from .events import check_events
from .expressions import Expressions
from .memo import ActionMemo
from .migrations import check_migrations
from .names import Names
from .scenarios import Scenarios
from .social import check_hooks, check_leaderboards, check_loot
from .statements import Statements
from .tables import Tables


def check_game(
    src: GameSources, memo: ActionMemo | None = None
) -> tuple[ir.Game | None, list[Diagnostic]]:
    """The checker: parsed sources in, typed IR (or None) and every diagnostic out. A memo
    (the language server's) reuses the checks of actions unchanged since its last run."""
    c = Context(src)
    game = run(c, memo)
    diags = src.diagnostics + c.diags
    if any(d.is_error for d in diags):
        game = None
    return game, diags


def run(c: Context, memo: ActionMemo | None = None) -> ir.Game | None:
    exprs = Expressions(c)
    statements = Statements(c, exprs)
    actions_pass = Actions(c, exprs, statements)
    names, declarations = Names(c), Declarations(c)
    decls = [d for m in c.src.rules for d in m.decls]
    c.broken = names.unparsed_names()
    for d in decls:
        if isinstance(d, ast.ScenarioDecl):
            c.error(
                "R045",
                "scenarios belong in the tests/ folder",
                d.span,
                "move this scenario to a file under tests/ beside the rules",
            )
    names.declare_names(decls)
    names.claim_social_names(decls)
    check_calendars(c, decls)
    Tables(c).tables_pass(decls)
    for d in decls:
        if isinstance(d, ast.SlotsDecl):
            declarations.slot_decl(d)
        elif isinstance(d, ast.ResourceDecl | ast.ItemDecl):
            declarations.resource(d)
    for d in decls:
        if isinstance(d, ast.LevelDecl):
            declarations.level_decl(d)
    constants = check_constants(c, exprs, decls)
    loot = check_loot(c, decls)
    if memo is None:
        actions = [actions_pass.action(d) for d in decls if isinstance(d, ast.ActionDecl)]
    else:
        memo.start(c, decls)
        actions = [
            memo.action(c, actions_pass.action, d) for d in decls if isinstance(d, ast.ActionDecl)
        ]
    hooks = check_hooks(c, statements, decls)
    leaderboards = check_leaderboards(c, decls)
    migrations = check_migrations(c, decls)
    events = check_events(c, decls, [a for a in actions if a is not None])
    invariants = [actions_pass.invariant(d) for d in decls if isinstance(d, ast.InvariantDecl)]
    if not c.rules_have_errors():
        # usage is only known once every action reads right: a misspelt or unparsed
        # use would make a used resource look unused
        declarations.usage_warnings()
    scenarios_pass = Scenarios(c)
    scenarios = [
        scenarios_pass.scenario(d)
        for m in c.src.tests
        for d in m.decls
        if isinstance(d, ast.ScenarioDecl)
    ]
    for m in c.src.tests:
        for d in m.decls:
            if not isinstance(d, ast.ScenarioDecl | ast.BotDecl):  # a bot there is R060
                c.error(
                    "R045",
                    "only scenarios belong in the tests/ folder",
                    d.span,
                    "move declarations and actions to a .rules file beside tests/",
                )
    bots = check_bots(c, exprs)
    if c.game is None and c.src.rules and "game" not in c.broken:
        span = Span(c.first_file(), 1, 1, 1, 2)
        c.error(
            "R023",
            "the game has no `game` declaration",
            span,
            'start the main file with the game\'s id and title: `game my_game "My Game"`',
        )
    if any(d.is_error for d in c.diags) or c.game is None:
        return None
    sources = tuple(ir.SourceFile(p, h) for p, h in sorted(c.src.hashes.items()))
    return ir.Game(
        id=c.game.id,
        title=c.game.title or c.game.id,
        day_start_minutes=c.day_start,
        resources=tuple(c.resources.values()),
        tables=tuple(c.tables.values()),
        slots=tuple(c.slots.values()),
        level=c.level,
        actions=tuple(a for a in actions if a is not None),
        invariants=tuple(i for i in invariants if i is not None),
        scenarios=tuple(s for s in scenarios if s is not None),
        sources=sources,
        bots=tuple(bots),
        loot=tuple(loot),
        hooks=tuple(hooks),
        leaderboards=tuple(leaderboards),
        migrations=tuple(migrations),
        constants=tuple(constants),
        events=tuple(events),
        calendars=tuple(c.calendars.values()),
    )
