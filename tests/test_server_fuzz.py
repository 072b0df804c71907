"""A bounded fuzzer over what a client can send: HTTP requests (routes, bodies, query
strings, tokens) and WebSocket frames (text and binary), to a real server over real
sockets. Whatever comes, the server never answers 5xx, every error is JSON with a code,
and nothing it logs is a traceback or an error.

Bounded: a fixed number of examples per test, no deadline (the machine is shared), no
example database; it runs in some seconds. Raw sockets, so any byte can be sent."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulesc.runtime import packs
from rulesc.runtime.config import Limits

from .serverkit import ADMIN, ROOT, ServerThread

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# generous limits: the fuzzer's flood of bad tokens and requests must not turn into 429s
LIMITS = Limits(
    max_body=8192,
    max_frame=8192,
    max_batch=10,
    rate=1e6,
    burst=1e6,
    auth_fail_rate=0,
    session_rate=1e6,
    session_burst=1e6,
)


@pytest.fixture(scope="module")
def server(harvest: packs.Game, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    arena = packs.build(ROOT / "games" / "arena", tmp_path_factory.mktemp("fuzz-arena"))
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with ServerThread([harvest, arena], tmp, limits=LIMITS) as st_:
        status, _, body = exchange(
            st_.port, request("POST", "/v1/harvest/session", body=b'{"device_id": "fuzz-device-1"}')
        )
        assert status == 200, body
        st_.player, st_.token = (orjson.loads(body)[k] for k in ("player_id", "token"))
        status, _, body = exchange(
            st_.port, request("POST", "/v1/arena/session", body=b'{"device_id": "fuzz-device-1"}')
        )
        st_.arena_token = orjson.loads(body)["token"]
        yield st_


# -- HTTP over a raw socket ------------------------------------------------------------------


def request(
    method: str,
    target: str,
    *,
    token: bytes | str | None = None,
    body: bytes = b"",
    extra: bytes = b"",
) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".encode()
    if token is not None:
        head += b"Authorization: Bearer " + (token.encode() if isinstance(token, str) else token)
        head += b"\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + extra + b"\r\n" + body


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request; (status, headers, body) of the answer (a 101 without a body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = conn.recv(65536)
            assert chunk, f"closed without an answer: {raw!r}"
            raw += chunk
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        if status == 101:
            return status, headers, b""
        assert "content-length" in headers, f"a bare answer: {status_line} {headers}"
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:n]


def assert_json_error_or_ok(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status < 500, (status, body)
    if status >= 400:
        assert headers.get("content-type") == "application/json", (status, headers, body)
        error = orjson.loads(body)["error"]
        assert isinstance(error["code"], str) and error["code"], body
        assert isinstance(error["message"], str), body


class Tracebacks:
    """What the server logged that is an error or carries a traceback."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        self.caplog = caplog
        self.seen = 0

    def assert_none_new(self) -> None:
        records = self.caplog.records[self.seen :]
        self.seen += len(records)
        bad = [
            r
            for r in records
            if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()
        ]
        assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


# -- strategies -----------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    """JSON of anything, integers past 64 bits too (orjson refuses to write those)."""
    return json.dumps(value, ensure_ascii=False).encode()


HUGE_INTS = st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -1, 0])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(
    [
        "buy_seed",
        "plant",
        "harvest",
        "sell",
        "daily_gift",
        "gift",
        "attack",
        "admin:grant",
        "",
        "x" * 200,
    ]
)
KINDS = st.sampled_from(["wheat", "corn", "pumpkin", "banana", "", "ꙮ"])


# around the documented limit (32), orjson's writing limit (255) and its reading one (1024)
DEPTHS = st.one_of(
    st.sampled_from([31, 32, 33, 252, 254, 255, 256, 300, 1023, 1024, 1025]), st.integers(1, 1100)
)


def deep(depth: int, inner: Any = 1) -> Any:
    for i in range(depth):
        inner = {"k": inner} if i % 2 else [inner]
    return inner


