"""Scheduled events (`event ... from ... to ...`, `event ... every week on saturday for 2d`):
when they run, what a pack reads while they run, the state answer, scenarios' `wait until`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

from rulesc.compiler.build import compile_game, write_pack
from rulesc.compiler.check.events import can_overlap
from rulesc.dsl.fmt import format_source
from rulesc.pack_contract import DAY_MS, event_occurrence, event_runs
from rulesc.runtime.events import events_at
from rulesc.runtime.pack import load_pack
from rulesc.runtime.schemadiff import render, report
from rulesc.runtime.swapcheck import swap_losses
from rulesc.tools.precheck import ExprCompiler, first_checks, rejects
from rulesc.tools.scenarios import run_scenario

from .gamekit import HOUR, MINUTE, Player, build_pack
from .serverkit import Kit, a, act, call, session, state

ROOT = Path(__file__).resolve().parents[1]


def at(text: str) -> int:
    """`2026-10-25 18:00` (UTC) in ms since the epoch."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


FARM = """
game farm "Tiny Farm"

currency coins start 100
table crop
  columns price: int, sell: int, grow: duration
  wheat: 2, 3, 2m
  berry: 5, 8, 5m
item seed of crop

action buy(kind: crop)
  cost coins crop[kind].price
  gain seed[kind] 1

action gift
  limit 1 per day
  gain coins 10

event festival from 2026-10-25 to 2026-11-01 12:00
  crop[wheat].price = 1
  limit gift 2 per day

event weekend every week on saturday for 2d
  crop[berry].price = 4

event happy_hour every day at 18:00 for 1h
  crop[berry].grow = 1m
"""


# ---- when an event runs


def test_a_window_runs_from_its_start_to_just_before_its_end() -> None:
    window = (at("2026-10-25 00:00"), 7 * DAY_MS, None)
    assert not event_runs(window, at("2026-10-24 23:59"))
    assert event_runs(window, at("2026-10-25 00:00"))
    assert event_runs(window, at("2026-10-31 23:59"))
    assert not event_runs(window, at("2026-11-01 00:00"))
    assert event_occurrence(window, at("2026-01-01 00:00")) == (window[0], window[0] + 7 * DAY_MS)
    assert event_occurrence(window, at("2026-11-01 00:00")) is None


def test_a_weekly_event_runs_on_its_weekday_every_week() -> None:
    saturday = (2 * DAY_MS, 2 * DAY_MS, 7 * DAY_MS)  # 1970-01-03 was a saturday
    assert event_runs(saturday, at("2026-10-31 00:00"))  # a saturday
    assert event_runs(saturday, at("2026-11-01 23:59"))  # the sunday after
    assert not event_runs(saturday, at("2026-11-02 00:00"))  # monday
    assert event_occurrence(saturday, at("2026-11-02 00:00")) == (
        at("2026-11-07 00:00"),
        at("2026-11-09 00:00"),
    )


def test_overlaps_of_windows_and_recurring_events() -> None:
    festival = (at("2026-10-25 00:00"), 7 * DAY_MS, None)
    weekend = (2 * DAY_MS, 2 * DAY_MS, 7 * DAY_MS)
    monday = (4 * DAY_MS, DAY_MS, 7 * DAY_MS)
    evening = (18 * HOUR, HOUR, DAY_MS)
    assert can_overlap(festival, weekend) and can_overlap(weekend, festival)
    assert not can_overlap(weekend, monday)
    assert can_overlap(evening, monday) and can_overlap(monday, evening)
    # Tuesday to Thursday morning: no weekend in it
    midweek = (at("2026-10-27 00:00"), 2 * DAY_MS, None)
    assert not can_overlap(midweek, weekend) and not can_overlap(weekend, midweek)
    assert not can_overlap(midweek, (at("2026-10-29 00:00"), DAY_MS, None))


# ---- what a pack reads while an event runs (the server's clock: the engine's now)


