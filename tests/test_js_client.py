"""The JavaScript client (runtime/static/client.js) against a real server, over both stores.

The checks are node's own tests (tests/js/*.test.mjs, `node --test`): exactly once through
lost answers and killed sockets, order across batches, pushes, resume after a reconnect.
This module starts the server on the test's event loop and runs node beside it.
"""

from __future__ import annotations

import subprocess

import pytest

from rulesc.runtime.gateway import now_ms

from .jskit import ROOT, missing_packages, node, run_node
from .serverkit import Kit, call
from .systemkit import need
from .test_events import at


@pytest.fixture(autouse=True)
def _node() -> None:
    need("node")


async def test_js_client_against_a_real_server(kit: Kit) -> None:
    reason = missing_packages()
    if reason:
        pytest.fail(reason)
    run = await kit.start()
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    result = await run_node(
        ["--test", "--test-reporter=tap", "--test-force-exit", *tests], {"RULESC_URL": run.url}
    )
    assert result.code == 0, str(result)
    assert result.tap("fail") == 0, str(result)
    assert (result.tap("pass") or 0) >= 10, str(result)


async def test_js_client_hears_the_scheduled_events(kit: Kit) -> None:
    """`on("events")` and `client.events`: the frame after welcome, then the festival's
    start, pushed by a server whose clock reads a moment before it (tests/js/events_push.mjs)."""
    reason = missing_packages()
    if reason:
        pytest.fail(reason)
    festival = at("2026-10-25 00:00")
    shift = festival - 4000 - now_ms()  # the festival starts 4 s from now
    run = await kit.start(clock=lambda: now_ms() + shift)
    result = await run_node(
        ["--test", "--test-reporter=tap", "--test-force-exit", "tests/js/events_push.mjs"],
        {"RULESC_URL": run.url, "RULESC_FESTIVAL": str(festival)},
    )
    assert result.code == 0, str(result)
    assert result.tap("fail") == 0 and result.tap("pass") == 1, str(result)


async def test_the_server_serves_the_client(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start()
    js = await call(f"{run.url}/client.js")
    assert js.status == 200
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert js.headers["Cache-Control"] == "no-cache"  # no version in the URL: revalidate
    assert js.headers["Access-Control-Allow-Origin"] == "*"  # a module from another origin
    source = (ROOT / "runtime" / "static" / "client.js").read_bytes()
    assert js.body == source
    again = await call(f"{run.url}/client.js", headers={"If-None-Match": js.headers["Etag"]})
    assert again.status == 304
    versioned = await call(f"{run.url}/client.js?v=abc")
    assert "max-age=31536000" in versioned.headers["Cache-Control"]
    types = await call(f"{run.url}/client.d.ts")
    assert types.status == 200 and b"export declare class Client" in types.body
    missing = await call(f"{run.url}/client.mjs")
    assert missing.status == 404


def test_typescript_declarations_type_a_games_calls() -> None:
    """client.d.ts with the golden pack's types.d.ts: good calls compile, and each
    `@ts-expect-error` line in tests/js/typed.ts (a wrong crop, a misspelt action, a
    missing param) must be an error."""
    reason = missing_packages()
    if reason:
        pytest.fail(reason)
    tsc = ROOT / "node_modules" / "typescript" / "bin" / "tsc"
    assert tsc.is_file(), "typescript is in package.json: run `npm ci`"
    done = subprocess.run(
        [node() or "node", str(tsc), "-p", "tests/js/tsconfig.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
