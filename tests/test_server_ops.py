"""Operations: health, readiness, metrics, OpenAPI, pack reloads and --watch, rate limits,
JWT sign-in, and the serve command's start-up checks."""

from __future__ import annotations

import asyncio
import re
import shutil
import stat
import time
from pathlib import Path

import jwt
import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
from typer.testing import CliRunner

from rulesc.cli.serve import kept_secret, serve_command
from rulesc.runtime.auth import JwtVerifier
from rulesc.runtime.config import Limits
from rulesc.runtime.watch import watch

from .prockit import serve, stop
from .serverkit import ADMIN, HARVEST, JWT_KEY, Kit, Socket, a, act, call, session, state


async def test_health_readiness_and_metrics(kit: Kit) -> None:
    run = await kit.start()
    assert (await call(f"{run.url}/healthz")).body == {"ok": True}
    ready = await call(f"{run.url}/readyz")
    assert ready.status == 200 and ready.body["games"] == ["harvest"]
    _, token = await session(run)
    ws = await Socket.open(run, token)
    await act(run, token, a("m1", "daily_gift"), a("m2", "print_money"), a("m3", "daily_gift"))
    await ws.of_type("state")
    r = await call(f"{run.url}/metrics")
    text = r.body.decode() if isinstance(r.body, bytes) else str(r.body)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert 'rulesc_actions_total{action="daily_gift",game="harvest",outcome="ok"} 1.0' in text
    assert (
        'rulesc_actions_total{action="(unknown)",game="harvest",outcome="unknown_action"} 1.0'
        in text
    )
    assert 'outcome="limit"' in text
    assert 'rulesc_open_connections{game="harvest"} 1.0' in text
    assert (
        "rulesc_request_seconds_bucket" in text and 'rulesc_store_calls_total{op="commit"}' in text
    )
    await ws.close()


