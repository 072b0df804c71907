"""Test kit for the game server: real servers on free ports, real stores, real sockets.

Test modules import the fixtures they use from here (`from serverkit import ...`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from rulesc.cli.packbuild import compile_pack
from rulesc.runtime import packs
from rulesc.runtime.app import Server
from rulesc.runtime.auth import Auth, GuestTokens, JwtVerifier
from rulesc.runtime.config import Limits, ServerConfig
from rulesc.runtime.store import Store
from rulesc.runtime.store_redis import RedisStore
from rulesc.runtime.store_sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"
SECRET = "test-secret"
ADMIN = "test-admin-token"
JWT_KEY = "a-shared-hs256-key-of-enough-length"


@pytest.fixture(scope="session")
def harvest(tmp_path_factory: pytest.TempPathFactory) -> packs.Game:
    """The harvest game, compiled once per session."""
    return packs.build(HARVEST, tmp_path_factory.mktemp("packs"), compile_pack)


@dataclass
class Running:
    server: Server
    store: Store
    port: int
    sockets: list[Socket] = field(default_factory=list)  # closed when the server stops

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@dataclass
class Kit:
    """Starts servers of one store kind. Redis servers each get their own client, as
    separate processes would; SQLite servers share one database file."""

    kind: str
    game: packs.Game
    tmp: Path
    redis_url: str | None = None
    running: list[Running] = field(default_factory=list)

    def make_store(self, **opts: Any) -> Store:
        if self.kind == "redis":
            assert self.redis_url is not None
            return RedisStore(self.redis_url, **opts)
        return SqliteStore(self.tmp / "store.db", **opts)

    async def start(
        self,
        *,
        store: Store | None = None,
        limits: Limits | None = None,
        clock: Callable[[], int] | None = None,
        rate_clock: Callable[[], float] | None = None,
        jwt: JwtVerifier | None = None,
        games: list[packs.Game] | None = None,
        **config: Any,
    ) -> Running:
        """A server of the kit's game (or of `games`) on a free port."""
        store = store or self.make_store()
        auth = Auth(GuestTokens(SECRET), jwt, ADMIN)
        cfg = ServerConfig(limits=limits or Limits(), data_dir=str(self.tmp / "data"), **config)
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        if rate_clock is not None:
            kwargs["rate_clock"] = rate_clock
        # the serve command's builder: reloads from a game folder compile it
        server = Server(
            store, auth, cfg, games=games or [self.game], builder=compile_pack, **kwargs
        )
        run = Running(server, store, server.listen(0))
        self.running.append(run)
        return run

    async def stop(self, run: Running) -> None:
        if run in self.running:
            self.running.remove(run)
            for socket in run.sockets:
                await socket.close()
            await run.server.close()
            await run.store.close()

    async def close(self) -> None:
        for run in list(self.running):
            await self.stop(run)


@pytest.fixture(params=["sqlite", "redis"])
async def kit(
    request: pytest.FixtureRequest, harvest: packs.Game, tmp_path: Path
) -> AsyncIterator[Kit]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    k = Kit(request.param, harvest, tmp_path, url)
    yield k
    await k.close()


@pytest.fixture
async def sqlite_kit(harvest: packs.Game, tmp_path: Path) -> AsyncIterator[Kit]:
    k = Kit("sqlite", harvest, tmp_path)
    yield k
    await k.close()


@pytest.fixture
async def redis_kit(harvest: packs.Game, tmp_path: Path, redis_url: str) -> AsyncIterator[Kit]:
    k = Kit("redis", harvest, tmp_path, redis_url)
    yield k
    await k.close()


class ServerThread:
    """A server (SQLite) on its own event loop in a thread, for synchronous tests that talk
    to it over real sockets (hypothesis runs each example synchronously). A context
    manager: `with ServerThread(game, tmp) as st: ... st.port`."""

    def __init__(self, games: list[packs.Game], tmp: Path, **start: Any) -> None:
        self.games, self.tmp, self.start = games, tmp, start
        self.port = 0
        self.run: Running | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="test-server", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self.run = self._loop.run_until_complete(self._start())
        except BaseException as e:  # told to the test thread, which raises it
            self._error = e
            return
        finally:
            self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> Running:
        kit = Kit("sqlite", self.games[0], self.tmp)
        return await kit.start(games=self.games, **self.start)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None or self.run is None:
            self._loop.close()
            raise RuntimeError("the test server did not start") from self._error
        self.port = self.run.port
        return self

    def __exit__(self, *exc: object) -> None:
        run = self.run
        assert run is not None

        async def stop() -> None:
            await run.server.close()
            await run.store.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


