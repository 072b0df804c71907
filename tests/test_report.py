"""`rulesc report` (tools/report.py): the economy report from the history database, and the
admin page that shows it."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any

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
    assert by_index.observed_x == [1, 2, 3] and by_index.simulated_x([1, 2]) == [1, 2]
    assert by_index.said.startswith("Aligned by day index")
    later = report.Simulated(dated.net, {1: "2026-12-01", 2: "2026-12-02"})
    assert report.Alignment(obs, later).overlap() == (
        " The simulated days (2026-12-01 to 2026-12-02) and the observed days "
        "(2026-10-24 to 2026-10-27) do not overlap."
    )
    page = report.render(obs, dated)
    assert "Aligned by calendar date (UTC)" in page and "do not overlap" not in page
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
    assert "Aligned by calendar date (UTC)" in page and "do not overlap" not in page
