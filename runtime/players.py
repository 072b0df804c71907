"""Per-player bookkeeping inside one process: one writer at a time, and a warm state cache.

The lock serialises a player's batches in this process (the store's version check covers
other processes). The cache saves the load before a commit; the store's version decides,
so a stale entry costs one "conflict" answer and a reload, never a wrong write.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

Key = tuple[str, str]  # (game, player)


class PlayerLocks:
    """An asyncio.Lock per player, dropped as soon as nobody holds or waits for it, so
    the table is as large as the number of players acting right now."""

    def __init__(self) -> None:
        self._locks: dict[Key, tuple[asyncio.Lock, list[int]]] = {}

    def hold(self, key: Key) -> _Hold:
        """`async with locks.hold(key):` FIFO: batches of one player apply in arrival order."""
        return _Hold(self._locks, key)

    def __len__(self) -> int:
        return len(self._locks)


class _Hold:
    """The context manager of PlayerLocks.hold (a plain class: cheaper than a generator-
    based one on a path every action takes). A holder cancelled while it waits gives up
    its place and the lock entry as if it had held it."""

    __slots__ = ("_locks", "_key", "_lock", "_users")

    def __init__(self, locks: dict[Key, tuple[asyncio.Lock, list[int]]], key: Key) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        entry = self._locks.get(self._key)
        if entry is None:
            entry = self._locks[self._key] = (asyncio.Lock(), [0])
        self._lock, self._users = entry
        self._users[0] += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._done()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()
        self._done()

    def _done(self) -> None:
        self._users[0] -= 1
        if self._users[0] == 0:
            del self._locks[self._key]


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
