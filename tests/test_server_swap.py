"""Rule swaps on a running server: a swap that would lose what players hold is refused
(admin endpoint and --watch), --watch builds only files that are steady, and a state
holding what the pack no longer knows gets a rejection, not a failed batch."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest

from rulesc.cli.packbuild import compile_pack
from rulesc.runtime import packs
from rulesc.runtime.watch import watch

from .serverkit import ADMIN, HARVEST, Kit, Running, a, act, call, session, state

T0 = 1_767_614_400_000  # Monday 2026-01-05 12:00 UTC
MINUTE = 60_000
STRAWBERRY = "strawberry,25,30m,10m,4,14,5,3\n"


def without_strawberries(tmp_path: Path) -> Path:
    """A copy of the harvest game whose crops.csv has lost its strawberry row."""
    folder = tmp_path / "harvest-no-strawberry"
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
    csv = folder / "crops.csv"
    text = csv.read_text()
    assert STRAWBERRY in text
    csv.write_text(text.replace(STRAWBERRY, ""))
    return folder


async def grant(run: Running, player: str, gid: str, changes: dict) -> None:
    url = f"{run.url}/admin/harvest/players/{player}/grant"
    r = await call(url, "POST", {"id": gid, "changes": changes}, token=ADMIN)
    assert r.status == 200 and r.body["result"]["status"] == "ok", r.body


async def strawberry_farmer(run: Running, device: str) -> tuple[str, str]:
    """A player holding strawberries three ways: seeds, produce and a planted plot."""
    player, token = await session(run, device)
    await grant(run, player, "g1", {"seed[strawberry]": 3, "produce[strawberry]": 70})
    r = await act(run, token, a("p1", "plant", slot=0, kind="strawberry"))
    assert r.body["results"][0]["status"] == "ok", r.body
    return player, token


async def test_a_swap_that_drops_a_row_players_hold_is_refused_under_load(
    kit: Kit, tmp_path: Path
) -> None:
    clock = [T0]
    run = await kit.start(clock=lambda: clock[0])
    farmers = [await strawberry_farmer(run, f"device-farmer-{i}") for i in range(3)]
    serving = run.server.games.get("harvest")
    assert serving is not None
    smaller = without_strawberries(tmp_path)
    stop = asyncio.Event()
    done: dict[str, int] = {}  # token -> batches sent

    async def keep_playing(token: str) -> None:  # buys and sells until told to (or 60 times)
        n = 0
        while n < 60 and (not stop.is_set() or n < 4):
            n += 1
            r = await act(
                run,
                token,
                a(f"b{n}", "buy_seed", kind="wheat", qty=1),
                a(f"s{n}", "sell", kind="strawberry", qty=1),
            )
            assert r.status == 200, r.body
            assert [x["status"] for x in r.body["results"]] == ["ok", "ok"], r.body
        done[token] = n

    players = [asyncio.ensure_future(keep_playing(token)) for _, token in farmers]
    url = f"{run.url}/admin/harvest/rules"
    refusals = [await call(url, "POST", {"path": str(smaller)}, token=ADMIN) for _ in range(3)]
    stop.set()
    await asyncio.gather(*players)

    for r in refusals:
        assert r.status == 409 and r.code == "unsafe_swap", r.body
        details = r.body["error"]["details"]
        assert details["serving"] == serving.pack.version
        assert [x["place"] for x in details["losses"]] == [
            "produce[strawberry]",
            "seed[strawberry]",
            "field[].crop = strawberry",
        ]
        assert "strawberry" in r.body["error"]["message"]
    assert run.server.games.get("harvest") is serving  # the old pack keeps serving
    # what the players hold is all there, and still theirs to use
    clock[0] += 31 * MINUTE
    for _, token in farmers:
        sold = done[token]
        held = (await state(run, token))["state"]
        assert held["seed"]["strawberry"] == 2 and held["produce"]["strawberry"] == 70 - sold
        assert held["field"][0]["crop"] == "strawberry"
        r = await act(run, token, a("h1", "harvest", slot=0))
        assert r.body["results"][0]["changes"]["produce[strawberry]"] == [70 - sold, 74 - sold]
    # a safe change still swaps in
    (smaller / "crops.csv").write_text(
        (HARVEST / "crops.csv").read_text().replace("25,30m", "20,30m")
    )
    r = await call(url, "POST", {"path": str(smaller)}, token=ADMIN)
    assert r.status == 200 and r.body["previous"] == serving.pack.version, r.body


async def test_a_renamed_resource_is_refused_with_what_would_be_lost(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    run = await sqlite_kit.start()
    player, token = await session(run)
    await grant(run, player, "g1", {"gems": -3})  # 7 gems
    folder = tmp_path / "renamed"
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
    rules = folder / "harvest.rules"
    rules.write_text(rules.read_text().replace("gems", "diamonds"))
    r = await call(f"{run.url}/admin/harvest/rules", "POST", {"path": str(folder)}, token=ADMIN)
    assert r.status == 409 and r.code == "unsafe_swap"
    [loss] = r.body["error"]["details"]["losses"]
    assert loss["place"] == "gems" and "diamonds" in loss["problem"]
    r = await act(run, token, a("a1", "daily_gift"))
    assert (await state(run, token))["state"]["gems"] == 7


async def test_a_slot_holding_a_removed_row_is_rejected_and_the_batch_goes_on(
    kit: Kit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [T0]
    first = await kit.start(clock=lambda: clock[0])
    player, token = await strawberry_farmer(first, "device-farmer")
    r = await act(
        first,
        token,
        a("p2", "buy_seed", kind="wheat", qty=1),
        a("p3", "plant", slot=1, kind="wheat"),
    )
    assert [x["status"] for x in r.body["results"]] == ["ok", "ok"]
    await kit.stop(first)
    # restarted on rules without strawberries (a restart is not a swap: nothing refuses
    # it), over the same store: the planted plot holds a row the pack no longer knows
    kit.game = packs.build(without_strawberries(tmp_path), tmp_path / "data", compile_pack)
    run = await kit.start(clock=lambda: clock[0])
    clock[0] += 31 * MINUTE
    with caplog.at_level(logging.WARNING, logger="rulesc.runtime.gateway"):
        r = await act(
            run,
            token,
            a("h1", "harvest", slot=0),
            a("d1", "daily_gift"),
            a("h2", "harvest", slot=1),
        )
    assert r.status == 200, r.body
    refused, gift, wheat = r.body["results"]
    assert refused["status"] == "rejected" and refused["error"]["code"] == "unknown_row"
    assert refused["error"]["details"] == {"places": {"field[0].crop": "strawberry"}}
    assert "no longer know" in refused["error"]["message"]
    assert gift["status"] == "ok" and wheat["status"] == "ok"
    assert any("field[0].crop = strawberry" in m for m in caplog.messages)
    s = (await state(run, token))["state"]
    assert s["field"][0] == {"crop": "strawberry", "ready_at": T0 + 30 * MINUTE}
    assert s["field"][1] is None and s["produce"]["wheat"] == 3 and s["coins"] == 245
    # the plot can be cleared, and the same harvest sent again is the same rejection
    r = await act(run, token, a("h1", "harvest", slot=0), a("c1", "clear", slot=0))
    assert r.body["results"][0] == {**refused, "replayed": True}
    assert r.body["results"][1]["status"] == "ok"


async def test_a_fault_inside_a_pack_rejects_that_action_only(
    sqlite_kit: Kit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    game = packs.build(
        HARVEST, tmp_path / "own-pack", compile_pack
    )  # its own module: the fault stays here
    _, model, writes = game.pack.module.ACTIONS["daily_gift"]

    def broken(s: dict, p: object, ctx: object) -> None:
        raise ZeroDivisionError("a bug in the pack")

    game.pack.module.ACTIONS["daily_gift"] = (broken, model, writes)
    sqlite_kit.game = game
    run = await sqlite_kit.start()
    _, token = await session(run)
    with caplog.at_level(logging.ERROR, logger="rulesc.runtime.gateway"):
        r = await act(
            run,
            token,
            a("b1", "buy_seed", kind="wheat", qty=1),
            a("d1", "daily_gift"),
            a("b2", "buy_seed", kind="wheat", qty=1),
        )
    assert r.status == 200, r.body
    assert [x["status"] for x in r.body["results"]] == ["ok", "rejected", "ok"]
    error = r.body["results"][1]["error"]
    assert error["code"] == "pack_fault" and "a bug in the pack" in error["message"]
    assert any("d1 (daily_gift) failed inside pack" in m for m in caplog.messages)
    assert (await state(run, token))["state"]["coins"] == 190


# -- --watch --------------------------------------------------------------------------------


class Steps:
    """An injected sleep that the test releases one call at a time, so it knows exactly
    which look of the watcher sees which bytes."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()
        self._held: asyncio.Future[None] | None = None

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        await self.calls.put((seconds, future))
        await future

    async def next(self) -> float:
        """Wait until the watcher sleeps again (what it did before is done); how long."""
        seconds, self._held = await asyncio.wait_for(self.calls.get(), 30)
        return seconds

    def release(self) -> None:
        assert self._held is not None
        self._held.set_result(None)
        self._held = None


