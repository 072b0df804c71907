"""RedisStore's part for players meeting players (store_social.SocialStore).

Keys, each group under one hash tag, so each call is one slot of a Redis Cluster:
    rulesc:{GAME:PLAYER}:inbox          HASH effect id -> JSON effect (the player's tag:
                                        `deliver` also moves the state's @version and
                                        publishes on the player's push channel, atomically)
    rulesc:{GAME:outbox:B}              ZSET player -> mark (ms), B = one of 16 buckets
                                        (crc32 of the player), so marks spread over slots
    rulesc:{GAME:lb:BOARD:PERIOD}:z     ZSET player -> score
    rulesc:{GAME:lb:BOARD:PERIOD}:v     HASH player -> version of that score

A mixin of RedisStore: it talks through the store's link (one node or a cluster), with
its publish command (PUBLISH or SPUBLISH). Scores are Redis doubles: exact up to 2^53.
"""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from .redis_keys import Link, Script, player_prefix
from .redis_links import unavailable_on_error
from .store_social import SocialStore

BUCKETS = 16

# Reads before writes. A new id moves the player's version, so a writer holding an older
# state meets a conflict and reloads (finding the inbox); an id already there changes nothing.
DELIVER_LUA = """
-- KEYS: 1 state hash, 2 inbox hash, 3 push channel
-- ARGV: 1 effect id, 2 effect JSON, 3 publish command or ''
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local version = redis.call('HINCRBY', KEYS[1], '@version', 1)
if ARGV[3] ~= '' then
  redis.call(ARGV[3], KEYS[3], '{"version":' .. version .. ',"inbox":true}')
end
return version
"""

UNMARK_LUA = """
-- KEYS: 1 bucket. ARGV: 1 player, 2 the mark to remove (a newer one stays)
local mark = redis.call('ZSCORE', KEYS[1], ARGV[1])
if mark and tonumber(mark) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""

# A score from an older version than the one there is late: it changes nothing.
LEADERBOARD_PUT_LUA = """
-- KEYS: 1 scores zset, 2 versions hash. ARGV: 1 player, 2 score, 3 version, 4 ttl ms or ''
local seen = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if seen >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1
"""


@functools.cache
def _script(source: str) -> Any:
    return Script(source)


def _player_key(game: str, player: str, suffix: str) -> str:
    return player_prefix(game, player) + suffix  # the player's keys share one hash tag


def _bucket_key(game: str, bucket: int) -> str:
    return f"rulesc:{{{quote(game, safe='')}:outbox:{bucket}}}"


def _marks_key(game: str, player: str) -> str:
    return _bucket_key(game, zlib.crc32(player.encode()) % BUCKETS)


def _board_key(game: str, board: str, period: str) -> str:
    return f"rulesc:{{{quote(game, safe='')}:lb:{quote(board, safe='')}:{quote(period, safe='')}}}"


def _pairs(raw: Any) -> list[tuple[bytes, bytes]]:
    """WITHSCORES replies: a flat list (RESP2) or a list of pairs (RESP3)."""
    if raw and isinstance(raw[0], list | tuple):
        return [(m, s) for m, s in raw]
    return list(zip(raw[::2], raw[1::2], strict=True))


class RedisSocial(SocialStore):
    if TYPE_CHECKING:  # RedisStore's, which this is mixed into
        _link: Link | None
        _publish: str

        def _open(self) -> Awaitable[Link]: ...

    async def _social_link(self) -> Link:
        return self._link or await self._open()

    # -- inboxes --

    @unavailable_on_error
    async def deliver(self, game: str, player: str, effect: dict) -> bool:
        link = await self._social_link()
        keys = [
            _player_key(game, player, ":state"),
            _player_key(game, player, ":inbox"),
            _player_key(game, player, ":push"),
        ]
        reply = await _script(DELIVER_LUA)(
            link, keys, [effect["id"], orjson.dumps(effect), self._publish]
        )
        return int(reply) >= 0

    @unavailable_on_error
    async def inbox(self, game: str, player: str) -> list[dict]:
        key = _player_key(game, player, ":inbox")
        raw: Any = await (await self._social_link()).execute(key, "HVALS", key)
        return [orjson.loads(blob) for blob in raw]

    @unavailable_on_error
    async def inbox_done(self, game: str, player: str, effect_ids: list[str]) -> None:
        if effect_ids:
            key = _player_key(game, player, ":inbox")
            await (await self._social_link()).execute(key, "HDEL", key, *effect_ids)

    # -- the outbox index --

    @unavailable_on_error
    async def mark_outbox(self, game: str, player: str, at: int) -> None:
        key = _marks_key(game, player)
        await (await self._social_link()).execute(key, "ZADD", key, at, player)

    @unavailable_on_error
    async def outbox_mark(self, game: str, player: str) -> int | None:
        key = _marks_key(game, player)
        score = await (await self._social_link()).execute(key, "ZSCORE", key, player)
        return None if score is None else int(float(score))

    @unavailable_on_error
    async def outbox_marks(self, game: str, *, before: int, limit: int) -> list[tuple[str, int]]:
        link = await self._social_link()
        keys = [_bucket_key(game, b) for b in range(BUCKETS)]
        replies = await asyncio.gather(
            *(
                link.execute(
                    k, "ZRANGEBYSCORE", k, "-inf", f"({before}", "WITHSCORES", "LIMIT", 0, limit
                )
                for k in keys
            )
        )
        marks = [(m.decode(), int(float(s))) for raw in replies for m, s in _pairs(raw)]
        return sorted(marks, key=lambda m: m[1])[:limit]

    @unavailable_on_error
    async def unmark_outbox(self, game: str, player: str, at: int) -> None:
        await _script(UNMARK_LUA)(
            await self._social_link(), [_marks_key(game, player)], [player, at]
        )

    # -- leaderboards --

    @unavailable_on_error
    async def leaderboard_put(
        self,
        game: str,
        board: str,
        period: str,
        player: str,
        score: int,
        version: int,
        ttl_ms: int | None,
    ) -> None:
        base = _board_key(game, board, period)
        ttl = "" if ttl_ms is None else ttl_ms
        await _script(LEADERBOARD_PUT_LUA)(
            await self._social_link(), [base + ":z", base + ":v"], [player, score, version, ttl]
        )

    @unavailable_on_error
    async def leaderboard_top(
        self, game: str, board: str, period: str, start: int, count: int
    ) -> list[tuple[str, int]]:
        key = _board_key(game, board, period) + ":z"
        raw = await (await self._social_link()).execute(
            key, "ZREVRANGE", key, max(start, 0), max(start, 0) + count - 1, "WITHSCORES"
        )
        return [(m.decode(), int(float(s))) for m, s in _pairs(raw)]

    @unavailable_on_error
    async def leaderboard_rank(
        self, game: str, board: str, period: str, player: str
    ) -> tuple[int, int] | None:
        key = _board_key(game, board, period) + ":z"
        link = await self._social_link()
        rank, score = await asyncio.gather(
            link.execute(key, "ZREVRANK", key, player), link.execute(key, "ZSCORE", key, player)
        )
        if rank is None or score is None:
            return None
        return int(rank), int(float(score))

    @unavailable_on_error
    async def leaderboard_size(self, game: str, board: str, period: str) -> int:
        key = _board_key(game, board, period) + ":z"
        return int(await (await self._social_link()).execute(key, "ZCARD", key))
