"""`fill` only fills an empty slot (else `slot_busy`); `replace` overwrites on purpose.

The runtime refusal, the checker's R075 where nothing shows the slot is empty, the
formatter on `replace`, and `rulesc explore` reporting a fill it can drive into a busy slot.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rulesc.compiler.build import compile_game
from rulesc.compiler.economy import build_model
from rulesc.compiler.explore import Options, explore
from rulesc.dsl.fmt import format_source
from rulesc.dsl.parser import parse_source
from rulesc.runtime.rt import Context

from .gamekit import MINUTE, T0, Player, build_pack

PENS = """
game pens "Pens"
currency coins start 100
table animal
  columns price: int, grow: duration
  sheep: 10, 5m
  goat: 20, 10m
slots pen 2
  animal: animal
  ready_at: time

action buy(slot: pen, kind: animal)
  cost coins animal[kind].price
  fill pen[slot] with animal = kind, ready_at = now + animal[kind].grow

action swap(slot: pen, kind: animal)
  cost coins 1
  replace pen[slot] with animal = kind, ready_at = now

action twice(slot: pen)
  fill pen[slot] with animal = sheep, ready_at = now
  fill pen[slot] with animal = goat, ready_at = now
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return build_pack(tmp_path_factory.mktemp("pens"), PENS)


# ---- run time ------------------------------------------------------------------------------


def test_fill_into_an_empty_slot_fills_it(pack):
    p = Player(pack)
    out = p.do("buy", slot=1, kind="sheep")
    assert out.ok
    assert out.changes == {
        "coins": [100, 90],
        "pen[1]": [None, {"animal": "sheep", "ready_at": T0 + 5 * MINUTE}],
    }


def test_fill_into_a_filled_slot_is_refused_and_changes_nothing(pack):
    p = Player(pack)
    assert p.do("buy", slot=0, kind="sheep").ok
    before = p.state
    p.wait(MINUTE)
    out = p.do("buy", slot=0, kind="goat")
    assert not out.ok
    assert out.error == {
        "code": "slot_busy",
        "message": "slot pen[0] is busy",
        "details": {"slot": "pen[0]"},
    }
    assert out.state is before and p.state is before  # the goat's 20 coins are not spent
    view = p.view()
    assert view["coins"] == 90 and view["pen"][0] == {
        "animal": "sheep",
        "ready_at": T0 + 5 * MINUTE,
    }


def test_a_second_fill_of_one_slot_in_one_action_refuses_the_whole_action(pack):
    p = Player(pack)
    out = p.do("twice", slot=1)
    assert not out.ok and out.error["code"] == "slot_busy"
    assert p.view()["pen"] == [None, None]


def test_replace_overwrites_a_filled_slot(pack):
    p = Player(pack)
    assert p.do("buy", slot=0, kind="sheep").ok
    out = p.do("swap", slot=0, kind="goat")
    assert out.ok
    assert out.changes == {
        "coins": [90, 89],
        "pen[0]": [
            {"animal": "sheep", "ready_at": T0 + 5 * MINUTE},
            {"animal": "goat", "ready_at": T0},
        ],
    }
    assert p.do("swap", slot=1, kind="sheep").ok  # and fills an empty one


def test_packs_built_before_the_refusal_keep_overwriting():
    # their rules.py calls ctx.fill: the same pack must mean the same after a runtime upgrade
    ctx = Context(T0, "p1", "a1", "v1", 0)
    s = {"pen": [{"animal": "sheep"}, None]}
    ctx.fill(s, "pen", 0, {"animal": "goat"})
    assert s["pen"][0] == {"animal": "goat"}
    assert ctx.changes == {"pen[0]": [{"animal": "sheep"}, {"animal": "goat"}]}


# ---- the checker: R075 ------------------------------------------------------------------------

HEAD = """
game pens "Pens"
currency coins start 100
slots pen 2
  size: int
"""


def busy_warnings(tmp_path: Path, actions: str) -> list[int]:
    """The lines of rules (counted within `actions`, from 1) where R075 warns."""
    game = tmp_path / "game"
    game.mkdir()
    head = textwrap.dedent(HEAD).lstrip()
    (game / "game.rules").write_text(head + textwrap.dedent(actions).lstrip(), encoding="utf-8")
    result = compile_game(game)
    assert result.ok, [d.message for d in result.diagnostics]
    offset = head.count("\n")
    return [d.span.line - offset for d in result.diagnostics if d.code == "R075"]


def test_a_fill_with_nothing_before_it_warns(tmp_path):
    assert busy_warnings(
        tmp_path,
        """
        action buy(slot: pen)
          cost coins 1
          fill pen[slot] with size = 1
        """,
    ) == [3]


