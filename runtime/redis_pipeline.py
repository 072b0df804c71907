"""Automatic pipelining: the Redis commands of many players share one connection and one
write, and their replies one read.

Sending each command on its own pooled connection costs a socket write, a read and the
client library's per-command work (about 100 µs of CPU a command on a small machine);
under load the server spent a fifth of its time there. Here commands queue up while two
writes are unanswered and then go out together as one write; another task reads the
replies in order. So Redis always has the next write waiting while it runs one (it and
the server work at the same time), writes grow with the load, and a command alone (no
load) goes out at once. The reading task takes whatever bytes have come (often the
replies of a whole write) and parses every complete reply in them with hiredis in a plain
loop: redis-py's read_response costs a timeout, several parser layers and an await per
reply.

Nothing about a command's meaning changes: Redis runs each one atomically and in the
order sent (a player's commands never overtake each other), a command's error reply
fails that command only, and when the link fails every command not yet answered fails
with a connection error (as on a pooled connection: nothing is retried behind the
caller's back, so a commit whose reply was lost is never sent twice). A command that was
written, or may have been, fails with ReplyLost: Redis may have run it (a reply timeout:
Redis was slow, not down). One that was never written fails with a plain connection
error: Redis cannot have run it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .redis_private import connection_stream, error_reply_mapper, host_error

_Pending = tuple[tuple[Any, ...], asyncio.Future[Any]]


class ReplyLost(RedisConnectionError):
    """The command was written to Redis (or may have been, in part) and its reply will not
    come: the link broke or the reply timed out. Redis may have run it, or not."""


READ_SIZE = 65536  # bytes asked of the socket at a time, as redis-py does
INCOMPLETE = object()  # what hiredis.Reader.gets() returns while no reply is complete
_PUSH = getattr(hiredis, "PushNotification", None)  # a RESP3 push (hiredis >= 3.2)


def reply_parser(conn: AbstractConnection) -> hiredis.Reader:
    """A parser of RESP replies as bytes. An error reply comes out as the exception redis-py
    raises for it (NOSCRIPT as NoScriptError...): the connection's own parser maps them."""
    return hiredis.Reader(replyError=error_reply_mapper(conn), notEnoughData=INCOMPLETE)


# Writes whose replies are not all in yet: Redis runs one while the next waits in its
# socket, and what comes meanwhile queues up for a bigger write (fewer system calls).
MAX_WRITES = 2


class _Link:
    """One connection, and the futures of the replies still owed on it, in sent order."""

    def __init__(self, conn: AbstractConnection) -> None:
        self.conn = conn
        self.stream = connection_stream(conn)
        self.parser = reply_parser(conn)  # fresh per connection: no stale bytes
        self.owed: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.writes: collections.deque[int] = collections.deque()  # replies owed per write
        self.room = asyncio.Event()  # set when a write is answered in full, or the link broke
        self.reader: asyncio.Task[None] | None = None


