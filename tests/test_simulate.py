"""`rulesc simulate`: bots play the compiled pack; same seed, same bytes; a sane summary."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import random
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game, meaning_hash, pack_version, write_pack
from rulesc.runtime import engine
from rulesc.runtime.pack import load_pack
from rulesc.tools import simsummary
from rulesc.tools.botplay import BotPlayer
from rulesc.tools.precheck import ExprCompiler, first_checks, rejects
from rulesc.tools.simulate import Options, simulate, workers, write_bands

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
    args = ["--days", "4", "--runs", "3", "--no-plots", "-j", "1"]
    first = simulate_cli(tmp_path / "a", *args, "--seed", "7", "--samples", str(tmp_path / "a.csv"))
    again = simulate_cli(tmp_path / "b", *args, "--seed", "7", "--samples", str(tmp_path / "b.csv"))
    other = simulate_cli(tmp_path / "c", *args, "--seed", "8", "--samples", str(tmp_path / "c.csv"))
    assert first.exit_code == again.exit_code == other.exit_code == 0, first.output
    a, b, c = ((tmp_path / f"{d}.csv").read_bytes() for d in "abc")
    assert a == b
    assert a != c
    assert a.startswith(b"bot,run,day,time,resource,value\ncasual,0,0,0.00,coins,200\n")
    assert (tmp_path / "a" / "summary.txt").read_text() in first.stdout
    bands = [(tmp_path / d / "bands.csv").read_bytes() for d in "abc"]
    assert bands[0] == bands[1] != bands[2]
    assert bands[0].startswith(b"bot,day,resource,p10,median,p90\ncasual,0,coins,200,200,200\n")


def test_results_do_not_depend_on_the_number_of_worker_processes(harvest, tmp_path):
    pack, game = harvest
    options = Options(days=3, runs=3, seed=5)
    outs = []
    for jobs in (1, 2):
        out = tmp_path / str(jobs)
        out.mkdir()
        ended: list[int] = []
        results = simulate(
            pack,
            game,
            list(game.bots),
            options,
            jobs=jobs,
            samples=out / "samples.csv",
            on_run=lambda ended=ended: ended.append(1),
        )
        assert len(ended) == 6
        summary = "".join(simsummary.render(game, r, 2) for r in results)
        bands = write_bands(results, out / "bands.csv").read_bytes()
        outs.append((summary, bands, (out / "samples.csv").read_bytes()))
    assert outs[0] == outs[1]


def test_a_short_simulation_plays_in_this_process_a_long_one_on_every_core(harvest):
    _, game = harvest
    bots = list(game.bots)
    assert workers(bots, Options(days=30, runs=5, seed=1), 8) == 1
    assert workers(bots, Options(days=112, runs=20, seed=1), 2) == 2
    assert workers(bots[:1], Options(days=3650, runs=1, seed=1), 8) == 1  # one run: one process


def test_samples_are_written_only_on_request_and_the_report_embeds_the_plots(tmp_path):
    ran = simulate_cli(tmp_path, "--days", "2", "--runs", "2", "--bot", "casual", "-j", "1")
    assert ran.exit_code == 0, ran.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bands.csv",
        "casual.png",
        "report.html",
        "summary.txt",
    ]
    report = (tmp_path / "report.html").read_text()
    png = base64.b64encode((tmp_path / "casual.png").read_bytes()).decode()
    assert f'src="data:image/png;base64,{png}"' in report
    assert "time to each level" in report and "bot casual" in report


WEEKLY = """
game g "G"
currency coins start 0
item gems

action bonus
  limit 1 per week
  gain coins 5

action rare
  limit 1 per week
  require coins >= 10
  gain gems 1
