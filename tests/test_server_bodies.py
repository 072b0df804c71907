"""Bodies over the limit, on real sockets: one well-formed JSON 413, never tornado's bare
400 (alone, or after our 413 on the same connection), whatever the client does — a
declared length, a chunked body, `Expect: 100-continue`, a body on a route that takes
none. A body a little over the limit is read and dropped: the 413 comes after it and the
connection keeps serving; a huge one is answered at once and the connection closed."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import orjson
import pytest

from rulesc.runtime.config import Limits

from .serverkit import ADMIN, Kit, Running, session

LIMIT = 4096
LIMITS = Limits(max_body=LIMIT)
HUGE = 2 * LIMITS.body_discard  # past what the server reads to drop it
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


async def exchange(run: Running, data: bytes, wait: float = 0.3) -> tuple[list[Response], bool]:
    """Send `data` (while reading, as a careful client does) and read until the server
    closes or says nothing for `wait` seconds: (every response, closed by the server)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)

    async def send() -> None:
        with contextlib.suppress(ConnectionError):
            for i in range(0, len(data), 65536):
                writer.write(data[i : i + 65536])
                await writer.drain()

    sender = asyncio.get_running_loop().create_task(send())
    got, closed = b"", False
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), wait)
            if not chunk:
                closed = True
                break
            got += chunk
    except TimeoutError:
        pass
    except ConnectionError:  # a reset after the answer: the rest of a huge body unread
        closed = True
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender
    writer.close()
    return parse(got), closed


def parse(raw: bytes) -> list[Response]:
    """Responses one after another; anything that is not a whole response fails."""
    out = []
    while raw:
        head, sep, raw = raw.partition(b"\r\n\r\n")
        assert sep, f"not a response: {head!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, _ = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        assert "content-length" in headers, f"a bare answer: {status_line!r} {headers}"
        n = int(headers["content-length"])
        body, raw = raw[:n], raw[n:]
        assert len(body) == n, "a cut answer"
        out.append(Response(int(status), headers, body))
    return out


def assert_one_413(responses: list[Response]) -> None:
    assert [r.status for r in responses] == [413], responses
    [r] = responses
    assert r.headers["content-type"] == "application/json"
    assert orjson.loads(r.body) == {
        "error": {"code": "too_large", "message": f"the body is over {LIMIT} bytes"}
    }


def post(path: str, body: bytes, token: str | None = None, *, extra: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\n{auth}{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def chunked(path: str, body: bytes, token: str | None = None, size: int = 1000) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    out = [f"POST {path} HTTP/1.1\r\nHost: t\r\n{auth}Transfer-Encoding: chunked\r\n\r\n".encode()]
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def batch_of(n_bytes: int) -> bytes:
    """A readable batch of about n_bytes (were it not too large, it would apply)."""
    actions, body = [], b""
    while len(body) < n_bytes:
        actions.append({"id": f"a{len(actions)}", "name": "daily_gift"})
        body = orjson.dumps({"actions": actions})
    return body


@pytest.fixture
async def run(sqlite_kit: Kit) -> Running:
    return await sqlite_kit.start(limits=LIMITS)


@pytest.mark.parametrize("how", ["length", "chunked"])
async def test_a_little_over_is_one_413_and_the_connection_goes_on(run: Running, how: str) -> None:
    _, token = await session(run)
    body = batch_of(2 * LIMIT)
    make = post if how == "length" else chunked
    responses, closed = await exchange(run, make("/v1/harvest/actions", body, token) + HEALTH)
    assert not closed
    assert_one_413(responses[:1])
    assert [r.status for r in responses[1:]] == [200]  # the next request, same connection
    assert orjson.loads(responses[1].body) == {"ok": True}


@pytest.mark.parametrize("how", ["length", "chunked"])
async def test_a_huge_body_is_one_413_then_the_connection_closes(run: Running, how: str) -> None:
    _, token = await session(run)
    make = post if how == "length" else chunked
    data = make("/v1/harvest/actions", b"x" * HUGE, token)
    responses, closed = await exchange(run, data + HEALTH)
    assert_one_413(responses)
    assert responses[0].headers["connection"] == "close" and closed


async def test_a_declared_huge_body_is_answered_before_it_is_sent(run: Running) -> None:
    _, token = await session(run)
    head = (
        f"POST /v1/harvest/actions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {10 * HUGE}\r\n\r\n"
    ).encode()
    responses, closed = await exchange(run, head)
    assert_one_413(responses)
    assert closed


async def test_expect_100_continue_gets_the_413_instead(run: Running) -> None:
    _, token = await session(run)
    head = post("/v1/harvest/actions", b"", token, extra="Expect: 100-continue\r\n")
    head = head.replace(b"Content-Length: 0", f"Content-Length: {2 * LIMIT}".encode())
    responses, closed = await exchange(run, head)
    assert_one_413(responses)  # no `100 Continue`: the body is not wanted
    assert closed


@pytest.mark.parametrize(
    "path",
    [
        "/v1/harvest/session",
        "/v1/harvest/actions/check",
        "/admin/harvest/rules",
        "/admin/harvest/players/p1/grant",
        "/v1/nogame/actions",
    ],
)
async def test_every_json_route_answers_413(run: Running, path: str) -> None:
    _, token = await session(run)
    auth = ADMIN if path.startswith("/admin") else token
    for data in (post(path, b"x" * 2 * LIMIT, auth), post(path, b"x" * HUGE, auth)):
        responses, _ = await exchange(run, data)
        if path.startswith("/v1/nogame"):  # read and dropped: 404; too big to read: 413
            assert len(responses) == 1 and responses[0].status in (404, 413)
            assert "error" in orjson.loads(responses[0].body)
        else:
            assert_one_413(responses)


async def test_a_wrong_admin_token_is_403_before_any_body(run: Running) -> None:
    data = post("/admin/harvest/rules", b"x" * HUGE, "not-the-admin-token")
    responses, _ = await exchange(run, data)
    assert [r.status for r in responses] == [403]


@pytest.mark.parametrize("path", ["/v1/harvest/state", "/healthz", "/v1/harvest/ws", "/nowhere"])
async def test_a_body_on_a_route_that_takes_none(run: Running, path: str) -> None:
    _, token = await session(run)
    small = (
        f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
        "Content-Length: 10\r\n\r\n0123456789"
    ).encode()
    responses, _ = await exchange(run, small)
    assert len(responses) == 1 and responses[0].status != 413  # dropped, answered as usual
    for size in (2 * LIMIT, HUGE):
        for data in (
            (
                f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Length: {size}\r\n\r\n"
            ).encode()
            + b"x" * size,
            chunked(path, b"x" * size, token).replace(b"POST", b"GET", 1),
        ):
            responses, _ = await exchange(run, data)
            if path == "/nowhere":
                assert [r.status for r in responses] == [404]
            else:
                assert_one_413(responses)
