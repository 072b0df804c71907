"""Redis Cluster for RedisStore: the same commands and scripts as on one node, each sent
to the master that holds its slot.

- Every key of a player carries the hash tag {GAME:PLAYER} (store_redis.py), so each
  command and each script touches one slot: one master runs it atomically.
- Commands are pipelined as on one node: one AutoPipeline (one connection) per master.
- MOVED (the slot has another master now: failover, resharding): the command was not
  run, so it goes to the master the error names, and the slot map is read again in the
  background. ASK (the slot is migrating and the key has left): sent once to the target
  after ASKING. A lost link is not retried (StoreUnavailable: 503, the caller cannot
  know whether a commit ran), but the slot map is read again soon, in case the master
  was replaced.
- Pushes use sharded pub/sub: the commit script SPUBLISHes on the player's channel, and
  each process SSUBSCRIBEs on the master of that channel's slot, one PushHub (one
  connection) per master. redis-py's cluster pub/sub is not used: the store promises
  that a subscription is active when `subscribe` returns and that a callback hears of a
  gap (commits it missed), and it gives neither. When a channel's slot moves (the node
  ends the subscription, or the master stays unreachable while the map names another),
  the channel is subscribed on the new master and its callbacks get {"gap": True}.

RedisCluster (redis-py) only reads and keeps the slot map.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, TryAgainError

from .redis_links import UNAVAILABLE, PushHub, node_client
from .redis_pipeline import AutoPipeline, ReplyLost
from .store import Callback, Subscription

log = logging.getLogger(__name__)

SLOTS = 16384
REDIRECTS = 3  # MOVED answers followed for one command before giving up (503)
REFRESH_EVERY = 0.5  # seconds: the slot map is read at most this often after errors
WATCH_EVERY = 1.0  # seconds between looks at the map while a master's push link is down


class _Node:
    def __init__(self, url: str, timeout: float, connect_timeout: float) -> None:
        self.client = node_client(url=url, timeout=timeout, connect_timeout=connect_timeout)
        self.pipe = AutoPipeline(self.client)

    async def close(self) -> None:
        await self.pipe.close()
        await self.client.aclose()


class ClusterLink:
    def __init__(
        self, rc: RedisCluster, url: str, *, timeout: float, connect_timeout: float
    ) -> None:
        self._rc = rc
        self._url = urlsplit(url)  # each master is dialled as this URL, its address swapped in
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._nodes: dict[str, _Node] = {}
        self._moved: dict[int, str] = {}  # slot -> master named by a MOVED, until a refresh
        self._masters: tuple[Any, tuple, dict[str, list[int]]] | None = None  # masters()
        self._refreshed = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._hubs: dict[str, PushHub] = {}
        self._home: dict[bytes, str] = {}  # channel -> the master it is subscribed on
        self._sub_lock = asyncio.Lock()  # subscribing, unsubscribing and moving channels
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._orphans: set[bytes] = set()  # channels a master ended: they must move

    @classmethod
    async def open(cls, url: str, *, timeout: float, connect_timeout: float) -> ClusterLink:
        rc = RedisCluster.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=connect_timeout,
            # a master that is down (and not yet replaced) keeps its slots in the map;
            # slots nobody holds answer 503 rather than making the whole map unusable
            require_full_coverage=False,
        )
        try:
            await rc.initialize()
        except BaseException:
            await rc.aclose()
            raise
        return cls(rc, url, timeout=timeout, connect_timeout=connect_timeout)

    # -- commands --

    def _addr(self, key: str | bytes) -> str:
        """The master ("host:port") that holds `key`'s slot."""
        slot = self._rc.keyslot(key)
        return self._moved.get(slot) or self._rc.nodes_manager.get_node_from_slot(slot).name

    def addr_of_slot(self, slot: int) -> str:
        """The master that holds `slot`, as the map (and MOVED answers since) say."""
        return self._moved.get(slot) or self._rc.nodes_manager.get_node_from_slot(slot).name

    def masters(self) -> dict[str, list[int]]:
        """Each master, and the slots it holds as the map (and MOVED answers since) say;
        slots no master holds are left out. Made again only when the map changed."""
        cache = self._rc.nodes_manager.slots_cache
        moved = tuple(sorted(self._moved.items()))
        if self._masters is None or self._masters[0] is not cache or self._masters[1] != moved:
            out: dict[str, list[int]] = {}
            for slot in range(SLOTS):
                addr = self._moved.get(slot)
                if addr is None:
                    nodes = cache.get(slot)
                    if not nodes:
                        continue
                    addr = nodes[0].name
                out.setdefault(addr, []).append(slot)
            self._masters = (cache, moved, out)
        return self._masters[2]

    async def execute_at(self, addr: str, *args: Any) -> Any:
        """A command for master `addr` itself (a script that declares no keys)."""
        try:
            return await self._node(addr).pipe.execute(*args)
        except UNAVAILABLE:
            self._refresh_soon()  # the master may have been replaced
            raise

    def _node(self, addr: str) -> _Node:
        node = self._nodes.get(addr)
        if node is None:
            # the same user, password and TLS (rediss://) as the URL given, database 0
            userinfo = self._url.netloc.rpartition("@")[0]
            netloc = f"{userinfo}@{addr}" if userinfo else addr
            url = urlunsplit(self._url._replace(netloc=netloc, path="/0"))
            node = self._nodes[addr] = _Node(url, self._timeout, self._connect_timeout)
        return node

    async def execute(self, key: str, *args: Any) -> Any:
        for _ in range(REDIRECTS + 1):
            addr = self._addr(key)
            try:
                return await self._node(addr).pipe.execute(*args)
            except MovedError as e:  # not run: send it where the cluster says
                self._moved[e.slot_id] = f"{e.host}:{e.port}"
                self._refresh_soon(force=True)
            except AskError as e:
                return await self._asking(f"{e.host}:{e.port}", args)
            except UNAVAILABLE:
                self._refresh_soon()  # the master may have been replaced
                raise
        raise TryAgainError(f"the slot of {key!r} kept moving")

    async def _asking(self, addr: str, args: tuple[Any, ...]) -> Any:
        """One command on a slot being imported by `addr`: ASKING lets the next command
        on the same connection in, so both go on a connection of their own."""
        conn = self._node(addr).client.connection_pool.make_connection()
        try:
            await conn.connect()
            try:
                await conn.send_packed_command(conn.pack_commands([("ASKING",), args]))
                await conn.read_response()
                return await conn.read_response()
            except UNAVAILABLE as e:  # it went out: it may have run (as AutoPipeline says)
                raise ReplyLost(f"{e}; the command was sent") from e
        finally:
            await conn.disconnect()

    def _refresh_soon(self, *, force: bool = False) -> None:
        """Read the slot map again in the background (at most every REFRESH_EVERY s)."""
        if self._refreshing is not None:
            return
        if not force and time.monotonic() - self._refreshed < REFRESH_EVERY:
            return
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        try:
            await self._rc.nodes_manager.initialize()
            self._moved.clear()
        except Exception as e:  # no node answered: the next error asks again
            log.warning("could not read the cluster's slot map: %s", e)
        finally:
            self._refreshed = time.monotonic()
            self._refreshing = None

    async def ping(self) -> None:
        """Every master answers (a master down means some players get 503)."""
        masters = [n.name for n in self._rc.get_primaries()]
        await asyncio.gather(*(self._node(a).client.ping() for a in masters))

    # -- pushes --

    def _hub(self, addr: str) -> PushHub:
        hub = self._hubs.get(addr)
        if hub is None:
            hub = self._hubs[addr] = PushHub(
                self._node(addr).client,
                sharded=True,
                timeout=self._timeout,
                on_lost=lambda: self._watch(addr),
                on_dropped=lambda ch: self._dropped(addr, ch),
            )
        return hub

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        ch = channel.encode()
        async with self._sub_lock:
            addr = self._home.get(ch) or self._addr(ch)
            try:
                await self._hub(addr).subscribe(ch, callback)
            except UNAVAILABLE:
                self._refresh_soon()
                raise
            self._home[ch] = addr
        return _ClusterSubscription(self, ch, callback)

    async def unsubscribe(self, ch: bytes, callback: Callback) -> None:
        async with self._sub_lock:
            addr = self._home.get(ch)
            if addr is None:
                return
            hub = self._hubs[addr]
            with contextlib.suppress(*UNAVAILABLE):
                await hub.unsubscribe(ch, callback)
            if not hub.callbacks(ch):
                del self._home[ch]
                self._orphans.discard(ch)

    def _dropped(self, addr: str, ch: bytes) -> None:
        if self._home.get(ch) == addr:
            self._orphans.add(ch)  # moved however the map reads: addr will not have it
        self._watch(addr)

    def _watch(self, addr: str) -> None:
        """A master's push link broke, or it ended a subscription: look for channels
        whose slot moved, until the link is back and no channel is left without a home."""
        if addr not in self._watches:
            self._watches[addr] = asyncio.get_running_loop().create_task(self._watching(addr))

    async def _watching(self, addr: str) -> None:
        hub = self._hubs[addr]
        try:
            while True:
                await asyncio.sleep(0.1 if self._orphans else WATCH_EVERY)
                await self._refresh()
                await self._move_channels()
                orphaned = any(self._home.get(ch) == addr for ch in self._orphans)
                if (hub.healthy or not hub.channels()) and not orphaned:
                    return
        finally:
            self._watches.pop(addr, None)

    def _safe_addr(self, ch: bytes) -> str | None:
        try:
            return self._addr(ch)
        except UNAVAILABLE:
            return None

    async def _move_channels(self) -> None:
        async with self._sub_lock:
            for ch, old in list(self._home.items()):
                new = self._safe_addr(ch)
                if new is None or new == old:
                    continue
                callbacks = self._hubs[old].callbacks(ch)
                try:
                    for callback in callbacks:
                        await self._hub(new).subscribe(ch, callback)
                except UNAVAILABLE as e:
                    log.warning("could not move a push channel to %s: %s", new, e)
                    continue  # the next look tries again
                await self._hubs[old].forget(ch)
                self._home[ch] = new
                self._orphans.discard(ch)
                log.info("push channel %s moved from %s to %s", ch.decode(), old, new)
                for callback in callbacks:  # commits made meanwhile were not delivered
                    with contextlib.suppress(Exception):
                        callback({"gap": True})

    async def close(self) -> None:
        for task in [*self._watches.values(), self._refreshing]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for hub in self._hubs.values():
            await hub.close()
        for node in self._nodes.values():
            await node.close()
        await self._rc.aclose()


class _ClusterSubscription(Subscription):
    def __init__(self, link: ClusterLink, ch: bytes, callback: Callback) -> None:
        self._link, self._ch, self._callback = link, ch, callback

    async def close(self) -> None:
        await self._link.unsubscribe(self._ch, self._callback)
