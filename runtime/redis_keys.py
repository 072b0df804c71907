"""What the Redis store modules share: the link they talk through, how a Lua script is run,
and how a player's keys are named (store_redis for state and results, store_redis_social
for inboxes, outboxes and leaderboards). Both import this module; it imports neither."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable
from typing import Any, Protocol
from urllib.parse import quote

from redis.exceptions import NoScriptError

from .store import Callback, Subscription


class Link(Protocol):
    """What RedisStore talks through: redis_links.SingleNode or redis_cluster.ClusterLink."""

    def execute(self, key: str, *args: Any) -> Awaitable[Any]: ...
    async def subscribe(self, channel: str, callback: Callback) -> Subscription: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class Script:
    """EVALSHA; when the node does not have the script (a restart, a failover to a replica
    that never saw it, SCRIPT FLUSH), EVAL with the source, which runs it and caches it:
    NOSCRIPT means nothing ran, so the action goes on as if nothing happened."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, link: Link, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.evalsha(link, keys, args)
        except NoScriptError:
            return await self.eval(link, keys, args)

    # The two calls, for a caller that awaits them itself (one coroutine less per commit).
    # keys[0] routes the call: every key of a script shares its hash tag and slot.
    def evalsha(self, link: Link, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        return link.execute(keys[0], "EVALSHA", self.sha, len(keys), *keys, *args)

    def eval(self, link: Link, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        return link.execute(keys[0], "EVAL", self.source, len(keys), *keys, *args)


def key_part(s: str) -> str:
    # Percent-encode so no id can end the hash tag early or mimic another game's keys.
    return quote(s, safe="")


@functools.lru_cache(maxsize=4096)  # the players acting now: quote() is dear per call
def player_prefix(game: str, player: str) -> str:
    """The start of every key of one player: `rulesc:{game:player}`, one hash tag, so all
    of a player's keys live on one node of a cluster and one script may touch them all."""
    return f"rulesc:{{{key_part(game)}:{key_part(player)}}}"
