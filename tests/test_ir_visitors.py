"""Every tool that walks statements knows every statement, and says so loudly when it does not.

Adding a statement class to compiler/ir.py (or to rulesc.dsl.ast) must fail in each walker
until it is handled there: the walkers are ir.Visitor subclasses (one method per class of
their family, `visit` raises UnhandledNode for any other) or use ir.walk_statements /
ir.blocks, which raise too. docs/architecture.md lists the places to touch.
"""

from __future__ import annotations

import ast as pyast
import dataclasses
from pathlib import Path

import pytest

from rulesc.compiler import ir, slotfill
from rulesc.compiler import types as T
from rulesc.compiler.check import check_game
from rulesc.compiler.check.context import Context, Scope
from rulesc.compiler.check.effects import CHECKS, EFFECTS, NEITHER, writes
from rulesc.compiler.check.expressions import Expressions
from rulesc.compiler.check.social import HOOK_FORBIDDEN
from rulesc.compiler.check.statements import Statements
from rulesc.compiler.loader import load_game
from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span
from rulesc.tools import dodges, economy, graph, precheck, search

ROOT = Path(__file__).resolve().parent.parent
LOC = ir.Loc("x.rules", 1, "teleport")
SPAN = Span("x.rules", 1, 1, 1, 9)


@dataclasses.dataclass(frozen=True, slots=True)
class Teleport:
    """A statement new to the language, which no walker was taught."""

    loc: ir.Loc = LOC
    span: Span = SPAN


@pytest.fixture(scope="module")
def harvest() -> ir.Game:
    game, diags = check_game(load_game(ROOT / "games" / "harvest"))
    assert game is not None, diags
    return game


def with_teleport(game: ir.Game) -> ir.Game:
    """The game with a Teleport first in every action (none of harvest's acts on a player)."""
    actions = tuple(dataclasses.replace(a, body=(Teleport(), *a.body)) for a in game.actions)
    return dataclasses.replace(game, actions=actions)


def test_every_visitor_has_a_method_for_every_class_of_its_family() -> None:
    assert len(ir.Visitor.registry) >= 8, [v.__qualname__ for v in ir.Visitor.registry]
    for visitor in ir.Visitor.registry:
        assert visitor.NODES, visitor
        assert visitor.unhandled() == [], f"{visitor.__module__}.{visitor.__qualname__}"


def test_the_families_are_every_statement_class() -> None:
    assert set(ir.STATEMENTS) == set(ir.LEAF_STATEMENTS) | {ir.When, ir.Pick}
    assert set(ir.AST_STATEMENTS) == set(ir.AST_LEAF_STATEMENTS) | {ast.When, ast.Pick, ast.Chance}
    # the checker's order of a body (R028): every statement is a check, an effect or a `let`
    kinds = [set(EFFECTS), set(CHECKS), set(NEITHER)]
    assert set.union(*kinds) == set(ir.AST_STATEMENTS)
    assert sum(len(k) for k in kinds) == len(ir.AST_STATEMENTS)
    assert set(HOOK_FORBIDDEN) <= set(ir.AST_STATEMENTS)


def test_a_visitor_without_a_method_says_which_class_and_which_visitor() -> None:
    class Partial(ir.StatementVisitor[None]):
        def visit_Require(self, s: ir.Require) -> None:
            pass

    try:
        assert "Cost" in Partial.unhandled() and "Require" not in Partial.unhandled()
        with pytest.raises(ir.UnhandledNode, match="^Cost is not handled by .*Partial$"):
            Partial().visit(ir.Cost((), LOC))
    finally:
        ir.Visitor.registry.remove(Partial)


def test_the_generic_walks_raise_on_a_new_statement() -> None:
    with pytest.raises(ir.UnhandledNode, match="Teleport is not handled by ir.blocks"):
        list(ir.walk_statements((ir.When(ir.Const(True, T.BOOL), (Teleport(),), (), LOC),)))


def test_the_checker_raises_on_a_new_statement(harvest: ir.Game) -> None:
    c = Context(load_game(ROOT / "games" / "harvest"))
    with pytest.raises(ir.UnhandledNode, match="Teleport is not handled by Statements"):
        Statements(c, Expressions(c)).stmt(Teleport(), Scope())  # type: ignore[arg-type]
    with pytest.raises(ir.UnhandledNode, match="Teleport is not handled by Writes"):
        writes(c, (Teleport(),))  # type: ignore[arg-type]


def test_every_tool_raises_on_a_new_statement(harvest: ir.Game) -> None:
    game = with_teleport(harvest)
    action = game.actions[0]
    tools = {
        "_Guards": lambda: slotfill.unguarded_fills(action.body),
        "_FirstChecks": lambda: precheck.first_checks(None, action),  # type: ignore[arg-type]
        "_Walker": lambda: economy.build_model(game),
        "_Flows": lambda: graph.flows(action),
        "_EffectParams": lambda: dodges.effect_params(action),
        "_Flow": lambda: search.upstream(game, {"coins"}),
    }
    for walker, run in tools.items():
        with pytest.raises(ir.UnhandledNode, match=f"^Teleport is not handled by {walker}$"):
            run()


def function_level_imports(path: Path) -> list[str]:
    tree = pyast.parse(path.read_text(encoding="utf-8"))
    found = []
    for fn in pyast.walk(tree):
        if isinstance(fn, pyast.FunctionDef | pyast.AsyncFunctionDef):
            found += [
                f"{path.name}:{n.lineno}"
                for n in pyast.walk(fn)
                if isinstance(n, pyast.Import | pyast.ImportFrom)
            ]
    return found


def private_imports(path: Path) -> list[str]:
    tree = pyast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name}:{n.lineno} {a.name}"
        for n in pyast.walk(tree)
        if isinstance(n, pyast.ImportFrom)
        for a in n.names
        if a.name.startswith("_") and not a.name.startswith("__")
    ]


def test_the_checker_has_no_function_level_imports_and_takes_no_private_names() -> None:
    files = [
        *sorted((ROOT / "compiler" / "check").glob("*.py")),
        ROOT / "compiler" / "ir.py",
        ROOT / "compiler" / "slotfill.py",
    ]
    assert len(files) > 10
    for path in files:
        assert function_level_imports(path) == []
    # nor anywhere else in the library: a private name is its own module's business
    for package in ("dsl", "compiler", "runtime", "tools", "cli", "rulesc"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert private_imports(path) == [], path
