"""The Tornado application: routes, and the Server that owns one process's parts.

A Server is one gateway (per-player writers and cache), one push hub, the games it hosts,
the auth settings and the limits. Several Servers can run in one process on different
ports (tests do): they share nothing but the store they may both point at.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import tornado.netutil
import tornado.web

from . import handlers as h
from . import pack, packdir, packs, play, schemadiff, social, swapcheck
from .auth import Auth
from .config import ServerConfig
from .connections import Connections, GuardedHTTPServer, default_max_connections
from .devclock import DevClock, DevGateway
from .eventpush import EventPush
from .games import Games
from .gateway import Gateway, now_ms
from .hub import Hub
from .limits import RateLimiter
from .metrics import Metrics
from .packs import Game
from .store import Store, StoreUnavailable
from .ws import GameSocket

log = logging.getLogger(__name__)
access_log = logging.getLogger("tornado.access")

GAME = r"([A-Za-z0-9_.-]+)"
PLAYER = r"([^/]+)"
READ_CHUNK = 4096  # see Server.listen
COLLECT_AFTER_SWAP = 5.0  # seconds: requests on a replaced pack are done by then


class Server:
    def __init__(
        self,
        store: Store,
        auth: Auth,
        config: ServerConfig | None = None,
        *,
        games: list[Game] | None = None,
        clock: Callable[[], int] = now_ms,
        rate_clock: Callable[[], float] = time.monotonic,  # seconds, for the rate limiters
        builder: packs.PackBuilder | None = None,  # builds game folders (the CLI's compiler)
    ) -> None:
        self.store = store
        self.builder = builder
        self.auth = auth
        self.config = config or ServerConfig()
        if self.config.dev:  # one player's time can be moved forward (runtime/devclock.py)
            clock = DevClock(clock)
        self.clock = clock
        self.games = Games()
        for game in games or []:
            self.games.put(game)
        # `events` frames: judged at the time the state answer uses (the player's dev clock)
        self.event_push = (
            EventPush(self.games, clock.base, clock.offset)
            if isinstance(clock, DevClock)
            else EventPush(self.games, clock)
        )
        gateway = DevGateway if self.config.dev else Gateway
        self.gateway = gateway(
            store, retries=self.config.retries, cache_size=self.config.cache_size, clock=clock
        )
        self.metrics = Metrics(self.gateway.calls, self.gateway.faults)
        self.hub = Hub(store, self.gateway.saw_version, self.inbox_waits)
        limits = self.config.limits
        self.limiter = RateLimiter(limits.rate, limits.burst, clock=rate_clock)
        self.session_limiter = RateLimiter(
            limits.session_rate, limits.session_burst, clock=rate_clock
        )
        self.auth_fail_limiter = RateLimiter(
            limits.auth_fail_rate, limits.auth_fail_burst, clock=rate_clock
        )
        # behind a trusted proxy every peer is the proxy: no cap per address there
        self.connections = Connections(
            limits.max_connections or default_max_connections(),
            0 if self.config.trust_proxy else limits.max_connections_per_address,
        )
        self.metrics.count_connections(self.connections)
        data_dir = self.config.data_dir
        self.metrics.count_packs(pack.loaded, lambda: packdir.count(data_dir))
        self.app = make_app(self)
        self._http: GuardedHTTPServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        # one reload at a time per process: the compiler's parser is not thread-safe (two
        # builds at once in the executor broke each other's parse), and a refused build is
        # dropped before the next one looks at the packs folder
        self._reloading = asyncio.Lock()
        self._collect: asyncio.TimerHandle | None = None  # the collection after a swap

    # -- packs --

    async def reload(self, game_id: str, path: str | None = None) -> Game:
        """Build or load a pack (from `path`, else from where the game came from), check
        it, and swap it in. Raises RulesInvalid / PackError, or UnsafeSwap when it would
        drop or reset what players hold (runtime/swapcheck.py), and keeps the old pack."""
        async with self._reloading:
            return await self._reload(game_id, path)

    async def _reload(self, game_id: str, path: str | None) -> Game:
        current = self.games.get(game_id)
        source = Path(path) if path is not None else current.source if current else None
        if source is None:
            raise packs.PackError(f"no source known for game {game_id}")
        loop = asyncio.get_running_loop()
        # compiling and importing block: a thread keeps the loop answering meanwhile
        game = await loop.run_in_executor(
            None, packs.build, source, self.config.data_dir, self.builder
        )
        try:
            if game.id != game_id:
                raise packs.PackError(f"{source} is game `{game.id}`, not `{game_id}`")
            # compared with the pack served now (another swap may have landed meanwhile);
            # no await between the check and the swap, so nothing slips in between
            current = self.games.get(game_id)
            if current is not None:
                lost = swapcheck.swap_losses(current.pack, game.pack)
                if lost:  # (losses a `migrate` line covers are not: the players are migrated)
                    diff = schemadiff.report(current.pack.schema, game.pack.schema)
                    raise swapcheck.UnsafeSwap(current.pack.version, game.pack.version, lost, diff)
        except (packs.PackError, swapcheck.UnsafeSwap):
            # refused: its module and its build folder go now (runtime/packdir.py)
            await loop.run_in_executor(
                None, packs.discard, game, self.config.data_dir, self.serving_dirs()
            )
            raise
        self.games.put(game)
        self.event_push.rearm(game.id)  # the schedule may have changed: connections hear it
        log.info("game %s now runs pack %s", game.id, game.pack.version)
        # the pack replaced leaves sys.modules once nothing holds it (in-flight requests
        # finish on it; Pack's finalizer); its folder stays among the last `keep_packs`.
        # What still holds it is often a reference cycle (a finished request's exception
        # and frames), which only a full collection frees, and that may not come for
        # hours in a quiet process: one, once the requests on the old pack are done.
        self._collect_later(loop)
        cfg = self.config
        await loop.run_in_executor(
            None,
            packdir.settle,
            cfg.data_dir,
            game.id,
            game.pack.path,
            cfg.keep_packs,
            self.serving_dirs(),
        )
        return game

    def _collect_later(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._collect is not None:
            self._collect.cancel()  # swaps in a row: one collection after the last
        self._collect = loop.call_later(COLLECT_AFTER_SWAP, gc.collect)

    def serving_dirs(self) -> list[Path]:
        """The folders of the packs this server serves now."""
        return [g.pack.path for g in (self.games.get(gid) for gid in self.games.ids()) if g]

    # -- players meeting players (runtime/social.py) --

    def inbox_waits(self, game_id: str, player: str) -> None:
        """A delivery may wait for a player connected here (one was just told of, or the
        player connected): apply it now, so its pushes go out. Read from the store, so a
        notice missed while the player was away (or a cached state) does not leave it
        waiting until the player's next action."""
        game = self.games.get(game_id)
        if game is not None:
            self.spawn(self._quietly(self.gateway.apply_inbox(game, player), f"inbox of {player}"))

    async def _sweep(self) -> None:
        """Now and then, deliver what outboxes left marked for a while still hold (a crash
        between a commit and its delivery, a store that was down)."""
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            for game_id in self.games.ids():
                await self._sweep_game(game_id)

    async def _sweep_game(self, game_id: str) -> None:
        """(A function of its own: no pack stays referenced while the sweeper sleeps, so a
        replaced one is released.)"""
        game = self.games.get(game_id)
        if game is None or not social.receives(game.pack):
            return
        before = self.clock() - self.config.sweep_grace_ms
        try:
            marks = await self.store.outbox_marks(game.id, before=before, limit=100)
        except StoreUnavailable:
            return
        for player, _ in marks:
            await self._quietly(self.gateway.flush_outbox(game, player), f"outbox of {player}")

    @staticmethod
    async def _quietly(work: Coroutine[Any, Any, Any], what: str) -> None:
        try:
            await work
        except StoreUnavailable as e:
            log.warning("%s: %s", what, e)
        except Exception:
            log.exception("%s failed", what)

    # -- running --

    def listen(self, port: int, host: str = "127.0.0.1", *, reuse_port: bool = False) -> int:
        """Start serving; returns the port (pass 0 for a free one). `reuse_port`: share
        the port with other processes (SO_REUSEPORT; `rulesc serve --workers`)."""
        cfg = self.config
        limits = cfg.limits
        self._http = GuardedHTTPServer(
            self.app,
            connections=self.connections,
            header_timeout=cfg.header_timeout,
            idle_timeout=cfg.idle_timeout,
            body_timeout=cfg.body_timeout,
            # Every handler streams its body and lifts tornado's body limit for it (see
            # handlers.BodyLimit), so this one is only a backstop at our own limit. The
            # read buffer holds the largest single read: a WebSocket frame.
            max_body_size=limits.max_body,
            max_buffer_size=limits.ws_max_message + 64 * 1024,
            # Bytes asked of a socket per read. Tornado zeroes a fresh buffer of this
            # size for every read (also one that finds nothing): at its 64 KiB default
            # that is most of the L1 cache, twice per WebSocket frame. Requests and
            # frames are small; a large one takes a few more reads.
            chunk_size=READ_CHUNK,
            # behind a proxy (--trust-proxy) limits by address see the client's, not the
            # proxy's; a directly exposed server must not believe what callers claim
            xheaders=cfg.trust_proxy,
        )
        sockets = tornado.netutil.bind_sockets(
            port, host, family=socket.AF_INET, reuse_port=reuse_port
        )
        self._http.add_sockets(sockets)
        if cfg.sweep_interval > 0 and self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return sockets[0].getsockname()[1]

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run background work (kept referenced so it is not collected half-way)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        await self.event_push.close()
        if self._collect is not None:
            self._collect.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._http is not None:
            self._http.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._http.close_all_connections(), 2.0)
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.gateway.idle(), 2.0)
        await self.hub.close()


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, with answered requests (< 400) at DEBUG, not INFO: a
    line per request is a real share of a busy server's CPU (formatting and a write to
    stderr for every action); metrics count requests by route and status instead. 4xx
    stay warnings and 5xx errors, as tornado logs them. The `tornado.access` logger set
    to DEBUG shows every request again."""
    status = handler.get_status()
    if status < 400:
        if not access_log.isEnabledFor(logging.DEBUG):
            return
        log_method = access_log.debug
    elif status < 500:
        log_method = access_log.warning
    else:
        log_method = access_log.error
    request = handler.request
    summary = f"{request.method} {request.uri} ({request.remote_ip})"  # as tornado's line
    log_method("%d %s %.2fms", status, summary, 1000.0 * request.request_time())


def make_app(server: Server) -> tornado.web.Application:
    s = {"server": server}
    play_assets = {"path": str(play.PLAY), "dev_only": True, "server": server}
    routes: list[Any] = [
        (rf"/v1/{GAME}/session", h.SessionHandler, s),
        (rf"/v1/{GAME}/actions", h.ActionsHandler, s),
        (rf"/v1/{GAME}/actions/check", h.CheckHandler, s),
        (rf"/v1/{GAME}/ws", GameSocket, s),
        (rf"/v1/{GAME}/state", h.StateHandler, s),
        (rf"/v1/{GAME}/ledger", h.LedgerHandler, s),
        (rf"/v1/{GAME}/rules", h.RulesHandler, s),
        (rf"/v1/{GAME}/leaderboards/([A-Za-z0-9_]+)", h.LeaderboardHandler, s),
        (rf"/admin/{GAME}/players/{PLAYER}", h.AdminPlayerHandler, s),
        (rf"/admin/{GAME}/players/{PLAYER}/grant", h.AdminGrantHandler, s),
        (rf"/admin/{GAME}/rules", h.AdminRulesHandler, s),
        (rf"/admin/{GAME}/report", h.AdminReportHandler, s),
        (r"/healthz", h.HealthHandler, s),
        (r"/readyz", h.ReadyHandler, s),
        (r"/metrics", h.MetricsHandler, s),
        (r"/v1/openapi.json", h.OpenApiHandler, s),
        # the JavaScript client; the playground and the dev clock (development mode only)
        (r"/(client\.js|client\.d\.ts)", play.AssetHandler, {"path": str(play.STATIC)}),
        (rf"/play/{GAME}", play.PlayHandler, s),
        (r"/play/static/(play\.js|play\.css)", play.AssetHandler, play_assets),
        (rf"/v1/{GAME}/dev/clock", play.DevClockHandler, s),
    ]
    return tornado.web.Application(
        routes,
        default_handler_class=h.NotFoundHandler,
        default_handler_args=s,
        websocket_ping_interval=server.config.ws_ping_interval,
        websocket_ping_timeout=server.config.ws_ping_timeout,
        # tornado closes the connection past this; frames between max_frame and it get an
        # error frame and the connection stays open (see ws.py)
        websocket_max_message_size=server.config.limits.ws_max_message,
        compress_response=False,
        log_function=log_request,
    )
