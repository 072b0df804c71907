"""`rulesc simulate`: bots play the compiled pack; same seed, same bytes; a sane summary."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game, write_pack
from rulesc.runtime import engine
from rulesc.runtime.pack import load_pack
from rulesc.tools import simsummary
from rulesc.tools.botplay import BotPlayer
from rulesc.tools.precheck import ExprCompiler, first_checks, rejects
from rulesc.tools.simulate import Options, simulate, to_csv

from .gamekit import T0

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"


@pytest.fixture(scope="module")
def harvest(tmp_path_factory):
    result = compile_game(HARVEST, with_tests=False, with_bots=True)
    assert result.ok and result.files is not None and result.game is not None
    pack = load_pack(write_pack(result.files, tmp_path_factory.mktemp("sim") / "harvest"))
    return pack, result.game


def small_game(tmp_path: Path, rules: str, bots: str):
    game = tmp_path / "g"
    (game / "bots").mkdir(parents=True)
    (game / "game.rules").write_text(textwrap.dedent(rules).lstrip(), encoding="utf-8")
    (game / "bots" / "b.rules").write_text(textwrap.dedent(bots).lstrip(), encoding="utf-8")
    result = compile_game(game, with_tests=False, with_bots=True)
    assert result.ok, [d.message for d in result.diagnostics]
    return load_pack(write_pack(result.files, tmp_path / "pack")), result.game


def simulate_cli(out: Path, *args: str):
    return CliRunner().invoke(app, ["simulate", str(HARVEST), "--out", str(out), *args])


def test_the_same_seed_writes_the_same_csv_and_another_seed_differs(tmp_path):
    args = ["--days", "4", "--runs", "3", "--no-plots"]
    first = simulate_cli(tmp_path / "a", *args, "--seed", "7")
    again = simulate_cli(tmp_path / "b", *args, "--seed", "7")
    other = simulate_cli(tmp_path / "c", *args, "--seed", "8")
    assert first.exit_code == again.exit_code == other.exit_code == 0, first.output
    a, b, c = ((tmp_path / d / "samples.csv").read_bytes() for d in "abc")
    assert a == b
    assert a != c
    assert a.startswith(b"bot,run,day,time,resource,value\ncasual,0,0,0.00,coins,200\n")
    assert (tmp_path / "a" / "summary.txt").read_text() in first.stdout


def test_harvest_summary_numbers_are_sane(harvest):
    pack, game = harvest
    casual = next(b for b in game.bots if b.name == "casual")
    [result] = simulate(pack, game, [casual], Options(days=30, runs=4, seed=1))
    levels = simsummary.level_times(game, result)
    days = [d for _, d, runs in levels if runs == 4]
    assert len(days) == 4, levels  # a casual player reaches level 5 within a month
    assert days == sorted(days) and 0 < days[0] < 10
    [(name, gained, spent, net), *_] = simsummary.income(game, result)
    assert (
        name == "coins" and gained > spent > 0 and 0 < net <= gained
    )  # medians: net is not gained - spent
    for run in result.runs:
        # once a day, every day (and once more if the last session runs past the last midnight)
        assert run.actions["daily_gift"] in (30, 31)
        assert run.actions["weekly_bonus"] == 5  # the days 0, 7, 14, 21 and 28 start a game week
        assert run.sessions == 90
        assert sum(run.actions.values()) <= 90 * 12
    piles = {p.label: p.said for p in simsummary.pile_ups(game, result)}
    assert piles["coins"].startswith("grows without bound")  # nothing to spend coins on
    assert piles["energy"].startswith("full (30)")  # three short visits a day never run out
    text = simsummary.render(game, result)
    assert "time to each level (median)" in text and "income per day (median)" in text


def test_plots_are_pngs(tmp_path):
    out = simulate_cli(tmp_path, "--days", "2", "--runs", "2", "--bot", "casual")
    assert out.exit_code == 0, out.output
    assert (tmp_path / "casual.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "grinder.png").exists()


def test_unknown_bot_is_a_usage_error_and_a_game_without_bots_says_so(tmp_path):
    out = simulate_cli(tmp_path, "--bot", "nobody", "--days", "1", "--runs", "1")
    assert out.exit_code == 2 and "the bots are casual, grinder" in out.output
    game = tmp_path / "g"
    game.mkdir()
    (game / "game.rules").write_text('game g "G"\ncurrency coins\naction a\n  gain coins 1\n')
    out = CliRunner().invoke(app, ["simulate", str(game), "--out", str(tmp_path / "o")])
    assert out.exit_code == 1 and "no bots" in out.output


RULES = """
game g "G"
currency coins start 10
item box
slots shelf 4
  ready: bool

action stock(slot: shelf)
  require shelf[slot] is empty
  cost coins 1
  fill shelf[slot] with ready = true

action collect(slot: shelf)
  require shelf[slot] is filled
  empty shelf[slot]
  gain box 1

action tip(n: int 1..1000)
  require n % 10 == 0
  gain coins n
