"""Client connections: how many a process holds, how long an idle one may stay, and what
happens at the open-file limit.

Tornado's HTTPServer, as it comes, keeps a silent connection for an hour (its header
timeout) and holds as many as the process can open. At the open-file limit its accept
loop fails on the waiting connection, logs a traceback and is woken again at once by the
same connection: 100% CPU and tens of megabytes of log a minute. `GuardedHTTPServer`:

- closes a new connection that has not sent a whole request head within `header_timeout`
  (a port scan, a half-sent head, a WebSocket upgrade never finished), a request whose
  body stalls past `body_timeout`, and a kept-alive connection idle for `idle_timeout`;
- caps the connections it holds, in all and per peer address: one over a cap is answered
  503 `too_many_connections` at once, before its request is read, and closed;
- at the open-file limit (EMFILE) stops accepting for `ACCEPT_PAUSE`, and says so at
  most once a second (`RateLimitedLog`).

WebSocket connections are counted as long as their socket is open; a silent one is closed
by the server's pings (`--ws-ping-interval`, `--ws-ping-timeout`).
"""

from __future__ import annotations

import copy
import errno
import logging
import resource
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from tornado.http1connection import HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPConnection, HTTPMessageDelegate
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream

from .tornado_private import add_listening_socket

log = logging.getLogger(__name__)

ACCEPT_PAUSE = 0.25  # seconds without accepting once the process is out of descriptors
ACCEPT_BATCH = 128  # connections taken per wake-up (tornado's own, its listen backlog)
# errors of accept() that say the process (or the machine) is out of something: retrying
# at once fails the same way, with the waiting connection still making the socket ready
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

_BODY = orjson.dumps(
    {
        "error": {
            "code": "too_many_connections",
            "message": "the server holds as many connections as it may; try again in a moment",
        }
    }
)
TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