# -- talking to a server ------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


async def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Reply:
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else orjson.dumps(body))
    if data is None and method == "POST":
        data = b""
    request = HTTPRequest(url, method=method, headers=h, body=data, request_timeout=10)
    client = AsyncHTTPClient()
    response = await client.fetch(request, raise_error=False)
    try:
        parsed = orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        parsed = response.body
    return Reply(response.code, parsed, response.headers)


async def session(run: Running, device: str = "device-0001") -> tuple[str, str]:
    """(player id, token) of a device."""
    r = await call(f"{run.url}/v1/harvest/session", "POST", {"device_id": device})
    assert r.status == 200, r.body
    return r.body["player_id"], r.body["token"]


async def act(run: Running, token: str, *actions: dict) -> Reply:
    return await call(
        f"{run.url}/v1/harvest/actions", "POST", {"actions": list(actions)}, token=token
    )


async def state(run: Running, token: str) -> dict:
    r = await call(f"{run.url}/v1/harvest/state", token=token)
    assert r.status == 200, r.body
    return r.body


def a(id: str, name: str, **params: Any) -> dict:
    return {"id": id, "name": name, "params": params}


class Socket:
    """A WebSocket that sorts what it receives: answers and pushes, read with timeouts."""

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self.conn = conn
        self.frames: list[dict] = []
        self.log: list[dict] = []  # every frame received, in order (frames are taken out)
        self._new = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed = False

    @classmethod
    async def open(cls, run: Running, token: str, game: str = "harvest") -> Socket:
        conn = await websocket_connect(f"{run.ws_url}/v1/{game}/ws?token={token}")
        socket = cls(conn)
        if isinstance(run, Running):  # closed with its server: a forgotten one leaks nothing
            run.sockets.append(socket)
        await socket.of_type("welcome")  # subscribed: pushes from now on reach us
        return socket

    async def _read(self) -> None:
        while True:
            message = await self.conn.read_message()
            if message is None:
                self.closed = True
                self._new.set()
                return
            frame = orjson.loads(message)
            self.frames.append(frame)
            self.log.append(frame)
            self._new.set()

    def send(self, frame: dict | str | bytes) -> None:
        text = frame if isinstance(frame, (str, bytes)) else orjson.dumps(frame).decode()
        self.conn.write_message(text, binary=isinstance(text, bytes))

    async def wait_for(self, pred: Callable[[dict], bool], timeout: float = 3.0) -> dict:
        """The first frame (seen so far or coming) that `pred` accepts; it is taken out."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, f in enumerate(self.frames):
                if pred(f):
                    return self.frames.pop(i)
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or self.closed:
                raise AssertionError(f"no such frame; got {self.frames} (closed={self.closed})")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    async def of_type(self, kind: str, timeout: float = 3.0) -> dict:
        return await self.wait_for(lambda f: f["type"] == kind, timeout)

    def taken(self, kind: str) -> list[dict]:
        out = [f for f in self.frames if f["type"] == kind]
        self.frames = [f for f in self.frames if f["type"] != kind]
        return out

    async def close(self) -> None:
        self.conn.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Proxy:
    """A TCP proxy between a client and a server, to lose answers and cut links for real.

    `drop_answers`: that many next connections get their request through but never see
    the answer (the link is cut when the server starts answering). `down`: refuse new
    connections and cut open ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.drop_answers = 0
        self.down = False
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        drop = self.drop_answers > 0
        if drop:
            self.drop_answers -= 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._links |= {writer, up_w}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: bool) -> None:
            try:
                while data := await src.read(65536):
                    if cut:
                        break  # the answer is lost on the way back
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                for w in (dst, writer, up_w):
                    w.close()

        await asyncio.gather(pipe(reader, up_w, False), pipe(up_r, writer, drop))
        self._links -= {writer, up_w}

    def cut(self) -> None:
        for w in list(self._links):
            w.close()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
