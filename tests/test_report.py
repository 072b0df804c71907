"""`rulesc report` (tools/report.py): the economy report from the history database, and the
admin page that shows it."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.runtime.history import Drainer, make_sink
from rulesc.tools import report

from .serverkit import ADMIN, Kit, a, act, call, session

runner = CliRunner()
HARVEST = Path(__file__).resolve().parent.parent / "games" / "harvest"


async def history_of_play(harvest: Any, tmp_path: Path) -> tuple[Kit, Any, Path]:
    """A server on the embedded store with the history on, two players who played, their
    history drained into data/history.sqlite3."""
    k = Kit("sqlite", harvest, tmp_path)
    run = await k.start(store=k.make_store(history=True))
    for i in range(2):
        _, token = await session(run, f"device-report-{i}")
        reply = await act(
            run,
            token,
            a("b1", "buy_seed", kind="wheat", qty=2 + i),
            a("h1", "harvest", slot=0),  # rejected: nothing planted
        )
        assert reply.status == 200, reply.body
    data = Path(run.server.config.data_dir)
    drainer = Drainer(run.store.history_feed(), make_sink("sqlite", data))
    await drainer.drain()
    await drainer.close()
    return k, run, data


async def test_the_report_counts_what_players_did(harvest: Any, tmp_path: Path) -> None:
    k, _run, data = await history_of_play(harvest, tmp_path)
    try:
        obs = report.observe(str(data / "history.sqlite3"), "harvest")
    finally:
        await k.close()
    assert len(obs.days) == 1
    day = obs.days[0]
    assert obs.active[day] == 2
    assert obs.actions[day] == {"buy_seed": 2}
    # wheat seeds cost 5 coins each: 2 + 3 seeds bought
    assert obs.sinks[day]["coins"] == 5 * 5
    assert obs.sources[day]["seed[wheat]"] == 5
    assert sum(obs.rejections.values()) == 2
    assert {act for act, _ in obs.rejections} == {"harvest"}


async def test_rulesc_report_writes_the_page_the_admin_page_shows(
    harvest: Any, tmp_path: Path
) -> None:
    k, run, data = await history_of_play(harvest, tmp_path)
    try:
        missing = await call(f"{run.url}/admin/harvest/report", token=ADMIN)
        assert missing.status == 404 and missing.code == "not_found"
        sim = tmp_path / "sim"
        sim.mkdir()
        (sim / "samples.csv").write_text(
            "bot,run,day,time,resource,value\n"
            "casual,0,0,0.00,coins,200\ncasual,0,1,24.00,coins,150\n"
            "casual,1,0,0.00,coins,200\ncasual,1,1,24.00,coins,170\n"
        )
        result = runner.invoke(
            app, ["report", "harvest", "--data-dir", str(data), "--simulated", str(sim)]
        )
        assert result.exit_code == 0, result.output
        page = (data / "reports" / "harvest.html").read_text()
        assert "observed vs simulated" in page
        images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
        assert len(images) >= 3
        assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)

        shown = await call(f"{run.url}/admin/harvest/report", token=ADMIN)
        assert shown.status == 200 and shown.headers["Content-Type"].startswith("text/html")
        assert shown.body.decode() == page
        denied = await call(f"{run.url}/admin/harvest/report", token="wrong")
        assert denied.status == 403 and denied.code == "forbidden"
    finally:
        await k.close()
    # the median of -50 and -30, on day 1; no dates: aligned by index
    assert report.simulated_net(sim / "samples.csv") == report.Simulated({"coins": {1: -40.0}}, {})
    assert "Aligned by day index" in page


def test_report_without_a_history_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "harvest", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no history database" in result.output


def observed(days: list[str]) -> report.Observed:
    obs = report.Observed("harvest", days=days)
    for i, day in enumerate(days):
        obs.active[day] = 1
        obs.sources[day]["coins"] = 100 * (i + 1)
    return obs


def test_a_dated_simulation_is_aligned_by_calendar_date_one_without_by_index() -> None:
    obs = observed(["2026-10-24", "2026-10-25", "2026-10-27"])  # no play on the 26th
    dated = report.Simulated({"coins": {1: 50.0, 2: 60.0}}, {1: "2026-10-25", 2: "2026-10-26"})
    by_date = report.Alignment(obs, dated)
    # x: days since the 24th, the earliest date of either
    assert by_date.observed_x == [0, 1, 3]
    assert by_date.simulated_x([1, 2]) == [1, 2]
    assert by_date.said.startswith("Aligned by calendar date") and by_date.overlap() == ""
    by_index = report.Alignment(obs, report.Simulated(dated.net, {}))
    # by index: day 1 is the first observed day, and the 27th its day 4 (no play on day 3)
    assert by_index.observed_x == [1, 2, 4] and by_index.simulated_x([1, 2]) == [1, 2]
    assert by_index.said.startswith("Aligned by day index")
    later = report.Simulated(dated.net, {1: "2026-12-01", 2: "2026-12-02"})
    assert report.Alignment(obs, later).overlap() == (
        " The simulated days (2026-12-01 to 2026-12-02) and the observed days "
        "(2026-10-24 to 2026-10-27) do not overlap."
    )
    page = report.render(obs, dated)
    assert "Aligned by calendar date (game days)" in page and "do not overlap" not in page
    assert "do not overlap" in report.render(obs, later)


async def test_rulesc_report_aligns_a_simulation_started_on_the_observed_day(
    harvest: Any, tmp_path: Path
) -> None:
    k, _run, data = await history_of_play(harvest, tmp_path)
    await k.close()
    (day,) = report.observe(str(data / "history.sqlite3"), "harvest").days
    sim = tmp_path / "sim"
    ran = runner.invoke(
        app,
        [
            *("simulate", str(HARVEST), "--out", str(sim), "--start", day, "--days", "2"),
            *("--runs", "1", "--bot", "casual", "--no-plots", "-j", "1"),
            *("--samples", str(sim / "samples.csv")),
        ],
    )
    assert ran.exit_code == 0, ran.output
    simulated = report.simulated_net(sim / "samples.csv")
    first = dt.date.fromisoformat(day)
    assert simulated.dates == {1: day, 2: (first + dt.timedelta(1)).isoformat()}
    assert set(simulated.net["coins"]) == {1, 2}
    result = runner.invoke(
        app, ["report", "harvest", "--data-dir", str(data), "--simulated", str(sim)]
    )
    assert result.exit_code == 0, result.output
    page = (data / "reports" / "harvest.html").read_text()
    assert "Aligned by calendar date (game days)" in page and "do not overlap" not in page


# ---- game days and scheduled events


def at(when: str) -> int:
    """`2026-10-23 10:00` (UTC) in ms."""
    moment = dt.datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


# (when, player, daily gifts tried): harvest's days start at 04:00 UTC, its festival runs
# from 2026-10-25 00:00 to 2026-11-01 00:00 UTC and lets the gift be taken twice a day
PLAYS = [
    ("2026-10-23 10:00", 0, 2),  # game day 10-23, no festival: one gift of the two
    ("2026-10-24 02:00", 1, 1),  # still game day 10-23 (a UTC day would say the 24th)
    ("2026-10-26 12:00", 0, 2),  # festival all day: both gifts
    ("2026-10-26 13:00", 1, 2),
    ("2026-10-27 12:00", 0, 2),
    ("2026-11-01 01:00", 0, 2),  # game day 10-31: the festival ran 20 of its 24 hours
    ("2026-11-03 12:00", 0, 2),  # after the festival
]


async def festival_history(harvest: Any, tmp_path: Path) -> Path:
    """A real server on a set clock, two players taking the daily gift before, during and
    after the festival, the history drained into DATA/history.sqlite3."""
    clock = [at(PLAYS[0][0])]
    k = Kit("sqlite", harvest, tmp_path)
    run = await k.start(store=k.make_store(history=True), clock=lambda: clock[0])
    try:
        for i, (when, player, tries) in enumerate(PLAYS):
            clock[0] = at(when)
            _, token = await session(run, f"device-festival-{player}")
            gifts = [a(f"g{i}-{n}", "daily_gift") for n in range(tries)]
            assert (await act(run, token, *gifts)).status == 200
        data = Path(run.server.config.data_dir)
        drainer = Drainer(run.store.history_feed(), make_sink("sqlite", data))
        await drainer.drain()
        await drainer.close()
    finally:
        await k.close()
    return data


async def test_the_report_counts_game_days_and_compares_the_festival_days(
    harvest: Any, tmp_path: Path
) -> None:
    data = await festival_history(harvest, tmp_path)
    days = report.game_days(harvest.pack.path)
    assert days.day_starts_ms == 4 * 3_600_000
    assert [(e.name, e.schedule) for e in days.events] == [
        ("harvest_festival", (at("2026-10-25 00:00"), 7 * 86_400_000, None))
    ]
    obs = report.observe(str(data / "history.sqlite3"), "harvest", days.day_starts_ms)
    assert obs.days == ["2026-10-23", "2026-10-26", "2026-10-27", "2026-10-31", "2026-11-03"]
    assert obs.players == 2
    assert [obs.active[d] for d in obs.days] == [2, 2, 1, 1, 1]
    assert [sum(obs.actions[d].values()) for d in obs.days] == [2, 4, 2, 1, 1]
    net = report.observed_net(obs)["coins"]
    assert net == [50.0, 100.0, 100.0, 50.0, 50.0]  # 50 coins a gift, per active player
    # by UTC day the 02:00 and 01:00 plays fall on days of their own
    utc = report.observe(str(data / "history.sqlite3"), "harvest")
    assert utc.days == [
        "2026-10-23", "2026-10-24", "2026-10-26", "2026-10-27", "2026-11-01", "2026-11-03"
    ]  # fmt: skip

    (festival,) = report.event_days(obs, days)
    assert festival.name == "harvest_festival" and festival.colour == "#ff7f0e"
    assert festival.share == {
        "2026-10-23": 0.0,
        "2026-10-26": 1.0,
        "2026-10-27": 1.0,
        "2026-10-31": 20 / 24,  # until 00:00 UTC of a day that ends at 04:00
        "2026-11-03": 0.0,
    }
    assert festival.all_day == ["2026-10-26", "2026-10-27"]
    assert festival.part_day == ["2026-10-31"]
    assert festival.without == ["2026-10-23", "2026-11-03"]
    # one run, cut to the observed days (from 10-23 04:00 to 11-04 04:00): all of it
    assert [(r.starts_ms, r.ends_ms) for r in festival.runs] == [
        (at("2026-10-25 00:00"), at("2026-11-01 00:00"))
    ]
    compared = {c.figure: c for c in report.compare(obs, [festival])}
    assert list(compared) == [
        "daily active players",
        "actions applied",
        "net coins per active player",
    ]
    coins = compared["net coins per active player"]
    assert (coins.without, coins.all_day, coins.part_day) == ((2, 50.0), (2, 100.0), (1, 50.0))
    assert coins.change == 50.0
    acts = compared["actions applied"]
    assert (acts.without, acts.all_day, acts.part_day, acts.change) == (
        (2, 1.5),
        (2, 3.0),
        (1, 1.0),
        1.5,
    )
    assert compared["daily active players"].change == 0.0

    page = report.render(obs, None, days)
    assert "Days are the game&#x27;s days" in page and "(04:00 UTC)" in page
    table = page.split("<h3>Days with and without each event</h3>", 1)[1]
    assert (
        "<td>harvest_festival</td><td>net coins per active player</td><td>50.00 (2 days)</td>"
        "<td>100.00 (2 days)</td><td>+50.00</td><td>50.00 (1 day)</td>"
    ) in table
    assert "2026-10-31 (83%)" in page


def test_events_are_shaded_and_named_in_the_legend_on_the_observed_axis() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rulesc.tools.simplot import shade_events

    obs = observed(["2026-10-23", "2026-10-24"])
    obs.day_starts_ms = 4 * 3_600_000
    sim = report.Simulated({"coins": {1: 1.0}}, {1: "2026-10-24"})
    align = report.Alignment(obs, sim)
    # the festival starts at 00:00 UTC on the 25th: 20 hours into game day 10-24 (x 1,
    # drawn from x 0.5)
    assert align.x_of_ms(at("2026-10-25 00:00")) == pytest.approx(0.5 + 20 / 24)
    assert align.x_of_ms(at("2026-10-23 04:00")) == -0.5
    fig, ax = plt.subplots()
    run = report.EventRun("harvest_festival", at("2026-10-25 00:00"), at("2026-10-26 00:00"), 1, 1)
    shade_events(ax, ["harvest_festival"], [run], align.x_of_ms)
    _, names = ax.get_legend_handles_labels()
    plt.close(fig)
    assert names == ["event harvest_festival"]


async def test_rulesc_report_reads_the_pack_and_lines_up_with_a_dated_simulation(
    harvest: Any, tmp_path: Path
) -> None:
    data = await festival_history(harvest, tmp_path)
    sim = tmp_path / "sim"
    ran = runner.invoke(
        app,
        [
            *("simulate", str(HARVEST), "--out", str(sim), "--start", "2026-10-23"),
            *("--days", "12", "--runs", "1", "--bot", "casual", "--no-plots", "-j", "1"),
            *("--samples", str(sim / "samples.csv")),
        ],
    )
    assert ran.exit_code == 0, ran.output
    simulated = report.simulated_net(sim / "samples.csv")
    assert simulated.dates[1] == "2026-10-23" and simulated.dates[9] == "2026-10-31"
    days = report.game_days(HARVEST)  # a game folder: compiled for its schema
    obs = report.observe(str(data / "history.sqlite3"), "harvest", days.day_starts_ms)
    align = report.Alignment(obs, simulated)
    # an observed day and the simulated day of the same date are at the same x
    assert align.observed_x == align.simulated_x([1, 4, 5, 9, 12])

    # without --rules: no pack in the data directory, UTC days, said on the page
    result = runner.invoke(app, ["report", "harvest", "--data-dir", str(data)])
    assert result.exit_code == 0 and "no pack found" in result.output
    page = (data / "reports" / "harvest.html").read_text()
    assert "Days are UTC days" in page and "harvest_festival" not in page
    result = runner.invoke(
        app,
        ["report", "harvest", "--data-dir", str(data), "--simulated", str(sim)]
        + ["--rules", str(HARVEST)],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("harvest: 5 days, 2 players")
    page = (data / "reports" / "harvest.html").read_text()
    assert "Aligned by calendar date (game days)" in page and "do not overlap" not in page
    assert "<td>harvest_festival</td><td>actions applied</td><td>1.50 (2 days)</td>" in page
    wrong = runner.invoke(
        app, ["report", "arena", "--data-dir", str(data), "--rules", str(HARVEST)]
    )
    assert wrong.exit_code == 2 and "is the game harvest, not arena" in wrong.output


def test_a_weekly_event_over_the_game_days() -> None:
    """`every week on saturday for 2d` (from Saturday 00:00 UTC to Monday 00:00) on days
    that start at 04:00: Saturday's game day all of it, Friday's and Sunday's in part."""
    day = 86_400_000
    weekend = report.ScheduledEvent(
        "weekend", "every week on saturday for 2d", (2 * day, 2 * day, 7 * day)
    )
    days = report.GameDays(4 * 3_600_000, (weekend,), "test")
    # Thursday 2026-10-22 to Monday 2026-11-02, play every day but Wednesday the 28th
    dates = [(dt.date(2026, 10, 22) + dt.timedelta(i)).isoformat() for i in range(12)]
    obs = observed([d for d in dates if d != "2026-10-28"])
    obs.day_starts_ms = days.day_starts_ms
    (e,) = report.event_days(obs, days)
    assert e.all_day == ["2026-10-24", "2026-10-31"]  # the Saturdays
    assert e.part_day == ["2026-10-23", "2026-10-25", "2026-10-30", "2026-11-01"]
    assert e.share["2026-10-23"] == 4 / 24 and e.share["2026-10-25"] == 20 / 24
    assert [(r.starts_ms, r.ends_ms) for r in e.runs] == [
        (at("2026-10-24 00:00"), at("2026-10-26 00:00")),
        (at("2026-10-31 00:00"), at("2026-11-02 00:00")),
    ]
    # coins: 100 x the day's index (1-based) among the days with play, one player a day
    (_dau, _acts, coins) = report.compare(obs, [e])
    assert coins.figure == "net coins per active player"
    assert coins.all_day == (2, (300 + 900) / 2)
    assert coins.without == (5, (100 + 500 + 600 + 700 + 1100) / 5)  # 22, 26, 27, 29, 2
    assert coins.part_day == (4, (200 + 400 + 800 + 1000) / 4)  # 23, 25, 30, 1
