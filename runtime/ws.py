"""The live channel: `GET /v1/{game}/ws`.

Frames are handled one at a time per connection, in order (tornado waits for on_message
before it reads the next frame), so a client may match answers to its `act` and `batch`
frames in the order it sent them; pushes (`state`, `event`, `resync`) come in between.
The pushes of an answer's own commit come right after the answer, in the same write to
the socket (pushes that arrive while a frame is being decided wait for its answer).
The first frame is `welcome`, with an `events` frame (the scheduled events running and the
next one) in the same write; another `events` frame comes whenever a run of one of the
game's events starts or ends (runtime/eventpush.py).
A frame the server cannot read gets an `error` frame and the connection stays open,
unless the client keeps sending them (a flood): then it is closed with 1008.

A client that does not read what is sent to it is closed with 1013 as soon as more than
`limits.ws_max_buffer` bytes wait to be sent to it, so a stuck phone cannot make the
process buffer its pushes without end. A `resume` replay waits for the client to read
(it never fills the buffer by itself), and the pushes held back meanwhile count too.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import time
from typing import TYPE_CHECKING, Any

import tornado.iostream
import tornado.web
import tornado.websocket

from .auth import bearer
from .gateway import Intent
from .handlers import BodyLimit, as_api_error, player_of
from .hub import entry_frames
from .packs import Game
from .store import StoreUnavailable
from .tornado_private import (
    handler_finished,
    handler_reason,
    read_frames_from_buffer,
    send_now,
    uncompressed_stream,
    unsent_bytes,
)
from .wire import ApiError, bad_request, dumps, loads, read_action, read_batch

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger(__name__)

CLOSE_FLOOD = 1008  # policy violation
CLOSE_TRY_AGAIN = 1013  # the store cannot be reached, or the client reads too slowly


@tornado.web.stream_request_body
class GameSocket(BodyLimit, tornado.websocket.WebSocketHandler):
    def initialize(self, server: Server) -> None:
        self.server = server
        self.game_id = ""
        self.player = ""
        self._rate_key = ""
        self.joined = False
        self._body_start(server.config.limits)  # an upgrade has no body: any is dropped
        self._errors: collections.deque[float] = collections.deque()
        # while a `resume` replays, live event frames wait here (None: not resuming)
        self._held: list[tuple[dict, bytes]] | None = None
        self._held_bytes = 0
        # frames are written straight to this stream (set in open, when compression is off)
        self._direct: tornado.iostream.IOStream | None = None

    # -- opening: checks happen before the upgrade, so they are plain HTTP answers --

    async def prepare(self) -> None:
        game_id = self.path_args[0]
        try:
            too_large = self.too_large_now()
            if too_large is not None:
                self._answer_too_large()
                return
            game = self.server.games.get(game_id)
            if game is None:
                raise ApiError(404, "not_found", f"there is no game `{game_id}` here")
            token = bearer(self.request.headers.get("Authorization")) or self.get_query_argument(
                "token", None
            )
            self.player = player_of(self.server, self.request.remote_ip, token, game.id)
            self.game_id = game.id
            self._rate_key = f"p:{game.id}:{self.player}"  # as the HTTP routes count it
        except Exception as e:
            err = as_api_error(e)
            if err is None:
                log.exception("refusing a WebSocket upgrade")
                err = ApiError(500, "internal", "internal error")
            self._refuse(err)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """The upgrade (after any body was read and dropped: one over the limit is a 413)."""
        try:
            _check_upgrade(self.request.headers)
        except ApiError as e:
            self._refuse(e)
            return
        await super().get(*args, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """An error tornado answers for us (not one of ours): JSON all the same."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        err = as_api_error(exc) if exc is not None else None
        if err is None:
            code = "internal" if status_code >= 500 else "bad_request"
            err = ApiError(status_code, code, handler_reason(self) or code)
        self._refuse(err)

    def _refuse(self, err: ApiError) -> None:
        """Answer the upgrade request with an error, as the HTTP routes do."""
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json")
        for name, value in err.headers.items():
            self.set_header(name, value)
        self.finish(dumps(err.body()))

    def _finished_writing(self) -> bool:
        return handler_finished(self)

    def _answer_early(self, err: ApiError) -> None:
        self.set_header("Connection", "close")  # the rest of the body is not read
        self._refuse(err)

    def check_origin(self, origin: str) -> bool:
        return True  # tokens, not cookies, say who is calling: no cross-site risk

    def get_compression_options(self) -> dict | None:
        return None

    def get_websocket_protocol(self) -> tornado.websocket.WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if protocol is not None:
            # Free the connection's place in the hub as soon as the server closes it, not
            # when the close handshake ends: after an unanswered ping (a half-open link)
            # tornado waits 5 s more for a client that is gone. Closing cannot be undone,
            # so nothing is lost by leaving early; _leave runs once.
            close = protocol.close

            def closing(code: int | None = None, reason: str | None = None) -> None:
                close(code, reason)
                self._leave()

            protocol.close = closing  # type: ignore[method-assign]
            read_frames_from_buffer(protocol)
        return protocol

    async def open(self, *args: Any) -> None:
        self._direct = uncompressed_stream(self.ws_connection)  # before any frame is sent
        # A result and the push after it are two small writes: with Nagle on, the second
        # waits for the client's ACK of the first, which Linux delays by up to 40 ms.
        self.set_nodelay(True)
        try:
            await self.server.hub.join(self.key, self)
        except StoreUnavailable:
            self.server.metrics.store_errors.inc()
            self.close(CLOSE_TRY_AGAIN, "store unavailable")
            return
        self.joined = True
        self.server.metrics.connections.labels(self.game_id).inc()
        # from here on every change of the player is pushed: the client may act and expect it
        welcome = {"type": "welcome", "player_id": self.player, "server_time": self.server.clock()}
        frames = [(dumps(welcome), "welcome")]
        events = self.server.event_push.join(self)  # and every start or end of an event
        if events is not None:
            frames.append((dumps(events), "events"))
        self._write_all(frames)  # in one write: `events` comes right after `welcome`
        self.server.inbox_waits(self.game_id, self.player)  # what was sent while it was away

    def on_close(self) -> None:
        self._leave()

    def _leave(self) -> None:
        """Stop pushing to this connection and free what it holds in the hub (once)."""
        if self.joined:
            self.joined = False
            self.server.metrics.connections.labels(self.game_id).dec()
            self.server.event_push.leave(self)
            self.server.spawn(self.server.hub.leave(self.key, self))

    @property
    def key(self) -> tuple[str, str]:
        return (self.game_id, self.player)

    # -- frames --

    async def on_message(self, message: str | bytes) -> None:
        if self._closing():
            return  # we are closing it (e.g. too slow): nothing more is applied
        started = time.perf_counter()
        kind = "unreadable"
        try:
            if isinstance(message, bytes):  # the protocol is JSON text: see docs/protocol.md
                raise bad_request("binary frames are not read: send JSON in text frames")
            if len(message) > self.server.config.limits.max_frame:
                raise ApiError(
                    413,
                    "too_large",
                    f"frames hold at most {self.server.config.limits.max_frame} bytes",
                )
            frame = loads(message)
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise bad_request("a frame is a JSON object with a `type`")
            kind = frame["type"]
            handler = _FRAMES.get(kind)
            if handler is None:
                kind = "unknown"
                raise bad_request(f"unknown frame type {frame['type']!r}")
            await handler(self, frame)
        except Exception as e:
            self._error(e, message)
        finally:
            if self._held is not None:  # held for an answer that did not come: send them
                self._flush_held(set())
        self.server.metrics.frame_seconds(kind, time.perf_counter() - started)

    def _error(self, exc: Exception, message: str | bytes) -> None:
        err = as_api_error(exc)
        if err is None:
            log.exception("frame failed")
            err = ApiError(500, "internal", "internal error")
        if isinstance(exc, StoreUnavailable):
            self.server.metrics.store_errors.inc()
        frame: dict[str, Any] = {"type": "error", "code": err.code, "message": err.message}
        if err.details:
            frame["details"] = err.details
        ref = _ref_of(message)
        if ref is not None:
            frame["ref"] = ref
        self.send(frame)
        if err.status in (400, 413) and self._flooding():
            self.close(CLOSE_FLOOD, "too many unreadable frames")

    def _flooding(self) -> bool:
        limits = self.server.config.limits
        now = time.monotonic()
        self._errors.append(now)
        while self._errors and self._errors[0] < now - limits.flood_window:
            self._errors.popleft()
        return len(self._errors) > limits.flood_errors

    def _take(self) -> None:
        wait = self.server.limiter.take(self._rate_key)
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests; retry in {wait:.2f}s",
                details={"retry_after_ms": int(wait * 1000) + 1},
            )

    def _game(self) -> Game:
        game = self.server.games.get(self.game_id)
        if game is None:  # cannot happen today: games are swapped, never removed
            raise ApiError(404, "not_found", f"there is no game `{self.game_id}` here")
        return game

    async def _act(self, frame: dict) -> None:
        action = read_action(frame, "act")
        self._take()
        game = self._game()  # the pack this action runs on, even if a new one lands
        self._held = []  # this commit's pushes go out after the answer, in one write
        answer = await self.server.gateway.apply(game, self.player, [Intent.of(action)])
        self._answer(
            {"type": "result", **answer.results[0], "version": answer.version}, frame.get("ref")
        )
        self.server.metrics.count_results(game.id, game.pack.actions, [action.name], answer.results)

    async def _batch(self, frame: dict) -> None:
        actions = read_batch(frame, self.server.config.limits.max_batch)
        self._take()
        game = self._game()
        self._held = []
        answer = await self.server.gateway.apply(game, self.player, [Intent.of(a) for a in actions])
        self._answer(
            {
                "type": "results",
                "results": answer.results,
                "version": answer.version,
                "server_time": answer.server_time,
            },
            frame.get("ref"),
        )
        self.server.metrics.count_results(
            game.id, game.pack.actions, [a.name for a in actions], answer.results
        )

    async def _resume(self, frame: dict) -> None:
        after = frame.get("after")
        if after is None or after == "":
            after = "0"  # from the beginning of what is retained
        if not isinstance(after, str) or len(after) > 64:
            raise bad_request("`after` must be an event id")
        self._held = []  # live pushes wait until the replay is out, so order holds
        try:
            try:
                entries = await self.server.gateway.store.ledger_since(
                    self.game_id, self.player, after
                )
            except ValueError as e:
                raise bad_request(f"`after` is not an event id: {after!r}") from e
            version = await self.server.gateway.version(self.game_id, self.player)
        except BaseException:
            self._flush_held(set())
            raise
        if entries is None:
            self.send({"type": "resync"})
            self._flush_held(set())
            return
        replayed: set[str] = set()
        pace = self.server.config.limits.ws_max_buffer // 2
        for entry in entries:
            replayed.add(entry["id"])
            for f in entry_frames(entry, entry["id"], None):
                sent = self.send(f)
                # a long replay goes at the client's pace: it never fills the buffer alone
                if sent is None or unsent_bytes(self.ws_connection) <= pace:
                    continue
                if not await self._drained(sent):
                    self._flush_held(set())
                    return
        self.send(
            {"type": "resumed", "after": after, "replayed": len(replayed), "version": version},
            frame.get("ref"),
        )
        self._flush_held(replayed)

    async def _drained(self, sent: asyncio.Future[None]) -> bool:
        """Wait until `sent` has been taken by the socket (the client reads). False when
        the connection closed, or the client read nothing for the ping timeout (then it is
        closed as too slow)."""
        try:
            await asyncio.wait_for(
                asyncio.shield(sent), max(self.server.config.ws_ping_timeout, 1.0)
            )
        except TimeoutError:
            self._too_slow()
            return False
        except (tornado.websocket.WebSocketClosedError, tornado.iostream.StreamClosedError):
            return False
        return not self._closing()

    def _flush_held(self, replayed: set[str]) -> None:
        held, self._held = self._held or [], None
        self._held_bytes = 0
        # (an event the replay sent already is not sent again)
        frames = [
            (text, f["type"])
            for f, text in held
            if not (f["type"] == "event" and f["id"] in replayed)
        ]
        if frames:
            self._write_all(frames)

    async def _ping(self, frame: dict) -> None:
        self.send({"type": "pong", "server_time": self.server.clock()}, frame.get("ref"))

    # -- sending --

    def send(self, frame: dict, ref: Any = None) -> asyncio.Future[None] | None:
        if _echoable(ref):
            frame["ref"] = ref  # echoed so a client may match answers by its own tag
        return self._write_all([(dumps(frame), frame["type"])])

    def _answer(self, frame: dict, ref: Any) -> None:
        """Send an answer, then the pushes held while it was decided, in one write."""
        if _echoable(ref):
            frame["ref"] = ref
        held, self._held = self._held or [], None
        self._held_bytes = 0
        self._write_all([(dumps(frame), frame["type"]), *((text, f["type"]) for f, text in held)])

    def push(self, frames: list[tuple[dict, bytes]]) -> None:
        """Called by the hub for every commit of this player (see hub.Listener), and by
        the events push when an event starts or ends (see eventpush.Listener)."""
        if self._held is not None:
            self._held.extend(frames)
            self._held_bytes += sum(len(text) for _, text in frames)
            unsent = self._held_bytes + unsent_bytes(self.ws_connection)
            if unsent > self.server.config.limits.ws_max_buffer:
                self._too_slow()
            return
        self._write_all([(text, f["type"]) for f, text in frames])

    def _write_all(self, frames: list[tuple[bytes, str]]) -> asyncio.Future[None] | None:
        """Send text frames (each as UTF-8 bytes, with its type) in one write to the
        socket; the future of what the socket did not take at once, or None when there
        is none: it took them all, or nothing was sent (closing, or the client is too
        slow)."""
        if self._closing():
            return None
        if unsent_bytes(self.ws_connection) > self.server.config.limits.ws_max_buffer:
            self._too_slow()
            return None
        stream = self._direct
        rest: asyncio.Future[None] | None = None
        try:
            if stream is not None:
                # The frames write_message would send, joined into one system call, and
                # without the task it wraps every write in (for an error we handle alike).
                # The stream marks its futures' errors as seen when it closes.
                data = b"".join(_text_frame(text) for text, _ in frames)
                taken = send_now(stream, data)
                rest = None if taken == len(data) else stream.write(data[taken:] if taken else data)
            else:  # compression on
                for text, _ in frames:
                    rest = self.write_message(text)
                    rest.add_done_callback(_quiet)
        except (tornado.websocket.WebSocketClosedError, tornado.iostream.StreamClosedError):
            return None
        for _, kind in frames:
            if kind in _PUSHES:
                self.server.metrics.pushed(kind)
        return rest

    def _closing(self) -> bool:
        return self.ws_connection is None or self.ws_connection.is_closing()

    def _too_slow(self) -> None:
        """The client does not read: close (1013, the frame queues behind what it has not
        read) and free its place in the hub now. Tornado drops the socket if the client
        does not answer the close within 5 s."""
        if self._closing():
            return
        limit = self.server.config.limits.ws_max_buffer
        log.info(
            "closing a WebSocket of %s/%s: more than %d bytes unread",
            self.game_id,
            self.player,
            limit,
        )
        self.server.metrics.slow_closes.inc()
        self._held, self._held_bytes = None, 0
        self.close(CLOSE_TRY_AGAIN, f"too slow: more than {limit} bytes unread")
        self._leave()


