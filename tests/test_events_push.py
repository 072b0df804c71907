"""The `events` push: a live connection hears the scheduled events right after `welcome`,
and again when a run starts or ends (one timer per game), after a rules swap and after a
player's dev clock moves (runtime/eventpush.py). Real servers, real sockets, real clocks:
each test sets the server's clock a little before harvest's festival starts, so it starts
a second or two into the test."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import orjson
from tornado.websocket import websocket_connect

from rulesc.cli.packbuild import compile_pack
from rulesc.client import Client
from rulesc.runtime import packs
from rulesc.runtime.events import events_at, next_change
from rulesc.runtime.gateway import now_ms

from .gamekit import build_pack
from .serverkit import ADMIN, HARVEST, Kit, Socket, call, session, state
from .test_events import FARM, at

FESTIVAL = at("2026-10-25 00:00")  # harvest's festival starts (and runs a week)
HOUR = 3_600_000


def running_clock(now: int) -> Callable[[], int]:
    """A clock that reads `now` at this moment and runs at real speed from there."""
    shift = now - now_ms()
    return lambda: now_ms() + shift


def timer_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "events of harvest" and not t.done()]


def names(events: dict) -> list[str]:
    return [e["name"] for e in events["active"]]


async def test_the_events_frame_comes_right_after_welcome_as_the_state_answers_them(
    kit: Kit,
) -> None:
    fixed = at("2026-10-26 10:00")  # the festival runs
    run = await kit.start(clock=lambda: fixed)
    _, token = await session(run)
    conn = await websocket_connect(f"{run.ws_url}/v1/harvest/ws?token={token}")
    try:
        first = orjson.loads(await asyncio.wait_for(conn.read_message(), 3.0))
        second = orjson.loads(await asyncio.wait_for(conn.read_message(), 3.0))
    finally:
        conn.close()
    assert first["type"] == "welcome"
    body = await state(run, token)
    assert second == {"type": "events", "events": body["events"], "server_time": fixed}
    assert names(second["events"]) == ["harvest_festival"]
    assert second["events"]["active"][0]["starts_at"] == FESTIVAL
    assert second["events"]["next"] is None
    # as the OpenAPI document lists it
    doc = (await call(f"{run.url}/v1/openapi.json")).body["components"]["schemas"]
    (listed,) = [
        f for f in doc["ServerFrame"]["oneOf"] if f["properties"]["type"] == {"const": "events"}
    ]
    assert set(listed["properties"]) == set(second)
    assert set(doc["ScheduledEvents"]["properties"]) == set(second["events"])


async def test_an_event_that_starts_is_pushed_to_every_connection_of_the_game(kit: Kit) -> None:
    run = await kit.start(clock=running_clock(FESTIVAL - 3000))
    _, token = await session(run, "device-events-1")
    _, other = await session(run, "device-events-2")
    sockets = [await Socket.open(run, t) for t in (token, token, other)]  # two devices, two players
    for ws in sockets:
        first = await ws.of_type("events")
        assert first["events"]["active"] == []
        assert first["events"]["next"]["name"] == "harvest_festival"
        assert first["server_time"] < FESTIVAL
    assert run.server.event_push.timers() == 1  # one per game, not one per connection
    for ws in sockets:
        pushed = await ws.of_type("events", timeout=8.0)
        assert names(pushed["events"]) == ["harvest_festival"]
        assert pushed["events"]["next"] is None
        # at the boundary, not before it, and soon after it
        assert FESTIVAL <= pushed["server_time"] < FESTIVAL + 2000
    await asyncio.sleep(0.3)
    assert all(ws.taken("events") == [] for ws in sockets)  # once: nothing changed since
    for ws in sockets:
        await ws.close()
    await asyncio.sleep(0.1)
    assert run.server.event_push.timers() == 0  # nobody of the game connected: no timer


async def test_a_rules_swap_rearms_the_timer(sqlite_kit: Kit, tmp_path: Path) -> None:
    """The festival is an hour away (the timer sleeps its longest); the new rules move it
    to 23:00, a few seconds away: the swap pushes the new next run at once, and the
    re-armed timer pushes its start."""
    folder = tmp_path / "harvest"
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests"))
    game = packs.build(folder, tmp_path / "data", compile_pack)
    rules = folder / "harvest.rules"
    text = rules.read_text(encoding="utf-8")
    old = "event harvest_festival from 2026-10-25 to"
    assert old in text
    rules.write_text(text.replace(old, "event harvest_festival from 2026-10-24 23:00 to"))
    moved = compile_pack(folder, tmp_path / "prebuilt")  # built first: the swap is quick
    start = at("2026-10-24 23:00")
    run = await sqlite_kit.start(games=[game], clock=running_clock(start - 4000))
    _, token = await session(run)
    ws = await Socket.open(run, token)
    assert (await ws.of_type("events"))["events"]["next"]["starts_at"] == FESTIVAL
    r = await call(f"{run.url}/admin/harvest/rules", "POST", {"path": str(moved)}, token=ADMIN)
    assert r.status == 200, r.body
    swapped = await ws.of_type("events", timeout=2.0)
    assert swapped["events"]["active"] == []
    assert swapped["events"]["next"]["starts_at"] == start
    started = await ws.of_type("events", timeout=8.0)
    assert names(started["events"]) == ["harvest_festival"]
    assert start <= started["server_time"] < start + 2000
    # shutting down cancels the timer (the socket is still open)
    assert len(timer_tasks()) == 1
    run.sockets.remove(ws)  # not closed by the kit before the server
    await sqlite_kit.stop(run)
    assert timer_tasks() == []
    await ws.close()


async def test_a_dev_clock_skip_moves_that_players_events_only(sqlite_kit: Kit) -> None:
    """Development mode: events are judged at the player's clock, as `GET /state` does."""
    run = await sqlite_kit.start(dev=True, clock=running_clock(FESTIVAL - HOUR - 2500))
    _, skipper = await session(run, "device-skipper")
    _, bystander = await session(run, "device-bystander")
    mine, theirs = await Socket.open(run, skipper), await Socket.open(run, bystander)
    for ws in (mine, theirs):
        assert (await ws.of_type("events"))["events"]["active"] == []
    skip = await call(f"{run.url}/v1/harvest/dev/clock", "POST", {"skip_ms": HOUR}, token=skipper)
    assert skip.status == 200, skip.body
    started = await mine.of_type("events", timeout=8.0)
    assert names(started["events"]) == ["harvest_festival"]
    assert FESTIVAL <= started["server_time"] < FESTIVAL + 2000  # the skipper's time
    assert names((await state(run, skipper))["events"]) == ["harvest_festival"]
    await asyncio.sleep(0.3)
    assert theirs.taken("events") == []  # an hour before the festival still
    # a skip past the start pushes at once
    skip = await call(
        f"{run.url}/v1/harvest/dev/clock", "POST", {"skip_ms": 2 * HOUR}, token=bystander
    )
    assert skip.status == 200, skip.body
    now = await theirs.of_type("events", timeout=1.0)
    assert names(now["events"]) == ["harvest_festival"]
    for ws in (mine, theirs):
        await ws.close()


