"""Language v2 (issue 14): `otherwise when`, `nothing`, top-level constants, chances and
weights from data, time values in scenarios. Each construct on a small game compiled for
the test, run through the engine as the server runs it."""

from __future__ import annotations

import json

import pytest

from rulesc.compiler.build import compile_game
from rulesc.dsl.fmt import format_source

from .gamekit import Player, build_pack

CHAINS = """
game chains
currency coins start 0
currency gems start 0

action grade(score: int 0..100)
  when score >= 90
    gain coins 3
  otherwise when score >= 50
    gain coins 2
  otherwise when score >= 10
    nothing
  otherwise
    gain gems 1

action crate
  pick one
    1: nothing
    1: gain gems 5
"""


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    return build_pack(tmp_path_factory.mktemp("chains"), CHAINS)


@pytest.mark.parametrize(
    ("score", "coins", "gems"), [(95, 3, 0), (90, 3, 0), (60, 2, 0), (10, 0, 0), (9, 0, 1)]
)
def test_otherwise_when_takes_the_first_branch_that_holds(chains, score, coins, gems):
    p = Player(chains)
    out = p.do("grade", score=score)
    assert out.ok, out.error
    assert (p.view()["coins"], p.view()["gems"]) == (coins, gems)


def test_nothing_is_a_branch_that_changes_nothing(chains):
    p = Player(chains)
    out = p.do("crate", pin=1)
    assert out.ok and out.changes == {}
    out = p.do("crate", pin=2)
    assert out.ok and out.changes == {"gems": [0, 5]}


def test_an_otherwise_when_chain_is_an_elif_in_the_pack(tmp_path):
    (tmp_path / "chains.rules").write_text(CHAINS, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    assert result.ok and result.files is not None
    source = result.files["rules.py"]
    assert "    elif score >= 50:\n" in source and "    elif score >= 10:\n" in source


def test_fmt_keeps_otherwise_when_and_nothing():
    messy = CHAINS.replace("  otherwise when score >= 50", "  otherwise   when  score>=50")
    result = format_source(messy, "chains.rules")
    assert result.problem is None
    assert result.text is not None and "  otherwise when score >= 50\n" in result.text
    assert "    1: nothing\n" in result.text
    assert format_source(result.text, "chains.rules").changed is False


CONSTANTS = """
game tuned
let season_length = 28d
let harvest_bonus = base_yield * 2 + crop[corn].sell   # constants may come in any order
let base_yield = 3
let starter = corn
let generous = harvest_bonus >= 10
currency coins start 0
table crop
  columns sell: int
  wheat: 2
  corn: 5

action harvest(kind: crop)
  require generous else "stingy"
  when kind == starter
    gain coins harvest_bonus
  otherwise
    gain coins base_yield

action season_info
  require season_length > 1d else "a season is {season_length}"
  emit info(length: season_length, half: season_length / 2)
"""


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    return build_pack(tmp_path_factory.mktemp("tuned"), CONSTANTS)


def test_constants_are_computed_once_and_read_anywhere(tuned):
    p = Player(tuned)
    assert p.do("harvest", kind="corn").changes == {"coins": [0, 11]}  # 3 * 2 + 5
    assert p.do("harvest", kind="wheat").changes == {"coins": [11, 14]}
    out = p.do("season_info")
    assert out.ok and out.events[0]["data"] == {"length": 28 * 86_400_000, "half": 14 * 86_400_000}


def test_constants_are_listed_in_the_pack_and_the_schema(tmp_path):
    (tmp_path / "tuned.rules").write_text(CONSTANTS, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    assert result.ok and result.files is not None
    source = result.files["rules.py"]
    assert '"harvest_bonus": 11,' in source and 'CONSTANTS["harvest_bonus"]' in source
    schema = json.loads(result.files["schema.json"])
    assert schema["constants"]["season_length"] == {"type": "duration", "value": 2_419_200_000}
    assert schema["constants"]["starter"] == {"type": "crop", "value": "corn"}


def test_a_let_in_an_action_cannot_take_a_constants_name(tmp_path):
    bad = CONSTANTS + "\naction twice\n  let base_yield = 4\n  gain coins base_yield\n"
    (tmp_path / "tuned.rules").write_text(bad, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    assert [d.code for d in result.diagnostics if d.is_error] == ["R038"]
