"""Calendars (issue 14): `calendar season every 28d from DATE: spring, ...`, one for every
player; `season`, `season is spring`, `day of season`, `next season`, `next day`, `set of
season` columns, `limit N per season` and `on season_change`, run through the engine as
the server runs them, and the scenarios of tests/games/seasons on the simulated clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game
from rulesc.dsl.fmt import format_source
from rulesc.pack_contract import DAY_MS
from rulesc.runtime import rt

from .gamekit import DAY, HOUR, T0, Player, build_pack

SEASONS = Path(__file__).parent / "games" / "seasons"
# from 2026-01-05 at `day starts` 04:00 UTC: T0 (12:00 that day) is spring, day 1
START = T0 - 8 * HOUR
CAL = (START, 28 * DAY_MS, ("spring", "summer", "fall", "winter"))

RULES = """
game turns
day starts 04:00 UTC
calendar season every 28d from 2026-01-05: spring, summer, fall, winter
currency coins start 0
stat turns

action look
  emit seen(nth: day_of_season, spring: season is spring)
  gain coins 1

action strict
  require coins > 100 else "too poor"
  gain coins 1

on season_change
  gain turns 1
""".replace("day_of_season", "day of season")


@pytest.fixture(scope="module")
def turns(tmp_path_factory):
    return build_pack(tmp_path_factory.mktemp("turns"), RULES)


def test_the_seasons_game_scenarios_pass():
    result = CliRunner().invoke(app, ["test", str(SEASONS)])
    assert result.exit_code == 0, result.output
    assert "6 passed, 0 failed" in result.output


@pytest.mark.parametrize(
    ("now", "period", "day"),
    [
        (START, "spring", 1),
        (START - 1, "winter", 28),  # before the start, the calendar runs backwards
        (START + DAY_MS - 1, "spring", 1),  # a day ends at the next `day starts`
        (START + DAY_MS, "spring", 2),
        (START + 28 * DAY_MS, "summer", 1),
        (START + 4 * 28 * DAY_MS, "spring", 1),  # round again
    ],
)
def test_periods_and_days_turn_at_day_starts(now, period, day):
    assert rt.period_of(now, CAL) == period
    assert rt.day_of_period(now, CAL) == day
    assert rt.next_period(now, CAL) > now >= rt.next_period(now, CAL) - CAL[1]


def test_next_day_is_the_next_day_start():
    assert rt.next_day(T0, 4 * HOUR) == T0 + 16 * HOUR
    assert rt.next_day(START, 4 * HOUR) == START + DAY  # at the start itself: the next one


def test_day_of_season_and_season_is_in_an_action(turns):
    p = Player(turns)
    assert p.do("look").events[0]["data"] == {"nth": 1, "spring": True}
    p.wait(30 * DAY)
    assert p.do("look").events[-1]["data"] == {"nth": 3, "spring": False}


def test_season_change_runs_once_in_the_first_step_after_the_turn(turns):
    p = Player(turns)
    p.do("look")
    p.wait(3 * 28 * DAY)  # three turns: the hook runs once, from spring to winter
    out = p.do("look")
    assert out.changes["turns"] == [0, 1]
    turn = [e for e in out.events if e["name"] == "season_change"]
    assert turn == [
        {"name": "season_change", "data": {"calendar": "season", "from": "spring", "to": "winter"}}
    ]
    assert p.do("look").changes == {"coins": [2, 3]}  # not again in the same season


def test_a_rejected_step_keeps_no_turn_and_the_next_step_runs_it(turns):
    p = Player(turns)
    p.wait(28 * DAY)
    assert not p.do("strict").ok
    assert p.view()["turns"] == 0
    assert p.do("look").changes["turns"] == [0, 1]


def test_a_new_player_has_no_turn(turns):
    p = Player(turns, now=T0 + 200 * DAY)
    assert "turns" not in p.do("look").changes


def test_only_packs_with_calendars_get_format_7(tmp_path):
    (tmp_path / "turns.rules").write_text(RULES, encoding="utf-8")
    files = compile_game(tmp_path, with_tests=False).files
    assert files is not None
    assert json.loads(files["manifest.json"])["format"] == 7
    schema = json.loads(files["schema.json"])
    assert schema["calendars"]["season"] == {
        "start_ms": START,
        "every_ms": 28 * DAY_MS,
        "periods": ["spring", "summer", "fall", "winter"],
    }
    harvest = compile_game(Path(__file__).parent.parent / "games" / "harvest").files
    # harvest has events but no calendar: format 6, which a runtime before calendars runs
    assert harvest is not None and json.loads(harvest["manifest.json"])["format"] == 6


def test_a_set_column_holds_its_rows_and_reads_with_in(tmp_path):
    files = compile_game(SEASONS, with_tests=False).files
    assert files is not None
    schema = json.loads(files["schema.json"])
    assert schema["tables"]["crop"]["columns"]["seasons"] == "set"
    assert schema["tables"]["crop"]["rows"]["corn"]["seasons"] == ["summer", "fall"]
    assert " not in CROP[" in files["rules.py"]  # `not (season in ...)` reads as `not in`


def test_fmt_round_trips_every_calendar_construct():
    for path in [SEASONS / "farm.rules", SEASONS / "tests" / "seasons.rules"]:
        text = path.read_text(encoding="utf-8")
        result = format_source(text, path.name)
        assert result.problem is None and result.changed is False, path
    messy = (
        (SEASONS / "farm.rules")
        .read_text(encoding="utf-8")
        .replace("every 28d from 2026-01-05:", "every  28d  from  2026-01-05 :")
    )
    result = format_source(messy, "farm.rules")
    assert result.text is not None
    assert "calendar season every 28d from 2026-01-05: spring" in result.text


def test_a_date_is_one_token_only_where_a_date_can_stand(tmp_path):
    pack = build_pack(
        tmp_path,
        """
        game sums
        currency coins
        action add
          gain coins 2026 - 1 - 1
        """,
    )
    p = Player(pack)
    assert p.do("add").changes == {"coins": [0, 2024]}
