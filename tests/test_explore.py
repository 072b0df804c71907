"""`rulesc explore`: planted exploits of every shape are found with the right loop, and
the harvest economy as designed is clean.

Each planted game lives in tests/exploits/<name>/ with a comment saying what is wrong
with it. Budgets are small: static findings do not depend on them, and the dynamic
search finds the planted invariant break breadth-first in milliseconds.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game
from rulesc.tools.economy import build_model
from rulesc.tools.events import event_sets, quiet_moment
from rulesc.tools.explore import Options, Report, explore, parse_bound
from rulesc.tools.lp import maximize
from rulesc.tools.search import Events

ROOT = Path(__file__).resolve().parent.parent
EXPLOITS = ROOT / "tests" / "exploits"
HARVEST = ROOT / "games" / "harvest"
runner = CliRunner()
_reports: dict[str, Report] = {}


def run(game: Path, budget: float = 0.5, **options) -> Report:
    result = compile_game(game, with_tests=False)
    assert result.ok
    return explore(result, Options(budget=budget, **options))


def report_for(name: str) -> Report:
    """Explore each planted game once per test session."""
    if name not in _reports:
        _reports[name] = run(EXPLOITS / name)
    return _reports[name]


def only(report: Report, kind: str):
    found = [f for f in report.findings if f.kind == kind]
    assert len(found) == 1, [f.summary for f in report.findings]
    assert found[0].verified, found[0].details
    return found[0]


def loop_calls(finding) -> list[tuple[str, int]]:
    return [(c.call, n) for c, n in finding.loop.steps]


# ---- the planted shapes ------------------------------------------------------------------


def test_two_step_loop():
    f = only(report_for("two_step"), "loop")
    assert f.actions == ["buy_gem", "sell_gem"]
    assert f.net == {"coins": 2}
    assert loop_calls(f) == [("buy_gem", 1), ("sell_gem", 1)]


def test_three_step_loop_buys_two_ore_per_ingot():
    report = report_for("foundry")
    f = only(report, "loop")
    assert f.actions == ["buy_ore", "smelt", "sell_ingot"]
    assert loop_calls(f) == [("buy_ore", 2), ("smelt", 1), ("sell_ingot", 1)]
    assert f.net == {"coins": 1}
    assert "net gain per turn: +1 coins" in f.details
    why = next(d for d in f.details if d.startswith("why nothing bounds it"))
    assert "no limit or cooldown" in why and "energy refills 1 every 5m" in why
    assert "mine" not in f.actions  # mining costs energy: time bounds it


def test_parameter_dependent_loop_pays_only_from_ten_crates():
    f = only(report_for("bulk_discount"), "loop")
    assert f.actions == ["buy_crates", "sell_crates"]
    (buy, _), (sell, _) = f.loop.steps
    qty = dict(buy.params)["qty"]
    assert qty >= 10 and dict(sell.params)["qty"] == qty
    assert f.net == {"coins": qty // 10 * 5}
    paying = next(d for d in f.details if d.startswith("pays only with buy_crates qty"))
    assert paying.startswith("pays only with buy_crates qty = 10, 11, 20,")
    assert "tried: 1, 2, 3, 4, 5, 6, 8, 9, 10," in paying


def test_table_row_dependent_loop_names_the_row():
    f = only(report_for("row_market"), "loop")
    assert loop_calls(f) == [("buy(kind: silk)", 1), ("sell(kind: silk)", 1)]
    assert f.net == {"coins": 3}
    assert "pays only with buy kind = silk (tried: wheat, wool, silk)" in f.details


def test_loop_through_slots():
    f = only(report_for("builder"), "loop")
    assert loop_calls(f) == [("build(kind: tower)", 1), ("demolish", 1)]
    assert f.net == {"coins": 10}
    assert "do build(slot: 0, kind: tower)\n  do demolish(slot: 0)\n" in f.scenario


def test_loop_that_only_reads_a_slot_is_set_up_once():
    f = only(report_for("landlord"), "loop")
    assert loop_calls(f) == [("collect_rent", 1)] and [c.call for c in f.loop.setup] == ["build"]
    assert f.net == {"coins": 2}
    assert (
        "  given coins 30\n  do build(slot: 0)\n  # set up once; the loop starts here\n  expect coins 0\n"
        "  do collect_rent(slot: 0)\n  expect coins 2\n"
    ) in f.scenario


def test_dodged_limit_per_parameter():
    report = report_for("daily_regions")
    f = only(report, "dodged_limit")
    assert f.actions == ["daily_chest"]  # bounty pays by region: counting regions apart is meant
    assert "4x the reward" in f.summary and "does not depend on where" in f.details[0]
    assert f.net == {"coins": 400}
    assert [x.kind for x in report.findings] == ["dodged_limit"]


def test_same_reward_behind_two_limits():
    report = report_for("twin_rewards")
    f = only(report, "shared_reward")
    assert f.actions == ["daily_gift", "login_bonus"]
    assert f.net == {"gems": 10}
    assert [x.kind for x in report.findings] == ["shared_reward"]


def test_dynamic_search_breaks_an_invariant_in_three_steps():
    report = report_for("vault")
    f = only(report, "invariant")
    assert f.actions == ["work"]
    assert "the vault holds at most 15 coins, has 20" in f.summary
    assert "  do work\n  wait 1m\n  do work\n" in f.scenario
    assert not [x for x in report.findings if x.kind == "loop"]  # the cooldown bounds it statically


def test_a_bound_behind_days_of_waiting_is_found_by_waiting_for_what_changes(tmp_path):
    report = run(EXPLOITS / "orchard", budget=4, bounds=[parse_bound("gold=600")])
    f = only(report, "bound")
    waited = [
        line.split()[1] for line in f.scenario.splitlines() if line.strip().startswith("wait")
    ]
    days = sum(int(w.split("d")[0]) for w in waited if "d" in w)
    assert days >= 6, f.scenario  # three crops of three days, two of them at least waited for
    game = tmp_path / "orchard"
    shutil.copytree(EXPLOITS / "orchard", game)
    (game / "tests").mkdir()
    (game / "tests" / "found.rules").write_text(f.scenario)
    result = runner.invoke(app, ["test", str(game)])
    assert result.exit_code == 0 and "1 passed, 0 failed" in result.output, result.output


def test_the_next_moments_something_changes(tmp_path):
    (tmp_path / "game.rules").write_text(
        textwrap.dedent(
            """
            game g "G"
            day starts 04:00 UTC
            meter energy start 10 max 10 regen 2 every 5m
            slots plot 2
              ready_at: time

            action plant(slot: plot)
              require plot[slot] is empty
              cost energy 3
              fill plot[slot] with ready_at = now + 3d

            action nap
              cooldown 2h
              limit 1 per 6h
            """
        ).lstrip()
    )
    result = compile_game(tmp_path, with_tests=False)
    assert result.ok and result.game is not None
    events = Events(result.game)
    t0 = 1_767_571_200_000  # a Monday, 00:00 UTC
    hour = 3_600_000
    state = {
        "energy": 7,  # 3 spent at t0: a point back at 5m (+2), full at 10m
        "_meters": {"energy": t0},
        "plot": [None, {"ready_at": t0 + 72 * hour}],
        "_cooldowns": {"nap.1": t0 + 2 * hour},
        "_limits": {"nap.2": [t0, 1]},  # used up: its next window starts at 6h
    }
    now = t0 + 60_000
    expected = [5, 10, 120, 240, 360, 72 * 60]  # minutes: point, full, cooldown, day, limit, plot
    assert events.upcoming(state, now) == [t0 + m * 60_000 for m in expected]
    state["_limits"] = {"nap.2": [t0, 0]}  # not used up: no event
    assert t0 + 6 * hour not in events.upcoming(state, now)


# ---- scheduled events ------------------------------------------------------------------------


def test_a_loop_that_pays_only_during_an_event_is_found_and_names_it(tmp_path):
    # the festival cuts the wheat seed from 6 to 3 and wheat sells for 4
    report = report_for("festival")
    f = only(report, "loop")
    assert f.events == ["harvest_festival"]
    assert loop_calls(f) == [
        ("buy_seed(kind: wheat)", 1),
        ("grow(kind: wheat)", 1),
        ("sell(kind: wheat)", 1),
    ]
    assert f.net == {"coins": 1}
    assert (
        f.summary
        == "buy_seed -> grow -> sell gains +1 coins per turn, only while harvest_festival runs"
    )
    assert f.details[0].startswith(
        "only while harvest_festival runs: harvest_festival (from 2026-10-25 to 2026-11-01) "
        "sets crop[wheat].seed_cost 6 -> 3;"
    )
    # the scenario moves the clock into the festival (on a day the weekend does not run)
    assert "  wait until 2026-10-26\n  given coins 3," in f.scenario
    assert len(report.findings) == 1  # the weekend's pumpkin price pays nothing, with or without
    # the same game without the festival: nothing found
    game = tmp_path / "festival"
    shutil.copytree(EXPLOITS / "festival", game)
    rules = game / "game.rules"
    text = rules.read_text()
    cut = text.index("event harvest_festival")
    rules.write_text(text[:cut] + text[text.index("event weekend") :])
    without = run(game)
    assert without.clean and [e["events"] for e in without.events] == [["weekend"]]


def test_event_sets_come_from_the_schedule():
    result = compile_game(EXPLOITS / "festival", with_tests=False)
    assert result.game is not None
    sets, left_out = event_sets(result.game)
    # 2026-10-25 is a Sunday: the weekend (from Saturday 00:00, 2 days) runs with the
    # festival's first day; the festival runs alone from the Monday; the weekend alone first
    # on the Saturday after the scenarios' start (Monday 2026-01-05 12:00)
    assert [(s.names, s.wait_line) for s in sets] == [
        (["harvest_festival"], "wait until 2026-10-26"),
        (["weekend"], "wait until 2026-01-10"),
        (["harvest_festival", "weekend"], "wait until 2026-10-25"),
    ]
    assert left_out == 0


def test_events_that_never_run_together_are_not_searched_together(tmp_path):
    game = write_game(
        tmp_path,
        """
        game g "G"
        currency coins start 0
        table price
          columns value: int
          ruby: 5
        action sell
          limit 1 per day
          gain coins price[ruby].value
        event past from 2025-01-01 to 2025-02-01
          limit sell 3 per day
        event morning every day at 06:00 for 2h
          price[ruby].value = 7
        event evening every day at 18:00 for 2h
          price[ruby].value = 8
        """,
    )
    result = compile_game(game, with_tests=False)
    assert result.ok, [d.message for d in result.diagnostics]
    sets, _ = event_sets(result.game)
    # the past one ran before the scenarios' start; morning and evening never meet
    assert [(s.names, s.wait_line) for s in sets] == [
        (["morning"], "wait until 2026-01-06 06:00"),
        (["evening"], "wait until 2026-01-05 18:00"),
    ]


def test_event_sets_after_a_long_event_ends(tmp_path):
    game = write_game(
        tmp_path,
        """
        game g "G"
        currency coins start 0
        table price
          columns value: int, bonus: int
          ruby: 5, 1
        action sell
          gain coins price[ruby].value + price[ruby].bonus
        event winter from 2026-01-01 to 2026-03-01
          price[ruby].value = 6
        event friday every week on friday for 1d
          price[ruby].bonus = 2
        """,
    )
    result = compile_game(game, with_tests=False)
    assert result.ok, [d.message for d in result.diagnostics]
    sets, _ = event_sets(result.game)
    # winter runs when scenarios start (2026-01-05); friday alone only once winter is over
    assert [(s.names, s.wait_line) for s in sets] == [
        (["winter"], "wait until 2026-01-05 12:00"),
        (["friday"], "wait until 2026-03-06"),
        (["winter", "friday"], "wait until 2026-01-09"),
    ]
    quiet = quiet_moment(result.game)
    assert quiet is not None and quiet.wait_line == "wait until 2026-03-01"


def test_an_invariant_broken_only_during_an_event(tmp_path):
    # two gems sell for 5 each: 10 coins at most, the invariant's limit; 6 each in the sale
    game = write_game(
        tmp_path,
        """
        game shop "Shop"
        currency coins start 0
        item gem start 2
        table price
          columns value: int
          ruby: 5
        action sell_gem
          cost gem 1
          gain coins price[ruby].value
        invariant coins <= 10 else "at most 10 coins, has {coins}"
        event sale from 2026-03-01 to 2026-03-02
          price[ruby].value = 6
        """,
    )
    report = run(game)
    f = only(report, "invariant")
    assert f.events == ["sale"]
    assert f.summary.endswith("at most 10 coins, has 12, only while sale runs")
    assert "  wait until 2026-03-01\n  do sell_gem\n  do sell_gem\n" in f.scenario
    assert report.events[0]["changes"] == ["sell_gem: +5 coins, -1 gem -> +6 coins, -1 gem"]


def test_the_game_as_declared_is_played_where_no_event_runs(tmp_path):
    # scenarios start on Monday 2026-01-05 12:00, during the Monday tax that makes the loop
    # lose: the loop of the rules as declared is replayed from Tuesday, when no event runs
    game = write_game(
        tmp_path,
        """
        game taxed "Taxed"
        currency coins start 0
        item hat
        table price
          columns buy: int
          felt: 10
        action buy_hat
          cost coins price[felt].buy
          gain hat 1
        action sell_hat
          cost hat 1
          gain coins 11
        event monday_tax every week on monday for 1d
          price[felt].buy = 12
        """,
    )
    report = run(game)
    f = only(report, "loop")
    assert f.events == [] and f.net == {"coins": 1}
    assert "  # while no event runs\n  wait until 2026-01-06\n  given coins 10," in f.scenario
    assert [e["events"] for e in report.events] == [["monday_tax"]]


def test_the_report_says_what_each_event_set_changes():
    report = report_for("festival")
    festival, weekend, both = report.events
    assert festival["sets"] == ["crop[wheat].seed_cost 6 -> 3"]
    assert festival["changes"] == [
        "buy_seed(kind: wheat): -6 coins, +1 seed[wheat] -> -3 coins, +1 seed[wheat]"
    ]
    assert weekend["changes"] == [
        "sell(kind: pumpkin): +10 coins, -1 produce[pumpkin] -> +11 coins, -1 produce[pumpkin]"
    ]
    assert both["events"] == ["harvest_festival", "weekend"] and len(both["changes"]) == 2
    assert both["resources"] == ["coins: taken less by buy_seed; given more by sell"]
    result = runner.invoke(app, ["explore", str(EXPLOITS / "festival"), "--budget", "0.5"])
    assert result.exit_code == 1
    assert (
        "scheduled events: searched again during each of 3 sets of events that can run at once\n"
        "  during harvest_festival (searched at 2026-10-26): crop[wheat].seed_cost 6 -> 3\n"
        "    coins: taken less by buy_seed\n"
        "    buy_seed(kind: wheat): -6 coins, +1 seed[wheat] -> -3 coins, +1 seed[wheat]\n"
    ) in result.output
    data = json.loads(
        runner.invoke(
            app, ["explore", str(EXPLOITS / "festival"), "--budget", "0.5", "--format", "json"]
        ).output
    )
    assert data["findings"][0]["events"] == ["harvest_festival"]
    assert data["events"][0]["events"] == ["harvest_festival"]


def test_explore_with_events_is_deterministic():
    a, b = run(EXPLOITS / "festival").to_json(), run(EXPLOITS / "festival").to_json()
    assert [f["events"] for f in a["findings"]] == [["harvest_festival"]]
    assert a == b


# ---- harvest as designed -------------------------------------------------------------------


def test_harvest_is_clean():
    result = runner.invoke(app, ["explore", str(HARVEST), "--budget", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("explore harvest: nothing found")


def test_a_bound_is_broken_by_the_shortest_sequence():
    report = run(HARVEST, bounds=[parse_bound("gems=12")])
    f = only(report, "bound")
    assert f.net == {"gems": 25}
    assert "  do open_crate draws 3\n  expect gems 25\n" in f.scenario  # 10 - 5 + 20


def test_a_bound_on_a_keyed_item_covers_every_row():
    report = run(HARVEST, budget=2, bounds=[parse_bound("seed=5")])
    f = only(report, "bound")
    assert f.net == {"seed[wheat]": 6}
    assert f.scenario.count("do buy_seed(kind: wheat, qty: 2)") == 3  # breadth first: the shortest


# ---- the scenarios are ready to paste --------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "two_step",
        "foundry",
        "bulk_discount",
        "row_market",
        "builder",
        "landlord",
        "daily_regions",
        "twin_rewards",
        "festival",
    ],
)
def test_reported_scenario_passes_when_pasted_into_the_game(tmp_path, name):
    game = tmp_path / name
    shutil.copytree(EXPLOITS / name, game, ignore=shutil.ignore_patterns("tests"))
    (game / "tests").mkdir()
    texts = [f.scenario for f in report_for(name).findings]
    assert texts
    (game / "tests" / "exploits.rules").write_text("\n".join(texts))
    result = runner.invoke(app, ["test", str(game)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"{len(texts)} passed, 0 failed")


def test_pasted_invariant_scenario_fails_until_fixed(tmp_path):
    game = tmp_path / "vault"
    shutil.copytree(EXPLOITS / "vault", game, ignore=shutil.ignore_patterns("tests"))
    (game / "tests").mkdir()
    (game / "tests" / "vault.rules").write_text(report_for("vault").findings[0].scenario)
    result = runner.invoke(app, ["test", str(game)])
    assert result.exit_code == 1
    assert "invariant broken: the vault holds at most 15 coins, has 20" in result.output


# ---- what the static model gets right and leaves out ---------------------------------------


def write_game(tmp_path: Path, rules: str) -> Path:
    game = tmp_path / "game"
    game.mkdir()
    (game / "game.rules").write_text(textwrap.dedent(rules).lstrip())
    return game


def test_a_candidate_that_does_not_replay_is_not_reported(tmp_path):
    # the sale needs exactly 7 xp: the model cannot tell, the replay finds it out
    game = write_game(
        tmp_path,
        """
        game picky "Picky"
        currency coins start 0
        stat xp
        item gem
        action buy_gem
          cost coins 10
          gain gem 1
        action sell_gem
          require xp == 7
          cost gem 1
          gain coins 12
        action train
          limit 1 per day
          gain xp 1
        """,
    )
    report = run(game)
    assert report.clean
    assert len(report.unconfirmed) == 1 and "buy_gem, sell_gem" in report.unconfirmed[0]
    assert "xp == 7" in report.unconfirmed[0]


def test_draws_count_as_their_worst_branch(tmp_path):
    # a crate that pays 20 or 0 coins for 10: not a loop whatever is drawn
    game = write_game(
        tmp_path,
        """
        game crates "Crates"
        currency coins start 0
        item crate
        action buy_crate
          cost coins 10
          gain crate 1
        action open_crate
          cost crate 1
          pick one
            90: gain coins 20
            10: gain coins 0
        """,
    )
    result = compile_game(game)
    model = build_model(result.game)
    case = next(c for c in model.cases if c.action == "open_crate")
    assert case.flow == {"crate": -1} and case.pin == 2
    assert run(game).clean


def test_a_when_the_model_cannot_decide_is_explored_both_ways(tmp_path):
    game = write_game(
        tmp_path,
        """
        game sale "Sale"
        currency coins start 0
        item hat
        action buy_hat
          cost coins 10
          gain hat 1
        action sell_hat
          cost hat 1
          when coins >= 100
            gain coins 11
          otherwise
            gain coins 9
        """,
    )
    report = run(game)
    f = only(report, "loop")
    assert "takes the branches: when coins >= 100" in f.details
    assert (
        "given coins 1010, hat 0" in f.scenario
    )  # the replay gives plenty, for the branch to hold


def test_a_free_action_is_a_loop_of_one(tmp_path):
    game = write_game(
        tmp_path,
        """
        game free "Free"
        currency coins start 0
        action tap
          gain coins 1
        """,
    )
    f = only(run(game, depth=1), "loop")
    assert loop_calls(f) == [("tap", 1)] and f.net == {"coins": 1}


def test_explore_is_deterministic():
    a = run(EXPLOITS / "foundry").to_json()
    b = run(EXPLOITS / "foundry").to_json()
    assert a == b


def test_exact_lp():
    # maximise x + y with x + 2y <= 4, 3x + y <= 6: (8/5, 6/5), value 14/5
    value, x = maximize(
        [Fraction(1), Fraction(1)],
        [[Fraction(1), Fraction(2)], [Fraction(3), Fraction(1)]],
        [Fraction(4), Fraction(6)],
    )
    assert value == Fraction(14, 5) and x == [Fraction(8, 5), Fraction(6, 5)]


# ---- the command -------------------------------------------------------------------------------


def test_cli_exit_codes_and_json():
    found = runner.invoke(
        app, ["explore", str(EXPLOITS / "row_market"), "--budget", "0.5", "--format", "json"]
    )
    assert found.exit_code == 1
    data = json.loads(found.output)
    assert data["format_version"] == 1 and data["clean"] is False
    assert data["findings"][0]["loop"] == [
        {"call": "buy(kind: silk)", "times": 1},
        {"call": "sell(kind: silk)", "times": 1},
    ]
    bad = runner.invoke(app, ["explore", str(HARVEST), "--bound", "gold=5"])
    assert bad.exit_code == 2 and "no resource `gold`" in bad.output
    assert runner.invoke(app, ["explore", str(HARVEST), "--bound", "coins"]).exit_code == 2


def test_cli_human_output_shows_the_scenario():
    result = runner.invoke(app, ["explore", str(EXPLOITS / "foundry"), "--budget", "0.5"])
    assert result.exit_code == 1
    assert "[loop] buy_ore -> smelt -> sell_ingot gains +1 coins per turn" in result.output
    assert "replayed on the compiled pack: the scenario below passes" in result.output
    assert (
        '    scenario "explore: buy_ore -> smelt -> sell_ingot gains 1 coins a turn"'
        in result.output
    )
