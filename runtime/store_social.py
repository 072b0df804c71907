"""The store's part for players meeting players: inboxes, the outbox index, leaderboards.

Every method touches the keys of one player (inbox), of one bucket of the outbox index,
or of one leaderboard period: each is one atomic step on one Redis Cluster slot. Nothing
here writes a player's state: effects leave in the sender's own commit (the `_outbox`
field, engine.RUNTIME_KEYS) and are applied in the receiver's own commit, which records
them (`_received`); see runtime/social.py for how a delivery is made exactly once.

RedisStore and SqliteStore implement it (store_redis_social.py, store_sqlite_social.py);
tests/test_store_contract.py runs the same tests against both.
"""

from __future__ import annotations

import abc


class SocialStore(abc.ABC):
    # -- inboxes --

    @abc.abstractmethod
    async def deliver(self, game: str, player: str, effect: dict) -> bool:
        """Put `effect` (it has an "id") in the player's inbox, in one atomic step: an id
        already waiting there is left as it is. A new one moves the player's version up by
        one, so that a writer holding an older state meets a conflict, reloads and finds
        the inbox, and tells the player's subscribers {"version", "inbox": True} (the push
        channel). False, and nothing written, when the player has no state."""

    @abc.abstractmethod
    async def inbox(self, game: str, player: str) -> list[dict]:
        """The effects waiting in the player's inbox (in no particular order)."""

    @abc.abstractmethod
    async def inbox_done(self, game: str, player: str, effect_ids: list[str]) -> None:
        """Forget these effects: applied (and recorded in the player's state) or stale."""

    # -- the outbox index: senders whose `_outbox` may hold undelivered effects --

    @abc.abstractmethod
    async def mark_outbox(self, game: str, player: str, at: int) -> None:
        """Note that the player is about to commit effects to send (before the commit)."""

    @abc.abstractmethod
    async def outbox_mark(self, game: str, player: str) -> int | None:
        """The player's mark, if any."""

    @abc.abstractmethod
    async def outbox_marks(self, game: str, *, before: int, limit: int) -> list[tuple[str, int]]:
        """Players marked before `before` (ms): (player, mark), at most `limit`."""

    @abc.abstractmethod
    async def unmark_outbox(self, game: str, player: str, at: int) -> None:
        """Remove the player's mark if it is still `at` (a newer mark stays)."""

    # -- leaderboards: one sorted set per board and period --

    @abc.abstractmethod
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
        """Set the player's score, unless a score from a version at least as new is there
        (so putting the same again, or late, is harmless). The period's board expires
        `ttl_ms` after its last put (None: never)."""

    @abc.abstractmethod
    async def leaderboard_top(
        self, game: str, board: str, period: str, start: int, count: int
    ) -> list[tuple[str, int]]:
        """(player, score) from 0-based rank `start`, best first; ties by player id,
        descending."""

    @abc.abstractmethod
    async def leaderboard_rank(
        self, game: str, board: str, period: str, player: str
    ) -> tuple[int, int] | None:
        """(0-based rank, score) of the player, or None when not on the board."""

    @abc.abstractmethod
    async def leaderboard_size(self, game: str, board: str, period: str) -> int:
        """How many players the period's board holds."""
