"""Which server processes listen to a player's pushes, so that a commit is published
through Redis only when a process other than the committing one listens.

Most players play on one device, connected to one process: that process made the commit,
and reading its own commit back from Redis (the publish, the pub/sub read, the parse) was
a tenth of its CPU per action. So each RedisStore has a random id, and while it holds a
subscription to a player's pushes its id is in the player's `here` sorted set, scored by
the Redis time (ms) at which the entry lapses; it renews the entry every `renew_every`
seconds, and a process that dies without leaving lapses after `ttl`. The commit script
publishes only when a live entry is not the committing process, and the committing
process delivers its commit to its own subscribers itself (`deliver`).

Order: a subscription enters `here` (after its channel is subscribed) and reads the
player's version in one script. A commit of another process after that script sees the
entry and publishes; a commit before it is within the version the subscription reports.
After the push link to Redis was lost, the entry is renewed at once (the outage may have
outlasted it): commits made meanwhile are the client's to resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from .store import Callback, deliver

log = logging.getLogger(__name__)

DEFAULT_TTL = 600.0  # seconds an entry outlives its process
DEFAULT_RENEW_EVERY = 120.0  # seconds between renewals: four chances before it lapses

# Redis's clock in ms, for both scripts below (entries lapse by it, not by a process's)
_NOW_MS_LUA = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# Returns the player's version, read in the same step as the entry is written.
HERE_LUA = (
    _NOW_MS_LUA
    + """
-- KEYS: 1 the player's listening processes (ZSET: id -> lapses at, Redis time in ms),
--   2 the player's state hash
-- ARGV: 1 this process's id, 2 ttl in ms: enter or renew; 0: leave
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), ARGV[1])
  -- the set lives as long as its longest entry (PTTL is -1 right after it was created)
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return tonumber(redis.call('HGET', KEYS[2], '@version') or '0')
"""
)

# The commit script's test (runtime/store_redis.py): does a live process other than `me`
# listen? ZRANGE ... LIMIT 0 2: if two live entries exist, one is not `me`.
OTHERS_LISTEN_LUA = (
    _NOW_MS_LUA
    + """
local function others_listen(here, me)
  if redis.call('EXISTS', here) == 0 then return false end
  local live = redis.call('ZRANGE', here, '(' .. string.format('%d', now_ms()), '+inf', 'BYSCORE',
    'LIMIT', 0, 2)
  for _, who in ipairs(live) do
    if who ~= me then return true end
  end
  return false
end
"""
)

# (keys, args) -> the script's reply: RedisStore runs HERE_LUA through it
Run = Callable[[list[str], list[Any]], Awaitable[Any]]


class Presence:
    """This process's entries in the players' `here` sets, and its local subscribers."""

    def __init__(
        self, run: Run, *, ttl: float = DEFAULT_TTL, renew_every: float = DEFAULT_RENEW_EVERY
    ) -> None:
        self.id = secrets.token_hex(8)
        self._run = run
        self._ttl_ms = max(1, round(ttl * 1000))
        self._renew_every = renew_every
        # player key prefix -> the callbacks subscribed here (what `deliver` calls)
        self._local: dict[str, list[Callback]] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._soon: set[str] = set()  # prefixes to renew at once (the push link came back)
        self._tasks: set[asyncio.Task[None]] = set()

    async def enter(self, prefix: str, callback: Callback) -> int:
        """Count `callback` as listening here and make sure the player's `here` set has
        this process; the player's version at that moment."""
        self._local.setdefault(prefix, []).append(callback)
        try:
            version = await self._here(prefix, self._ttl_ms)
        except BaseException:
            self._drop(prefix, callback)
            raise
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_all())
        return int(version)

    async def leave(self, prefix: str, callback: Callback) -> None:
        """`callback` stops listening; the last one here takes the process out of `here`
        (if that fails, the entry lapses by itself)."""
        if self._drop(prefix, callback) and prefix not in self._local:
            try:
                await self._here(prefix, 0)
            except Exception as e:
                log.info("leaving the listeners of %s: %s (the entry lapses)", prefix, e)

    def listening(self, prefix: str) -> bool:
        return prefix in self._local

    def deliver(self, prefix: str, message: dict) -> None:
        """A commit of this process that was not published: to the subscribers here, now
        (before the commit call returns, so the connection that acted can send the push
        with its answer)."""
        callbacks = self._local.get(prefix)
        if callbacks:
            deliver(list(callbacks), message)

    def renew_soon(self, prefix: str) -> None:
        """The push link was lost and is back: renew the entry now."""
        if prefix in self._soon or prefix not in self._local:
            return
        self._soon.add(prefix)
        task = asyncio.get_running_loop().create_task(self._renew_one(prefix))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = [t for t in (self._renewer, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._renewer = None
        self._local.clear()

    def _drop(self, prefix: str, callback: Callback) -> bool:
        callbacks = self._local.get(prefix)
        if not callbacks or callback not in callbacks:
            return False
        callbacks.remove(callback)
        if not callbacks:
            del self._local[prefix]
        return True

    def _here(self, prefix: str, ttl_ms: int) -> Awaitable[Any]:
        return self._run([prefix + ":here", prefix + ":state"], [self.id, ttl_ms])

    async def _renew_one(self, prefix: str) -> None:
        try:
            if prefix in self._local:
                await self._here(prefix, self._ttl_ms)
        except Exception as e:  # the periodic renewal tries again
            log.warning("renewing the listeners of %s: %s", prefix, e)
        finally:
            self._soon.discard(prefix)

    async def _renew_all(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            prefixes = list(self._local)
            results = await asyncio.gather(
                *(self._here(p, self._ttl_ms) for p in prefixes), return_exceptions=True
            )
            failed = [
                p for p, r in zip(prefixes, results, strict=True) if isinstance(r, BaseException)
            ]
            if failed:
                log.warning(
                    "renewing the listeners of %d players failed (next try in %.0fs)",
                    len(failed),
                    self._renew_every,
                )
