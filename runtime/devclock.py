"""Development mode's clock: real time plus a per-player offset, so timers can be tried.

The playground's "skip 10 minutes" (`POST /v1/{game}/dev/clock`) moves ONE player's time
forward. Everything that decides reads the time through the gateway's clock; in
development mode that clock is a DevClock and the gateway a DevGateway, which tells the
clock whose time it asks for through a context variable, set for the length of each call
(each request and each WebSocket connection runs in its own task, so players never see
each other's offset). Nothing of this exists in production mode: the server builds the
plain Gateway with the plain clock.

Offsets only grow, and the engine keeps each player's `now` monotonic anyway (the state's
high-water mark). They live in the server process: a restarted dev server starts them at
0, and a player whose time was skipped then stays at their last time until the real clock
catches up.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from .gateway import Answer, Gateway, Intent
from .packs import Game
from .players import Key

_player: ContextVar[Key | None] = ContextVar("rulesc_dev_player", default=None)

MAX_SKIP_MS = 366 * 86_400_000  # one call moves at most a year: a typo should not cost a century


class DevClock:
    def __init__(self, base: Callable[[], int]) -> None:
        self.base = base
        self.offsets: dict[Key, int] = {}

    def __call__(self) -> int:
        key = _player.get()
        return self.base() + (self.offsets.get(key, 0) if key is not None else 0)

    def now_for(self, key: Key) -> int:
        return self.base() + self.offsets.get(key, 0)

    def offset(self, key: Key) -> int:
        return self.offsets.get(key, 0)

    def skip(self, key: Key, ms: int) -> int:
        """Move the player's time `ms` forward; returns the player's offset now."""
        if not 0 < ms <= MAX_SKIP_MS:
            raise ValueError(f"skip between 1 and {MAX_SKIP_MS} ms")
        self.offsets[key] = self.offsets.get(key, 0) + ms
        return self.offsets[key]


class DevGateway(Gateway):
    """The gateway, with each call's clock reading the calling player's time."""

    async def apply(self, game: Game, player: str, intents: list[Intent]) -> Answer:
        token = _player.set((game.id, player))
        try:
            return await super().apply(game, player, intents)
        finally:
            _player.reset(token)

    async def check(self, game: Game, player: str, intents: list[Intent]) -> Answer:
        token = _player.set((game.id, player))
        try:
            return await super().check(game, player, intents)
        finally:
            _player.reset(token)

    async def state(self, game: Game, player: str) -> tuple[int, dict, int]:
        token = _player.set((game.id, player))
        try:
            return await super().state(game, player)
        finally:
            _player.reset(token)