"""
CLAIMER = "bot b\n  sessions 1 per day\n  actions 3 per session\n  try bonus\n  try rare\n"


def test_the_summary_keeps_two_decimals_rates_that_are_not_zero_and_windows(tmp_path):
    game = tmp_path / "g"
    (game / "bots").mkdir(parents=True)
    (game / "game.rules").write_text(WEEKLY.lstrip(), encoding="utf-8")
    (game / "bots" / "b.rules").write_text(CLAIMER, encoding="utf-8")
    args = ["--days", "14", "--runs", "2", "--no-plots", "-j", "1", "--window", "1w"]
    ran = CliRunner().invoke(app, ["simulate", str(game), "--out", str(tmp_path / "o"), *args])
    assert ran.exit_code == 0, ran.output
    text = ran.stdout
    # 5 coins on day 1 and day 8: 10/14 a day; `rare` once, on day 8 (coins reach 10)
    assert re.search(r"coins\s+0\.71\s+0\s+\+0\.71\s+\[\+0\.71 \.\. \+0\.71\]", text), text
    assert re.search(r"bonus\s+0\.14 ", text) and re.search(r"rare\s+0\.07 ", text), text
    assert re.search(r"by window of 7 days\s+days 1-7\s+days 8-14", text), text
    assert re.search(r"net coins a day\s+\+0\.71\s+\+0\.71", text), text
    assert re.search(r"rare a day\s+0\s+0\.14", text), text
    bad = CliRunner().invoke(app, ["simulate", str(game), "--window", "3h"])
    assert bad.exit_code == 2 and "whole days" in bad.output


DRAWN = """
game g "G"
currency coins start 0
item gems

action dig
  pick one
    50: gain coins 1
    30: gain coins 5
    20: gain gems 1