PARAMS = st.one_of(
    JSON,
    st.fixed_dictionaries({"kind": KINDS, "qty": st.one_of(st.integers(), HUGE_INTS, JSON)}),
    st.fixed_dictionaries({"slot": st.one_of(st.integers(-3, 10), JSON)}),
    DEPTHS.map(deep),
)
ACTION = st.fixed_dictionaries(
    {
        "id": st.one_of(
            st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
            st.text(max_size=70),
            st.integers(),
        ),
        "name": st.one_of(NAMES, st.text(max_size=10)),
        "params": PARAMS,
    },
    optional={"type": st.text(max_size=5), "ref": JSON},
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON.map(dumps),
    st.lists(ACTION, max_size=12).map(lambda acts: dumps({"actions": acts})),
    st.fixed_dictionaries({"device_id": st.one_of(st.text(max_size=140), JSON)}).map(dumps),
    st.fixed_dictionaries(
        {
            "id": st.text(max_size=70),
            "changes": JSON,
            "reason": st.one_of(st.text(max_size=20), JSON),
        }
    ).map(dumps),
    DEPTHS.map(lambda n: b"[" * n + b"]" * n),
)
# well-formed batches of actions whose params are anything: what reaches the rules
GOOD_IDS = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
BATCHES = st.lists(
    st.fixed_dictionaries({"id": GOOD_IDS, "name": NAMES, "params": PARAMS}),
    min_size=1,
    max_size=5,
    unique_by=lambda x: x["id"],
).map(lambda acts: dumps({"actions": acts}))
QUERY_VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "10",
            "500",
            "501",
            "9999999999999999999",
            "9223372036854775808",
            "1-1",
            "0-0",
            "-1",
            "²",
            "٣",
            " 5",
            "1e3",
            "me",
            "current",
            "previous",
            "",
        ]
    ),
    st.text(max_size=25),
    st.integers().map(str),
)
QUERIES = st.dictionaries(
    st.sampled_from(["limit", "after", "around", "period", "token", "x"]), QUERY_VALUES, max_size=4
)
ROUTES = st.sampled_from(
    [
        ("POST", "/v1/{game}/actions"),
        ("POST", "/v1/{game}/actions/check"),
        ("POST", "/v1/{game}/session"),
        ("GET", "/v1/{game}/state"),
        ("GET", "/v1/{game}/ledger"),
        ("GET", "/v1/{game}/rules"),
        ("GET", "/v1/{game}/leaderboards/strongest"),
        ("GET", "/v1/{game}/leaderboards/nothing"),
        ("GET", "/v1/{game}/ws"),
        ("GET", "/admin/{game}/players/{player}"),
        ("POST", "/admin/{game}/players/{player}/grant"),
        ("GET", "/readyz"),
        ("GET", "/healthz"),
        ("GET", "/v1/openapi.json"),
        ("PUT", "/v1/{game}/actions"),
        ("GET", "/{junk}"),
        ("DELETE", "/admin/{game}/rules"),
    ]
)
# a token's bytes as a header carries them (no CR, LF, NUL or other controls)
TOKEN_BYTES = st.binary(max_size=200).map(
    lambda b: bytes(c for c in b if 0x21 <= c <= 0x7E or c >= 0x80)
)


def tokens(good: str) -> st.SearchStrategy[bytes | str | None]:
    return st.one_of(
        st.none(),
        st.just(good),
        st.just(ADMIN),
        TOKEN_BYTES,
        st.sampled_from(
            [
                "g1.x.y",
                "g1..",
                "g1",
                good[:-3] + "é" * 3,
                good.replace(".", "..", 1),
                good + ".x",
                "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
            ]
        ).map(str),
        TOKEN_BYTES.map(lambda b: b"g1." + b),
    )


# -- the fuzzers ----------------------------------------------------------------------------