def default_max_connections() -> int:
    """The open-file limit less an eighth (at least 32): room kept for the store's
    connections, the log, packs and the SQLite files, so the cap is met before EMFILE."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(soft - max(32, soft // 8), 1)


class RateLimitedLog:
    """A warning at most once every `every` seconds; the ones held back in between are
    counted into the next."""

    def __init__(
        self,
        logger: logging.Logger,
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._every, self._clock = logger, every, clock
        self._last = float("-inf")
        self.held_back = 0

    def warning(self, message: str, *args: object) -> bool:
        """Log it, or count it if one went out less than `every` seconds ago. True if logged."""
        now = self._clock()
        if now - self._last < self._every:
            self.held_back += 1
            return False
        if self.held_back:
            message += " (%d more like it since the last)"
            args = (*args, self.held_back)
        self._log.warning(message, *args)
        self._last, self.held_back = now, 0
        return True


class Connections:
    """The connections one process holds: in all and per peer address (0: no cap)."""

    def __init__(self, max_open: int, max_per_address: int) -> None:
        self.max_open, self.max_per_address = max_open, max_per_address
        self.open = 0
        self.by_address: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # by reason, for /metrics
        self.accept_pauses = 0  # times accepting stopped at the open-file limit

    def admit(self, address: str) -> bool:
        """Count a new connection from `address` in, or refuse it (False) over a cap."""
        if self.open >= self.max_open:
            self.refused["max_connections"] += 1
            return False
        if self.max_per_address and self.by_address[address] >= self.max_per_address:
            self.refused["max_connections_per_address"] += 1
            return False
        self.open += 1
        self.by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open -= 1
        self.by_address[address] -= 1
        if not self.by_address[address]:
            del self.by_address[address]


class _CountedStream(IOStream):
    """A client's stream that leaves the count when its socket closes, whoever closes it
    (tornado's HTTP layer, the WebSocket layer, the peer): close_fd runs once per stream."""

    def __init__(self, sock: socket.socket, on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(sock, **kwargs)
        self._on_close = on_close

    def close_fd(self) -> None:
        try:
            super().close_fd()
        finally:
            self._on_close()


class _Acceptor:
    """tornado.netutil.add_accept_handler with a pause at the open-file limit: the
    connection that could not be taken stays waiting, so the socket stays ready, and
    retrying at once would spin. `remove` stops it for good (TCPServer.stop calls it)."""

    def __init__(
        self,
        sock: socket.socket,
        on_connection: Callable[[socket.socket, Any], None],
        connections: Connections,
        warn: RateLimitedLog,
    ) -> None:
        self._sock, self._on_connection = sock, on_connection
        self._connections, self._warn = connections, warn
        self._loop = IOLoop.current()
        self._resume_at: object | None = None  # the pending resume while paused
        self._removed = False
        self._loop.add_handler(sock, self._ready, IOLoop.READ)

    def _ready(self, _fd: object, _events: int) -> None:
        for _ in range(ACCEPT_BATCH):
            if self._removed or self._resume_at is not None:
                return
            try:
                connection, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none waiting
            except OSError as e:
                if e.errno in OUT_OF_RESOURCES:
                    self._pause(e)
                    return
                # (Linux) an error of that one connection (ECONNABORTED, EPROTO, ...):
                # it is gone from the queue; take the next
                self._warn.warning("accept failed: %s", e)
                continue
            self._on_connection(connection, address)

    def _pause(self, e: OSError) -> None:
        self._connections.accept_pauses += 1
        self._warn.warning(
            "accept: %s; not accepting for %.2f s. Raise the open-file limit (ulimit -n) "
            "or lower --max-connections",
            e.strerror,
            ACCEPT_PAUSE,
        )
        self._loop.remove_handler(self._sock)
        self._resume_at = self._loop.call_later(ACCEPT_PAUSE, self._resume)

    def _resume(self) -> None:
        self._resume_at = None
        if not self._removed:
            self._loop.add_handler(self._sock, self._ready, IOLoop.READ)

    def remove(self) -> None:
        self._removed = True
        if self._resume_at is not None:
            self._loop.remove_timeout(self._resume_at)
            self._resume_at = None
        else:
            self._loop.remove_handler(self._sock)


class GuardedHTTPServer(HTTPServer):
    """tornado's HTTPServer with the timeouts and caps of the module doc. Made with
    tornado's arguments plus `connections`, `header_timeout` and `idle_timeout` (tornado's
    own `idle_connection_timeout` is its header timeout, for every request)."""

    def initialize(  # type: ignore[override]
        self,
        request_callback: Any,
        *,
        connections: Connections,
        header_timeout: float,
        idle_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().initialize(request_callback, idle_connection_timeout=header_timeout, **kwargs)
        self.connections = connections
        # a connection's first request head must come within the header timeout; after a
        # request, the next may be a while coming (a kept-alive connection): the idle one
        self._kept_alive = copy.copy(self.conn_params)
        self._kept_alive.header_timeout = idle_timeout
        self._warn = RateLimitedLog(log)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        # TCPServer.add_sockets with our accept loop; `stop` removes it
        for sock in sockets:
            acceptor = _Acceptor(sock, self._accepted, self.connections, self._warn)
            add_listening_socket(self, sock, acceptor.remove)

    def _accepted(self, connection: socket.socket, address: Any) -> None:
        peer = address[0] if isinstance(address, tuple) else str(address)
        if not self.connections.admit(peer):
            _refuse(connection)
            return
        try:
            stream = _CountedStream(
                connection,
                lambda: self.connections.release(peer),
                max_buffer_size=self.max_buffer_size,
                read_chunk_size=self.read_chunk_size,
            )
        except Exception:
            self.connections.release(peer)
            connection.close()
            raise
        self.handle_stream(stream, address)

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        if isinstance(server_conn, HTTP1ServerConnection):
            server_conn.params = self._kept_alive  # read when the next request is awaited
        return super().start_request(server_conn, request_conn)


def _refuse(connection: socket.socket) -> None:
    """Answer 503 and close, without reading: a fresh socket takes the few bytes at once."""
    try:
        connection.setblocking(False)
        connection.send(TOO_MANY)
    except OSError:
        pass  # the client is gone already
    finally:
        connection.close()
