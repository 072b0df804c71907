"""Automatic pipelining: the Redis commands of many players share one connection and one
write, and their replies one read.

Sending each command on its own pooled connection costs a socket write, a read and the
client library's per-command work (about 100 µs of CPU a command on a small machine);
under load the server spent a fifth of its time there. Here every command issued while
a batch is out is queued, and the queue goes out as one pipeline as soon as the replies
of the batch before it are in. A command alone (no load) goes out at once, so latency
only grows by the wait for the batch ahead.

Nothing about a command's meaning changes: Redis runs each one atomically and in the
order sent (a player's commands never overtake each other), a command's error reply
fails that command only, and when the link fails every command not yet answered fails
with a connection error (as on a pooled connection: nothing is retried behind the
caller's back, so a commit whose reply was lost is never sent twice).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_Pending = tuple[tuple[Any, ...], asyncio.Future[Any]]


class AutoPipeline:
    """Raw commands (`execute("HGETALL", key)`), replies as the parser gives them: no
    response callbacks, so HGETALL may come back as a flat list (RESP2) or a dict."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._pool = redis.connection_pool
        self._conn: AbstractConnection | None = None
        self._queue: list[_Pending] = []
        self._driver: asyncio.Task[None] | None = None
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        if self._closed:
            raise RedisConnectionError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((args, future))
        if self._driver is None:
            self._driver = loop.create_task(self._drive(), name="rulesc-redis-pipeline")
        return await future

    async def _drive(self) -> None:
        batch: list[_Pending] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    await self._round_trip(batch)
                except Exception as e:  # the link failed: what is unanswered fails
                    _fail(batch, e)
        except BaseException as e:  # cancelled by close()
            _fail(batch, e)
            raise
        finally:
            self._driver = None

    async def _round_trip(self, batch: list[_Pending]) -> None:
        conn = await self._connection()
        packed: list[bytes] = []
        sent: list[_Pending] = []
        for args, future in batch:
            try:
                packed.append(_pack(args))
            except DataError as e:  # a bad argument fails its own command, not the batch
                future.set_exception(e)
                continue
            sent.append((args, future))
        await conn.send_packed_command(b"".join(packed), check_health=False)
        for _, future in sent:
            try:
                reply = await conn.read_response()
            except ResponseError as e:  # this command's error reply; the link is fine
                if not future.done():
                    future.set_exception(e)
                continue
            if not future.done():  # a caller that gave up: its reply is dropped
                future.set_result(reply)

    async def _connection(self) -> AbstractConnection:
        if self._conn is None:
            self._conn = await self._pool.get_connection()  # connected, held for good
        elif not self._conn.is_connected:
            await self._conn.connect()  # it was dropped after an error: dial again
        return self._conn

    async def close(self) -> None:
        self._closed = True
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
        _fail(self._queue, RedisConnectionError("the store is closed"))
        self._queue = []
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.disconnect()
            await self._pool.release(conn)


def _pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (an array of bulk strings). redis-py's own packer costs several
    times more per command; the store only ever sends bytes, str and int arguments."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            arg = b"%d" % arg
        elif not isinstance(arg, bytes):
            raise DataError(f"cannot send a {type(arg).__name__} to redis: {arg!r:.40}")
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def _fail(batch: list[_Pending], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(_link_error(error))


def _link_error(error: BaseException) -> BaseException:
    """A fresh exception per caller (one raised in many tasks would share a traceback),
    of the kind a pooled connection raises, so callers map it to "unavailable" alike."""
    if isinstance(error, (RedisTimeoutError, TimeoutError)):
        return RedisTimeoutError(str(error) or "timeout talking to redis")
    if isinstance(error, (RedisConnectionError, OSError, asyncio.CancelledError)):
        return RedisConnectionError(str(error) or "the link to redis was lost")
    return error
