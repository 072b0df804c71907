"""Every use of Tornado's private names, in one place.

The server reaches past Tornado's public API in a few places, each for a reason given
below: most for speed measured on the path every WebSocket frame takes (see "What this
session changed" in docs/benchmarks.md), the rest because the public API has no way to
do it. Nothing else in the runtime touches a `_`-name of a Tornado object; the functions
here do the same work the inline code did (no extra step on a frame's path: what runs
per frame is a single call, as before).

tests/test_third_party_private.py checks that each name below exists, with the kind
used here, on the installed Tornado: an upgrade that moves one fails there, naming it.
pyproject.toml pins Tornado below its next major; raise it only once that test and the
server tests pass on the new one.
"""

from __future__ import annotations

import socket
import types
from collections.abc import Callable, Coroutine
from typing import Any

import tornado.http1connection
import tornado.httputil
import tornado.iostream
import tornado.tcpserver
import tornado.web
import tornado.websocket

ChunkedBodyReader = Callable[[tornado.httputil.HTTPMessageDelegate], Coroutine[Any, Any, None]]

# -- RequestHandler ----------------------------------------------------------------------


def handler_finished(handler: tornado.web.RequestHandler) -> bool:
    """Whether `handler` has written its answer (`_finished`: set by finish(); Tornado has
    no public reader of it). A body still streaming in after an early answer is dropped."""
    return handler._finished


def handler_reason(handler: tornado.web.RequestHandler) -> str:
    """The reason phrase of the status set (`_reason`: set by set_status and send_error;
    Tornado has get_status() but no getter for the reason), for our JSON error message."""
    return handler._reason


# -- HTTP1Connection ---------------------------------------------------------------------


def chunked_body_reader(connection: tornado.http1connection.HTTP1Connection) -> ChunkedBodyReader:
    """The connection's reader of a chunked body (`_read_chunked_body`, a coroutine
    method). Tornado answers a chunk past its body limit, or a malformed one, with a bare
    400 from inside it; no public hook lets us answer in JSON (see handlers.py)."""
    return connection._read_chunked_body


def replace_chunked_body_reader(
    connection: tornado.http1connection.HTTP1Connection, reader: ChunkedBodyReader
) -> None:
    """Read this connection's chunked bodies with `reader` (for its current request)."""
    connection._read_chunked_body = reader  # type: ignore[method-assign, assignment]


# -- TCPServer ---------------------------------------------------------------------------


def add_listening_socket(
    server: tornado.tcpserver.TCPServer, sock: socket.socket, remove: Callable[[], None]
) -> None:
    """Register `sock` as `server`'s, with `remove` to stop accepting on it, as
    TCPServer.add_sockets does (`_sockets`, `_handlers`): stop() closes the socket and
    calls `remove`. add_sockets has no way to take an accept loop other than Tornado's,
    and ours pauses at the open-file limit (see connections.py)."""
    server._sockets[sock.fileno()] = sock
    server._handlers[sock.fileno()] = remove


# -- WebSocket: writing ------------------------------------------------------------------


def uncompressed_stream(
    protocol: tornado.websocket.WebSocketProtocol | None,
) -> tornado.iostream.IOStream | None:
    """The stream of a WebSocket connection whose frames may be written as plain bytes
    (no per-message compression: `_compressor` is None), or None (compression on, or a
    protocol without those fields). ws.py writes frames to it directly: Tornado's
    write_message wraps every write in a task of its own (docs/benchmarks.md)."""
    stream = getattr(protocol, "stream", None)
    if stream is not None and getattr(protocol, "_compressor", True) is None:
        return stream
    return None


def unsent_bytes(protocol: tornado.websocket.WebSocketProtocol | None) -> int:
    """Bytes written to a WebSocket connection that its socket has not taken yet: the
    length of its stream's `_write_buffer` (0 when closed). Tornado keeps no public count,
    and adding up our writes' futures would over-count, since they resolve a loop turn
    late (a burst of frames the socket took at once would look unsent). The kernel's
    socket buffer comes on top; it is bounded by the system."""
    stream = getattr(protocol, "stream", None)
    buffer = getattr(stream, "_write_buffer", None)
    return len(buffer) if buffer is not None else 0


def send_now(stream: tornado.iostream.IOStream, data: bytes) -> int:
    """Bytes of `data` the socket takes now, sent straight to it when nothing waits in
    the stream's `_write_buffer` (most writes: the client reads): Tornado's write would
    buffer them, send them all the same, and make and resolve a future. 0 when that is
    not so (what is left goes through the stream, behind what waits there, in order)."""
    if (
        type(stream) is not tornado.iostream.IOStream
        or stream._write_buffer
        or stream.socket is None
    ):
        return 0  # (TLS streams keep state of their own: through tornado)
    try:
        return stream.socket.send(data)
    except OSError:  # full (the client reads slowly), or broken: tornado's write deals with it
        return 0


# -- WebSocket: reading ------------------------------------------------------------------


def read_frames_from_buffer(protocol: tornado.websocket.WebSocketProtocol) -> None:
    """Make `protocol` (Tornado's RFC 6455 one only) take a frame's mask and payload from
    its stream's buffer when they are there already, through _buffered_read_bytes. Once
    per connection."""
    if type(protocol) is tornado.websocket.WebSocketProtocol13:
        protocol._read_bytes = types.MethodType(_buffered_read_bytes, protocol)  # type: ignore[method-assign]


async def _buffered_read_bytes(protocol: tornado.websocket.WebSocketProtocol13, n: int) -> bytes:
    """WebSocketProtocol13._read_bytes (the frame loop's one reader of the stream), taking
    what its stream holds already without a read: a frame comes in one piece, so once its
    header is read, its mask and payload wait in the buffer (`_read_buffer_size` bytes,
    no read pending: `_read_future`), and each stream.read_bytes costs a future and some
    eight calls to hand them over; `_consume` hands them over directly. `_wire_bytes_in`
    counts what was read, as Tornado's own does (its frame loop yields by it)."""
    stream = protocol.stream
    assert stream is not None
    if 0 < n <= stream._read_buffer_size and stream._read_future is None:
        data = stream._consume(n)
    else:
        data = await stream.read_bytes(n)
    protocol._wire_bytes_in += n
    return data