"""
DIGGER = 'bot digger "Digs"\n  sessions 2 per day\n  actions 5 per session\n  try dig\n'


def drawn_game(folder: Path, rules: str) -> Path:
    (folder / "bots").mkdir(parents=True)
    (folder / "game.rules").write_text(rules, encoding="utf-8")
    (folder / "bots" / "b.rules").write_text(DIGGER, encoding="utf-8")
    return folder


def test_comments_layout_and_fmt_play_the_same_games_for_a_seed(tmp_path):
    """The pack's draws are seeded by the rules' meaning, not their text (the pack version)."""
    plain = drawn_game(tmp_path / "plain", DRAWN.lstrip())
    edited = drawn_game(
        tmp_path / "edited",
        "# a comment the designer added\n\n\n"
        + DRAWN.lstrip()
        .replace("\naction", "\n\n\n# digging\naction")
        .replace("  pick", "   pick"),
    )
    assert CliRunner().invoke(app, ["fmt", str(edited)]).exit_code == 0
    assert "# digging" in (edited / "game.rules").read_text()
    games = [compile_game(g).game for g in (plain, edited)]
    assert len({pack_version(g) for g in games if g}) == 2  # the text did change
    assert len({meaning_hash(g) for g in games if g}) == 1
    outs = []
    for g in (plain, edited):
        out = tmp_path / f"out-{g.name}"
        args = ["--days", "3", "--runs", "3", "--no-plots", "--seed", "3", "--out", str(out)]
        args += ["-j", "1", "--samples", str(out / "samples.csv")]
        ran = CliRunner().invoke(app, ["simulate", str(g), *args])
        assert ran.exit_code == 0, ran.output
        outs.append([(out / f).read_bytes() for f in ("samples.csv", "summary.txt")])
    assert outs[0] == outs[1]
    assert b"gems" in outs[0][0]


def test_the_meaning_hash_changes_with_what_the_rules_mean(tmp_path):
    plain = drawn_game(tmp_path / "plain", DRAWN.lstrip())
    other = drawn_game(tmp_path / "other", DRAWN.lstrip().replace("30: gain", "31: gain"))
    games = [compile_game(g).game for g in (plain, other)]
    assert len({meaning_hash(g) for g in games if g}) == 2


def test_harvest_summary_numbers_are_sane(harvest):
    pack, game = harvest
    casual = next(b for b in game.bots if b.name == "casual")
    [result] = simulate(pack, game, [casual], Options(days=30, runs=4, seed=1))
    levels = simsummary.level_times(game, result)
    days = [d.mid for _, d, runs in levels if d is not None and runs == 4]
    assert len(days) == 4, levels  # a casual player reaches level 5 within a month
    assert days == sorted(days) and 0 < days[0] < 10
    [(name, gained, spent, net), *_] = simsummary.income(game, result)
    assert name == "coins" and gained.mid > spent.mid > 0 and 0 < net.mid <= gained.mid
    assert net.low <= net.mid <= net.high  # medians: net is not gained - spent
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
    assert "time to each level" in text and "income per day" in text
    assert all(not run.end_of_day for run in result.runs)  # reduced to bands: O(days) kept


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
    assert result.bands["coins"].mid[-1] == 2100


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
    # every run alike: the bands' median is each run's value (day 0: the start)
    assert result.bands["coins"].mid[0] == 500 and result.bands["box"].mid[0] == 7
    assert result.bands["level"].mid[0] == 3
    assert result.bands["coins"].mid[-1] == 497  # three shelves stocked, from 500
    for run in result.runs:
        assert run.level_reached_ms == {2: 0, 3: 0}  # reached before the first action


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


# ---- the simulated calendar: --start, scheduled events ---------------------------------------


def bands_of(out: Path) -> dict[tuple[str, int, str], dict[str, str]]:
    """bands.csv by (bot, day, resource)."""
    with (out / "bands.csv").open(newline="", encoding="utf-8") as f:
        return {(r["bot"], int(r["day"]), r["resource"]): r for r in csv.DictReader(f)}


def action_rate(summary: str, action: str) -> float:
    """An action's mean a day from the summary's `actions per day` table."""
    found = re.search(rf"^    {action}\s+([\d.,]+)\s", summary.split("actions per day")[1], re.M)
    assert found, summary
    return float(found.group(1).replace(",", ""))


def test_a_simulation_over_the_harvest_festival_gains_more_than_one_after_it(tmp_path):
    """harvest_festival (2026-10-25 to 2026-11-01): wheat sells for 8, not 4, and the daily
    gift (50 coins) may be taken twice a day. Both start on a Sunday (the same game weeks)
    with the same seed: the same games, but for the festival."""
    args = ["--days", "7", "--runs", "3", "--bot", "casual", "--no-plots", "-j", "1"]
    outs = {}
    for start in ("2026-10-25", "2026-11-01"):
        out = tmp_path / start
        ran = simulate_cli(out, *args, "--start", start, "--samples", str(out / "samples.csv"))
        assert ran.exit_code == 0, ran.output
        outs[start] = (out, (out / "summary.txt").read_text())
    (festival, during), (_after, after) = outs["2026-10-25"], outs["2026-11-01"]
    # twice a day (a session past the last day's end may take one more, as it counts there)
    assert 2.0 <= action_rate(during, "daily_gift") <= 15 / 7
    assert 1.0 <= action_rate(after, "daily_gift") <= 8 / 7
    coins = {start: bands_of(out)[("casual", 7, "coins")] for start, (out, _) in outs.items()}
    # every day of the week runs the festival: 7 more gifts, and the wheat sold pays double
    extra = float(coins["2026-10-25"]["median"]) - float(coins["2026-11-01"]["median"])
    assert extra > 7 * 50, coins
    assert coins["2026-10-25"]["date"] == "2026-10-31"  # day 7 starts on the 31st, 04:00
    with (festival / "events.csv").open(newline="", encoding="utf-8") as f:
        assert list(csv.DictReader(f)) == [
            {
                "event": "harvest_festival",
                "first_day": "1",
                "last_day": "7",
                "starts": "2026-10-25 04:00",  # cut to the simulation: it starts at 04:00
                "ends": "2026-11-01 00:00",
            }
        ]
    assert not (outs["2026-11-01"][0] / "events.csv").exists()  # no event within those days
    assert "scheduled events" in during and "scheduled events" not in after
    samples = (festival / "samples.csv").read_text().splitlines()
    assert samples[0] == "bot,run,day,date,time,resource,value"
    assert samples[1].startswith("casual,0,0,2026-10-25,0.00,coins,")


def test_the_default_start_writes_no_dates_and_a_bad_start_is_a_usage_error(tmp_path):
    ran = simulate_cli(tmp_path / "o", "--days", "1", "--runs", "1", "--no-plots", "-j", "1")
    assert ran.exit_code == 0, ran.output
    assert "from 2026-01-05" in ran.stdout
    assert (tmp_path / "o" / "bands.csv").read_text().startswith("bot,day,resource,")
    for bad in ("2026-02-30", "2026-13-01", "tomorrow", "1969-12-31", "9999-12-30", ""):
        out = simulate_cli(tmp_path / "bad", "--days", "3", "--start", bad)
        assert out.exit_code == 2, (bad, out.output)
        assert out.output.strip() == (
            f"rulesc simulate: --start {bad!r}: give a UTC date from 1970-01-01 on, like 2026-10-20"
        )
    assert not (tmp_path / "bad").exists()  # refused before anything is played or written


def test_results_with_a_start_date_do_not_depend_on_the_number_of_workers(harvest, tmp_path):
    pack, game = harvest
    options = Options(days=3, runs=3, seed=5, start=dt.date(2026, 10, 30))
    outs = []
    for jobs in (1, 2):
        out = tmp_path / str(jobs)
        out.mkdir()
        results = simulate(pack, game, list(game.bots), options, jobs=jobs, samples=out / "s.csv")
        summary = "".join(simsummary.render(game, r, 2) for r in results)
        bands = write_bands(results, out / "bands.csv").read_bytes()
        outs.append((summary, bands, (out / "s.csv").read_bytes()))
    assert outs[0] == outs[1]
    summary, bands, samples = outs[0]
    assert "harvest_festival" in summary  # days 1 and 2 of 3
    assert b"\ncasual,3,2026-11-01,coins," in bands
    assert b"\ncasual,0,3,2026-11-01," in samples


WEEKEND = """
game g "G"
currency coins start 0