def test_prices_limits_and_durations_follow_the_events_running_at_now(tmp_path) -> None:
    pack = build_pack(tmp_path, FARM)
    assert pack.manifest["format"] == 6

    def coins_after_buying(kind: str, when: str) -> int:
        player = Player(pack, now=at(when))
        assert player.do("buy", kind=kind).ok
        return player.state["coins"]

    assert coins_after_buying("wheat", "2026-10-24 12:00") == 98  # before the festival
    assert coins_after_buying("wheat", "2026-10-25 00:00") == 99  # its first ms
    assert coins_after_buying("wheat", "2026-11-01 11:59") == 99
    assert coins_after_buying("wheat", "2026-11-01 12:00") == 98  # it ended at 12:00
    assert coins_after_buying("berry", "2026-10-23 23:59") == 95  # a friday
    assert coins_after_buying("berry", "2026-10-24 00:00") == 96  # the weekend
    assert coins_after_buying("berry", "2026-11-07 10:00") == 96  # and the next one

    festive = Player(pack, now=at("2026-10-26 09:00"))
    assert festive.do("gift").ok and festive.do("gift").ok
    assert festive.do("gift").error["code"] == "limit"
    usual = Player(pack, now=at("2026-11-02 09:00"))
    assert usual.do("gift").ok and usual.do("gift").error["code"] == "limit"


def test_a_pack_without_events_is_written_as_before(tmp_path) -> None:
    plain = build_pack(tmp_path, FARM.split("\nevent festival")[0])
    assert plain.manifest["format"] == 4
    assert "during_events" not in Path(plain.module_file).read_text(encoding="utf-8")
    assert "events" not in plain.schema
    assert events_at(plain, at("2026-10-26 00:00")) == {"active": [], "next": None}


def test_the_state_shows_the_active_events_and_the_next_run(tmp_path) -> None:
    pack = build_pack(tmp_path, FARM)
    seen = events_at(pack, at("2026-10-31 18:30"))  # a saturday in the festival, at 18:30
    assert [e["name"] for e in seen["active"]] == ["festival", "happy_hour", "weekend"]
    assert seen["active"][0] == {
        "name": "festival",
        "when": "from 2026-10-25 to 2026-11-01 12:00",
        "sets": ["crop[wheat].price = 1", "limit gift 2 per day"],
        "starts_at": at("2026-10-25 00:00"),
        "ends_at": at("2026-11-01 12:00"),
    }
    # the next run to start: tomorrow's happy hour (a running event's next run counts)
    assert seen["next"]["name"] == "happy_hour"
    assert seen["next"]["starts_at"] == at("2026-11-01 18:00")
    quiet = events_at(pack, at("2026-11-02 19:30"))
    assert quiet["active"] == [] and quiet["next"]["starts_at"] == at("2026-11-03 18:00")


# ---- scenarios on the simulated clock


SCENARIOS = """
scenario "festival prices"
  do buy(kind: wheat)
  expect coins 98
  wait until 2026-10-25
  do buy(kind: wheat)
  expect coins 97
  wait until 2026-11-01 12:00
  do buy(kind: wheat)
  expect coins 95

scenario "the clock does not go back"
  wait until 2026-10-25
  wait until 2026-10-24
"""


def test_scenarios_wait_until_a_date_and_see_event_prices(tmp_path) -> None:
    game = tmp_path / "farm"
    (game / "tests").mkdir(parents=True)
    (game / "game.rules").write_text(FARM.lstrip(), encoding="utf-8")
    (game / "tests" / "events.rules").write_text(SCENARIOS.lstrip(), encoding="utf-8")
    built = compile_game(game)
    assert built.game is not None and built.files is not None, built.diagnostics
    pack = load_pack(write_pack(built.files, tmp_path / "pack"))
    results = [run_scenario(pack, s) for s in built.game.scenarios]
    assert [r.passed for r in results] == [True, False], results
    assert results[1].failure is not None and results[1].failure.problems == [
        "the clock is already at 2026-10-25 00:00 UTC: `wait until` only goes forward"
    ]


def test_wait_until_and_events_keep_their_layout() -> None:
    text = "event  fair from 2026-10-25 18:00 to   2026-10-26\n  limit gift 2 per day\n"
    out = format_source(text)
    assert out.text == "event fair from 2026-10-25 18:00 to 2026-10-26\n  limit gift 2 per day\n"
    scenario = 'scenario "x"\n  wait until 2026-10-25  18:00\n'
    assert format_source(scenario).text == 'scenario "x"\n  wait until 2026-10-25 18:00\n'