async def test_openapi_document(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()
    r = await call(f"{run.url}/v1/openapi.json")
    assert r.status == 200 and r.body["openapi"].startswith("3.1")
    paths = set(r.body["paths"])
    for p in (
        "/v1/{game}/session",
        "/v1/{game}/actions",
        "/v1/{game}/actions/check",
        "/v1/{game}/ws",
        "/v1/{game}/state",
        "/v1/{game}/ledger",
        "/v1/{game}/rules",
        "/admin/{game}/players/{player_id}",
        "/admin/{game}/players/{player_id}/grant",
        "/admin/{game}/rules",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert p in paths


async def test_rules_endpoint_has_param_schemas(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()
    _, token = await session(run)
    r = await call(f"{run.url}/v1/harvest/rules", token=token)
    params = r.body["actions"]["buy_seed"]["params"]
    assert params["properties"]["qty"] == {"type": "integer", "minimum": 1, "maximum": 99}
    assert r.body["rules"]["version"] == sqlite_kit.game.pack.version


async def test_rate_limit_answers_429_with_retry_after(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(limits=Limits(rate=1.0, burst=3))
    _, token = await session(run)
    codes = [(await call(f"{run.url}/v1/harvest/state", token=token)).status for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = await call(f"{run.url}/v1/harvest/state", token=token)
    assert r.status == 429 and r.code == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    ws = await Socket.open(run, token)
    ws.send({"type": "act", "id": "z1", "name": "daily_gift"})
    assert (await ws.of_type("error"))["code"] == "rate_limited"
    await ws.close()
    _, other = await session(run, "device-another-1")  # one player's flood is not another's
    assert (await call(f"{run.url}/v1/harvest/state", token=other)).status == 200


async def test_bad_tokens_from_one_address_are_throttled(sqlite_kit: Kit) -> None:
    now = [1000.0]  # the limiters' clock, in seconds: time moves only when the test says
    run = await sqlite_kit.start(
        limits=Limits(auth_fail_rate=5.0, auth_fail_burst=3),
        rate_clock=lambda: now[0],
        trust_proxy=True,
    )
    _, good = await session(run)
    bad = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    state_url = f"{run.url}/v1/harvest/state"

    def at(address: str) -> dict[str, str]:  # the server sits behind a proxy (X-Real-Ip)
        return {"X-Real-Ip": address}

    codes = [(await call(state_url, token=bad, headers=at("10.0.0.1"))).status for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    r = await call(
        f"{run.url}/v1/harvest/actions", "POST", {"actions": []}, token=bad, headers=at("10.0.0.1")
    )
    assert r.status == 429 and r.code == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert 200 <= r.body["error"]["details"]["retry_after_ms"] <= 201  # 1 token at 5/s, rounded up
    # the address is refused before its token is looked at: a right guess is no way out
    assert (await call(state_url, token=good, headers=at("10.0.0.1"))).status == 429
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(
            HTTPRequest(f"{run.ws_url}/v1/harvest/ws?token={good}", headers=at("10.0.0.1"))
        )
    assert refused.value.code == 429
    # other addresses are not held up, and count their own failures
    assert (await call(state_url, token=good, headers=at("10.0.0.2"))).status == 200
    assert (await call(state_url, token=bad, headers=at("10.0.0.2"))).status == 401
    # a missing token guesses nothing: not counted
    for _ in range(6):
        assert (await call(state_url, headers=at("10.0.0.3"))).status == 401
    assert (await call(state_url, token=good, headers=at("10.0.0.3"))).status == 200
    # wrong admin tokens count the same way; the admin token itself is not throttled away
    admin = f"{run.url}/admin/harvest/players/somebody"
    codes = [(await call(admin, token="guess", headers=at("10.0.0.4"))).status for _ in range(4)]
    assert codes == [403, 403, 403, 429]
    assert (await call(admin, token=ADMIN, headers=at("10.0.0.5"))).status == 200
    # after the wait, one more try (5 a second): then refused again
    now[0] += 0.25
    assert (await call(state_url, token=good, headers=at("10.0.0.1"))).status == 200
    assert (await call(state_url, token=bad, headers=at("10.0.0.1"))).status == 401
    assert (await call(state_url, token=bad, headers=at("10.0.0.1"))).status == 429


async def test_address_headers_are_ignored_unless_the_proxy_is_trusted(sqlite_kit: Kit) -> None:
    # a directly exposed server: a guesser cannot dodge the throttle by naming new addresses
    run = await sqlite_kit.start(limits=Limits(auth_fail_rate=0.001, auth_fail_burst=2))
    state_url = f"{run.url}/v1/harvest/state"
    codes = [
        (
            await call(
                state_url,
                token="g1.x.y",
                headers={"X-Real-Ip": f"10.1.0.{i}", "X-Forwarded-For": f"10.2.0.{i}"},
            )
        ).status
        for i in range(3)
    ]
    assert codes == [401, 401, 429]


async def test_bad_token_throttle_can_be_off(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(limits=Limits(auth_fail_rate=0))
    for _ in range(30):
        assert (await call(f"{run.url}/v1/harvest/state", token="g1.x.y")).status == 401


async def test_admin_reload_swaps_packs_and_keeps_the_old_on_bad_rules(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    run = await sqlite_kit.start()
    _, token = await session(run)
    game_dir = tmp_path / "harvest-src"
    shutil.copytree(HARVEST, game_dir)
    url = f"{run.url}/admin/harvest/rules"
    rules = game_dir / "harvest.rules"
    rules.write_text(
        rules.read_text().replace("currency coins start 200", "currency coins start 300")
    )
    r = await call(url, "POST", {"path": str(game_dir)}, token=ADMIN)
    assert r.status == 200 and r.body["previous"] == sqlite_kit.game.pack.version
    new_version = r.body["version"]
    assert new_version != sqlite_kit.game.pack.version
    _, fresh = await session(run, "device-new-player")
    assert (await state(run, fresh))["state"]["coins"] == 300  # new players start on the new pack
    assert (await state(run, fresh))["rules"]["version"] == new_version
    rules.write_text(rules.read_text() + "\naction broken\n  gain nothing_here 5\n")
    r = await call(url, "POST", {}, token=ADMIN)  # rebuild from where the game came from
    assert (
        r.status == 422
        and r.code == "rules_invalid"
        and "nothing_here" in r.body["error"]["message"]
    )
    assert (await state(run, token))["rules"]["version"] == new_version  # still the last good one
    r = await call(
        f"{run.url}/admin/harvest/rules", "POST", {"path": str(tmp_path / "nope")}, token=ADMIN
    )
    assert r.status == 422 and r.code == "pack_invalid"


async def test_watch_rebuilds_on_save_and_keeps_serving_on_errors(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    game_dir = tmp_path / "harvest-src"
    shutil.copytree(HARVEST, game_dir)
    run = await sqlite_kit.start()
    await run.server.reload("harvest", str(game_dir))
    first = run.server.games.get("harvest")
    assert first is not None
    reports: list[str] = []
    task = asyncio.get_running_loop().create_task(
        watch(run.server, {"harvest": game_dir}, interval=0.05, report=reports.append)
    )
    try:
        await asyncio.sleep(0.1)
        rules = game_dir / "harvest.rules"
        rules.write_text(rules.read_text() + "\naction broken\n  gain nothing_here 5\n")
        await _until(lambda: len(reports) == 1)
        assert "do not check" in reports[0] and "nothing_here" in reports[0]
        assert run.server.games.get("harvest") is first  # the old pack keeps serving
        rules.write_text(
            rules.read_text().replace(
                "action broken\n  gain nothing_here 5\n", "action bonus\n  gain coins 5\n"
            )
        )
        await _until(lambda: len(reports) == 2)
        assert "now serves pack" in reports[1]
        assert "bonus" in run.server.games.get("harvest").pack.actions  # type: ignore[union-attr]
    finally:
        task.cancel()


def _rsa_keys() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.mark.parametrize("alg", ["HS256", "RS256"])
async def test_game_accounts_sign_in_with_their_own_jwts(sqlite_kit: Kit, alg: str) -> None:
    if alg == "HS256":
        verifier, sign_key = JwtVerifier(hs256_key=JWT_KEY), JWT_KEY
    else:
        private, public = _rsa_keys()
        verifier, sign_key = JwtVerifier(rs256_public_key=public.decode()), private.decode()
    run = await sqlite_kit.start(jwt=verifier)
    claims = {"sub": "account-42", "aud": "harvest", "exp": int(time.time()) + 60}
    good = jwt.encode(claims, sign_key, algorithm=alg)
    s = await state(run, good)
    assert s["player_id"] == "j:account-42"
    expired = jwt.encode({**claims, "exp": int(time.time()) - 600}, sign_key, algorithm=alg)
    assert (await call(f"{run.url}/v1/harvest/state", token=expired)).status == 401
    other_alg = jwt.encode(claims, "x" * 64, algorithm="HS512")
    assert (await call(f"{run.url}/v1/harvest/state", token=other_alg)).status == 401
    no_sub = jwt.encode({"aud": "harvest", "exp": int(time.time()) + 60}, sign_key, algorithm=alg)
    assert (await call(f"{run.url}/v1/harvest/state", token=no_sub)).status == 401
    ws = await Socket.open(run, good)  # the same token opens the live channel
    ws.send({"type": "ping"})
    await ws.of_type("pong")
    await ws.close()


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("serve")(serve_command)
    app.command("noop")(lambda: None)  # two commands, so `serve` is a subcommand as in main.py
    return app


def test_production_mode_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(_cli(), ["serve", str(HARVEST), "--production", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "--secret" in r.output
    r = runner.invoke(
        _cli(),
        ["serve", str(HARVEST), "--data-dir", str(tmp_path)],
        env={"RULESC_PRODUCTION": "1", "RULESC_SECRET": "s"},
    )
    assert r.exit_code == 2 and "--admin-token" in r.output


def test_kept_secret_is_made_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "dev-secret"
    value, made = kept_secret(path)
    assert made and len(value) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept_secret(path) == (value, False)
    assert [p.name for p in path.parent.iterdir()] == ["dev-secret"]  # nothing left aside
    path.chmod(0o644)  # loosened by hand: tightened again, the secret kept
    assert kept_secret(path) == (value, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")  # emptied by hand (it is never written empty): said, not guessed
    with pytest.raises(ValueError, match="delete it"):
        kept_secret(path)
    path.unlink()
    fresh, made = kept_secret(path)
    assert made and fresh != value and kept_secret(path) == (fresh, False)
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValueError):
        kept_secret(tmp_path / "dir")


def test_kept_secret_made_at_once_by_many_is_one_secret(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "dev-secret"
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: kept_secret(path), range(32)))
    assert len({value for value, _ in got}) == 1
    assert sum(made for _, made in got) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["dev-secret"]


async def test_dev_server_keeps_its_secret_so_tokens_outlive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = [str(HARVEST), "--data-dir", str(data)]
    server = await serve(args, tmp_path / "first.log")
    url = server.url
    try:
        r = await call(f"{url}/v1/harvest/session", "POST", {"device_id": "device-restart"})
        token = r.body["token"]
        assert (await call(f"{url}/v1/harvest/state", token=token)).status == 200
    finally:
        await stop(server)
    printed = re.search(
        r"admin calls take the dev one kept in \S+: (\S+)", (tmp_path / "first.log").read_text()
    )
    assert printed is not None
    for name in ("dev-secret", "dev-admin-token"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert (data / "dev-admin-token").read_text().strip() == printed.group(1)

    server = await serve(args, tmp_path / "second.log")  # a new process, the same dir
    url = server.url
    try:
        r = await call(f"{url}/v1/harvest/state", token=token)
        assert r.status == 200 and r.body["player_id"]
        player = r.body["player_id"]
        r = await call(f"{url}/admin/harvest/players/{player}", token=printed.group(1))
        assert r.status == 200  # the printed admin token still works too
    finally:
        await stop(server)
    assert "just made" in (tmp_path / "first.log").read_text()
    assert "just made" not in (tmp_path / "second.log").read_text()


def test_production_does_not_take_the_dev_secret(tmp_path: Path) -> None:
    kept_secret(tmp_path / "dev-secret")
    kept_secret(tmp_path / "dev-admin-token")
    r = CliRunner().invoke(
        _cli(), ["serve", str(HARVEST), "--production", "--data-dir", str(tmp_path)]
    )
    assert r.exit_code == 2 and "--secret" in r.output


def test_serve_refuses_rules_that_do_not_check(tmp_path: Path) -> None:
    game_dir = tmp_path / "bad"
    shutil.copytree(HARVEST, game_dir)
    rules = game_dir / "harvest.rules"
    rules.write_text(rules.read_text() + "\naction broken\n  gain nothing_here 5\n")
    r = CliRunner().invoke(_cli(), ["serve", str(game_dir), "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 1 and "nothing_here" in r.output


async def _until(pred, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)
