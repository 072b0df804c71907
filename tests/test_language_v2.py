"""Language v2 (issue 14): `otherwise when`, `nothing`, top-level constants, chances and
weights from data, time values in scenarios. Each construct on a small game compiled for
the test, run through the engine as the server runs it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
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


DRAWS = """
game lucky
currency coins start 0
currency gems start 0
table crop
  columns extra_pct: int, rare_weight: int
  wheat: 0, 0
  corn: 25, 3
  melon: 100, 5

action harvest(kind: crop)
  gain coins 1
  chance crop[kind].extra_pct %
    gain coins 1
  otherwise
    gain gems 1

action roll(p: int -5..105)
  chance p %
    gain coins 1

action rare(p: int 0..1000)
  chance p per mille
    gain coins 1

action dig(kind: crop, w: int -1..5)
  pick one
    crop[kind].rare_weight: gain gems 10
    w: gain coins 1
"""


@pytest.fixture(scope="module")
def lucky(tmp_path_factory):
    return build_pack(tmp_path_factory.mktemp("lucky"), DRAWS)


def test_a_pinned_chance_takes_its_block_or_its_otherwise(lucky):
    p = Player(lucky)
    assert p.do("harvest", kind="corn", pin=1).changes == {"coins": [0, 2]}
    assert p.do("harvest", kind="corn", pin=2).changes == {"coins": [2, 3], "gems": [0, 1]}


def test_a_chance_of_0_never_happens_and_100_always(lucky):
    p = Player(lucky)
    for i in range(20):
        assert p.do("harvest", kind="wheat", action_id=f"w{i}").changes["gems"][1] == i + 1
    coins = p.view()["coins"]
    for i in range(20):
        out = p.do("harvest", kind="melon", action_id=f"m{i}")
        assert out.changes == {"coins": [coins, coins + 2]}
        coins += 2
    out = p.do("harvest", kind="wheat", pin=1)  # a draw that cannot happen cannot be pinned
    assert out.error["code"] == "bad_params" and "weight is 0" in out.error["message"]


@pytest.mark.parametrize(("action", "out_of"), [("roll", 100), ("rare", 1000)])
def test_a_chance_is_one_roll_below_the_amount(lucky, action, out_of):
    # documented: a roll r uniform in [0, out_of), and the chance happens when r < P. So
    # for one seed (player, action id) the outcome only turns on as P grows, exactly once.
    thresholds = set()
    for i in range(12):
        happened = []
        for amount in range(0, out_of + 1, out_of // 20):
            p = Player(lucky)
            out = p.do(action, p=amount, action_id=f"seed{i}")
            assert out.ok, out.error
            happened.append("coins" in out.changes)
        first = happened.index(True)
        assert happened[first:] == [True] * (len(happened) - first) and first > 0
        thresholds.add(first)
    assert len(thresholds) > 3  # the roll differs from seed to seed


def test_a_chance_outside_its_range_rejects_the_action(lucky):
    p = Player(lucky)
    for amount, text in [(101, "a chance of 101% is outside 0 to 100%"), (-1, "-1%")]:
        out = p.do("roll", p=amount)
        assert out.error["code"] == "overflow" and text in out.error["message"]


def test_weights_from_a_column_are_computed_when_drawn(lucky):
    p = Player(lucky)
    for i in range(15):  # wheat's weight is 0: only the other branch can be drawn
        assert p.do("dig", kind="wheat", w=1, action_id=f"d{i}").changes.get("gems") is None
    assert p.do("dig", kind="corn", w=0, pin=1).changes == {"gems": [0, 10]}
    assert p.do("dig", kind="corn", w=0, pin=2).error["code"] == "bad_params"
    out = p.do("dig", kind="wheat", w=0)
    assert out.error == {
        "code": "overflow",
        "message": "every weight of the draw is 0: nothing can be drawn",
        "details": {},
    }
    assert "is negative" in p.do("dig", kind="corn", w=-1).error["message"]


def test_packs_with_computed_draws_are_format_5_and_others_stay_4(tmp_path):
    (tmp_path / "lucky.rules").write_text(DRAWS, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    assert result.ok and result.files is not None
    assert json.loads(result.files["manifest.json"])["format"] == 5
    assert 'ctx.chance(CROP[kind]["extra_pct"], 100)' in result.files["rules.py"]
    (tmp_path / "lucky.rules").write_text(CHAINS, encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    assert result.files is not None and json.loads(result.files["manifest.json"])["format"] == 4


FIELDS = """
game timed
table crop
  columns grow: duration
  wheat: 1d3h