def test_http_inputs_never_get_a_5xx(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    logs = Tracebacks(caplog)

    @FUZZ
    @given(
        route=ROUTES,
        game=st.sampled_from(["harvest", "arena", "nogame"]),
        player=st.one_of(st.just(server.player), st.text(min_size=1, max_size=10)),
        query=QUERIES,
        body=BODIES,
        token=tokens(server.token),
        chunked=st.booleans(),
        upgrade=st.booleans(),
        junk=st.text(max_size=20),
    )
    def probe(
        route: tuple[str, str],
        game: str,
        player: str,
        query: dict[str, str],
        body: bytes,
        token: bytes | str | None,
        chunked: bool,
        upgrade: bool,
        junk: str,
    ) -> None:
        method, path = route
        path = path.format(
            game=game,
            player=urllib.parse.quote(player, safe=""),
            junk=urllib.parse.quote(junk, safe=""),
        )
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        extra = b""
        if upgrade and path.endswith("/ws"):
            key = base64.b64encode(os.urandom(16))
            extra = (
                b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: " + key + b"\r\n"
            )
        send_http(server.port, method, target, token, body, chunked, extra)
        logs.assert_none_new()

    probe()


def send_http(
    port: int,
    method: str,
    target: str,
    token: bytes | str | None,
    body: bytes,
    chunked: bool = False,
    extra: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """One request, its body as it is or in one chunk; the answer checked (no 5xx, errors
    in JSON with a code)."""
    if chunked and body:
        data = request(method, target, token=token, extra=extra + b"Transfer-Encoding: chunked\r\n")
        data = data.replace(b"Content-Length: ", b"X-Was-Length: ")
        data += f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    else:
        data = request(method, target, token=token, body=body, extra=extra)
    status, headers, answer = exchange(port, data)
    if status != 101:
        assert_json_error_or_ok(status, headers, answer)
    return status, headers, answer


def test_action_bodies_of_a_signed_in_player(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    logs = Tracebacks(caplog)

    @FUZZ
    @given(
        route=st.sampled_from(["actions", "actions/check"]),
        body=st.one_of(BATCHES, BODIES),
        game=st.sampled_from(["harvest", "arena"]),
        chunked=st.booleans(),
    )
    def probe(route: str, body: bytes, game: str, chunked: bool) -> None:
        token = server.token if game == "harvest" else server.arena_token
        send_http(server.port, "POST", f"/v1/{game}/{route}", token, body, chunked)
        logs.assert_none_new()

    probe()


def test_query_strings_of_reading_routes(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    logs = Tracebacks(caplog)
    routes = [
        ("/v1/harvest/ledger", server.token),
        ("/v1/arena/ledger", server.arena_token),
        ("/v1/arena/leaderboards/strongest", server.arena_token),
        (f"/admin/harvest/players/{server.player}", ADMIN),
        ("/readyz", ADMIN),
    ]

    @FUZZ
    @given(route=st.sampled_from(routes), query=QUERIES)
    def probe(route: tuple[str, str], query: dict[str, str]) -> None:
        path, token = route
        send_http(server.port, "GET", f"{path}?{urllib.parse.urlencode(query)}", token, b"")
        logs.assert_none_new()

    probe()


def test_tokens_on_every_way_in(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    logs = Tracebacks(caplog)
    upgrade = (
        b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )

    @FUZZ
    @given(token=tokens(server.token), where=st.sampled_from(["state", "ws", "ws?token", "admin"]))
    def probe(token: bytes | str | None, where: str) -> None:
        if where == "ws?token":  # the token in the query, as browsers send it
            raw = token.decode("latin-1") if isinstance(token, bytes) else token or ""
            target = "/v1/harvest/ws?" + urllib.parse.urlencode({"token": raw})
            status, _, _ = send_http(server.port, "GET", target, None, b"", extra=upgrade)
        elif where == "ws":
            status, _, _ = send_http(
                server.port, "GET", "/v1/harvest/ws", token, b"", extra=upgrade
            )
        elif where == "admin":
            status, _, _ = send_http(
                server.port, "GET", f"/admin/harvest/players/{server.player}", token, b""
            )
        else:
            status, _, _ = send_http(server.port, "GET", "/v1/harvest/state", token, b"")
        if token == (ADMIN if where == "admin" else server.token):  # the right one gets in
            assert status in (200, 101)
        logs.assert_none_new()

    probe()


# -- WebSocket over a raw socket ---------------------------------------------------------------


def ws_open(port: int, token: str) -> tuple[socket.socket, bytes]:
    """A raw WebSocket, upgraded: (the socket, what came after the 101's headers)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    conn.sendall(
        (
            f"GET /v1/harvest/ws?token={token} HTTP/1.1\r\nHost: t\r\n"
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {key}\r\n\r\n"
        ).encode()
    )
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = conn.recv(4096)
        assert chunk, raw
        raw += chunk
    assert raw.startswith(b"HTTP/1.1 101"), raw
    return conn, raw.partition(b"\r\n\r\n")[2]


def ws_frame(payload: bytes, opcode: int) -> bytes:
    """One final frame from a client (masked, RFC 6455 5.2)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Reader:
    """The server's frames, read off the raw socket: (opcode, payload)."""

    def __init__(self, conn: socket.socket, buffer: bytes) -> None:
        self.conn = conn
        self.buffer = buffer

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def frame(self) -> tuple[int, bytes]:
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._take(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._take(8))
        return b0 & 0x0F, self._take(n)


FRAME_JSON = st.one_of(
    ACTION.map(lambda x: {**x, "type": "act"}),
    st.lists(ACTION, max_size=12).map(lambda acts: {"type": "batch", "actions": acts}),
    st.fixed_dictionaries({"type": st.just("resume"), "after": st.one_of(QUERY_VALUES, JSON)}),
    st.fixed_dictionaries({"type": st.one_of(st.just("ping"), st.text(max_size=6)), "ref": JSON}),
    JSON,
    DEPTHS.map(deep),
)
FRAMES = st.lists(
    st.one_of(
        FRAME_JSON.map(lambda f: (dumps(f), 0x1)),
        st.text(max_size=200).map(lambda t: (t.encode(), 0x1)),
        st.binary(max_size=200).map(lambda b: (b, 0x2)),
        FRAME_JSON.map(lambda f: (dumps(f), 0x2)),
    ),
    min_size=1,
    max_size=6,
)


def test_websocket_frames_never_get_an_internal_error(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    logs = Tracebacks(caplog)

    @FUZZ
    @given(frames=FRAMES)
    def probe(frames: list[tuple[bytes, int]]) -> None:
        conn, rest = ws_open(server.port, server.token)
        with conn:
            reader = Reader(conn, rest)
            for payload, opcode in frames:
                conn.sendall(ws_frame(payload, opcode))
            conn.sendall(ws_frame(b'{"type": "ping", "ref": "fuzz-end"}', 0x1))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    opcode, payload = reader.frame()
                except EOFError:
                    break
                if opcode == 0x8:  # closed: by a flood of bad frames or a bad UTF-8 text
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    assert code in (1000, 1007, 1008, 1009), code
                    break
                if opcode != 0x1:
                    continue
                frame = orjson.loads(payload)
                if frame["type"] == "error":
                    assert frame["code"] != "internal" and frame["message"], frame
                if frame.get("type") == "pong" and frame.get("ref") == "fuzz-end":
                    break
            else:
                raise AssertionError("no answer to the last ping")
        logs.assert_none_new()

    probe()
