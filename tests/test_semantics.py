"""The meaning of the rules, action by action, on small games compiled for each test."""

from __future__ import annotations

import pytest

from rulesc.compiler.build import compile_game
from rulesc.runtime import engine
from rulesc.runtime.pack import PackError
from rulesc.runtime.rt import INT64_MAX, fmt_duration

from .gamekit import DAY, HOUR, MINUTE, T0, Player, build_pack

ECONOMY = """
game econ "Economy"
day starts 04:00 UTC
currency coins start 100
currency gems start 5 max 50
meter energy start 10 max 10 regen 2 every 5m
stat xp
level from xp at 0, 10, 30
item ore
table metal
  columns price: int, worth: int
  iron: 3, 7
  gold: 50, 90
item bar of metal max 5

action mine
  cost energy 3
  gain ore 2, xp 4

action smelt(kind: metal, qty: int 1..10)
  cost ore 2 * qty, coins metal[kind].price * qty
  gain bar[kind] qty

action sell(kind: metal)
  cost bar[kind] 1
  gain coins metal[kind].worth

action buy_gems(n: int 1..100)
  cost coins n * 10
  gain gems n

action jackpot(mult: int 1..1000)
  gain coins 4_000_000_000_000_000_000 * mult

action daily
  limit 2 per day
  gain coins 1

action weekly
  limit 1 per week
  gain coins 1

action hourly(kind: metal)
  limit 1 per 1h per kind
  gain coins 1

action rest
  cooldown 30m
  gain energy 10

action gamble
  cost coins 1
  pick one
    1: gain gems 1
    3: gain ore 1

action spend_all
  require coins >= 1 else "You have {coins} coins"
  set coins = 0
  gain xp 10

invariant coins <= 1_000_000 else "coins past a million: {coins}"
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return build_pack(tmp_path_factory.mktemp("econ"), ECONOMY)


def test_costs_and_gains_report_changes(pack):
    p = Player(pack)
    out = p.do("mine")
    assert out.ok
    assert out.changes == {"energy": [10, 7], "ore": [0, 2], "xp": [0, 4]}
    assert out.result("a1") == {"id": "a1", "status": "ok", "changes": out.changes, "events": []}


def test_costs_are_checked_together_and_every_shortfall_named(pack):
    p = Player(pack)
    out = p.do("smelt", kind="gold", qty=3)
    assert not out.ok
    assert out.error == {
        "code": "insufficient",
        "message": "need 6 ore, have 0; need 150 coins, have 100",
        "details": {"ore": {"need": 6, "have": 0}, "coins": {"need": 150, "have": 100}},
    }
    assert p.view()["coins"] == 100  # nothing was spent


def test_rejected_action_leaves_state_untouched(pack):
    p = Player(pack)
    before = p.state
    out = p.do("buy_gems", n=11)  # 110 coins needed
    assert not out.ok and out.state is before


def test_clamped_gain_is_reported(pack):
    p = Player(pack)
    out = p.do("buy_gems", n=10)
    assert out.ok and out.changes["gems"] == [5, 15]
    p.state = {**p.state, "coins": 1000}
    out = p.do("buy_gems", n=40)
    assert out.ok
    assert out.changes["gems"] == [15, 50]
    assert out.clamped == {"gems": 5}
    assert out.result("x")["clamped"] == {"gems": 5}


def test_keyed_item_clamps_at_its_max(pack):
    p = Player(pack)
    p.state = {**p.state, "ore": 100, "coins": 1000}
    out = p.do("smelt", kind="iron", qty=7)
    assert out.ok and out.changes["bar[iron]"] == [0, 5] and out.clamped == {"bar[iron]": 2}


def test_overflow_past_64_bits_rejects_and_applies_nothing(pack):
    p = Player(pack)
    out = p.do("jackpot", mult=3)  # 1.2e19 > 2^63-1
    assert not out.ok and out.error["code"] == "overflow"
    assert p.view()["coins"] == 100
    p.state = {**p.state, "coins": INT64_MAX - 10}
    out = p.do("jackpot", mult=1)
    assert not out.ok and out.error["code"] == "overflow"


def test_meters_regenerate_lazily_and_stop_at_max(pack):
    p = Player(pack)
    p.do("mine")
    p.do("mine")
    assert p.view()["energy"] == 4
    p.wait(4 * MINUTE + 59_999)
    assert p.view()["energy"] == 4
    p.wait(1)
    assert p.view()["energy"] == 6
    p.wait(DAY)
    assert p.view()["energy"] == 10  # capped
    p.do("mine")  # spending from full starts the clock again now
    p.wait(5 * MINUTE)
    assert p.view()["energy"] == 9


def test_daily_limit_resets_at_day_start_not_midnight(pack):
    p = Player(pack)  # Monday 12:00 UTC, day starts 04:00
    assert p.do("daily").ok and p.do("daily").ok
    out = p.do("daily")
    assert out.error["code"] == "limit"
    tuesday_4am = T0 + 16 * HOUR
    assert out.error["details"]["retry_at"] == tuesday_4am
    assert out.error["message"] == "limit of 2 per day reached, try again in 16h"
    p.now = T0 + 12 * HOUR  # midnight: still the same game day
    assert p.do("daily").error["code"] == "limit"
    p.now = tuesday_4am - 1
    assert not p.do("daily").ok
    p.now = tuesday_4am
    assert p.do("daily").ok


def test_failed_action_uses_no_limit(pack):
    p = Player(pack)
    p.state = {**p.state, "coins": 0}
    assert p.do("daily").ok  # limit 2: one used
    assert p.do("daily").ok
    assert not p.do("daily").ok


def test_weekly_limit_resets_monday_at_day_start(pack):
    p = Player(pack)
    assert p.do("weekly").ok
    p.now = T0 + 6 * DAY  # Sunday noon
    out = p.do("weekly")
    assert out.error["details"]["retry_at"] == T0 + 7 * DAY - 8 * HOUR
    p.now = T0 + 7 * DAY - 8 * HOUR  # next Monday 04:00
    assert p.do("weekly").ok


def test_a_daily_limit_does_not_reset_a_weekly_one(pack):
    # found by `rulesc simulate`: a daily limit used to forget every window longer than
    # a day once a day had passed, so a player could claim a weekly bonus every day
    p = Player(pack)
    assert p.do("weekly").ok
    p.now = T0 + DAY
    assert p.do("daily").ok
    assert p.do("weekly").error["code"] == "limit"
    p.now = T0 + 7 * DAY - 8 * HOUR  # next Monday 04:00
    assert p.do("weekly").ok


def test_limit_per_parameter_keeps_one_count_per_value(pack):
    p = Player(pack)
    assert p.do("hourly", kind="iron").ok
    assert p.do("hourly", kind="gold").ok
    out = p.do("hourly", kind="iron")
    assert out.error["code"] == "limit"
    assert out.error["details"]["retry_at"] == T0 + HOUR  # windows of 1h aligned to the hour


def test_cooldown_reports_retry_time(pack):
    p = Player(pack)
    assert p.do("rest").ok
    p.wait(10 * MINUTE)
    out = p.do("rest")
    assert out.error["code"] == "cooldown"
    assert out.error["details"]["retry_at"] == T0 + 30 * MINUTE
    assert out.error["message"] == "not ready yet, try again in 20m"
    p.now = T0 + 30 * MINUTE
    assert p.do("rest").ok


def test_draws_are_deterministic_per_player_action_id_and_pack(pack):
    def draw(player: str, action_id: str) -> dict:
        return Player(pack, player).do("gamble", action_id=action_id).changes

    assert draw("p1", "x1") == draw("p1", "x1")  # a retried action draws the same
    outcomes = {str(sorted(draw("p1", f"x{i}"))) for i in range(40)}
    assert len(outcomes) == 2  # both branches happen across ids


def test_draw_weights_are_respected(pack):
    gems = sum(
        "gems" in Player(pack, "p").do("gamble", action_id=f"id{i}").changes for i in range(2000)
    )
    assert 400 < gems < 600  # weight 1 of 4: expect ~500


def test_pinned_draw_takes_that_branch(pack):
    assert "gems" in Player(pack).do("gamble", pin=1).changes
    assert "ore" in Player(pack).do("gamble", pin=2).changes
    assert Player(pack).do("gamble", pin=3).error["code"] == "bad_params"


def test_level_derives_from_thresholds_and_raises_level_up(pack):
    p = Player(pack)
    p.do("mine")
    assert p.view()["level"] == 1
    p.do("mine")
    out = p.do("mine")  # xp 8 -> 12
    assert out.events == [{"name": "level_up", "data": {"from": 1, "to": 2}}]
    assert out.changes["level"] == [1, 2]
    assert p.view()["level"] == 2


def test_require_message_interpolates_values(pack):
    p = Player(pack)
    p.state = {**p.state, "coins": 0}
    out = p.do("spend_all")
    assert out.error == {"code": "precondition", "message": "You have 0 coins", "details": {}}


def test_invariants_are_checked_on_demand(pack):
    p = Player(pack)
    assert engine.check_invariants(pack, p.state) == []
    assert engine.check_invariants(pack, {**p.state, "coins": 2_000_000}) == [
        "coins past a million: 2000000"
    ]


@pytest.mark.parametrize(
    "params, problem",
    [
        ({"kind": "iron", "qty": 0}, "qty"),
        ({"kind": "iron", "qty": 11}, "qty"),
        ({"kind": "iron", "qty": 2.0}, "qty"),
        ({"kind": "iron", "qty": "2"}, "qty"),
        ({"kind": "iron", "qty": True}, "qty"),
        ({"kind": "silver", "qty": 1}, "kind"),
        ({"kind": "iron"}, "qty"),
        ({"kind": "iron", "qty": 1, "extra": 1}, "extra"),
        ({"kind": "iron", "qty": 10**30}, "qty"),
    ],
)
def test_bad_params_are_rejected_before_any_rule(pack, params, problem):
    p = Player(pack)
    out = engine.run(pack, p.state, "smelt", params, now=T0, player_id="p", action_id="a")
    assert not out.ok and out.error["code"] == "bad_params"
    assert problem in out.error["message"]


def test_unknown_action(pack):
    out = engine.run(pack, None, "steal", {}, now=T0, player_id="p", action_id="a")
    assert out.error["code"] == "unknown_action"


def test_now_never_runs_backwards_for_a_player(pack):
    p = Player(pack)
    p.do("rest")
    p.now = T0 - HOUR  # a process with a clock behind
    out = p.do("rest")
    assert out.error["code"] == "cooldown" and out.now == T0


def test_durations_format_compactly():
    assert fmt_duration(0) == "0s"
    assert fmt_duration(60_000) == "1m"
    assert fmt_duration(5_400_000) == "1h30m"
    assert fmt_duration(59_001) == "1m"  # rounded up to whole seconds
    assert fmt_duration(90_061_000) == "1d1h1m1s"


def test_build_is_deterministic(tmp_path):
    first = compile_game("games/harvest").files
    second = compile_game("games/harvest").files
    assert first == second


def test_fault_inside_a_pack_names_the_rules_line(tmp_path):
    pack = build_pack(tmp_path, ECONOMY)
    module = pack.module
    original = module.ACTIONS["mine"]

    def broken(s, p, ctx):  # stands in for a fault in generated code at the marker's line
        return original[0](s, p, None)

    # A fault raised from inside the generated module's own frames is mapped via its markers.
    module.ACTIONS["mine"] = (broken, original[1], original[2])
    try:
        with pytest.raises(PackError) as err:
            engine.run(pack, None, "mine", {}, now=T0, player_id="p", action_id="a")
    finally:
        module.ACTIONS["mine"] = original
    assert err.value.rules_file == "game.rules"
    assert err.value.rules_line is not None
    rules = pack.path.with_name(pack.path.name.removesuffix("_pack")) / "game.rules"
    line = rules.read_text().splitlines()[err.value.rules_line - 1]
    assert line.strip() == "cost energy 3"
