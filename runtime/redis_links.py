"""The links RedisStore talks through: to one Redis node (here), or to a Redis Cluster
(redis_cluster.py). The store holds the scripts and their meaning; a link only carries
commands to the node that holds their key and brings pushes back.

A link has `execute(key, *args)` (a raw command, routed by `key`; replies as
AutoPipeline gives them), `subscribe(channel, callback)`, `ping()` and `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import hiredis
import orjson
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .redis_pipeline import (
    INCOMPLETE,
    READ_SIZE,
    AutoPipeline,
    ReplyLost,
    pack_command,
    reply_parser,
)
from .redis_private import connection_stream
from .store import Callback, StoreOutcomeUnknown, StoreUnavailable, Subscription, deliver

log = logging.getLogger(__name__)

# Errors that mean "the store cannot take the call now" rather than a bug: answer 503.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # includes LOADING (BusyLoadingError)
    RedisTimeoutError,
    OSError,
    ReadOnlyError,
    OutOfMemoryError,
    ClusterDownError,  # includes MASTERDOWN
    TryAgainError,  # a slot is being migrated, or a failover is under way
    SlotNotCoveredError,
    RedisClusterException,  # the cluster client found no node to ask
)


# Error replies that mean "not now" too: a script running too long on the node (BUSY), a
# master that lost the replicas min-replicas-to-write asks for (NOREPLICAS; a script that
# meets it has written nothing: its reads come first).
_NOT_NOW = ("BUSY", "NOREPLICAS")


def refused_for_now(error: ResponseError) -> bool:
    return str(error).startswith(_NOT_NOW)


P = ParamSpec("P")
T = TypeVar("T")


def unavailable(error: Exception, *, write: bool = False) -> StoreUnavailable | None:
    """The StoreUnavailable (503) a Redis error means: the link failed, or Redis refuses
    the call for now (BUSY, NOREPLICAS: nothing was written). None for any other error.
    `write`: the call decides actions (a commit, a remember); when it went out and its
    reply was lost (ReplyLost) it may have run: StoreOutcomeUnknown."""
    if write and isinstance(error, ReplyLost):
        return StoreOutcomeUnknown(f"redis: {error}")
    if isinstance(error, UNAVAILABLE) or (
        isinstance(error, ResponseError) and refused_for_now(error)
    ):
        return StoreUnavailable(f"redis: {error}")
    return None


def unavailable_on_error(
    fn: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """A store call whose link fails, or that Redis refuses for now, raises StoreUnavailable (503)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except Exception as e:
            failure = unavailable(e)
            if failure is None:
                raise
            raise failure from e

    return wrapper


