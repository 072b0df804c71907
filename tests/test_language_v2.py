"""Language v2 (issue 14): `otherwise when`, `nothing`, top-level constants, chances and
weights from data, time values in scenarios. Each construct on a small game compiled for
the test, run through the engine as the server runs it."""

from __future__ import annotations

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
