"""Keywords as column and field names (`cost`, `at`, `on`, `limit`, ...), and a syntax error
in one line of a declaration keeping the rest of the declaration checked."""

from __future__ import annotations

import textwrap

from rulesc.compiler.build import compile_game, write_pack
from rulesc.dsl import ast
from rulesc.dsl.fmt import format_source
from rulesc.dsl.parser import parse_source
from rulesc.runtime.pack import load_pack
from rulesc.tools.scenarios import run_scenario

from .gamekit import MINUTE, Player, build_pack

SHOP = """
game shop "Shop"
currency coins start 100
stat xp

table ware
  columns cost: int, limit: int, on: bool, at: duration, max: int, stat: int
  hat: 30, 2, true, 5m, 9, 1
  cap: 10, 1, false, 1m, 3, 2

slots shelf 2
  ware: ware
  at: time

action stock(what: ware)
  require ware[what].on else "{what} is not sold"
  require shelf[0] is empty
  cost coins ware[what].cost - ware[what].stat
  fill shelf[0] with ware = what, at = now + ware[what].at
  gain xp ware[what].max

action collect
  require shelf[0] is filled and now >= shelf[0].at
  empty shelf[0]
  gain coins 1
"""

SCENARIO = """
scenario "a keyword-named column and field read like any other"
  do stock(what: hat)
  expect coins 71, xp 9, shelf[0].ware hat
  do collect fails
  wait 5m
  do collect
  expect shelf[0] empty, coins 72
"""


def test_columns_and_fields_may_be_named_by_keywords(tmp_path):
    pack = build_pack(tmp_path, SHOP)
    p = Player(pack)
    out = p.do("stock", what="cap")
    assert not out.ok and out.error["message"] == "cap is not sold"
    out = p.do("stock", what="hat")
    assert out.ok and out.changes["coins"] == [100, 71] and out.changes["xp"] == [0, 9]
    assert not p.do("collect").ok
    p.wait(5 * MINUTE)
    assert p.do("collect").ok


def test_scenarios_read_keyword_named_fields(tmp_path):
    game = tmp_path / "shop"
    (game / "tests").mkdir(parents=True)
    (game / "game.rules").write_text(textwrap.dedent(SHOP).lstrip(), encoding="utf-8")
    (game / "tests" / "shop.rules").write_text(textwrap.dedent(SCENARIO).lstrip(), "utf-8")
    result = compile_game(game)
    assert result.ok and result.game is not None and result.files is not None
    pack = load_pack(write_pack(result.files, tmp_path / "pack"))
    (scenario,) = result.game.scenarios
    outcome = run_scenario(pack, scenario)
    assert outcome.passed and outcome.steps == 6


def test_a_keyword_still_cannot_name_a_resource_or_a_row():
    for text in ("currency cost start 1\n", "table t\n  columns a: int\n  on: 1\n"):
        _, diags = parse_source("g.rules", text)
        assert [d.code for d in diags] == ["R001"]
        assert "is a keyword of the rules" in (diags[0].hint or "")


def test_fmt_keeps_keyword_named_columns_as_values():
    text = "action a(w: ware)\n  cost coins ware[w].cost-ware[w].at , xp ware[w].limit\n"
    result = format_source(text)
    assert result.problem is None
    assert (
        result.text
        == "action a(w: ware)\n  cost coins ware[w].cost - ware[w].at, xp ware[w].limit\n"
    )


ACTION_WITH_A_BAD_LINE = """\
action sell(kind: crop)
  require kind != wheat
  let total = crop[kind].price +
  when total > 3
    gain coins total
  gain coins 1
"""


def test_a_bad_line_leaves_the_rest_of_its_declaration_parsed():
    module, diags = parse_source("g.rules", ACTION_WITH_A_BAD_LINE)
    assert [(d.code, d.span.line) for d in diags] == [("R001", 3)]
    (action,) = module.decls
    assert isinstance(action, ast.ActionDecl)
    assert [type(s).__name__ for s in action.body] == ["Require", "When", "Gain"]


def test_a_second_bad_line_drops_the_declaration_as_before():
    text = ACTION_WITH_A_BAD_LINE.replace("gain coins total", "gain coins on")
    module, diags = parse_source("g.rules", text)
    assert [(d.code, d.span.line) for d in diags] == [("R001", 3)]  # one mistake at a time
    assert module.decls == ()


def test_a_bad_statement_with_a_block_leaves_out_its_block_too():
    text = "action a\n  gain coins 1\n  when coins >\n    gain xp 1\n  gain xp 2\n"
    module, diags = parse_source("g.rules", text)
    assert [(d.code, d.span.line) for d in diags] == [("R001", 3)]
    (action,) = module.decls
    assert [type(s).__name__ for s in action.body] == ["Gain", "Gain"]


def test_a_bad_line_in_brackets_over_several_lines_is_left_out_whole():
    text = "action a\n  gain coins min(1,\n    2 +)\n  gain xp 2\n"
    module, diags = parse_source("g.rules", text)
    assert [d.code for d in diags] == ["R001"]
    (action,) = module.decls
    assert [type(s).__name__ for s in action.body] == ["Gain"]


def test_a_bad_first_line_drops_the_declaration():
    module, diags = parse_source("g.rules", "action a(x: int 1..\n  gain coins 1\n")
    assert [d.code for d in diags] == ["R001"] and module.decls == ()


def test_a_declaration_left_empty_by_its_bad_line_is_dropped():
    module, diags = parse_source("g.rules", "action a\n  gain coins +\n")
    assert [d.code for d in diags] == ["R001"] and module.decls == ()
