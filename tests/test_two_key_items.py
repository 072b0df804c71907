"""Items keyed by two tables (issue 14, item 4): `item produce of crop, quality`, held
nested in the state (`{"wheat": {"gold": 3}}`) and named `produce[wheat, gold]` in changes,
messages, grants and scenarios. One-key items stay as they were."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game
from rulesc.dsl.fmt import format_source
from rulesc.runtime import engine
from rulesc.runtime.grants import GrantError, apply_grant, check_grant
from rulesc.runtime.swapcheck import swap_losses
from rulesc.tools.explore import Options, explore

from .gamekit import Player, build_pack

PAIRS = """
game pairs
currency coins start 100

table crop
  columns price: int
  wheat: 5
  corn: 7

table quality
  columns bonus: int
  silver: 1
  gold: 3

item seed of crop
item produce of crop, quality max 50

action harvest(kind: crop, q: quality, qty: int 1..60)
  gain produce[kind, q] qty

action sell(kind: crop, q: quality, qty: int 1..9)
  require produce[kind, q] >= 1 else "no {kind} of {q} quality"
  cost produce[kind, q] qty
  gain coins crop[kind].price * quality[q].bonus * qty

action grade(kind: crop)
  cost produce[kind, silver] 2
  gain produce[kind, gold] 1, seed[kind] 1

action gift
  set produce[corn, gold] = 2
  gain produce[wheat, silver] 1

action half_done(kind: crop)
  gain produce[kind, gold] 5
  set seed[kind] = produce[kind, gold] - 10
"""

SCENARIOS = """
scenario "sell gold wheat"
  given produce[wheat, gold] 3
  do sell(kind: wheat, q: gold, qty: 1)
  expect produce[wheat, gold] 2, coins 115, produce[corn, gold] 0