# ---- the server: its clock decides


async def test_get_state_answers_the_events_by_the_server_clock(sqlite_kit: Kit) -> None:
    clock = [at("2026-10-26 10:00")]  # harvest's festival runs
    run = await sqlite_kit.start(clock=lambda: clock[0])
    _, token = await session(run)
    body = await state(run, token)
    assert [e["name"] for e in body["events"]["active"]] == ["harvest_festival"]
    assert body["events"]["next"] is None
    r = await act(run, token, a("g1", "daily_gift"), a("g2", "daily_gift"), a("g3", "daily_gift"))
    assert [x["status"] for x in r.body["results"]] == ["ok", "ok", "rejected"]
    clock[0] = at("2026-11-01 00:00") + MINUTE
    body = await state(run, token)
    assert body["events"] == {"active": [], "next": None}
    assert body["state"]["coins"] == 300


# ---- swaps: events are nothing a player holds


def test_adding_or_removing_an_event_is_a_safe_swap_and_rulesc_diff_lists_it(tmp_path) -> None:
    plain = build_pack(tmp_path, FARM.split("\nevent festival")[0])
    festive = build_pack(tmp_path, FARM)
    assert swap_losses(plain, festive) == [] and swap_losses(festive, plain) == []
    diff = report(plain.schema, festive.schema)
    assert diff["safe"] and list(diff["events"]["added"]) == ["festival", "happy_hour", "weekend"]
    shown = render(diff)
    assert "  + event weekend (every week on saturday for 2d)\n" in shown
    assert "safe: nothing players hold is lost" in shown
    moved = build_pack(tmp_path, FARM.replace("for 2d", "for 1d"))
    assert render(report(festive.schema, moved.schema)).splitlines()[1] == (
        "  ~ event weekend: when every week on saturday for 2d -> every week on saturday for 1d"
    )


async def test_the_playgrounds_skip_moves_one_player_into_the_festival(sqlite_kit: Kit) -> None:
    """Development mode: a player's skipped clock is the clock the events are judged by."""
    clock = [at("2026-10-24 23:00")]
    run = await sqlite_kit.start(dev=True, clock=lambda: clock[0])
    _, token = await session(run, "device-skipper")
    _, other = await session(run, "device-bystander")
    before = await state(run, token)
    assert before["events"]["active"] == []
    assert before["events"]["next"]["name"] == "harvest_festival"
    skip = await call(f"{run.url}/v1/harvest/dev/clock", "POST", {"skip_ms": HOUR}, token=token)
    assert skip.status == 200, skip.body
    assert [e["name"] for e in (await state(run, token))["events"]["active"]] == [
        "harvest_festival"
    ]
    assert (await state(run, other))["events"]["active"] == []
    script = await call(f"{run.url}/play/static/play.js")
    assert b"renderEvents" in script.body  # the clock card shows them
    page = await call(f"{run.url}/play/harvest")
    assert b'data-testid="events"' in page.body


def test_bots_see_an_events_limit_as_the_pack_does(tmp_path) -> None:
    """simulate's bots skip a try whose limit is reached (tools/precheck.py): with the
    count a running event gives it, or they would stop at 1 gift during the festival."""
    game = tmp_path / "farm"
    game.mkdir()
    (game / "game.rules").write_text(FARM.lstrip(), encoding="utf-8")
    built = compile_game(game)
    assert built.game is not None and built.files is not None
    pack = load_pack(write_pack(built.files, tmp_path / "pack"))
    gift = next(a for a in built.game.actions if a.name == "gift")
    checks = first_checks(ExprCompiler(built.game, vars(pack.module)), gift)
    for when, open_after_one in (("2026-10-26 09:00", True), ("2026-11-02 09:00", False)):
        player = Player(pack, now=at(when))
        assert player.do("gift").ok
        ctx = SimpleNamespace(now=player.now)
        assert rejects(checks, player.state, ctx, {}) is not open_after_one, when
        assert player.do("gift").ok is open_after_one