def node_client(*, url: str, timeout: float, connect_timeout: float) -> aioredis.Redis:
    """A client of one node. No client-side retries: a command fails fast into
    StoreUnavailable (503), and a commit whose reply was lost is never sent twice behind
    the caller's back."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        socket_keepalive=True,  # find half-open links, the pub/sub one included
        retry=Retry(NoBackoff(), 0),
    )


async def is_cluster(url: str, *, timeout: float, connect_timeout: float) -> bool:
    """Whether the node at `url` is a member of a Redis Cluster (INFO cluster)."""
    client = node_client(url=url, timeout=timeout, connect_timeout=connect_timeout)
    try:
        info = await client.info("cluster")
    finally:
        await client.aclose()
    return bool(info.get("cluster_enabled"))


class SingleNode:
    """One Redis: every command on one pipelined connection (redis_pipeline.py), pushes
    on one pub/sub connection."""

    def __init__(self, url: str, *, sharded: bool, timeout: float, connect_timeout: float) -> None:
        self._redis = node_client(url=url, timeout=timeout, connect_timeout=connect_timeout)
        # the calls of every request (load, commit, remember, lookup) share one connection
        # and go out together: see redis_pipeline.py
        self._pipe = AutoPipeline(self._redis)
        self._hub = PushHub(self._redis, sharded=sharded, timeout=timeout)

    def execute(self, key: str, *args: Any) -> Awaitable[Any]:
        return self._pipe.execute(*args)  # one node holds every key

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        return await self._hub.subscribe(channel, callback)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._pipe.close()
        await self._hub.close()
        await self._redis.aclose()


class PushHub:
    """One pub/sub connection to one node, shared by every subscription to that node.

    The hub sends (S)SUBSCRIBE and (S)UNSUBSCRIBE itself on a connection of its own, and
    one task reads the pushes: whatever bytes have come, every complete push in them
    parsed with hiredis in a plain loop (redis-py's PubSub.get_message costs several
    layers and an await per message).

    When the link breaks, `on_lost` is called, every channel is marked as having missed
    messages, and the hub dials again with backoff and subscribes every channel it still
    holds; each hears {"gap": True} once its subscription is confirmed. `on_dropped(channel)`
    is called when the node itself ends a subscription we still hold (Redis does so for
    sharded channels whose slot moved to another node): a cluster uses both to find the
    channel's new node (redis_cluster.py)."""

    def __init__(
        self,
        r: aioredis.Redis,
        *,
        sharded: bool,
        timeout: float,
        on_lost: Callable[[], None] | None = None,
        on_dropped: Callable[[bytes], None] | None = None,
    ) -> None:
        self._pool = r.connection_pool
        self._sub = b"SSUBSCRIBE" if sharded else b"SUBSCRIBE"
        self._unsub = b"SUNSUBSCRIBE" if sharded else b"UNSUBSCRIBE"
        self._timeout = timeout
        self._on_lost, self._on_dropped = on_lost, on_dropped
        self._callbacks: dict[bytes, list[Callback]] = {}
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._gap: set[bytes] = set()  # channels to tell about missed messages
        self._wanted: set[bytes] = set()  # channels to subscribe on the node (again, after a break)
        self._lock = asyncio.Lock()  # subscribing, unsubscribing and dialling
        self._conn: AbstractConnection | None = None  # None while the link is down
        self._reader: asyncio.Task[None] | None = None  # reads _conn, or dials again
        self._closed = False
        self.healthy = True  # False from a broken link until a message comes again

    async def subscribe(self, channel: str | bytes, callback: Callback) -> Subscription:
        ch = channel.encode() if isinstance(channel, str) else channel
        async with self._lock:
            if ch in self._callbacks:
                self._callbacks[ch].append(callback)
                return _HubSubscription(self, ch, callback)
            confirmed = asyncio.get_running_loop().create_future()
            self._confirm[ch] = confirmed
            self._wanted.add(ch)
            try:
                if self._conn is None:
                    await self._dial()  # subscribes every wanted channel, this one too
                else:
                    await self._send(self._sub, ch)
                # Wait for the server's confirmation: a commit made after we return is seen.
                await asyncio.wait_for(asyncio.shield(confirmed), self._timeout)
            except BaseException:
                self._confirm.pop(ch, None)
                self._wanted.discard(ch)
                raise
            self._callbacks[ch] = [callback]
            return _HubSubscription(self, ch, callback)

    async def unsubscribe(self, ch: bytes, callback: Callback) -> None:
        async with self._lock:
            callbacks = self._callbacks.get(ch)
            if not callbacks or callback not in callbacks:
                return
            callbacks.remove(callback)
            if callbacks:
                return
            del self._callbacks[ch]
            self._gap.discard(ch)
            self._wanted.discard(ch)  # so a reconnect does not subscribe it again
            if self._conn is not None:
                await self._send(self._unsub, ch)

    def channels(self) -> list[bytes]:
        return list(self._callbacks)

    def callbacks(self, ch: bytes) -> list[Callback]:
        return list(self._callbacks.get(ch, ()))

    async def forget(self, ch: bytes) -> None:
        """Stop holding `ch` here, without telling the node (it moved elsewhere)."""
        async with self._lock:
            self._callbacks.pop(ch, None)
            self._gap.discard(ch)
            self._wanted.discard(ch)

    async def _send(self, *args: bytes) -> None:
        conn = self._conn
        # redis-py would quietly dial a closed connection again, with no one reading it
        if conn is None or not conn.is_connected:
            raise RedisConnectionError("the push link to redis is down")
        await conn.send_packed_command(pack_command(args), check_health=False)

    async def _dial(self) -> None:
        """Connect, subscribe every wanted channel and start reading. Under the lock."""
        # a connection of our own, outside the pool, as AutoPipeline's
        conn = self._pool.make_connection()
        try:
            await conn.connect()
            stream, parser = connection_stream(conn), reply_parser(conn)
            if self._wanted:  # one command each: a cluster refuses channels of two slots in one
                packed = b"".join(pack_command((self._sub, ch)) for ch in self._wanted)
                await conn.send_packed_command(packed, check_health=False)
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)
            raise
        self._conn = conn
        old, self._reader = (
            self._reader,
            asyncio.create_task(self._read(conn, stream, parser), name="rulesc-push-reader"),
        )
        if old is not None and old is not asyncio.current_task():
            old.cancel()  # the reader of a lost link, waiting to dial again: done here

    async def _read(
        self, conn: AbstractConnection, stream: asyncio.StreamReader, parser: hiredis.Reader
    ) -> None:
        """Dispatch the pushes that come on `conn` until it breaks; then dial again."""
        try:
            while True:
                chunk = await stream.read(READ_SIZE)
                if not chunk:
                    raise RedisConnectionError("Connection closed by server.")
                parser.feed(chunk)
                while (push := parser.gets()) is not INCOMPLETE:
                    if isinstance(push, ResponseError):  # a (S)SUBSCRIBE refused, e.g. MOVED
                        self._trouble(f"redis refused a push subscription ({push})")
                    elif isinstance(push, Exception):
                        raise push
                    else:
                        self.healthy = True
                        self._dispatch(push)
        except Exception as e:
            error = e
        if self._conn is conn:
            self._conn = None
        self._trouble(f"push link to redis lost ({error}); reconnecting")
        self._gap.update(self._callbacks)
        for confirmed in self._confirm.values():  # a subscribe under way fails now
            if not confirmed.done():
                confirmed.set_exception(RedisConnectionError(f"push link to redis lost ({error})"))
        with contextlib.suppress(Exception):
            await conn.disconnect(nowait=True)
        await self._redial()

    async def _redial(self) -> None:
        """Dial again with backoff, until the link is up or no channel is wanted here."""
        delay = 0.05
        while True:
            await asyncio.sleep(delay)
            async with self._lock:
                if self._closed or self._conn is not None or not self._wanted:
                    return  # a subscribe dialled meanwhile, or nothing to subscribe again
                try:
                    await self._dial()
                    return
                except Exception as e:
                    log.debug("push link to redis still down: %s", e)
            delay = min(delay * 2, 2.0)

    def _trouble(self, message: str) -> None:
        if self.healthy:
            log.warning(message)
            self.healthy = False
            if self._on_lost is not None:
                self._on_lost()

    def _dispatch(self, push: list[Any]) -> None:
        """One push as hiredis gives it: [kind, channel, data] (bytes)."""
        if len(push) != 3:
            return  # not pub/sub: a RESP3 notification
        kind, ch, data = push
        if kind == b"message" or kind == b"smessage":
            try:
                message = orjson.loads(data)
            except orjson.JSONDecodeError:
                log.warning("a push on %r is not JSON: %.60r", ch, data)
                return
            self._deliver(ch, message)
        elif kind == b"subscribe" or kind == b"ssubscribe":
            confirmed = self._confirm.pop(ch, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            if ch in self._gap:
                self._gap.discard(ch)
                self._deliver(ch, {"gap": True})
        elif kind == b"sunsubscribe" and ch in self._callbacks and self._on_dropped is not None:
            self._wanted.discard(ch)  # the node ended it: never subscribe it here again
            self._on_dropped(ch)

    def _deliver(self, ch: bytes, message: dict) -> None:
        deliver(list(self._callbacks.get(ch, ())), message)

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await conn.disconnect()


class _HubSubscription(Subscription):
    def __init__(self, hub: PushHub, ch: bytes, callback: Callback) -> None:
        self._hub, self._ch, self._callback = hub, ch, callback

    async def close(self) -> None:
        with contextlib.suppress(*UNAVAILABLE):
            await self._hub.unsubscribe(self._ch, self._callback)
