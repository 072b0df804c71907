"""SqliteStore's part for players meeting players (store_social.SocialStore): inboxes, the
outbox index and leaderboards, as tables beside the players' states.

A mixin of SqliteStore: it runs on its thread (`_run`), in its transactions (`_tx`), and
pushes to its in-process subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from .store import Callback, deliver
from .store_social import SocialStore

T = TypeVar("T")

SOCIAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    game TEXT NOT NULL, player TEXT NOT NULL, effect_id TEXT NOT NULL,
    effect TEXT NOT NULL,                       -- JSON
    PRIMARY KEY (game, player, effect_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_marks (
    game TEXT NOT NULL, player TEXT NOT NULL, marked_at INTEGER NOT NULL,
    PRIMARY KEY (game, player)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_marks_at ON outbox_marks (game, marked_at);
CREATE TABLE IF NOT EXISTS leaderboard (
    game TEXT NOT NULL, board TEXT NOT NULL, period TEXT NOT NULL, player TEXT NOT NULL,
    score INTEGER NOT NULL, version INTEGER NOT NULL,
    expires_at REAL,                            -- unix seconds; NULL: kept
    PRIMARY KEY (game, board, period, player)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leaderboard_order ON leaderboard (game, board, period, score DESC, player DESC);
"""


class SqliteSocial(SocialStore):
    if TYPE_CHECKING:  # SqliteStore's, which this is mixed into
        _subscribers: dict[tuple[str, str], list[Callback]]

        async def _run(self, fn: Callable[..., T], *args: Any) -> T: ...
        def _db(self) -> sqlite3.Connection: ...
        def _tx(
            self, mode: str = "IMMEDIATE"
        ) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

    # -- inboxes --

    async def deliver(self, game: str, player: str, effect: dict) -> bool:
        blob = orjson.dumps(effect)

        def run() -> int | None:
            with self._tx() as db:
                row = db.execute(
                    "SELECT version FROM state WHERE game = ? AND player = ?", (game, player)
                ).fetchone()
                if row is None:
                    return None
                added = db.execute(
                    "INSERT OR IGNORE INTO inbox VALUES (?, ?, ?, ?)",
                    (game, player, effect["id"], blob),
                ).rowcount
                if not added:
                    return 0
                db.execute(
                    "UPDATE state SET version = version + 1 WHERE game = ? AND player = ?",
                    (game, player),
                )
                return row[0] + 1

        version = await self._run(run)
        if version is None:
            return False
        if version:
            self._nudge(game, player, version)
        return True

    def _nudge(self, game: str, player: str, version: int) -> None:
        callbacks = self._subscribers.get((game, player))
        if callbacks:
            message = {"version": version, "inbox": True}
            asyncio.get_running_loop().call_soon(deliver, list(callbacks), message)

    async def inbox(self, game: str, player: str) -> list[dict]:
        def run() -> list[dict]:
            rows = self._db().execute(
                "SELECT effect FROM inbox WHERE game = ? AND player = ?", (game, player)
            )
            return [orjson.loads(blob) for (blob,) in rows]

        return await self._run(run)

    async def inbox_done(self, game: str, player: str, effect_ids: list[str]) -> None:
        if not effect_ids:
            return

        def run() -> None:
            with self._tx() as db:
                db.executemany(
                    "DELETE FROM inbox WHERE game = ? AND player = ? AND effect_id = ?",
                    [(game, player, e) for e in effect_ids],
                )

        await self._run(run)

    # -- the outbox index --

    async def mark_outbox(self, game: str, player: str, at: int) -> None:
        def run() -> None:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO outbox_marks VALUES (?, ?, ?) ON CONFLICT (game, player)"
                    " DO UPDATE SET marked_at = excluded.marked_at",
                    (game, player, at),
                )

        await self._run(run)

    async def outbox_mark(self, game: str, player: str) -> int | None:
        def run() -> int | None:
            row = (
                self._db()
                .execute(
                    "SELECT marked_at FROM outbox_marks WHERE game = ? AND player = ?",
                    (game, player),
                )
                .fetchone()
            )
            return None if row is None else row[0]

        return await self._run(run)

    async def outbox_marks(self, game: str, *, before: int, limit: int) -> list[tuple[str, int]]:
        def run() -> list[tuple[str, int]]:
            rows = self._db().execute(
                "SELECT player, marked_at FROM outbox_marks WHERE game = ? AND marked_at < ?"
                " ORDER BY marked_at LIMIT ?",
                (game, before, limit),
            )
            return [(p, at) for p, at in rows]

        return await self._run(run)

    async def unmark_outbox(self, game: str, player: str, at: int) -> None:
        def run() -> None:
            with self._tx() as db:
                db.execute(
                    "DELETE FROM outbox_marks WHERE game = ? AND player = ? AND marked_at = ?",
                    (game, player, at),
                )

        await self._run(run)

    # -- leaderboards --

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
        def run() -> None:
            now = time.time()
            expires = None if ttl_ms is None else now + ttl_ms / 1000
            with self._tx() as db:
                db.execute(
                    "INSERT INTO leaderboard VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (game, board, period, player) DO UPDATE"
                    " SET score = excluded.score, version = excluded.version"
                    " WHERE excluded.version > leaderboard.version",
                    (game, board, period, player, score, version, expires),
                )
                # the board lives on while it is written to; older periods go away
                db.execute(
                    "UPDATE leaderboard SET expires_at = ? WHERE game = ? AND board = ? AND period = ?",
                    (expires, game, board, period),
                )
                db.execute(
                    "DELETE FROM leaderboard WHERE expires_at IS NOT NULL AND expires_at <= ?",
                    (now,),
                )

        await self._run(run)

    async def leaderboard_top(
        self, game: str, board: str, period: str, start: int, count: int
    ) -> list[tuple[str, int]]:
        def run() -> list[tuple[str, int]]:
            rows = self._db().execute(
                "SELECT player, score FROM leaderboard WHERE game = ? AND board = ? AND period = ?"
                " ORDER BY score DESC, player DESC LIMIT ? OFFSET ?",
                (game, board, period, count, max(start, 0)),
            )
            return [(p, s) for p, s in rows]

        return await self._run(run)

    async def leaderboard_rank(
        self, game: str, board: str, period: str, player: str
    ) -> tuple[int, int] | None:
        def run() -> tuple[int, int] | None:
            db = self._db()
            row = db.execute(
                "SELECT score FROM leaderboard WHERE game = ? AND board = ? AND period = ?"
                " AND player = ?",
                (game, board, period, player),
            ).fetchone()
            if row is None:
                return None
            above = db.execute(
                "SELECT count(*) FROM leaderboard WHERE game = ? AND board = ? AND period = ?"
                " AND (score > ? OR (score = ? AND player > ?))",
                (game, board, period, row[0], row[0], player),
            ).fetchone()[0]
            return above, row[0]

        return await self._run(run)

    async def leaderboard_size(self, game: str, board: str, period: str) -> int:
        def run() -> int:
            return (
                self._db()
                .execute(
                    "SELECT count(*) FROM leaderboard WHERE game = ? AND board = ? AND period = ?",
                    (game, board, period),
                )
                .fetchone()[0]
            )

        return await self._run(run)
