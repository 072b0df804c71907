"""A catalogue of bad inputs: each answered as the protocol says, and nothing changes.

Every case runs against a fresh server (SQLite) with one player who has played a little;
after the bad request, the player's state and version are exactly what they were.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
import pytest

from rulesc.runtime.auth import GuestTokens
from rulesc.runtime.config import Limits

from .serverkit import ADMIN, SECRET, Kit, Reply, Running, Socket, a, act, call, session, state

LIMITS = Limits(max_body=4096, max_frame=4096, max_batch=10)
BIG = b'{"actions": [' + b",".join([b'{"id": "x", "name": "daily_gift"}'] * 200) + b"]}"


@dataclass
class Ctx:
    run: Running
    player: str
    token: str
    other_player: str


def forged(ctx: Ctx) -> str:
    head, payload, sig = ctx.token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["p"] = ctx.other_player  # act as someone else with my signature
    other = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{head}.{other}.{sig}"


def tokens(ctx: Ctx) -> dict[str, str | None]:
    guests = GuestTokens(SECRET)
    return {
        "good": ctx.token,
        "none": None,
        "garbage": "xyz",
        "forged": forged(ctx),
        "bad_sig": ctx.token[:-4] + ("AAAA" if not ctx.token.endswith("AAAA") else "BBBB"),
        "expired": guests.issue(ctx.player, "harvest", 0)[0],  # expired in 1970 + 30 days
        "other_game": guests.issue(ctx.player, "othergame", 10**13)[0],
        "other_secret": GuestTokens("not-the-secret").issue(ctx.player, "harvest", 10**13)[0],
        "jwt_none": jwt.encode({"sub": ctx.player, "exp": 10**10}, None, algorithm="none"),
        "jwt_hs": jwt.encode(
            {"sub": ctx.player, "exp": 10**10},
            "guess-the-key-guess-the-key-guess-the-key",
            algorithm="HS256",
        ),
        "admin": ADMIN,
    }


@dataclass
class Case:
    id: str
    method: str = "POST"
    path: str = "/v1/harvest/actions"
    body: Any = None  # JSON-able, or bytes sent as they are
    auth: str = "good"
    status: int = 200
    code: str | None = None  # the error code (outside results), or a result's code
    frame: Any = None  # for WebSocket cases: what to send
    header: str | None = None  # a raw Authorization header


def acts(*actions: Any) -> dict:
    return {"actions": list(actions)}


def buy(**params: Any) -> dict:
    return acts({"id": "n1", "name": "buy_seed", "params": params})


GRANT = "/admin/harvest/players/{player}/grant"

HTTP = [
    # -- unreadable or wrongly shaped bodies: 400 --
    Case("not_json", body=b"{nope", status=400, code="bad_request"),
    Case("empty_body", body=b"", status=400, code="bad_request"),
    Case("json_array", body=[1, 2], status=400, code="bad_request"),
    Case("json_string", body="actions", status=400, code="bad_request"),
    Case("no_actions", body={}, status=400, code="bad_request"),
    Case("actions_not_list", body={"actions": {"id": "1"}}, status=400, code="bad_request"),
    Case("action_not_object", body=acts(5), status=400, code="bad_request"),
    Case("missing_id", body=acts({"name": "daily_gift"}), status=400, code="bad_request"),
    Case(
        "id_too_long",
        body=acts({"id": "x" * 65, "name": "daily_gift"}),
        status=400,
        code="bad_request",
    ),
    Case(
        "id_bad_chars",
        body=acts({"id": "a b/c", "name": "daily_gift"}),
        status=400,
        code="bad_request",
    ),
    Case("id_empty", body=acts({"id": "", "name": "daily_gift"}), status=400, code="bad_request"),
    Case("id_number", body=acts({"id": 7, "name": "daily_gift"}), status=400, code="bad_request"),
    Case("missing_name", body=acts({"id": "n1"}), status=400, code="bad_request"),
    Case("name_number", body=acts({"id": "n1", "name": 3}), status=400, code="bad_request"),
    Case("name_huge", body=acts({"id": "n1", "name": "x" * 500}), status=400, code="bad_request"),
    Case(
        "extra_field",
        body=acts({"id": "n1", "name": "daily_gift", "admin": True}),
        status=400,
        code="bad_request",
    ),
    Case(
        "nan",
        body=b'{"actions": [{"id": "n1", "name": "sell", "params": {"qty": NaN}}]}',
        status=400,
        code="bad_request",
    ),
    Case(
        "infinity_number",
        body=b'{"actions": [{"id": "n1", "name": "sell", "params": {"qty": 1e999}}]}',
        status=400,
        code="bad_request",
    ),
    Case(
        "not_utf8",
        body=b'{"actions": [{"id": "n1", "name": "\xff\xfe"}]}',
        status=400,
        code="bad_request",
    ),
    # -- too large: 413 --
    Case("body_too_large", body=BIG, status=413, code="too_large"),
    Case(
        "batch_too_large",
        body=acts(*({"id": f"b{i}", "name": "daily_gift"} for i in range(11))),
        status=413,
        code="too_large",
    ),
    # -- params the rules refuse: a rejected result, nothing applied --
    Case("unknown_action", body=acts({"id": "n1", "name": "print_money"}), code="unknown_action"),
    Case("qty_string", body=buy(kind="wheat", qty="3"), code="bad_params"),
    Case("qty_float", body=buy(kind="wheat", qty=3.0), code="bad_params"),
    Case("qty_bool", body=buy(kind="wheat", qty=True), code="bad_params"),
    Case("qty_zero", body=buy(kind="wheat", qty=0), code="bad_params"),
    Case("qty_negative", body=buy(kind="wheat", qty=-5), code="bad_params"),
    Case("qty_over_range", body=buy(kind="wheat", qty=100), code="bad_params"),
    Case(
        "qty_huge",
        body=b'{"actions": [{"id": "n1", "name": "buy_seed", "params": {"kind": "wheat", "qty": 99999999999999999999999999}}]}',
        code="bad_params",
    ),
    Case("qty_int64_max", body=buy(kind="wheat", qty=2**63 - 1), code="bad_params"),
    Case("qty_null", body=buy(kind="wheat", qty=None), code="bad_params"),
    Case("missing_param", body=buy(kind="wheat"), code="bad_params"),
    Case("extra_param", body=buy(kind="wheat", qty=1, price=0), code="bad_params"),
    Case("unknown_enum", body=buy(kind="banana", qty=1), code="bad_params"),
    Case(
        "params_list",
        body=acts({"id": "n1", "name": "daily_gift", "params": [1]}),
        code="bad_params",
    ),
    Case(
        "slot_out_of_range",
        body=acts({"id": "n1", "name": "harvest", "params": {"slot": 6}}),
        code="bad_params",
    ),
    Case("crop_locked", body=buy(kind="pumpkin", qty=1), code="precondition"),
    Case("cannot_afford", body=buy(kind="wheat", qty=99), code="insufficient"),
    Case("limit_reached", body=acts({"id": "n1", "name": "daily_gift"}), code="limit"),
    Case("id_reused", body=acts({"id": "used-1", "name": "daily_gift"}), code="id_reused"),
    # -- who is calling: 401 --
    Case("no_token", auth="none", status=401, code="unauthorized", body=acts()),
    Case("garbage_token", auth="garbage", status=401, code="unauthorized", body=acts()),
    Case("forged_other_player", auth="forged", status=401, code="unauthorized", body=acts()),
    Case("bad_signature", auth="bad_sig", status=401, code="unauthorized", body=acts()),
    Case("expired_token", auth="expired", status=401, code="unauthorized", body=acts()),
    Case("token_of_other_game", auth="other_game", status=401, code="unauthorized", body=acts()),
    Case(
        "token_of_other_server", auth="other_secret", status=401, code="unauthorized", body=acts()
    ),
    Case("jwt_alg_none", auth="jwt_none", status=401, code="unauthorized", body=acts()),
    Case("jwt_without_verifier", auth="jwt_hs", status=401, code="unauthorized", body=acts()),
    Case("admin_token_as_player", auth="admin", status=401, code="unauthorized", body=acts()),
    Case(
        "basic_auth",
        header="Basic dXNlcjpwYXNz",
        auth="none",
        status=401,
        code="unauthorized",
        body=acts(),
    ),
    Case(
        "state_without_token",
        method="GET",
        path="/v1/harvest/state",
        auth="none",
        status=401,
        code="unauthorized",
    ),
    Case(
        "ledger_forged",
        method="GET",
        path="/v1/harvest/ledger",
        auth="forged",
        status=401,
        code="unauthorized",
    ),
    # -- where: 404 / 405 --
    Case("unknown_game", path="/v1/nogame/actions", body=acts(), status=404, code="not_found"),
    Case("unknown_route", path="/v1/harvest/cheat", body=acts(), status=404, code="not_found"),
    Case(
        "wrong_method",
        method="GET",
        path="/v1/harvest/actions",
        status=405,
        code="method_not_allowed",
    ),
    Case(
        "ledger_bad_limit",
        method="GET",
        path="/v1/harvest/ledger?limit=0",
        status=400,
        code="bad_request",
    ),
    Case(
        "ledger_huge_limit",
        method="GET",
        path="/v1/harvest/ledger?limit=100000",
        status=400,
        code="bad_request",
    ),
    Case(
        "ledger_bad_after",
        method="GET",
        path="/v1/harvest/ledger?after=abc",
        status=400,
        code="bad_request",
    ),
    Case(
        "session_short_device",
        path="/v1/harvest/session",
        body={"device_id": "abc"},
        auth="none",
        status=400,
        code="bad_request",
    ),
    Case(
        "session_device_number",
        path="/v1/harvest/session",
        body={"device_id": 12345678},
        auth="none",
        status=400,
        code="bad_request",
    ),
    # -- admin: 403 without the admin token, 400 for a grant that does not fit --
    Case(
        "grant_no_token",
        path=GRANT,
        auth="none",
        body={"id": "g1", "changes": {"gems": 5}},
        status=403,
        code="forbidden",
    ),
    Case(
        "grant_player_token",
        path=GRANT,
        body={"id": "g1", "changes": {"gems": 5}},
        status=403,
        code="forbidden",
    ),
    Case(
        "grant_wrong_token",
        path=GRANT,
        auth="garbage",
        body={"id": "g1", "changes": {"gems": 5}},
        status=403,
        code="forbidden",
    ),
    Case(
        "admin_view_no_token",
        method="GET",
        path="/admin/harvest/players/{player}",
        auth="none",
        status=403,
        code="forbidden",
    ),
    Case(
        "rules_reload_no_token",
        path="/admin/harvest/rules",
        body={},
        auth="good",
        status=403,
        code="forbidden",
    ),
    Case(
        "grant_unknown_resource",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"diamonds": 5}},
        status=400,
        code="bad_request",
    ),
    Case(
        "grant_float",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"gems": 5.5}},
        status=400,
        code="bad_request",
    ),
    Case(
        "grant_keyed_without_key",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"seed": 5}},
        status=400,
        code="bad_request",
    ),
    Case(
        "grant_unknown_key",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"seed[banana]": 5}},
        status=400,
        code="bad_request",
    ),
    Case(
        "grant_level",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"level": 5}},
        status=400,
        code="bad_request",
    ),
    Case(
        "grant_no_id",
        path=GRANT,
        auth="admin",
        body={"changes": {"gems": 5}},
        status=400,
        code="bad_request",
    ),
    Case(
        "grant_empty",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {}},
        status=400,
        code="bad_request",
    ),
    Case(
        "grant_past_max",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"gems": 10_000}},
        code="overflow",
    ),
    Case(
        "grant_below_zero",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"coins": -1_000_000}},
        code="overflow",
    ),
    Case(
        "grant_huge",
        path=GRANT,
        auth="admin",
        body={"id": "g1", "changes": {"coins": 2**63 - 1}},
        code="overflow",
    ),
]

FRAMES = [
    Case("frame_not_json", frame="{nope", code="bad_request"),
    Case("frame_binary_garbage", frame=b"\x00\xff\x10", code="bad_request"),
    Case("frame_array", frame=[1], code="bad_request"),
    Case("frame_no_type", frame={"id": "n1"}, code="bad_request"),
    Case("frame_unknown_type", frame={"type": "cheat"}, code="bad_request"),
    Case(
        "frame_act_bad_id",
        frame={"type": "act", "id": "a b", "name": "daily_gift"},
        code="bad_request",
    ),
    Case("frame_act_no_name", frame={"type": "act", "id": "n1"}, code="bad_request"),
    Case("frame_too_large", frame={"type": "ping", "pad": "x" * 5000}, code="too_large"),
    Case(
        "frame_batch_too_large",
        frame={
            "type": "batch",
            "actions": [{"id": f"b{i}", "name": "daily_gift"} for i in range(11)],
        },
        code="too_large",
    ),
    Case("frame_batch_not_list", frame={"type": "batch", "actions": "all"}, code="bad_request"),
    Case(
        "frame_act_float",
        frame={
            "type": "act",
            "id": "n1",
            "name": "buy_seed",
            "params": {"kind": "wheat", "qty": 1.5},
        },
        code="bad_params",
    ),
    Case(
        "frame_act_unknown",
        frame={"type": "act", "id": "n1", "name": "print_money"},
        code="unknown_action",
    ),
    Case("frame_resume_bad", frame={"type": "resume", "after": 42}, code="bad_request"),
]


@pytest.fixture
async def ctx(sqlite_kit: Kit) -> Ctx:
    run = await sqlite_kit.start(limits=LIMITS)
    player, token = await session(run)
    other_player, _ = await session(run, "device-of-another-player")
    r = await act(run, token, a("used-1", "buy_seed", kind="wheat", qty=2), a("g", "daily_gift"))
    assert [x["status"] for x in r.body["results"]] == ["ok", "ok"]
    return Ctx(run, player, token, other_player)


async def snapshot(ctx: Ctx) -> tuple[int, dict]:
    s = await state(ctx.run, ctx.token)
    store = ctx.run.store
    raw = await store.load("harvest", ctx.player)
    return s["version"], {
        "view": s["state"],
        "stored": raw.state,
        "ledger": await store.ledger("harvest", ctx.player, after=None, limit=100),
    }


@pytest.mark.parametrize("case", HTTP, ids=lambda c: c.id)
async def test_bad_http_input(ctx: Ctx, case: Case) -> None:
    before = await snapshot(ctx)
    token = tokens(ctx)[case.auth]
    headers = {"Authorization": case.header} if case.header else None
    path = case.path.format(player=ctx.player)
    raw = case.body if isinstance(case.body, bytes) else None
    body = None if raw is not None else case.body
    r = await call(ctx.run.url + path, case.method, body, token=token, headers=headers, raw=raw)
    assert r.status == case.status, r.body
    assert_answer(r, case)
    assert await snapshot(ctx) == before
    if case.status == 200 and case.path == GRANT:  # a refused grant changes nothing
        assert r.body["result"]["status"] == "rejected"


def assert_answer(r: Reply, case: Case) -> None:
    assert isinstance(r.body, dict)
    if r.status != 200:
        assert set(r.body) == {"error"} and r.body["error"]["code"] == case.code
        assert isinstance(r.body["error"]["message"], str) and r.body["error"]["message"]
        return
    results = r.body["results"] if "results" in r.body else [r.body["result"]]
    assert [x["status"] for x in results] == ["rejected"]
    assert results[0]["error"]["code"] == case.code


@pytest.mark.parametrize("case", FRAMES, ids=lambda c: c.id)
async def test_bad_frame(ctx: Ctx, case: Case) -> None:
    before = await snapshot(ctx)
    ws = await Socket.open(ctx.run, ctx.token)
    ws.send(case.frame)
    answer = await ws.wait_for(lambda f: f["type"] in ("error", "result", "results"))
    if answer["type"] == "error":
        assert answer["code"] == case.code and answer["message"]
    else:
        assert answer["status"] == "rejected" and answer["error"]["code"] == case.code
    ws.send({"type": "ping"})  # the connection stays open
    assert (await ws.of_type("pong"))["server_time"] > 0
    await ws.close()
    assert await snapshot(ctx) == before


async def test_a_flood_of_bad_frames_closes_the_connection(ctx: Ctx) -> None:
    ws = await Socket.open(ctx.run, ctx.token)
    for _ in range(LIMITS.flood_errors + 5):
        ws.send("{nope")
    for _ in range(150):
        if ws.closed:
            break
        await asyncio.sleep(0.02)
    assert ws.closed and ws.conn.close_code == 1008


@pytest.mark.parametrize("auth", ["none", "garbage", "forged", "expired", "other_game"])
async def test_websocket_upgrade_refused_without_a_good_token(ctx: Ctx, auth: str) -> None:
    from tornado.httpclient import HTTPClientError
    from tornado.websocket import websocket_connect

    token = tokens(ctx)[auth] or ""
    with pytest.raises(HTTPClientError) as info:
        await websocket_connect(f"{ctx.run.ws_url}/v1/harvest/ws?token={token}")
    assert info.value.code == 401


async def test_websocket_of_an_unknown_game_is_404(ctx: Ctx) -> None:
    from tornado.httpclient import HTTPClientError
    from tornado.websocket import websocket_connect

    with pytest.raises(HTTPClientError) as info:
        await websocket_connect(f"{ctx.run.ws_url}/v1/nogame/ws?token={ctx.token}")
    assert info.value.code == 404


def test_the_catalogue_is_large() -> None:
    assert len(HTTP) + len(FRAMES) >= 30