slots field 2
  crop: crop
  ready_at: time
action plant(slot: field, kind: crop)
  replace field[slot] with crop = kind, ready_at = now + crop[kind].grow
"""

TIMES = """
scenario "times are written after the scenario's start"
  wait 1d
  do plant(slot: 0, kind: wheat)
  expect field[0].ready_at 2d 3h, field[0].crop wheat

scenario "and shown so when they differ"
  do plant(slot: 1, kind: wheat)
  expect field[1].ready_at 2d 3h
"""


def test_expect_reads_and_shows_times_after_the_start(tmp_path):
    (tmp_path / "timed.rules").write_text(FIELDS, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "times.rules").write_text(TIMES, encoding="utf-8")
    out = CliRunner().invoke(app, ["test", str(tmp_path)])
    assert "field[1].ready_at: expected 2d 3h after start, got 1d 3h after start" in out.output
    assert "1 passed, 1 failed" in out.output


def test_fmt_keeps_a_time_written_in_parts():
    result = format_source(TIMES.replace("2d 3h,", "2d   3h ,"), "times.rules")
    assert result.text is not None and "ready_at 2d 3h, field[0].crop" in result.text


# ---- time values in tables: a duration cell in parts, inline and in a CSV --------------------

PARTS = """
game parts
currency coins
table job
  columns took: duration, pay: int
  short: 2h 30m, 1
  long: 1d 2h 3m 4s, 2
table far from "far.csv"
  columns took: duration, pay: int
action go(kind: job, other: far)
  require coins > 5 else "takes {job[kind].took}, then {far[other].took}"
  gain coins 1
"""
FAR_CSV = "name,took,pay\nx,3d 12h,1\ny, 2h 30m ,2\nz,45m,3\n"


def test_a_duration_cell_may_be_written_in_parts(tmp_path):
    pack = build_pack(tmp_path, PARTS, **{"far.csv": FAR_CSV})
    job, far = pack.module.JOB, pack.module.FAR  # the tables in the pack, in ms
    assert {row: cells["took"] for row, cells in job.items()} == {
        "short": 9_000_000,
        "long": 93_784_000,
    }
    assert {row: cells["took"] for row, cells in far.items()} == {
        "x": 302_400_000,
        "y": 9_000_000,
        "z": 2_700_000,
    }
    p = Player(pack)
    out = p.do("go", kind="short", other="x")  # shown as durations, never as ms
    assert out.error is not None and out.error["message"] == "takes 2h30m, then 3d12h"


def test_fmt_keeps_a_duration_cell_in_parts():
    result = format_source(PARTS.replace("2h 30m,", "2h   30m ,"), "parts.rules")
    assert result.text is not None and "short: 2h 30m,      1" in result.text
    again = format_source(result.text, "parts.rules")
    assert again.text == result.text


def test_a_decimal_duration_in_a_cell_is_shown_in_whole_parts(tmp_path):
    (tmp_path / "g.rules").write_text(
        "game g\ncurrency coins\ntable job\n  columns took: duration\n  a: 1.5h\n", encoding="utf-8"
    )
    out = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert "`1.5h` is not a whole number" in out.output
    assert "hint: the rules have no decimals: write `1h30m`" in out.output
