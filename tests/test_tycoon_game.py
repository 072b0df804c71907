"""games/tycoon (Boomtown), the third example game: its scenarios pass, exploration finds
nothing, its bots play it, and a real server serves it, playground included: a player opens a
business, waits on the dev clock and collects the batch (over the protocol, and in headless
Chromium: tests/browser/tycoon.test.mjs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.cli.packbuild import compile_pack
from rulesc.runtime import packs

from .jskit import chromium, missing_packages, run_node
from .serverkit import Kit, a, call
from .systemkit import need

ROOT = Path(__file__).resolve().parent.parent
TYCOON = ROOT / "games" / "tycoon"
runner = CliRunner()


def test_the_scenarios_pass() -> None:
    result = runner.invoke(app, ["test", str(TYCOON)])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output and "passed" in result.output


def test_it_checks_clean_with_twenty_scenarios_and_twelve_actions() -> None:
    result = runner.invoke(app, ["check", str(TYCOON)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    first = result.output.splitlines()[0]  # ok: tycoon — 13 actions, 5 resources, 24 scenarios
    actions, scenarios = int(first.split()[3]), int(first.split()[7])
    assert actions >= 12 and scenarios >= 20, first


def test_exploration_finds_nothing() -> None:
    result = runner.invoke(app, ["explore", str(TYCOON), "--budget", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("explore tycoon: nothing found")


def test_the_bots_play_it(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = ["simulate", str(TYCOON), "--days", "3", "--runs", "2", "--no-plots", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "bot idler" in summary and "bot mogul" in summary
    assert "bot heir" in summary and "level 3   day 0.0" in summary  # given 10_000 earned
    assert "collect_batch" in summary  # both bots make money the game's way


@pytest.fixture
async def tycoon_kit(tmp_path: Path) -> AsyncIterator[Kit]:
    game = packs.build(TYCOON, tmp_path / "packs", compile_pack)
    k = Kit("sqlite", game, tmp_path)
    yield k
    await k.close()


async def test_served_and_playable_in_the_playground(tycoon_kit: Kit) -> None:
    run = await tycoon_kit.start(dev=True)
    page = await call(f"{run.url}/play/tycoon")
    assert page.status == 200
    assert "<title>Boomtown · rulesc playground</title>" in page.body.decode()

    started = await call(f"{run.url}/v1/tycoon/session", "POST", {"device_id": "device-tycoon"})
    assert started.status == 200, started.body
    token = started.body["token"]

    async def act(*actions: dict) -> list[dict]:
        r = await call(
            f"{run.url}/v1/tycoon/actions", "POST", {"actions": list(actions)}, token=token
        )
        assert r.status == 200, r.body
        return r.body["results"]

    opened, early = await act(
        a("o1", "open_venue", slot=0, kind="lemonade"), a("c1", "collect_batch", slot=0)
    )
    assert opened["status"] == "ok", opened
    assert early["error"]["message"].startswith("Ready in"), early

    skip = await call(f"{run.url}/v1/tycoon/dev/clock", "POST", {"skip_ms": 60_000}, token=token)
    assert skip.status == 200, skip.body
    (collected,) = await act(a("c2", "collect_batch", slot=0))
    assert collected["status"] == "ok", collected
    before, after = collected["changes"]["cash"]
    assert before == 50 and after in (56, 62)  # one batch of 6, or a lucky double

    state = await call(f"{run.url}/v1/tycoon/state", token=token)
    assert state.status == 200, state.body
    assert state.body["state"]["cash"] == after
    assert state.body["state"]["lot"][0]["venue"] == "lemonade"


async def test_played_in_the_playground_in_chromium(tycoon_kit: Kit) -> None:
    need("node", "chromium")
    reason = missing_packages()
    if reason:
        pytest.fail(reason)
    run = await tycoon_kit.start(dev=True)
    result = await run_node(
        ["--test", "--test-reporter=tap", "--test-force-exit", "tests/browser/tycoon.test.mjs"],
        {"RULESC_URL": run.url, "RULESC_CHROMIUM": chromium() or ""},
        timeout=60,
    )
    assert result.code == 0, str(result)
    assert result.tap("fail") == 0 and result.tap("pass") == 1, str(result)
