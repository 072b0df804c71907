"""Every use of redis-py's private names, in one place.

The store lets redis-py connect (TCP, TLS or a Unix socket; AUTH, SELECT, HELLO) and then
reads the connection's replies itself, in chunks parsed with hiredis (redis_pipeline.py,
redis_links.py): redis-py's per-reply read_response and its PubSub machinery cost a
timeout, several parser layers and an await per reply, about 26 µs of an `act` (see
"What this work changed" in docs/benchmarks.md). redis-py has no public way to hand over
a connected socket, so the few names below are its own. Each is read once per
connection (or on a timeout), never per reply.

tests/test_third_party_private.py checks that each name below exists, with the kind
used here, on the installed redis-py: an upgrade that moves one fails there, naming it.
pyproject.toml pins redis-py below its next major; raise it only once that test and the
store tests pass on the new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from redis.asyncio.connection import AbstractConnection


def connection_stream(conn: AbstractConnection) -> asyncio.StreamReader:
    """The connected `conn`'s socket stream, to read replies from directly: redis-py keeps
    it in `_reader` (its TCP, TLS and Unix socket connections alike). Checked, so that a
    redis-py that moves it fails at connect instead of being misread."""
    stream = getattr(conn, "_reader", None)
    if not isinstance(stream, asyncio.StreamReader):
        raise RuntimeError("redis-py's connection keeps no asyncio stream in `_reader`")
    return stream


def error_reply_mapper(conn: AbstractConnection) -> Callable[[str], Exception]:
    """The exception redis-py raises for an error reply's text (NOSCRIPT as NoScriptError,
    MOVED as MovedError...): `parse_error` of the connection's parser (`_parser`), so our
    hiredis reader raises what redis-py's own would."""
    return conn._parser.parse_error


def host_error(conn: AbstractConnection) -> str:
    """The address redis-py names in its own errors (`_host_error`), for a read timeout
    worded as redis-py words it."""
    return conn._host_error()