action bonus
  limit 1 per day
  gain coins 5

event weekend every week on saturday for 2d
  limit bonus 2 per day
"""


def test_a_weekly_event_is_found_on_each_of_its_days_and_its_effect_counted(tmp_path):
    game = tmp_path / "g"
    (game / "bots").mkdir(parents=True)
    (game / "game.rules").write_text(WEEKEND.lstrip(), encoding="utf-8")
    (game / "bots" / "b.rules").write_text(
        "bot b\n  sessions 4 per day\n  actions 1 per session\n  try bonus\n", encoding="utf-8"
    )
    out = tmp_path / "o"
    args = ["--days", "14", "--runs", "2", "--no-plots", "-j", "1", "--out", str(out)]
    ran = CliRunner().invoke(app, ["simulate", str(game), *args])  # from Monday 2026-01-05
    assert ran.exit_code == 0, ran.output
    assert (out / "events.csv").read_text().splitlines() == [
        "event,first_day,last_day,starts,ends",
        "weekend,6,7,2026-01-10 00:00,2026-01-12 00:00",
        "weekend,13,14,2026-01-17 00:00,2026-01-19 00:00",
    ]
    # 5 coins a day, twice on the 4 weekend days: 10 a day then; 14 * 5 + 4 * 5 = 90
    assert re.search(r"days 6-7, 13-14: 2 runs, the first from 2026-01-10 00:00", ran.stdout)
    assert re.search(r"net coins a day\s+\+10\.00\s+\+5\.00", ran.stdout), ran.stdout
    assert re.search(r"bonus a day\s+2\.00\s+1\.00", ran.stdout), ran.stdout
    assert bands_of(out)[("b", 14, "coins")]["median"] == "90"
    assert "date" not in (out / "bands.csv").read_text().splitlines()[0]