async def test_the_python_client_keeps_the_latest_events(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(clock=running_clock(FESTIVAL - 2500))
    heard: list[dict] = []
    client = await Client.guest(run.url, "harvest", "device-events-py", on_events=heard.append)
    try:
        await client.connect()
        for _ in range(600):
            if len(heard) == 2:
                break
            await asyncio.sleep(0.01)
        assert [f["type"] for f in heard] == ["events", "events"]
        assert heard[0]["events"]["next"]["name"] == "harvest_festival"
        assert names(heard[1]["events"]) == ["harvest_festival"]
        assert client.events == heard[1]["events"]
    finally:
        await client.close()


def test_the_next_change_is_the_nearest_start_or_end_of_a_run(tmp_path: Path) -> None:
    """What the timer sleeps until: `events_at` answers the same up to it, and otherwise
    at it (FARM: a festival window, a weekly weekend, a daily happy hour at 18:00)."""
    pack = build_pack(tmp_path, FARM)
    friday = at("2026-10-23 12:00")
    assert next_change(pack, friday) == at("2026-10-23 18:00")  # happy hour starts
    assert next_change(pack, at("2026-10-23 18:00")) == at("2026-10-23 19:00")  # and ends
    assert next_change(pack, at("2026-10-23 19:00")) == at("2026-10-24 00:00")  # the weekend
    assert next_change(pack, at("2026-10-24 19:00")) == at("2026-10-25 00:00")  # the festival
    # the festival's end at 12:00 on Nov 1st (a sunday: the weekend runs, happy hour later)
    assert next_change(pack, at("2026-11-01 11:00")) == at("2026-11-01 12:00")
    t = friday
    for _ in range(40):  # nothing changes between two changes, something changes at each
        change = next_change(pack, t)
        assert change is not None and change > t
        assert events_at(pack, change - 1) == events_at(pack, t)
        assert events_at(pack, change) != events_at(pack, t)
        t = change
    once = build_pack(tmp_path, FARM.split("\nevent weekend")[0])  # the festival only
    assert next_change(once, at("2026-11-01 12:00")) is None  # it has run for good
