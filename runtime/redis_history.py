"""The history feed on a Redis Cluster (runtime/history.py; one node's feed is RedisFeed in
store_redis.py): one stream per hash slot, in the players' own slot.

A commit script can only touch keys of its player's slot, so each slot has a feed stream
of its own, `rulesc:history:{TAG}`, where TAG is a short string chosen so that the key
hashes to that slot (slot_feed_key; the table of 16384 is found once, on first use). The
commit and remember scripts append to the feed of the player's slot, as they append to
the one stream on one node. A slot's stream moves with its slot (MIGRATE keeps stream
ids and the last id), so the positions the history database holds stay valid.

The drainer reads every slot's feed through ClusterFeeds. Each round, per master (all
masters at once), scripts look through the feeds of the slots the master holds, in chunks
of CHUNK keys (so no script holds the master for long), and return the items of those that
have any, up to the master's share of the batch; a master's next round starts after the
feed it stopped in, so a busy feed does not starve the others. The items of all the feeds
read go to the history database in one transaction (Sink.write_many), which locks and
moves each feed's row; then each feed is trimmed up to the position the database holds
for it. Reads start at each feed's first item: what a drainer wrote and did not trim (it
died, or another drainer wrote it) is read again, dropped by the position in the
transaction, and trimmed.

The scripts run on a master with no keys declared (allow-cross-slot-keys: keys of any slot
the master holds). When the map is stale or a slot is migrating, a script meets a key that
is not the master's and fails whole; that chunk is then done a command per key through
ClusterLink.execute, which follows MOVED and ASK as every other command does.

Feed names in the history database: `redis:<epoch>:<slot>`; the epoch is one key
(HISTORY_EPOCH, in one slot) as on one node.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import hashlib
import itertools
import math
import re
import string
from collections.abc import Iterator
from typing import Any

import orjson
from redis.exceptions import NoScriptError, ResponseError

from .history import HISTORY_KEY, FeedItem, Position
from .redis_cluster import ClusterLink

SLOTS = 16384
CHUNK = 512  # feed keys one script looks at: about 0.3 ms of the master's time (bench)
FEED_FIELDS = (b"g", b"p", b"e", b"r")  # a stream item's fields, in the order appended


@functools.cache
def slot_tags() -> tuple[str, ...]:
    """For each slot, the shortest tag (the first found) whose key hashes to it (~20 ms)."""
    table: list[str | None] = [None] * SLOTS
    left = SLOTS
    alphabet = string.digits + string.ascii_lowercase
    for length in itertools.count(1):
        for chars in itertools.product(alphabet, repeat=length):
            tag = "".join(chars)
            slot = binascii.crc_hqx(tag.encode(), 0) % SLOTS
            if table[slot] is None:
                table[slot] = tag
                left -= 1
                if not left:
                    return tuple(t for t in table if t is not None)
    raise AssertionError("unreachable")


@functools.cache
def slot_feed_keys() -> tuple[str, ...]:
    return tuple(f"{HISTORY_KEY}:{{{tag}}}" for tag in slot_tags())


def slot_feed_key(slot: int) -> str:
    """The feed stream of `slot`: it hashes to that slot."""
    return slot_feed_keys()[slot]


def key_slot(key: str) -> int:
    """The hash slot of `key` (Redis Cluster's rule: the hash tag, if any, else the key)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key.encode(), 0) % SLOTS


@functools.lru_cache(maxsize=4096)  # as player_prefix: the players acting now
def feed_key_for(prefix: str) -> str:
    """The feed of the slot of a player's keys (their prefix, redis_keys.player_prefix)."""
    return slot_feed_key(key_slot(prefix))


def _json_list(raw: bytes) -> list:
    # most items have entries or rejections, not both: the other is '[]'
    return [] if raw == b"[]" else orjson.loads(raw)


def feed_items(reply: Any) -> list[FeedItem]:
    """A feed stream's items as XRANGE gives them (parsed by redis-py, or from a script)."""
    items = []
    for sid, fields in reply or ():
        if isinstance(fields, dict):
            game, player, entries, rejections = (fields[k] for k in FEED_FIELDS)
        else:  # as the scripts append them: g GAME p PLAYER e ENTRIES r REJECTIONS
            assert fields[::2] == list(FEED_FIELDS), fields[::2]
            game, player, entries, rejections = fields[1::2]
        major, minor = sid.split(b"-", 1)
        items.append(
            FeedItem(
                (int(major), int(minor)),
                game.decode(),
                player.decode(),
                int(major),
                _json_list(entries),
                _json_list(rejections),
            )
        )
    return items


def first_after(position: Position) -> str:
    """The stream id just after `position` (XTRIM MINID keeps it and what follows)."""
    return f"{position[0]}-{position[1] + 1}"


# Some of a master's feeds (the keys ARGV[2] to ARGV[3] of those from ARGV[4] on, counted
# from 1), looked through in order: the items of those with any, up to ARGV[1] items in
# all. Returns {k, i, items of key i, ...}: k is the key in which the budget ran out (0:
# it did not). XLEN first: on a key with nothing it costs half an XRANGE (and a drained
# stream stays, empty, to keep its last id).
READ_LUA = """#!lua flags=no-writes,allow-cross-slot-keys
local left, out = tonumber(ARGV[1]), {0}
for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  local key = ARGV[i + 3]
  if redis.call('XLEN', key) > 0 then
    local items = redis.call('XRANGE', key, '-', '+', 'COUNT', left)
    out[#out + 1] = i
    out[#out + 1] = items
    left = left - #items
    if left <= 0 then
      out[1] = i
      return out
    end
  end
end
return out
"""
# ARGV: pairs of (feed key, first id to keep). Trimming frees memory: allowed under OOM.
TRIM_LUA = """#!lua flags=allow-oom,allow-cross-slot-keys
for i = 1, #ARGV, 2 do redis.call('XTRIM', ARGV[i], 'MINID', ARGV[i + 1]) end
return 1
"""
# The items waiting in the feeds ARGV names, and the stream id's milliseconds of the
# oldest (-1: none waits)
STATUS_LUA = """#!lua flags=no-writes,allow-cross-slot-keys
local waiting, oldest = 0, -1
for i = 1, #ARGV do
  local key = ARGV[i]
  local n = redis.call('XLEN', key)
  if n > 0 then
    waiting = waiting + n
    local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1][1]
    local ms = tonumber(string.match(first, '^(%d+)'))
    if oldest < 0 or ms < oldest then oldest = ms end
  end
end
return {waiting, oldest}
"""


class _MasterScript:
    """A script run on one master, no keys declared (EVALSHA, EVAL when it is missing)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, link: ClusterLink, addr: str, args: list[Any]) -> Any:
        try:
            return await link.execute_at(addr, "EVALSHA", self.sha, 0, *args)
        except NoScriptError:
            return await link.execute_at(addr, "EVAL", self.source, 0, *args)


_read = _MasterScript(READ_LUA)
_trim = _MasterScript(TRIM_LUA)
_status = _MasterScript(STATUS_LUA)


def _chunks(slots: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(slots), size):
        yield slots[i : i + size]


def _not_here(error: ResponseError) -> bool:
    """Whether a script failed on a key its master does not hold (a stale map, a slot
    migrating): a command per key, following MOVED and ASK, gets past that. Any other
    error is raised (the drainer retries the round)."""
    return _NOT_LOCAL.search(str(error)) is not None


_NOT_LOCAL = re.compile(r"non.local key", re.IGNORECASE)


Chunk = tuple[list[int], list[str]]  # slots, and their feed keys


class ClusterFeeds:
    """Every slot's feed of a Redis Cluster, for one drainer (see the top of this module)."""

    def __init__(self, chunk: int = CHUNK) -> None:
        self.chunk = chunk
        # master -> (chunk, key in it) its next round starts at
        self._cursor: dict[str, tuple[int, int]] = {}
        self._layout: tuple[dict[str, list[int]], dict[str, list[Chunk]]] | None = None

    def _chunks_of(self, link: ClusterLink) -> dict[str, list[Chunk]]:
        """Each master's slots in chunks, with their keys (made again when the map moves)."""
        masters = link.masters()
        if self._layout is None or self._layout[0] is not masters:
            keys = slot_feed_keys()
            chunks = {
                addr: [(c, [keys[s] for s in c]) for c in _chunks(slots, self.chunk)]
                for addr, slots in masters.items()
            }
            self._layout = (masters, chunks)
        return self._layout[1]

    async def read(
        self, link: ClusterLink, epoch: str, limit: int
    ) -> tuple[dict[str, list[FeedItem]], bool, Exception | None]:
        """Up to about `limit` items, from the feeds that have any, by feed name, each
        oldest first; whether some were left (read again at once); and the error of a
        master that could not be read (the others' items are read all the same: a master
        down holds back the history of its own slots only)."""
        chunks = self._chunks_of(link)
        share = max(1, math.ceil(limit / max(1, len(chunks))))
        results = await asyncio.gather(
            *(self._read_master(link, addr, its, share) for addr, its in chunks.items()),
            return_exceptions=True,
        )
        batches: dict[str, list[FeedItem]] = {}
        more, failure = False, None
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):  # cancelled: not a master's failure
                    raise result
                failure = failure or result
                continue
            found, left_some = result
            more = more or left_some
            for slot, items in found:
                batches.setdefault(f"redis:{epoch}:{slot}", []).extend(items)
        return batches, more, failure

    async def _read_master(
        self, link: ClusterLink, addr: str, chunks: list[Chunk], limit: int
    ) -> tuple[list[tuple[int, list[FeedItem]]], bool]:
        # from the key after the one the last round stopped in, round to the one before
        c, k = self._cursor.get(addr, (0, 1))
        c %= len(chunks)
        plan = [(c, k, len(chunks[c][0]))]
        plan += [
            (j % len(chunks), 1, len(chunks[j % len(chunks)][0]))
            for j in range(c + 1, c + len(chunks))
        ]
        if k > 1:
            plan.append((c, 1, k - 1))
        found: list[tuple[int, list[FeedItem]]] = []
        left = limit
        for j, first, last in plan:
            slots, keys = chunks[j]
            try:
                reply = await _read(link, addr, [left, first, last, *keys])
                stopped = int(reply[0])
                got = [(slots[int(i) - 1], feed_items(raw)) for i, raw in _pairs(reply[1:])]
            except ResponseError as e:
                if not _not_here(e):
                    raise
                got, stopped = await self._read_by_key(link, slots, first, last, left)
            found += got
            left -= sum(len(items) for _, items in got)
            if stopped:
                self._cursor[addr] = (j, stopped + 1) if stopped < len(slots) else (j + 1, 1)
                return found, True
        return found, False

    async def _read_by_key(
        self, link: ClusterLink, slots: list[int], first: int, last: int, left: int
    ) -> tuple[list[tuple[int, list[FeedItem]]], int]:
        """READ_LUA a command per key (MOVED and ASK followed): a slow path, for when
        slots move."""
        keys = slot_feed_keys()
        some = slots[first - 1 : last]
        lengths = await asyncio.gather(*(link.execute(keys[s], "XLEN", keys[s]) for s in some))
        found = []
        for i, (slot, n) in enumerate(zip(some, lengths, strict=True), first):
            if not n:
                continue
            key = keys[slot]
            items = feed_items(await link.execute(key, "XRANGE", key, "-", "+", "COUNT", left))
            if items:
                found.append((slot, items))
                left -= len(items)
                if left <= 0:
                    return found, i
        return found, 0

    async def trim(self, link: ClusterLink, positions: dict[str, Position]) -> None:
        """Drop the items up to each feed's position (names `redis:<epoch>:<slot>`)."""
        keys = slot_feed_keys()
        by_master: dict[str, list[tuple[int, Position]]] = {}
        for name, position in positions.items():
            slot = int(name.rsplit(":", 1)[1])
            by_master.setdefault(link.addr_of_slot(slot), []).append((slot, position))

        async def trim_master(addr: str, feeds: list[tuple[int, Position]]) -> None:
            for chunk in _chunks(feeds, self.chunk):  # type: ignore[arg-type]
                args = [a for slot, pos in chunk for a in (keys[slot], first_after(pos))]
                try:
                    await _trim(link, addr, args)
                except ResponseError as e:
                    if not _not_here(e):
                        raise
                    await asyncio.gather(
                        *(
                            link.execute(keys[s], "XTRIM", keys[s], "MINID", first_after(p))
                            for s, p in chunk
                        )
                    )

        await asyncio.gather(*(trim_master(a, f) for a, f in by_master.items()))

    async def status(self, link: ClusterLink) -> tuple[int, int | None]:
        """The items waiting in all the feeds, and when the oldest was appended (ms)."""

        async def of_chunk(addr: str, slots: list[int], keys: list[str]) -> tuple[int, int]:
            try:
                waiting, oldest = await _status(link, addr, keys)
                return int(waiting), int(oldest)
            except ResponseError as e:
                if not _not_here(e):
                    raise
                return await self._status_by_key(link, slots)

        # every chunk at once: pipelined on each master's connection, each script apart
        parts = await asyncio.gather(
            *(
                of_chunk(addr, slots, keys)
                for addr, chunks in self._chunks_of(link).items()
                for slots, keys in chunks
            )
        )
        oldest = [o for _, o in parts if o >= 0]
        return sum(w for w, _ in parts), min(oldest) if oldest else None

    async def _status_by_key(self, link: ClusterLink, chunk: list[int]) -> tuple[int, int]:
        keys = slot_feed_keys()
        lengths = await asyncio.gather(*(link.execute(keys[s], "XLEN", keys[s]) for s in chunk))
        oldest = -1
        for slot, n in zip(chunk, lengths, strict=True):
            if n:
                key = keys[slot]
                first = await link.execute(key, "XRANGE", key, "-", "+", "COUNT", 1)
                if first:
                    ms = int(first[0][0].split(b"-", 1)[0])
                    oldest = ms if oldest < 0 else min(oldest, ms)
        return sum(int(n) for n in lengths), oldest


def _pairs(flat: list) -> Iterator[tuple[Any, Any]]:
    return zip(flat[::2], flat[1::2], strict=True)