async def start_watching(
    run: Running, folder: Path, reports: list[str]
) -> tuple[Steps, asyncio.Task[None]]:
    steps = Steps()
    task = asyncio.ensure_future(
        watch(
            run.server,
            {"harvest": folder},
            interval=1.0,
            steady=0.5,
            looks=2,
            report=reports.append,
            sleep=steps.sleep,
        )
    )
    assert await steps.next() == 1.0  # the first stamp is taken: waiting for changes
    return steps, task


async def stop_watching(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def until_swapped(steps: Steps, reports: list[str], count: int) -> None:
    while len(reports) < count:
        steps.release()
        await steps.next()


async def test_watch_never_serves_a_file_caught_half_written(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    folder = tmp_path / "harvest-src"
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
    run = await sqlite_kit.start()
    await run.server.reload("harvest", str(folder))
    reports: list[str] = []
    steps, task = await start_watching(run, folder, reports)
    csv = folder / "crops.csv"
    whole = csv.read_text() + "melon,30,40m,0s,2,40,6,4\nbean,3,1m,0s,2,2,1,1\n"
    half = whole[: whole.index("bean,")]  # cut at a line end: it checks, one row short
    try:
        csv.write_text(half)
        steps.release()  # the look that sees the first half
        assert await steps.next() == 0.5  # a change: waiting for it to be steady
        assert reports == []
        csv.write_text(whole)  # the second half lands before the next look
        await until_swapped(steps, reports, 1)
        steps.release()
        assert await steps.next() == 1.0  # back to waiting for changes
    finally:
        await stop_watching(task)
    assert len(reports) == 1 and "now serves pack" in reports[0], reports
    rows = run.server.games.get("harvest").pack.schema["tables"]["crop"]["rows"]  # type: ignore[union-attr]
    assert {"melon", "bean"} <= set(rows)


async def test_watch_refuses_rules_that_lose_holdings_and_keeps_the_old_pack(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    folder = tmp_path / "harvest-src"
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
    run = await sqlite_kit.start()
    await run.server.reload("harvest", str(folder))
    serving = run.server.games.get("harvest")
    reports: list[str] = []
    steps, task = await start_watching(run, folder, reports)
    csv = folder / "crops.csv"
    try:
        csv.write_text(csv.read_text().replace(STRAWBERRY, ""))
        await until_swapped(steps, reports, 1)
    finally:
        await stop_watching(task)
    assert "refused" in reports[0] and "seed[strawberry]" in reports[0], reports
    assert "field[].crop = strawberry" in reports[0]
    assert run.server.games.get("harvest") is serving


# -- migrations -----------------------------------------------------------------------------


def strawberries_to_carrots(tmp_path: Path) -> Path:
    """The harvest game without strawberries, whose rules move them to carrots."""
    folder = without_strawberries(tmp_path)
    rules = folder / "harvest.rules"
    rules.write_text(rules.read_text() + "\nmigrate crop[strawberry] -> crop[carrot]\n")
    return folder


async def ledger(run: Running, token: str) -> list[dict]:
    r = await call(f"{run.url}/v1/harvest/ledger?limit=500", token=token)
    assert r.status == 200, r.body
    return r.body["entries"]


async def test_a_swap_with_a_migration_moves_every_players_holdings_once_under_load(
    kit: Kit, tmp_path: Path
) -> None:
    clock = [T0]
    run = await kit.start(clock=lambda: clock[0])
    farmers = [await strawberry_farmer(run, f"device-farmer-{i}") for i in range(3)]
    idle, idle_token = await strawberry_farmer(run, "device-idle")  # only read after the swap
    for player, _ in farmers:
        await grant(run, player, "g2", {"coins": 10_000, "seed[carrot]": 5})
    serving = run.server.games.get("harvest")
    assert serving is not None
    swapped = asyncio.Event()
    playing = asyncio.Event()  # every player has had 3 batches answered: swap now
    before: set[str] = set()
    after: dict[str, int] = {}  # token -> batches sent once the swap had landed

    async def keep_playing(token: str) -> int:  # buys wheat seeds before, across, after
        n = 0
        while n < 1500 and after.get(token, 0) < 5:  # (10_000 coins: 2000 seeds)
            n += 1
            r = await act(run, token, a(f"b{n}", "buy_seed", kind="wheat", qty=1))
            assert r.status == 200 and r.body["results"][0]["status"] == "ok", r.body
            if swapped.is_set():
                after[token] = after.get(token, 0) + 1
            elif n == 3:
                before.add(token)
                if len(before) == len(farmers):
                    playing.set()
        return n

    players = [asyncio.ensure_future(keep_playing(token)) for _, token in farmers]
    await playing.wait()  # (not a sleep: how soon the swap lands must not decide the test)
    url = f"{run.url}/admin/harvest/rules"
    r = await call(url, "POST", {"path": str(strawberries_to_carrots(tmp_path))}, token=ADMIN)
    assert r.status == 200 and r.body["previous"] == serving.pack.version, r.body
    swapped.set()
    sent = await asyncio.gather(*players)
    version = r.body["version"]
    assert all(after[token] == 5 for _, token in farmers)
    assert all(n > 5 for n in sent), sent  # batches ran before, during and after the swap

    for (_, token), n in zip(farmers, sent, strict=True):
        held = (await state(run, token))["state"]
        assert "strawberry" not in held["seed"] and "strawberry" not in held["produce"]
        assert held["seed"]["carrot"] == 5 + 2 and held["produce"]["carrot"] == 70
        assert held["seed"]["wheat"] == n and held["field"][0]["crop"] == "carrot"
        entries = await ledger(run, token)
        migrations = [e for e in entries if "migrate" in e]
        assert len(migrations) == 1, migrations
        [m] = migrations
        assert m["action"] == "rules:migrate" and m["migrate"]["to"] == version
        assert m["migrate"]["from"] == serving.pack.version
        assert m["migrate"]["lines"] == ["crop[strawberry] -> crop[carrot]"]
        assert m["changes"]["seed[strawberry]"] == [2, None]
        assert m["changes"]["seed[carrot]"] == [5, 7]
        assert m["changes"]["produce[strawberry]"] == [70, None]
        assert m["changes"]["produce[carrot]"] == [0, 70]
        assert m["changes"]["field[0]"][1]["crop"] == "carrot"
        assert len([e for e in entries if e["action"] == "buy_seed"]) == n  # nothing lost
    # a player only read: migrated on that first read, once
    for _ in range(2):
        held = (await state(run, idle_token))["state"]
        assert held["seed"]["carrot"] == 2 and held["produce"]["carrot"] == 70
    assert len([e for e in await ledger(run, idle_token) if "migrate" in e]) == 1
    # the planted carrot (once a strawberry) grows on and is harvested as carrots
    clock[0] += 31 * MINUTE
    r = await act(run, farmers[0][1], a("h1", "harvest", slot=0))
    assert r.body["results"][0]["status"] == "ok", r.body
    assert r.body["results"][0]["changes"]["produce[carrot]"][0] == 70
    assert idle


async def test_a_refused_swap_answers_the_diff(sqlite_kit: Kit, tmp_path: Path) -> None:
    run = await sqlite_kit.start()
    url = f"{run.url}/admin/harvest/rules"
    r = await call(url, "POST", {"path": str(without_strawberries(tmp_path))}, token=ADMIN)
    assert r.status == 409 and r.code == "unsafe_swap"
    diff = r.body["error"]["details"]["diff"]
    assert diff["safe"] is False
    assert diff["tables"]["changed"]["crop"]["rows_removed"] == ["strawberry"]
    assert [x["place"] for x in diff["losses"]] == [
        "produce[strawberry]",
        "seed[strawberry]",
        "field[].crop = strawberry",
    ]


async def test_watch_swaps_in_rules_whose_migration_covers_the_removed_row(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    folder = tmp_path / "harvest-src"
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
    run = await sqlite_kit.start()
    await run.server.reload("harvest", str(folder))
    reports: list[str] = []
    steps, task = await start_watching(run, folder, reports)
    try:
        csv = folder / "crops.csv"
        csv.write_text(csv.read_text().replace(STRAWBERRY, ""))
        rules = folder / "harvest.rules"
        rules.write_text(rules.read_text() + "\nmigrate crop[strawberry] -> nothing\n")
        await until_swapped(steps, reports, 1)
    finally:
        await stop_watching(task)
    assert "now serves pack" in reports[0], reports


# -- migrations of items of two tables (issue 15) -------------------------------------------

BASKETS = """
table quality
  columns bonus: int
  silver: 1
  gold: 3

item basket of crop, quality max 999  # produce packed by quality: basket[wheat, gold]

action pack_basket(kind: crop, q: quality)
  cost produce[kind] 1
  gain basket[kind, q] 1
"""


def with_baskets(tmp_path: Path) -> Path:
    """The harvest game with an item of two tables, `basket[crop, quality]`."""
    folder = tmp_path / "harvest-baskets"
    if not folder.exists():
        shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
        rules = folder / "harvest.rules"
        rules.write_text(rules.read_text() + BASKETS)
    return folder


def baskets_without_strawberries(tmp_path: Path, lines: str) -> Path:
    """with_baskets, without its strawberry row, with these `migrate` lines."""
    folder = tmp_path / "harvest-baskets-no-strawberry"
    shutil.copytree(with_baskets(tmp_path), folder)
    csv = folder / "crops.csv"
    csv.write_text(csv.read_text().replace(STRAWBERRY, ""))
    rules = folder / "harvest.rules"
    rules.write_text(rules.read_text() + lines)
    return folder


async def basket_holder(run: Running, device: str) -> tuple[str, str]:
    """basket[strawberry, gold] 3, basket[strawberry, silver] 2, basket[carrot, silver] 4."""
    player, token = await session(run, device)
    baskets = {
        "basket[strawberry, gold]": 3,
        "basket[strawberry, silver]": 2,
        "basket[carrot, silver]": 4,
    }
    await grant(run, player, "g1", baskets)
    return player, token


# the row line moves strawberry's pairs to carrot; the pair line, more specific, wins for gold
PAIR_LINES = (
    "\nmigrate crop[strawberry] -> crop[carrot]\n"
    "migrate basket[strawberry, gold] -> basket[wheat, gold]\n"
)


async def test_a_swap_migrates_pairs_once_on_first_read_and_the_pair_line_wins(
    kit: Kit, tmp_path: Path
) -> None:
    run = await kit.start()
    url = f"{run.url}/admin/harvest/rules"
    r = await call(url, "POST", {"path": str(with_baskets(tmp_path))}, token=ADMIN)
    assert r.status == 200, r.body
    before = r.body["version"]
    reader = await basket_holder(run, "device-reader")  # only reads after the swap
    actor = await basket_holder(run, "device-actor")  # acts first after the swap
    r = await call(
        url, "POST", {"path": str(baskets_without_strawberries(tmp_path, PAIR_LINES))}, token=ADMIN
    )
    assert r.status == 200 and r.body["previous"] == before, r.body
    version = r.body["version"]
    r = await act(run, actor[1], a("p1", "pack_basket", kind="wheat", q="gold"))
    assert r.body["results"][0]["status"] == "rejected"  # no produce to pack: nothing changes
    for _, token in (reader, actor):
        for _ in range(2):  # read twice: migrated once
            held = (await state(run, token))["state"]
            assert "strawberry" not in held["basket"]
            assert held["basket"]["wheat"] == {"silver": 0, "gold": 3}  # the pair line
            assert held["basket"]["carrot"] == {"silver": 4 + 2, "gold": 0}  # the row, merged
        migrations = [e for e in await ledger(run, token) if "migrate" in e]
        assert len(migrations) == 1, migrations
        [m] = migrations
        assert m["action"] == "rules:migrate" and m["migrate"]["to"] == version
        assert m["migrate"]["from"] == before
        assert m["migrate"]["lines"] == [
            "crop[strawberry] -> crop[carrot]",
            "basket[strawberry, gold] -> basket[wheat, gold]",
        ]
        assert m["changes"]["basket[strawberry, gold]"] == [3, None]
        assert m["changes"]["basket[strawberry, silver]"] == [2, None]
        assert m["changes"]["basket[wheat, gold]"] == [0, 3]
        assert m["changes"]["basket[carrot, silver]"] == [4, 6]
        assert "basket[carrot, gold]" not in m["changes"]
    # the migrated pairs play on under the new pack
    await grant(run, reader[0], "g2", {"produce[carrot]": 1})
    r = await act(run, reader[1], a("p2", "pack_basket", kind="carrot", q="silver"))
    assert r.body["results"][0]["changes"]["basket[carrot, silver]"] == [6, 7], r.body


async def test_a_swap_losing_pairs_no_line_covers_is_refused_with_the_diff(
    kit: Kit, tmp_path: Path
) -> None:
    run = await kit.start()
    url = f"{run.url}/admin/harvest/rules"
    r = await call(url, "POST", {"path": str(with_baskets(tmp_path))}, token=ADMIN)
    assert r.status == 200, r.body
    serving = run.server.games.get("harvest")
    player, token = await basket_holder(run, "device-holder")
    # gold strawberries are covered, silver ones are not (nor the seeds, produce and plots)
    lines = "\nmigrate basket[strawberry, gold] -> basket[wheat, gold]\n"
    folder = baskets_without_strawberries(tmp_path, lines)
    r = await call(url, "POST", {"path": str(folder)}, token=ADMIN)
    assert r.status == 409 and r.code == "unsafe_swap", r.body
    assert "basket[strawberry, silver]" in r.body["error"]["message"]
    diff = r.body["error"]["details"]["diff"]
    assert diff["safe"] is False
    lost = {x["place"]: x.get("migration") for x in diff["losses"]}
    assert lost["basket[strawberry, silver]"] is None
    assert lost["basket[strawberry, gold]"] == "basket[strawberry, gold] -> basket[wheat, gold]"
    assert run.server.games.get("harvest") is serving
    held = (await state(run, token))["state"]["basket"]
    assert held["strawberry"] == {"silver": 2, "gold": 3}  # nothing moved
    assert [e for e in await ledger(run, token) if "migrate" in e] == []