"""


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return build_pack(tmp_path_factory.mktemp("pairs"), PAIRS)


def test_the_state_holds_a_two_key_item_nested(pairs):
    p = Player(pairs)
    assert p.view()["produce"] == {
        "wheat": {"silver": 0, "gold": 0},
        "corn": {"silver": 0, "gold": 0},
    }
    assert p.view()["seed"] == {"wheat": 0, "corn": 0}  # one key: unchanged


def test_gain_cost_and_set_name_the_pair_in_changes(pairs):
    p = Player(pairs)
    out = p.do("harvest", kind="wheat", q="silver", qty=3)
    assert out.ok and out.changes == {"produce[wheat, silver]": [0, 3]}
    out = p.do("grade", kind="wheat")
    assert out.ok and out.changes == {
        "produce[wheat, silver]": [3, 1],
        "produce[wheat, gold]": [0, 1],
        "seed[wheat]": [0, 1],
    }
    out = p.do("gift")
    assert out.ok and out.changes == {
        "produce[corn, gold]": [0, 2],
        "produce[wheat, silver]": [1, 2],
    }
    assert p.view()["produce"]["corn"] == {"silver": 0, "gold": 2}


def test_a_cost_of_a_pair_names_it_when_short(pairs):
    p = Player(pairs)
    p.do("harvest", kind="corn", q="gold", qty=1)
    out = p.do("sell", kind="corn", q="gold", qty=2)
    assert out.error is not None and out.error["code"] == "insufficient"
    assert out.error["message"] == "need 2 produce[corn, gold], have 1"
    out = p.do("sell", kind="wheat", q="gold", qty=1)
    assert out.error is not None and out.error["message"] == "no wheat of gold quality"


def test_a_gain_of_a_pair_is_clamped_at_its_max(pairs):
    p = Player(pairs)
    out = p.do("harvest", kind="corn", q="silver", qty=60)
    assert out.ok and out.clamped == {"produce[corn, silver]": 10}
    assert p.view()["produce"]["corn"]["silver"] == 50


def test_a_refused_action_leaves_the_inner_counts_as_they_were(pairs):
    p = Player(pairs)
    before = p.state
    out = p.do("half_done", kind="wheat")  # gains, then its require fails
    assert out.error is not None and out.error["code"] == "overflow"
    assert before["produce"]["wheat"]["gold"] == 0
    assert p.view()["produce"]["wheat"]["gold"] == 0


def test_a_state_from_older_rules_gets_the_new_rows_of_either_table(tmp_path, pairs):
    old = engine.prepare(pairs, None, 0)
    old["produce"] = {"wheat": {"silver": 4}}  # no corn row, no gold column
    grown = build_pack(tmp_path, PAIRS)
    state, _ = engine.upgrade(grown, old, 0)
    assert state["produce"] == {"wheat": {"silver": 4, "gold": 0}, "corn": {"silver": 0, "gold": 0}}


def test_a_grant_names_a_pair_of_rows(pairs):
    places = check_grant(pairs, {"produce[wheat, gold]": 4, "seed[corn]": 1})
    assert places == [("produce", ("wheat", "gold"), 4), ("seed", "corn", 1)]
    state = engine.prepare(pairs, None, 0)
    out = apply_grant(pairs, state, places, 0, "support")
    assert out.ok and out.changes == {"produce[wheat, gold]": [0, 4], "seed[corn]": [0, 1]}
    assert state["produce"]["wheat"]["gold"] == 0  # the state read is not changed in place
    assert out.events[0]["data"]["changes"] == {"produce[wheat, gold]": 4, "seed[corn]": 1}
    for bad in ("produce[wheat]", "produce[wheat, platinum]", "seed[wheat, gold]"):
        with pytest.raises(GrantError):
            check_grant(pairs, {bad: 1})


def test_schema_and_types_describe_the_pair(tmp_path):
    (tmp_path / "pairs.rules").write_text(PAIRS, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    assert result.ok and result.files is not None
    schema = json.loads(result.files["schema.json"])
    assert schema["resources"]["produce"] == {
        "kind": "item",
        "start": 0,
        "max": 50,
        "per": "crop",
        "per2": "quality",
    }
    assert schema["resources"]["seed"] == {"kind": "item", "start": 0, "per": "crop"}
    assert "  produce: Record<Crop, Record<Quality, number>>;" in result.files["types.d.ts"]
    # a runtime from before items of two tables cannot run it: a format of its own
    assert json.loads(result.files["manifest.json"])["format"] == 8


def test_scenarios_give_and_expect_a_pair(tmp_path):
    (tmp_path / "pairs.rules").write_text(PAIRS, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "pairs.rules").write_text(SCENARIOS, encoding="utf-8")
    result = compile_game(tmp_path)
    assert result.ok, [d.message for d in result.diagnostics]


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        ("  gain produce[kind] 1", "R086", "`produce` is counted per crop and quality"),
        ("  gain seed[kind, gold] 1", "R086", "`seed` is counted per crop: it takes no second key"),
        ("  gain coins crop[kind, gold].price", "R086", "only an item of two tables"),
        ("  gain produce[gold, kind] 1", "R012", "a crop"),  # each key its table's row
        ("  require produce[kind] > 0", "R086", "say which of each"),
        ("  gain coins produce[kind, gold].price", "R012", "has no field `price`"),
    ],
)
def test_a_place_with_the_wrong_keys_is_an_error(tmp_path, line, code, message):
    (tmp_path / "pairs.rules").write_text(PAIRS + f"\naction bad(kind: crop)\n{line}\n")
    result = compile_game(tmp_path, with_tests=False)
    errors = [d for d in result.diagnostics if d.is_error]
    assert {d.code for d in errors} == {code}
    assert message in errors[0].message


def test_an_unknown_second_table_is_named(tmp_path):
    (tmp_path / "pairs.rules").write_text(PAIRS.replace("of crop, quality", "of crop, qualty"))
    result = compile_game(tmp_path, with_tests=False)
    errors = [d for d in result.diagnostics if d.is_error]
    assert errors and errors[0].code == "R024" and "`qualty`" in errors[0].message


def test_a_scenario_names_rows_of_both_tables(tmp_path):
    (tmp_path / "pairs.rules").write_text(PAIRS, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    bad = 'scenario "x"\n  given produce[wheat, platinum] 1\n  given produce[wheat] 1\n'
    (tmp_path / "tests" / "pairs.rules").write_text(bad, encoding="utf-8")
    result = compile_game(tmp_path)
    errors = [d for d in result.diagnostics if d.is_error]
    assert [d.code for d in errors] == ["R034", "R034"]
    assert "`platinum` is not a quality" in errors[0].message


def test_fmt_round_trips_two_key_items():
    messy = PAIRS.replace("of crop, quality", "of crop ,quality").replace(
        "produce[kind, q]", "produce[ kind,q ]"
    )
    result = format_source(messy + SCENARIOS, "pairs.rules")
    assert result.problem is None and result.text is not None
    assert "item produce of crop, quality max 50\n" in result.text
    assert "  cost produce[kind, q] qty\n" in result.text
    assert "  given produce[wheat, gold] 3\n" in result.text
    assert format_source(result.text, "pairs.rules").changed is False


def test_a_row_gone_from_either_table_refuses_the_swap(tmp_path):
    old = build_pack(tmp_path, PAIRS)
    no_corn = build_pack(tmp_path, PAIRS.replace("  corn: 7\n", "").replace("corn", "wheat"))
    no_gold = build_pack(
        tmp_path, PAIRS.replace("  gold: 3\n", "").replace("gold", "silver") + "\n"
    )
    assert [x.place for x in swap_losses(old, no_corn)] == ["produce[corn, *]", "seed[corn]"]
    assert [x.place for x in swap_losses(old, no_gold)] == ["produce[*, gold]"]
    migrated = build_pack(
        tmp_path,
        PAIRS.replace("  corn: 7\n", "").replace("corn", "wheat")
        + "\nmigrate crop[corn] -> crop[wheat]\n",
    )
    # the row line moves the seeds and the pairs of the row (issue 15)
    assert swap_losses(old, migrated) == []
    seeds_only = build_pack(
        tmp_path,
        PAIRS.replace("  corn: 7\n", "").replace("corn", "wheat")
        + "\nmigrate seed[corn] -> seed[wheat]\n",
    )
    assert [x.place for x in swap_losses(old, seeds_only)] == ["produce[corn, *]"]
    assert swap_losses(old, build_pack(tmp_path, PAIRS)) == []


def test_explore_and_graph_follow_a_two_key_item(tmp_path):
    (tmp_path / "pairs.rules").write_text(PAIRS, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    report = explore(result, Options(depth=2, budget=30.0))
    loops = [f for f in report.findings if f.kind == "loop"]
    # harvest is free: found, and named as the rules name the pair
    assert any(any(", " in p and p.startswith("produce[") for p in f.net) for f in loops), loops
    out = CliRunner().invoke(app, ["graph", str(tmp_path), "-o", str(tmp_path / "g.dot")])
    assert out.exit_code == 0, out.output
    assert "produce" in (tmp_path / "g.dot").read_text(encoding="utf-8")


def test_another_players_pair_is_not_read_yet(tmp_path):
    rules = PAIRS.replace("max 50", "max 50 public") + (
        "\naction peek(other: player)\n  require other.produce[wheat, gold] > 0\n  gain coins 1\n"
    )
    (tmp_path / "pairs.rules").write_text(rules, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    assert [d.code for d in result.diagnostics if d.is_error] == ["R087"]