_PUSHES = frozenset({"state", "event", "resync", "events"})


def _check_upgrade(headers: Any) -> None:
    """The upgrade request's own headers, answered in JSON (tornado answers plain text)."""
    connection = {part.strip().lower() for part in headers.get("Connection", "").split(",")}
    if headers.get("Upgrade", "").lower() != "websocket" or "upgrade" not in connection:
        raise bad_request(
            "this route is a WebSocket: send `Connection: Upgrade` and `Upgrade: websocket`"
        )
    if headers.get("Sec-WebSocket-Version") != "13" or not headers.get("Sec-WebSocket-Key"):
        raise ApiError(
            426,
            "bad_request",
            "WebSocket version 13 with a key is required",
            headers={"Sec-WebSocket-Version": "13"},
        )


def _text_frame(text: bytes) -> bytes:
    """One final, unmasked text frame (RFC 6455 5.2): what a server sends."""
    n = len(text)
    if n < 126:
        return bytes((0x81, n)) + text
    if n <= 0xFFFF:
        return struct.pack("!BBH", 0x81, 126, n) + text
    return struct.pack("!BBQ", 0x81, 127, n) + text


def _quiet(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()  # a closed connection is not an error worth a log line


def _echoable(ref: Any) -> bool:
    """A client's `ref` tag that its answer carries back (a short string)."""
    return isinstance(ref, str) and len(ref) <= 64


def _ref_of(message: str | bytes) -> str | None:
    # Best effort, only for short text frames: the error frame echoes the client's tag.
    if isinstance(message, bytes) or len(message) > 4096:
        return None
    try:
        frame = loads(message)
    except ApiError:
        return None
    ref = frame.get("ref") if isinstance(frame, dict) else None
    return ref if _echoable(ref) else None


_FRAMES = {
    "act": GameSocket._act,
    "batch": GameSocket._batch,
    "resume": GameSocket._resume,
    "ping": GameSocket._ping,
}