class AutoPipeline:
    """Raw commands (`execute("HGETALL", key)`), replies as hiredis parses them: bytes (the
    client's decode_responses is not applied), no response callbacks, so HGETALL may come
    back as a flat list (RESP2) or a dict (RESP3).

    One task writes (what was queued meanwhile, as one write), another reads the replies
    in order, so Redis runs one write's commands while the next is on its way."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._pool = redis.connection_pool
        self._link: _Link | None = None
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()  # disconnects of broken links
        self._closed = False

    def execute(self, *args: Any) -> asyncio.Future[Any]:
        """The reply to come (a plain future, not a coroutine: one frame less on the path
        every command takes)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._closed:
            future.set_exception(RedisConnectionError("the store is closed"))
            return future
        self._queue.append((args, future))
        if self._writer is None:
            self._writer = loop.create_task(self._write(), name="rulesc-redis-writer")
        return future

    async def _write(self) -> None:
        try:
            while self._queue:
                try:
                    link = await self._connected()
                except Exception as e:
                    batch, self._queue = self._queue, []
                    _fail([f for _, f in batch], e)
                    continue
                while len(link.writes) >= MAX_WRITES and self._link is link:
                    link.room.clear()
                    await link.room.wait()
                if self._link is not link:
                    continue  # it broke meanwhile: dial again
                batch, self._queue = self._queue, []
                packed, futures = _pack_batch(batch)
                if not futures:
                    continue
                link.owed.extend(futures)
                link.writes.append(len(futures))
                if link.reader is None:
                    link.reader = asyncio.get_running_loop().create_task(self._read(link))
                try:
                    await link.conn.send_packed_command(packed, check_health=False)
                except Exception as e:
                    self._broken(link, e)
        finally:
            self._writer = None

    async def _read(self, link: _Link) -> None:
        """Read the replies owed on `link` in chunks, and answer each command in order.
        A read that gets nothing for socket_timeout while replies are owed fails the link,
        as redis-py's read_response does."""
        timeout = link.conn.socket_timeout
        try:
            while link.owed:
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await link.stream.read(READ_SIZE)
                except TimeoutError:
                    host = host_error(link.conn)
                    raise RedisTimeoutError(f"Timeout reading from {host}") from None
                if not chunk:
                    raise RedisConnectionError("Connection closed by server.")
                link.parser.feed(chunk)
                while (reply := link.parser.gets()) is not INCOMPLETE:
                    if type(reply) is not _PUSH:  # a RESP3 push answers no command
                        _answer(link, reply)
        except Exception as e:
            self._broken(link, e)
        finally:
            link.reader = None

    async def _connected(self) -> _Link:
        link = self._link
        if link is not None and not link.owed and (link.stream.at_eof() or link.stream.exception()):
            # closed by Redis while idle (a restart, a kill): nothing was written on it, so
            # dial again rather than write into a dead socket and call the outcome unknown
            self._broken(link, RedisConnectionError("Connection closed by server."))
        if self._link is None:
            # a connection of our own, outside the pool: after a failure it is dropped
            # with its reader, and a fresh one never sees the old one's late replies
            conn = self._pool.make_connection()
            await conn.connect()
            self._link = _Link(conn)
        return self._link

    def _broken(self, link: _Link, error: BaseException) -> None:
        """The link failed: every reply still owed on it fails, and the next command
        dials a new connection."""
        if self._link is link:
            self._link = None
        owed, link.owed = list(link.owed), collections.deque()
        link.writes.clear()
        link.room.set()  # a writer waiting for room dials again
        _fail(owed, error, written=True)
        if link.reader is not None and link.reader is not asyncio.current_task():
            link.reader.cancel()
        # closes the socket (a reply that comes late is never read)
        task = asyncio.get_running_loop().create_task(link.conn.disconnect(nowait=True))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        self._closed = True
        reader = self._link.reader if self._link is not None else None
        tasks = [t for t in (self._writer, reader) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        closed = RedisConnectionError("the store is closed")
        _fail([f for _, f in self._queue], closed)
        self._queue = []
        if self._link is not None:
            link, self._link = self._link, None
            _fail(list(link.owed), closed, written=True)
            with contextlib.suppress(Exception):
                await link.conn.disconnect()


def _pack_batch(batch: list[_Pending]) -> tuple[bytes, list[asyncio.Future[Any]]]:
    """The batch as one write, and the futures of the commands in it."""
    packed: list[bytes] = []
    futures: list[asyncio.Future[Any]] = []
    for args, future in batch:
        try:
            packed.append(pack_command(args))
        except DataError as e:  # a bad argument fails its own command, not the batch
            future.set_exception(e)
            continue
        futures.append(future)
    return b"".join(packed), futures


def _answer(link: _Link, reply: Any) -> None:
    """The next command owed on `link` gets `reply`."""
    if not link.owed:
        raise RedisConnectionError("redis sent a reply no command was owed")
    if isinstance(reply, Exception):
        if not isinstance(reply, ResponseError):
            raise reply  # e.g. "max number of clients reached": the link is no good
        _settle(link.owed.popleft(), error=reply)  # this command's error; the link is fine
    else:
        _settle(link.owed.popleft(), reply)
    link.writes[0] -= 1
    if not link.writes[0]:
        link.writes.popleft()
        link.room.set()


def _settle(future: asyncio.Future[Any], reply: Any = None, error: Exception | None = None) -> None:
    if future.done():  # a caller that gave up: its reply is dropped
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(reply)


def pack_command(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (an array of bulk strings), packed by hiredis (in C: half the
    cost of doing it here, and a commit has a few dozen arguments). The store sends bytes,
    str and int; hiredis refuses what it cannot send (None, a bool) with a TypeError."""
    try:
        return hiredis.pack_command(args)
    except TypeError as e:
        raise DataError(f"cannot send that to redis: {e}; arguments {args!r:.80}") from e


def _fail(
    futures: list[asyncio.Future[Any]], error: BaseException, *, written: bool = False
) -> None:
    """Fail each future; `written`: their commands went out (or may have): ReplyLost."""
    for future in futures:
        if not future.done():
            future.set_exception(_reply_lost(error) if written else _link_error(error))


def _reply_lost(error: BaseException) -> BaseException:
    if isinstance(
        error,
        (RedisTimeoutError, TimeoutError, RedisConnectionError, OSError, asyncio.CancelledError),
    ):
        return ReplyLost(f"{error or 'the link to redis was lost'}; the command was sent")
    return error


def _link_error(error: BaseException) -> BaseException:
    """A fresh exception per caller (one raised in many tasks would share a traceback),
    of the kind a pooled connection raises, so callers map it to "unavailable" alike."""
    if isinstance(error, (RedisTimeoutError, TimeoutError)):
        return RedisTimeoutError(str(error) or "timeout talking to redis")
    if isinstance(error, (RedisConnectionError, OSError, asyncio.CancelledError)):
        return RedisConnectionError(str(error) or "the link to redis was lost")
    return error
