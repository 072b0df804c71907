"""The playground in real headless Chromium, driven by playwright-core (tests/browser/).

Two tabs as two devices of one player, a rejected action with the server's message, the
dev clock ripening a crop, a `--watch` rules swap reloading the forms; the screenshot in
docs/images/playground.png is taken here (`RULESC_UPDATE_SCREENSHOT=1` refreshes it). Skipped only when node or Chromium is missing
(.ci/run installs both; scripts/test.sh runs `npm ci` for playwright-core).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

import pytest

from rulesc.cli.packbuild import compile_pack
from rulesc.runtime import packs
from rulesc.runtime.gateway import now_ms
from rulesc.runtime.watch import watch

from .jskit import ROOT, chromium, missing_packages, run_node
from .serverkit import HARVEST, Kit
from .systemkit import need
from .test_events import at


@pytest.fixture(autouse=True)
def _node_and_chromium() -> None:
    need("node", "chromium")


SCREENSHOT = ROOT / "docs" / "images" / "playground.png"


async def test_the_playground_in_chromium(tmp_path: Path) -> None:
    reason = missing_packages()
    if reason:
        pytest.fail(reason)
    folder = tmp_path / "harvest"
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests"))
    game = packs.build(folder, tmp_path / "data", compile_pack)
    kit = Kit("sqlite", game, tmp_path)
    run = await kit.start(dev=True)
    watcher = asyncio.get_running_loop().create_task(
        watch(run.server, {"harvest": folder}, interval=0.2, report=lambda m: None)
    )
    shot = tmp_path / "playground.png"
    try:
        result = await run_node(
            [
                "--test",
                "--test-reporter=tap",
                "--test-force-exit",
                "tests/browser/playground.test.mjs",
            ],
            {
                "RULESC_URL": run.url,
                "RULESC_CHROMIUM": chromium() or "",
                "RULESC_GAME_DIR": str(folder),
                "RULESC_SCREENSHOT": str(shot),
            },
            timeout=90,
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await kit.close()
    assert result.code == 0, str(result)
    assert result.tap("fail") == 0 and result.tap("pass") == 5, str(result)
    assert shot.stat().st_size > 20_000
    # the README's picture, as a run saw the page; refreshed on demand (like the golden
    # files), so a test run does not rewrite a committed file each time
    if os.environ.get("RULESC_UPDATE_SCREENSHOT") or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


async def test_the_clock_card_follows_events_pushes(sqlite_kit: Kit) -> None:
    """The festival starts while the page is open (the player's dev clock moved to just
    before it) and the card shows it running, though the page does not poll
    (tests/browser/events_card.mjs)."""
    reason = missing_packages()
    if reason:
        pytest.fail(reason)
    festival = at("2026-10-25 00:00")
    shift = festival - 3_600_000 - now_ms()  # an hour before the festival
    run = await sqlite_kit.start(dev=True, clock=lambda: now_ms() + shift)
    result = await run_node(
        ["--test", "--test-reporter=tap", "--test-force-exit", "tests/browser/events_card.mjs"],
        {
            "RULESC_URL": run.url,
            "RULESC_CHROMIUM": chromium() or "",
            "RULESC_FESTIVAL": str(festival),
        },
        timeout=90,
    )
    assert result.code == 0, str(result)
    assert result.tap("fail") == 0 and result.tap("pass") == 1, str(result)