"""


def test_a_step_is_the_first_try_the_game_accepts_with_a_valid_random_value(tmp_path):
    pack, game = small_game(
        tmp_path,
        RULES,
        """
        bot b
          sessions 1 per day
          actions 5 per session
          try collect(slot: any)
          try stock(slot: any) when coins > 8
        """,
    )
    player = BotPlayer(pack, game, game.bots[0], random.Random(1), "p")
    state = engine.prepare(pack, None, T0)
    done = []
    while (played := player.step(state, T0)) is not None:
        action, params, outcome = played
        state = outcome.state
        done.append((action, params["slot"]))
    # collect comes first whenever a shelf is filled; stock while coins > 8 (10 -> 9 -> 8)
    assert [a for a, _ in done] == ["stock", "collect", "stock", "collect"]
    assert done[0][1] == done[1][1] and done[2][1] == done[3][1]
    assert state["box"] == 2 and state["coins"] == 8


def test_any_finds_the_rare_value_an_action_accepts(tmp_path):
    pack, game = small_game(
        tmp_path,
        RULES,
        """
        bot b
          sessions 1 per day
          actions 1 per session
          try tip(n: any)
        """,
    )
    found = 0
    for seed in range(40):  # 8 samples of 1..1000: a multiple of 10 only now and then
        played = BotPlayer(pack, game, game.bots[0], random.Random(seed), "p").step(
            engine.prepare(pack, None, T0), T0
        )
        if played is not None:
            assert played[1]["n"] % 10 == 0
            found += 1
    assert 0 < found < 40


def test_a_computed_value_is_clamped_into_the_parameter_range(tmp_path):
    pack, game = small_game(
        tmp_path,
        RULES,
        """
        bot b
          sessions 2 per day
          actions 3 per session
          try tip(n: coins * 10 + 1)
        """,
    )
    [result] = simulate(pack, game, list(game.bots), Options(days=1, runs=1, seed=0))
    run = result.runs[0]
    # 10 coins ask for a tip of 101 (refused: not a multiple of 10); later, with more
    # coins, 10 * coins + 1 is past 1000 and clamped to 1000, which is accepted
    assert run.actions["tip"] == 0
    pack2, game2 = small_game(
        tmp_path / "again",
        RULES.replace("start 10", "start 100"),
        """
        bot b
          sessions 1 per day
          actions 2 per session
          try tip(n: coins * 10 + 1)
        """,
    )
    [result] = simulate(pack2, game2, list(game2.bots), Options(days=1, runs=1, seed=0))
    assert result.runs[0].actions["tip"] == 2
    assert result.runs[0].samples[-1].values["coins"] == 2100
    assert "b,0,1," in to_csv([result])


@st.composite
def harvest_moves(draw, schema: dict):
    name = draw(st.sampled_from(sorted(schema["actions"])))
    props = schema["actions"][name]["params"]["properties"]
    params = {}
    for k, v in props.items():
        if "enum" in v:
            params[k] = draw(st.sampled_from(v["enum"]))
        elif v["type"] == "boolean":
            params[k] = draw(st.booleans())
        else:
            params[k] = draw(st.integers(v["minimum"], v["maximum"]))
    return name, params


def test_the_precheck_only_rejects_what_the_engine_rejects(harvest):
    pack, game = harvest
    compiler = ExprCompiler(game, vars(pack.module))
    checks = {a.name: first_checks(compiler, a) for a in game.actions}
    crops = list(pack.module.CROP)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def check(data):
        state = engine.prepare(pack, None, T0)
        for name in ("coins", "gems", "energy", "xp", "fertilizer"):
            state[name] = data.draw(st.integers(0, 60))
        for item in ("seed", "produce"):
            state[item] = {c: data.draw(st.integers(0, 12)) for c in crops}
        state["field"] = [
            data.draw(
                st.none()
                | st.builds(
                    lambda c, t: {"crop": c, "ready_at": T0 + t},
                    st.sampled_from(crops),
                    st.integers(-600_000, 600_000),
                )
            )
            for _ in range(6)
        ]
        now = T0
        for name, params in data.draw(st.lists(harvest_moves(pack.schema), min_size=1, max_size=6)):
            ctx = SimpleNamespace(now=now)
            settled = engine.prepare(pack, state, now)  # as bots see it: meters brought to now
            said_no = rejects(checks[name], settled, ctx, dict(params))
            outcome = engine.run(
                pack, state, name, params, now=now, player_id="p", action_id=f"a{now}"
            )
            if said_no:
                assert not outcome.ok, (name, params)
            if outcome.ok:
                state = outcome.state
            now += data.draw(st.sampled_from([0, 60_000, 3_600_000, 86_400_000]))

    check()


# ---- a bot's starting state: `given` --------------------------------------------------------


def test_a_bot_given_a_state_starts_every_run_from_it(tmp_path):
    pack, game = small_game(
        tmp_path,
        RULES + "stat xp\nlevel from xp at 0, 10, 100\n",
        """
        bot late
          sessions 1 per day
          actions 3 per session
          given coins 500, box 7, xp 150
          try stock(slot: any)
        """,
    )
    (bot,) = game.bots
    [result] = simulate(pack, game, [bot], Options(days=1, runs=2, seed=1))
    for run in result.runs:
        start = run.samples[0]
        assert start.values["coins"] == 500 and start.values["box"] == 7
        assert start.values["level"] == 3
        assert run.level_reached_ms == {2: 0, 3: 0}  # reached before the first action
        assert run.samples[-1].values["coins"] == 497  # three shelves stocked, from 500


def test_a_bots_given_is_checked_as_a_scenarios_and_within_the_max(tmp_path):
    game = tmp_path / "g"
    (game / "bots").mkdir(parents=True)
    (game / "game.rules").write_text(textwrap.dedent(RULES).lstrip() + "currency gems max 5\n")
    (game / "bots" / "b.rules").write_text(
        "bot b\n  sessions 1 per day\n  actions 1 per session\n"
        "  given gems 6, bob.coins 1, shelf[0].ready true\n  try stock(slot: any)\n"
    )
    result = compile_game(game, with_tests=False, with_bots=True)
    found = sorted((d.code, d.message) for d in result.diagnostics if d.code != "R022")
    assert found == [
        ("R034", "`given` cannot set one field of a slot"),
        ("R093", "`gems` cannot start at 6: its max is 5"),
        ("R093", "a bot plays alone: it cannot give another player's state"),
    ]