def test_require_is_empty_on_the_same_slot_guards_the_fill(tmp_path):
    assert (
        busy_warnings(
            tmp_path,
            """
        action buy(slot: pen)
          require pen[slot] is empty and coins > 0 else "That pen is taken"
          cost coins 1
          fill pen[slot] with size = 1
        action first
          require not (pen[0] is filled)
          fill pen[0] with size = 2
        action swap(slot: pen)
          replace pen[slot] with size = 3
        """,
        )
        == []
    )


def test_a_when_that_shows_the_slot_empty_guards_the_fill(tmp_path):
    assert (
        busy_warnings(
            tmp_path,
            """
        action buy(slot: pen)
          when pen[slot] is filled
            empty pen[slot]
          otherwise
            fill pen[slot] with size = 1
          when pen[slot] is empty
            fill pen[slot] with size = 2
        """,
        )
        == []
    )


def test_a_guard_of_another_slot_or_an_earlier_fill_does_not_count(tmp_path):
    assert busy_warnings(
        tmp_path,
        """
        action other(a: pen, b: pen)
          require pen[a] is empty
          fill pen[b] with size = 1
        action twice(a: pen)
          require pen[a] is empty
          fill pen[a] with size = 1
          fill pen[a] with size = 2
        action moving
          require pen[coins % 2] is empty
          cost coins 1
          fill pen[coins % 2] with size = 1
        action in_a_block(a: pen)
          when coins > 5
            fill pen[a] with size = 1
        """,
    ) == [3, 7, 11, 14]


def test_a_hook_that_fills_warns_too(tmp_path):
    assert busy_warnings(
        tmp_path,
        """
        stat xp
        level from xp at 0, 10
        action work
          gain xp 10
        on level_up
          fill pen[0] with size = 1
        """,
    ) == [6]


def test_the_harvest_game_checks_clean_of_r075():
    result = compile_game(Path(__file__).resolve().parents[1] / "games" / "harvest")
    assert result.ok and not [d for d in result.diagnostics if d.code == "R075"]


# ---- the formatter -----------------------------------------------------------------------------


def test_fmt_lays_out_replace_and_keeps_it_apart_from_fill():
    text = HEAD.lstrip() + "action swap(slot: pen)\n    replace   pen[ slot ] with size=1\n"
    out = format_source(text)
    assert out.text is not None, out.problem
    assert out.text.endswith("action swap(slot: pen)\n  replace pen[slot] with size = 1\n")
    assert format_source(out.text).text == out.text  # stable
    [*_, action] = parse_source("x.rules", out.text)[0].decls
    assert action.body[0].replace is True
    filled = out.text.replace("replace pen", "fill pen")
    [*_, action] = parse_source("x.rules", filled)[0].decls
    assert action.body[0].replace is False


# ---- explore -------------------------------------------------------------------------------------


def explored(tmp_path: Path, actions: str):
    game = tmp_path / "game"
    game.mkdir()
    (game / "game.rules").write_text(
        textwrap.dedent(HEAD).lstrip() + textwrap.dedent(actions).lstrip(), encoding="utf-8"
    )
    result = compile_game(game, with_tests=False)
    assert result.ok
    return explore(result, Options(budget=2.0))


def test_explore_reports_a_fill_it_drives_into_a_busy_slot(tmp_path):
    report = explored(
        tmp_path,
        """
        action buy(slot: pen)
          cost coins 150
          fill pen[slot] with size = 1
        """,
    )
    [finding] = report.findings
    assert finding.kind == "busy_slot" and finding.actions == ["buy"] and finding.verified
    assert 'slot_busy, "slot pen[0] is busy"' in finding.details[0]
    # a new player has 100 coins, not enough: explore gives what the action costs
    assert finding.scenario is not None
    assert finding.scenario.splitlines()[3:] == [
        "  given coins 1000",
        "  do buy(slot: 0)",
        "  do buy(slot: 0) fails slot_busy",
    ]


def test_the_flow_model_knows_a_fill_into_a_filled_slot_is_refused(tmp_path):
    game = tmp_path / "game"
    game.mkdir()
    (game / "game.rules").write_text(
        textwrap.dedent(HEAD).lstrip()
        + textwrap.dedent("""
        action buy(slot: pen)
          fill pen[slot] with size = 1
        action swap(slot: pen)
          replace pen[slot] with size = 2
        """),
        encoding="utf-8",
    )
    result = compile_game(game, with_tests=False)
    assert result.game is not None
    model = build_model(result.game)
    # `buy` only works on an empty pen; `swap` on an empty or a filled one
    assert sorted(c.needs for c in model.cases if c.action == "buy") == [()]
    assert sorted(c.needs for c in model.cases if c.action == "swap") == [(), ("pen()",)]


def test_explore_is_clean_where_the_slot_is_checked_or_replaced(tmp_path):
    report = explored(
        tmp_path,
        """
        action buy(slot: pen)
          require pen[slot] is empty else "That pen is taken"
          fill pen[slot] with size = 1
        action swap(slot: pen)
          replace pen[slot] with size = 2
        """,
    )
    assert report.clean, [f.summary for f in report.findings]
