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

import orjson
import redis.asyncio as aioredis
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

from .redis_pipeline import AutoPipeline
from .store import Callback, StoreUnavailable, Subscription

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


def unavailable_on_error(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """A store call whose link fails, or that Redis refuses for now, raises StoreUnavailable (503)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except UNAVAILABLE as e:
            raise StoreUnavailable(f"redis: {e}") from e
        except ResponseError as e:
            if refused_for_now(e):  # BUSY, NOREPLICAS: nothing was written
                raise StoreUnavailable(f"redis: {e}") from e
            raise

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

    `on_lost` is called when the link breaks (redis-py then reconnects and subscribes
    again), and `on_dropped(channel)` when the node itself ends a subscription we still
    hold (Redis does so for sharded channels whose slot moved to another node): a cluster
    uses them to find the channel's new node (redis_cluster.py)."""

    def __init__(
        self,
        r: aioredis.Redis,
        *,
        sharded: bool,
        timeout: float,
        on_lost: Callable[[], None] | None = None,
        on_dropped: Callable[[bytes], None] | None = None,
    ) -> None:
        self._pubsub = r.pubsub()
        self._sharded = sharded
        self._timeout = timeout
        self._on_lost, self._on_dropped = on_lost, on_dropped
        self._callbacks: dict[bytes, list[Callback]] = {}
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._gap: set[bytes] = set()  # channels to tell about missed messages
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self.healthy = True  # False from a broken link until a message comes again

    async def subscribe(self, channel: str | bytes, callback: Callback) -> Subscription:
        ch = channel.encode() if isinstance(channel, str) else channel
        async with self._lock:
            if ch in self._callbacks:
                self._callbacks[ch].append(callback)
                return _HubSubscription(self, ch, callback)
            confirmed = asyncio.get_running_loop().create_future()
            self._confirm[ch] = confirmed
            try:
                if self._sharded:
                    await self._pubsub.ssubscribe(ch)
                else:
                    await self._pubsub.subscribe(ch)
                if self._reader is None:
                    self._reader = asyncio.create_task(self._read(), name="rulesc-push-reader")
                # Wait for the server's confirmation: a commit made after we return is seen.
                await asyncio.wait_for(asyncio.shield(confirmed), self._timeout)
            except BaseException:
                self._confirm.pop(ch, None)
                self._drop_channel(ch)
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
            try:
                if self._sharded:
                    await self._pubsub.sunsubscribe(ch)
                else:
                    await self._pubsub.unsubscribe(ch)
            except UNAVAILABLE:
                self._drop_channel(ch)  # so a reconnect does not subscribe it again

    def channels(self) -> list[bytes]:
        return list(self._callbacks)

    def callbacks(self, ch: bytes) -> list[Callback]:
        return list(self._callbacks.get(ch, ()))

    async def forget(self, ch: bytes) -> None:
        """Stop holding `ch` here, without telling the node (it moved elsewhere)."""
        async with self._lock:
            self._callbacks.pop(ch, None)
            self._gap.discard(ch)
            self._drop_channel(ch)

    def _drop_channel(self, ch: bytes) -> None:
        (self._pubsub.shard_channels if self._sharded else self._pubsub.channels).pop(ch, None)

    async def _read(self) -> None:
        delay = 0.05
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the link broke: redis-py reconnects and resubscribes
                if self.healthy:
                    log.warning("push link to redis lost (%s); reconnecting", e)
                    self.healthy = False
                    if self._on_lost is not None:
                        self._on_lost()
                self._gap.update(self._callbacks)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.05
            self.healthy = True
            if msg is not None:
                self._dispatch(msg)

    def _dispatch(self, msg: dict) -> None:
        ch, kind = msg["channel"], msg["type"]
        if kind in ("subscribe", "ssubscribe"):
            confirmed = self._confirm.pop(ch, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            if ch in self._gap:
                self._gap.discard(ch)
                self._deliver(ch, {"gap": True})
        elif kind in ("message", "smessage"):
            self._deliver(ch, orjson.loads(msg["data"]))
        elif kind == "sunsubscribe" and ch in self._callbacks and self._on_dropped is not None:
            self._drop_channel(ch)  # the node ended it: never subscribe it here again
            self._on_dropped(ch)

    def _deliver(self, ch: bytes, message: dict) -> None:
        for callback in list(self._callbacks.get(ch, ())):
            try:
                callback(message)
            except Exception:
                log.exception("push callback failed")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        with contextlib.suppress(*UNAVAILABLE):
            await self._pubsub.aclose()


class _HubSubscription(Subscription):
    def __init__(self, hub: PushHub, ch: bytes, callback: Callback) -> None:
        self._hub, self._ch, self._callback = hub, ch, callback

    async def close(self) -> None:
        with contextlib.suppress(*UNAVAILABLE):
            await self._hub.unsubscribe(self._ch, self._callback)
