"""The playground's server side: the page and its assets in development mode only, and the
dev clock, which moves one player's time and nobody else's (the browser tests are in
test_playground_browser.py)."""

from __future__ import annotations

import time

import pytest

from .serverkit import Kit, a, act, call, session, state

TEN_MINUTES = 600_000


async def test_production_mode_has_no_playground_and_no_dev_clock(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()  # dev is off unless asked for (the CLI: no --production)
    _, token = await session(run)
    page = await call(f"{run.url}/play/harvest")
    assert page.status == 404 and "development mode" in page.body["error"]["message"]
    assert (await call(f"{run.url}/play/static/play.js")).status == 404
    for method, body in (("GET", None), ("POST", {"skip_ms": TEN_MINUTES})):
        r = await call(f"{run.url}/v1/harvest/dev/clock", method, body, token=token)
        assert r.status == 403 and r.code == "forbidden", r.body
    assert (await call(f"{run.url}/client.js")).status == 200  # the client is for everyone


async def test_the_page_and_its_assets(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(dev=True)
    page = await call(f"{run.url}/play/harvest")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    html = page.body.decode()
    assert "<title>Harvest Valley · rulesc playground</title>" in html
    assert 'data-game="harvest"' in html and '"rulesc-client": "/client.js?v=' in html
    for asset, kind in (("play.js", "text/javascript"), ("play.css", "text/css")):
        r = await call(f"{run.url}/play/static/{asset}?v=1")
        assert r.status == 200 and r.headers["Content-Type"].startswith(kind)
    assert (await call(f"{run.url}/play/nosuchgame")).status == 404
    assert (await call(f"{run.url}/play/static/index.html")).status == 404


async def test_skip_moves_one_players_time_and_ripens_their_crop(kit: Kit) -> None:
    run = await kit.start(dev=True)
    _, token = await session(run, "device-skipper")
    _, other = await session(run, "device-bystander")
    r = await act(
        run, token, a("b1", "buy_seed", kind="wheat", qty=1), a("p1", "plant", slot=0, kind="wheat")
    )
    assert [x["status"] for x in r.body["results"]] == ["ok", "ok"]
    early = await act(run, token, a("h1", "harvest", slot=0))
    assert early.body["results"][0]["error"]["message"].startswith("Ready in")

    before = time.time_ns() // 1_000_000  # whole ms, as the server counts (a fraction over flakes)
    clock = await call(
        f"{run.url}/v1/harvest/dev/clock", "POST", {"skip_ms": TEN_MINUTES}, token=token
    )
    assert clock.status == 200, clock.body
    assert clock.body["offset_ms"] == TEN_MINUTES
    assert clock.body["server_time"] >= before + TEN_MINUTES
    assert clock.body["meters"]["energy"]["value"] == 30  # refilled by the skip: 29 + ticks

    harvest = await act(run, token, a("h2", "harvest", slot=0))
    assert harvest.body["results"][0]["status"] == "ok", harvest.body
    assert harvest.body["server_time"] >= before + TEN_MINUTES
    assert (await state(run, token))["state"]["produce"]["wheat"] == 3
    assert (await state(run, token))["server_time"] >= before + TEN_MINUTES
    # the other player's time has not moved
    assert (await state(run, other))["server_time"] < before + TEN_MINUTES
    check = await call(
        f"{run.url}/v1/harvest/actions/check",
        "POST",
        {"actions": [a("c1", "daily_gift")]},
        token=other,
    )
    assert check.body["server_time"] < before + TEN_MINUTES

    again = await call(f"{run.url}/v1/harvest/dev/clock", "POST", {"skip_ms": 1000}, token=token)
    assert again.body["offset_ms"] == TEN_MINUTES + 1000  # skips add up
    mine = await call(f"{run.url}/v1/harvest/dev/clock", token=other)
    assert mine.body["offset_ms"] == 0


@pytest.mark.parametrize("skip", [0, -1, "600000", 1.5, True, None, 10**13])
async def test_skip_takes_a_whole_positive_number_of_ms(sqlite_kit: Kit, skip: object) -> None:
    run = await sqlite_kit.start(dev=True)
    _, token = await session(run)
    r = await call(f"{run.url}/v1/harvest/dev/clock", "POST", {"skip_ms": skip}, token=token)
    assert r.status == 400 and r.code == "bad_request", r.body


async def test_the_dev_clock_needs_a_player(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(dev=True)
    r = await call(f"{run.url}/v1/harvest/dev/clock", "POST", {"skip_ms": 1})
    assert r.status == 401
