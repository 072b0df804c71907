"""Inputs that used to reach a 500 or another player: tokens, nesting, query numbers,
chunk sizes, binary frames, what /readyz tells. Every answer is JSON with a code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from rulesc.runtime import packs
from rulesc.runtime.auth import JwtVerifier
from rulesc.runtime.config import Limits

from .serverkit import (
    ADMIN,
    JWT_KEY,
    ROOT,
    Kit,
    Running,
    Socket,
    a,
    act,
    call,
    session,
    state,
)
from .test_server_bodies import LIMITS as BODY_LIMITS
from .test_server_bodies import assert_one_413, exchange

# -- one JWT, one game; JWT players apart from guests -------------------------------------


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> packs.Game:
    return packs.build(ROOT / "games" / "arena", tmp_path_factory.mktemp("arena-hardening"))


def token_for(sub: Any, aud: Any, **more: Any) -> str:
    claims = {"sub": sub, "aud": aud, "exp": int(time.time()) + 600, **more}
    return jwt.encode(claims, JWT_KEY, algorithm="HS256")


async def two_games(kit: Kit, arena: packs.Game, audience: str | None = None) -> Running:
    verifier = JwtVerifier(hs256_key=JWT_KEY, audience=audience)
    return await kit.start(jwt=verifier, games=[kit.game, arena])


async def test_a_jwt_naming_a_guest_does_not_reach_the_guest(
    sqlite_kit: Kit, arena: packs.Game
) -> None:
    run = await two_games(sqlite_kit, arena)
    guest, guest_token = await session(run)
    r = await act(run, guest_token, a("g1", "buy_seed", kind="wheat", qty=2))
    assert r.body["results"][0]["status"] == "ok"
    before = await run.store.load("harvest", guest)
    # the guest's id is public (leaderboards): a JWT whose subject it is is another player
    impostor = token_for(guest, "harvest")
    s = await state(run, impostor)
    assert s["player_id"] == f"j:{guest}" and s["version"] == 0
    r = await act(run, impostor, a("x1", "buy_seed", kind="wheat", qty=1))
    assert r.body["results"][0]["status"] == "ok"
    after = await run.store.load("harvest", guest)
    assert (after.version, after.state) == (before.version, before.state)


async def test_a_jwt_is_good_for_the_game_its_audience_names(
    sqlite_kit: Kit, arena: packs.Game
) -> None:
    run = await two_games(sqlite_kit, arena)
    for_harvest = token_for("account-7", "harvest")
    assert (await call(f"{run.url}/v1/harvest/state", token=for_harvest)).status == 200
    r = await call(f"{run.url}/v1/arena/state", token=for_harvest)
    assert r.status == 401 and r.code == "unauthorized"
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(f"{run.ws_url}/v1/arena/ws?token={for_harvest}")
    assert refused.value.code == 401
    no_aud = jwt.encode(
        {"sub": "account-7", "exp": int(time.time()) + 600}, JWT_KEY, algorithm="HS256"
    )
    assert (await call(f"{run.url}/v1/harvest/state", token=no_aud)).status == 401
    both = token_for("account-7", ["harvest", "arena"])  # an issuer may name several games
    for game in ("harvest", "arena"):
        assert (await call(f"{run.url}/v1/{game}/state", token=both)).status == 200


async def test_a_configured_audience_is_prefixed_to_the_game(
    sqlite_kit: Kit, arena: packs.Game
) -> None:
    run = await two_games(sqlite_kit, arena, audience="https://accounts.example")
    good = token_for("account-7", "https://accounts.example/arena")
    assert (await call(f"{run.url}/v1/arena/state", token=good)).status == 200
    assert (await call(f"{run.url}/v1/harvest/state", token=good)).status == 401
    # the bare audience names no game: good for none of them
    bare = token_for("account-7", "https://accounts.example")
    for game in ("harvest", "arena"):
        assert (await call(f"{run.url}/v1/{game}/state", token=bare)).status == 401


@pytest.mark.parametrize(
    "sub",
    [
        " ",
        "",
        "\u202eevil",
        "a\u200bb",
        "line\nbreak",
        " padded",
        "padded\t",
        "\u2028",
        "x" * 127,
        42,
        None,
    ],
)
async def test_unreadable_subjects_are_refused(
    sqlite_kit: Kit, arena: packs.Game, sub: Any
) -> None:
    run = await two_games(sqlite_kit, arena)
    good = await call(f"{run.url}/v1/harvest/state", token=token_for("account-1", "harvest"))
    assert good.status == 200  # the same token but for its subject is good
    r = await call(f"{run.url}/v1/harvest/state", token=token_for(sub, "harvest"))
    assert r.status == 401 and r.code == "unauthorized", r.body


def test_readable_subjects() -> None:
    from rulesc.runtime.auth import valid_subject

    for sub in ("account-42", "g1.x.y", "auth0|5f7c", "Zoë Åström", "x" * 126, "用户"):
        assert valid_subject(sub), sub


# -- garbage in a token: 401, counted, never a 500 -----------------------------------------


GARBAGE = [
    "g1.eyJ9.\u00e9\u00e9",
    "g1.\u00ff.abc",
    "g1.x.y\u00a0",
    "\u00e9" * 10,
    "g1..",
    "g1.x." + "A" * 9000,
    "eyJ.\u00e9.x",
]


@pytest.mark.parametrize("token", GARBAGE)
async def test_garbage_tokens_are_401_and_counted(
    sqlite_kit: Kit, arena: packs.Game, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = await sqlite_kit.start(
        limits=Limits(auth_fail_rate=0.001, auth_fail_burst=2), jwt=JwtVerifier(hs256_key=JWT_KEY)
    )
    header = {"Authorization": f"Bearer {token}"}
    raw = f"GET /v1/harvest/state HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n"
    responses, _ = await exchange(run, raw.encode("latin-1"))  # the bytes as they are
    assert [r.status for r in responses] == [401]
    assert orjson.loads(responses[0].body)["error"]["code"] == "unauthorized"
    upgrade = HTTPRequest(f"{run.ws_url}/v1/harvest/ws", headers=header)
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(upgrade)
    assert refused.value.code == 401
    assert orjson.loads(refused.value.response.body)["error"]["code"] == "unauthorized"
    # both were counted: the third try is held up
    assert (await call(f"{run.url}/v1/harvest/state", headers=header)).status == 429
    assert_no_tracebacks(caplog)


def assert_no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelname in ("ERROR", "CRITICAL")]
    assert not bad, [r.getMessage() for r in bad]


async def test_an_upgrade_that_is_no_websocket_gets_json(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()
    _, token = await session(run)
    r = await call(f"{run.url}/v1/harvest/ws", token=token)
    assert r.status == 400 and r.code == "bad_request"


# -- deep nesting: 400 before anything is written -----------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize("depth", [40, 260, 1000])
async def test_deep_params_are_400(
    sqlite_kit: Kit, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    run = await sqlite_kit.start()
    _, token = await session(run)
    body = (
        b'{"actions": [{"id": "d1", "name": "sell", "params": '
        + b'{"k": ' * depth
        + b"1"
        + b"}" * depth
        + b"}]}"
    )
    for route in ("actions", "actions/check"):
        r = await call(f"{run.url}/v1/harvest/{route}", "POST", raw=body, token=token)
        assert (
            r.status == 400 and r.code == "bad_request" and "nested" in r.body["error"]["message"]
        )
    ws = await Socket.open(run, token)
    frame = {"type": "act", "id": "d2", "name": "sell", "params": None}
    text = orjson.dumps(frame).decode().replace("null", '{"k": ' * depth + "1" + "}" * depth)
    ws.send(text)
    assert (await ws.of_type("error"))["code"] == "bad_request"
    ws.send('{"type": "batch", "actions": [' + text + "]}")
    assert (await ws.of_type("error"))["code"] == "bad_request"
    await ws.close()
    assert (await state(run, token))["version"] == 0
    assert_no_tracebacks(caplog)


async def test_params_nested_within_the_limit_are_judged_by_the_rules(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()
    _, token = await session(run)
    r = await act(run, token, {"id": "d1", "name": "sell", "params": nested(25)})
    assert r.status == 200 and r.body["results"][0]["error"]["code"] == "bad_params"


# -- query numbers: ASCII digits within range, else 400 -----------------------------------


BAD_NUMBERS = [
    "%C2%B2",
    "%D9%A3",
    "-1",
    "+5",
    "%2B5",
    "1e3",
    "0x10",
    "%20%205",
    "99999999999999999999999",
]


@pytest.mark.parametrize("value", BAD_NUMBERS)
async def test_query_numbers_are_ascii_digits(kit: Kit, value: str) -> None:
    run = await kit.start()
    player, token = await session(run)
    for path, auth in (
        (f"/v1/harvest/ledger?limit={value}", token),
        (f"/v1/harvest/ledger?after={value}", token),
        (f"/admin/harvest/players/{player}?after={value}", ADMIN),
        (f"/admin/harvest/players/{player}?after=0&limit={value}", ADMIN),
    ):
        r = await call(run.url + path, token=auth)
        assert r.status == 400 and r.code == "bad_request", (path, r.body)


@pytest.mark.parametrize(
    "after", ["9999999999999999999", "9223372036854775808", "1-9999999999999999999"]
)
async def test_an_after_past_int64_is_400_on_every_route(kit: Kit, after: str) -> None:
    run = await kit.start()
    player, token = await session(run)
    await act(run, token, a("n1", "daily_gift"))
    for path, auth in (
        (f"/v1/harvest/ledger?after={after}", token),
        (f"/admin/harvest/players/{player}?after={after}", ADMIN),
    ):
        r = await call(run.url + path, token=auth)
        assert r.status == 400 and r.code == "bad_request", (path, r.body)
    ws = await Socket.open(run, token)
    ws.send({"type": "resume", "after": after, "ref": "r1"})
    err = await ws.of_type("error")
    assert err["code"] == "bad_request" and err["ref"] == "r1"
    await ws.close()


async def test_leaderboard_limit_is_ascii_digits(sqlite_kit: Kit, arena: packs.Game) -> None:
    run = await sqlite_kit.start(games=[arena])
    r = await call(f"{run.url}/v1/arena/session", "POST", {"device_id": "device-0001"})
    token = r.body["token"]
    board = "strongest"
    ok = await call(f"{run.url}/v1/arena/leaderboards/{board}?limit=5", token=token)
    assert ok.status == 200, ok.body
    for value in ("%C2%B2", "0", "101", "-1"):
        r = await call(f"{run.url}/v1/arena/leaderboards/{board}?limit={value}", token=token)
        assert r.status == 400 and r.code == "bad_request", (value, r.body)


# -- chunk sizes: JSON 413 ------------------------------------------------------------------


@pytest.mark.parametrize("size", ["ffffffffffffffff", "f" * 60, "40000000"])
async def test_an_absurd_chunk_size_is_a_json_413(sqlite_kit: Kit, size: str) -> None:
    run = await sqlite_kit.start(limits=BODY_LIMITS)
    _, token = await session(run)
    upgrade = (
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    for method, path, extra in (
        ("POST", "/v1/harvest/actions", ""),
        ("GET", "/v1/harvest/state", ""),
        ("GET", "/v1/harvest/ws", upgrade),
    ):
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
            f"{extra}Transfer-Encoding: chunked\r\n\r\n{size}\r\nabc"
        ).encode()
        responses, closed = await exchange(run, head)
        assert_one_413(responses)
        assert closed


async def test_a_malformed_chunk_is_a_json_400(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(limits=BODY_LIMITS)
    _, token = await session(run)
    head = (
        f"POST /v1/harvest/actions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ).encode()
    responses, closed = await exchange(run, head)
    assert [r.status for r in responses] == [400] and closed
    assert orjson.loads(responses[0].body)["error"]["code"] == "bad_request"


# -- binary frames: refused, nothing applied ------------------------------------------------


async def test_binary_frames_are_refused_and_apply_nothing(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()
    _, token = await session(run)
    ws = await Socket.open(run, token)
    frame = orjson.dumps({"type": "act", "id": "b1", "name": "daily_gift", "ref": "r9"})
    ws.send(frame)  # bytes: a binary frame
    err = await ws.of_type("error")
    assert err["code"] == "bad_request" and "text" in err["message"] and "ref" not in err
    ws.send({"type": "ping"})
    await ws.of_type("pong")
    await ws.close()
    assert (await state(run, token))["version"] == 0


# -- /readyz: what is wrong only for the admin ------------------------------------------------


async def test_readyz_tells_what_is_wrong_only_to_the_admin(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    from rulesc.runtime.store_redis import RedisStore

    down = RedisStore("redis://127.0.0.1:1/0")  # nothing listens there
    run = await sqlite_kit.start(store=down)
    public = await call(f"{run.url}/readyz")
    assert public.status == 503 and public.body == {"ok": False, "games": ["harvest"]}
    assert b"127.0.0.1" not in orjson.dumps(public.body)
    wrong = await call(f"{run.url}/readyz", token="not-the-admin-token")
    assert wrong.status == 503 and "problems" not in wrong.body
    admin = await call(f"{run.url}/readyz", token=ADMIN)
    assert admin.status == 503 and admin.body["ok"] is False
    assert any("store unreachable" in p for p in admin.body["problems"])
