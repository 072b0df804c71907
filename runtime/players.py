"""Per-player bookkeeping inside one process: one writer at a time, and a warm state cache.

The lock serialises a player's batches in this process (the store's version check covers
other processes). The cache saves the load before a commit; the store's version decides,
so a stale entry costs one "conflict" answer and a reload, never a wrong write.
"""

from __future__ import annotations

import asyncio
import collections
from collections import OrderedDict
from collections.abc import Awaitable

Key = tuple[str, str]  # (game, player)


class PlayerLocks:
    """One lock per player, FIFO, as large as the number of players acting right now.

    Not an asyncio.Lock per player: every action takes one, and making a Lock (and its
    entry) each time cost more than the rest of this. A free player costs one dict entry
    while held; only a player held already gets a queue, of futures handed on in order."""

    def __init__(self) -> None:
        # key -> the waiters after the holder (an entry exists while someone holds it)
        self._held: dict[Key, collections.deque[asyncio.Future[None]]] = {}

    def hold(self, key: Key) -> _Hold:
        """`async with locks.hold(key):` FIFO: batches of one player apply in arrival order."""
        return _Hold(self, key)

    def acquire(self, key: Key) -> Awaitable[None] | None:
        """Hold `key` now and return None when it is free; else what to await for one's
        turn (no coroutine for a free player: most actions)."""
        waiters = self._held.get(key)
        if waiters is None:
            self._held[key] = _NO_WAITERS
            return None
        return self._wait(key, waiters)

    async def _wait(self, key: Key, waiters: collections.deque[asyncio.Future[None]]) -> None:
        if waiters is _NO_WAITERS:
            waiters = self._held[key] = collections.deque()
        turn = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            await turn  # handed over by release(): we hold it now
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release(key)  # it was handed to us as we gave up: pass it on
            elif turn in waiters:  # (release may have passed over it already)
                waiters.remove(turn)
            raise

    def release(self, key: Key) -> None:
        waiters = self._held[key]
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the next holder
                return
        del self._held[key]

    def __len__(self) -> int:
        return len(self._held)


_NO_WAITERS: collections.deque = collections.deque(maxlen=0)  # shared: nobody ever waits in it


class _Hold:
    """The context manager of PlayerLocks.hold (a plain class: cheaper than a generator-
    based one on a path every action takes)."""

    __slots__ = ("_locks", "_key")

    def __init__(self, locks: PlayerLocks, key: Key) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        turn = self._locks.acquire(self._key)
        if turn is not None:
            await turn

    async def __aexit__(self, *exc: object) -> None:
        self._locks.release(self._key)


class StateCache:
    """player -> (version, state), least recently used dropped past `size` entries.

    States are never mutated once cached (the engine copies before it writes); None is a
    player with no state yet."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._entries: OrderedDict[Key, tuple[int, dict | None]] = OrderedDict()

    def get(self, key: Key) -> tuple[int, dict | None] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, version: int, state: dict | None) -> None:
        if self._size <= 0:
            return
        self._entries[key] = (version, state)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def offer(self, key: Key, version: int, state: dict | None) -> None:
        """Cache a state read outside the player's lock, unless a newer one is cached."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < version:
            self.put(key, version, state)

    def drop(self, key: Key) -> None:
        self._entries.pop(key, None)

    def drop_if_older(self, key: Key, version: int) -> None:
        """A push told us the stored version; a cached older one is stale."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] < version:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
