"""SqliteStore: the embedded store for `rulesc serve` with nothing else installed.

Same guarantees as RedisStore within one process: a commit is one transaction (BEGIN
IMMEDIATE), checks before writes. A call runs in this process, so its answer cannot be
lost on the way as a Redis reply can: a transaction either commits or raises. The one
unknown outcome is a COMMIT that fails (an I/O error while the WAL is synced may leave the
commit on disk): StoreOutcomeUnknown. Every other failure (locked, cannot open, a failing
statement before COMMIT) rolls back: StoreUnavailable, nothing written. Every SQLite call runs on one dedicated thread, so the
event loop never blocks and the connection is only ever used by that thread. Pushes are
in-process only: callbacks run on the loop before the commit call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from .history import FeedItem, FeedStatus, Position, rejections_of
from .store import (
    DEFAULT_LEDGER_MAXLEN,
    DEFAULT_MAX_REJECTIONS,
    DEFAULT_REJECTION_TTL,
    DEFAULT_RESULT_TTL,
    Callback,
    CommitOutcome,
    Decided,
    Snapshot,
    Store,
    StoreOutcomeUnknown,
    StoreUnavailable,
    Subscription,
    check_commit_args,
    check_max_rejections,
    check_remember_args,
    deliver,
    new_player_id,
    push_message,
)
from .store_sqlite_social import SOCIAL_SCHEMA, SqliteSocial

DB_FILE = "rulesc.sqlite3"  # the file used when the store is given a directory
PURGE_EVERY = 60.0  # seconds between sweeps of expired results

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    game TEXT NOT NULL, player TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,                        -- JSON object of top-level fields
    ledger_trimmed INTEGER NOT NULL DEFAULT 0,  -- highest ledger seq trimmed away
    PRIMARY KEY (game, player)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
    game TEXT NOT NULL, player TEXT NOT NULL, action_id TEXT NOT NULL,
    stored TEXT NOT NULL,                       -- JSON [fingerprint, result]
    expires_at REAL NOT NULL,                   -- unix seconds
    rejected INTEGER NOT NULL DEFAULT 0,        -- 1: counted against max_rejections
    PRIMARY KEY (game, player, action_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,      -- never reused: event ids only grow
    game TEXT NOT NULL, player TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_player ON ledger (game, player, seq);
-- the history sink's feed (runtime/history.py): one row per commit while it is on,
-- deleted once written to the history database
CREATE TABLE IF NOT EXISTS history_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    game TEXT NOT NULL, player TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    entries TEXT NOT NULL,                      -- JSON [[event id, entry], ...]
    rejections TEXT NOT NULL                    -- JSON [[action, reason], ...]
);
-- what the history drainers did, in all ('written' entries, 'failures'): for /metrics;
-- and 'epoch', the outbox's id in the history database (runtime/history.py, Feed.name)
CREATE TABLE IF NOT EXISTS history_totals (
    name TEXT PRIMARY KEY, n INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    game TEXT NOT NULL, device TEXT NOT NULL, player TEXT NOT NULL,
    PRIMARY KEY (game, device)
) WITHOUT ROWID;
"""

# after SCHEMA: a file made before rejections were counted gets the column first
REJECTIONS_SCHEMA = """
CREATE INDEX IF NOT EXISTS results_rejected ON results (game, player, expires_at)
    WHERE rejected = 1;
"""

_EVENT_ID = re.compile(r"\d{1,19}", re.ASCII)
INT64_MAX = 2**63 - 1

T = TypeVar("T")


class _CommitLost(Exception):
    """COMMIT itself failed (see SqliteStore._tx)."""


def _event_id(seq: int) -> str:
    return f"{seq:016d}"  # zero-padded so ids also sort as strings


def _seq(event_id: str) -> int:
    if not _EVENT_ID.fullmatch(event_id) or int(event_id) > INT64_MAX:
        raise ValueError(f"not an event id: {event_id!r}")  # (SQLite's integers are int64)
    return int(event_id)


def _stored(blob: str | bytes) -> tuple[str, dict]:
    fingerprint, result = orjson.loads(blob)
    return fingerprint, result


class SqliteStore(SqliteSocial, Store):
    def __init__(
        self,
        path: str | Path,
        *,
        result_ttl: float = DEFAULT_RESULT_TTL,
        rejection_ttl: float = DEFAULT_REJECTION_TTL,
        max_rejections: int = DEFAULT_MAX_REJECTIONS,
        ledger_maxlen: int = DEFAULT_LEDGER_MAXLEN,
        history: bool = False,
    ) -> None:
        """`path` is the database file, or a directory to keep DB_FILE in. `history`:
        keep every commit's entries and rejections in `history_outbox` for the history
        sink (runtime/history.py)."""
        self._path = Path(path)
        self._result_ttl = result_ttl
        self._rejection_ttl = min(rejection_ttl, result_ttl)
        self._max_rejections = check_max_rejections(max_rejections)
        self._ledger_maxlen = ledger_maxlen
        self._history = history
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rulesc-sqlite")
        self._conn: sqlite3.Connection | None = None  # touched only on the executor thread
        self._last_purge = 0.0
        self._subscribers: dict[tuple[str, str], list[Callback]] = {}

    # -- plumbing (the _db and _tx helpers run on the executor thread) --

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except _CommitLost as e:
            raise StoreOutcomeUnknown(f"sqlite: COMMIT failed: {e}") from e
        except sqlite3.OperationalError as e:  # locked, disk I/O, cannot open: 503
            raise StoreUnavailable(f"sqlite: {e}") from e

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            path = self._path / DB_FILE if self._path.is_dir() else self._path
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged commit is on disk
            conn.executescript(SCHEMA)
            columns = [row[1] for row in conn.execute("PRAGMA table_info(results)")]
            if "rejected" not in columns:
                conn.execute("ALTER TABLE results ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0")
            conn.executescript(REJECTIONS_SCHEMA)
            conn.executescript(SOCIAL_SCHEMA)  # inboxes, the outbox index, leaderboards
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        db = self._db()
        # IMMEDIATE takes the write lock up front: the version read and the write that
        # depends on it cannot interleave with another writer (even another process).
        db.execute(f"BEGIN {mode}")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as e:
            # The one step whose outcome can be unknown here: an I/O error while the WAL
            # is written or synced may leave the commit record on disk, to be found again
            # on the next open. Say so; never "nothing was applied".
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")  # when SQLite did not roll back by itself
            raise _CommitLost(str(e)) from e

    # -- the contract --

    async def load(self, game: str, player: str) -> Snapshot:
        return await self._run(self._load, game, player)

    def _load(self, game: str, player: str) -> Snapshot:
        row = (
            self._db()
            .execute(
                "SELECT version, state FROM state WHERE game = ? AND player = ?", (game, player)
            )
            .fetchone()
        )
        return Snapshot(0, None) if row is None else Snapshot(row[0], orjson.loads(row[1]))

    async def commit(
        self,
        game: str,
        player: str,
        *,
        expected_version: int,
        state: dict,
        changed: list[str] | None,
        decided: list[Decided],
        push: bool = True,
    ) -> CommitOutcome:
        check_commit_args(state, changed, decided)
        # Serialise on the loop: the thread must not see dicts the caller may change later.
        blobs = [
            (
                d.action_id,
                orjson.dumps([d.fingerprint, d.result]),
                None if d.ledger is None else orjson.dumps(d.ledger),
            )
            for d in decided
        ]
        writes: dict[str, bytes | None]
        if changed is None:
            writes = {k: orjson.dumps(v) for k, v in state.items()}
        else:
            writes = {k: orjson.dumps(state[k]) if k in state else None for k in changed}
        fed = orjson.dumps(rejections_of(decided)) if self._history else None
        outcome = await self._run(
            self._commit, game, player, expected_version, writes, changed is None, blobs, fed
        )
        if outcome.status == "ok" and push:
            self._publish(game, player, outcome, decided)
        return outcome

    def _commit(
        self,
        game: str,
        player: str,
        expected: int,
        writes: dict[str, bytes | None],
        replace: bool,
        blobs: list[tuple[str, bytes, bytes | None]],
        fed_rejections: bytes | None = None,  # with the history on (see _feed)
    ) -> CommitOutcome:
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT version, state FROM state WHERE game = ? AND player = ?",
                (game, player),
            ).fetchone()
            version = 0 if row is None else row[0]
            refused = self._refused(db, game, player, [b[0] for b in blobs], version, expected, now)
            if refused is not None:
                return refused

            fields = {} if replace or row is None else orjson.loads(row[1])
            for name, value in writes.items():
                if value is None:
                    fields.pop(name, None)
                else:
                    fields[name] = orjson.loads(value)
            version += 1
            db.execute(
                "INSERT INTO state (game, player, version, state) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (game, player) DO UPDATE"
                " SET version = excluded.version, state = excluded.state",
                (game, player, version, orjson.dumps(fields)),
            )

            event_ids, fed = [], []
            for action_id, stored, entry in blobs:
                rejected = entry is None
                ttl = self._rejection_ttl if rejected else self._result_ttl
                db.execute(
                    "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                    (game, player, action_id, stored, now + ttl, rejected),
                )
                if entry is not None:
                    cur = db.execute(
                        "INSERT INTO ledger (game, player, entry) VALUES (?, ?, ?)",
                        (game, player, entry),
                    )
                    event_ids.append(_event_id(cur.lastrowid or 0))
                    if fed_rejections is not None:
                        fed.append(b'["%s",%s]' % (event_ids[-1].encode(), entry))
            if fed_rejections is not None:
                self._feed(db, game, player, now, b"[" + b",".join(fed) + b"]", fed_rejections)
            if event_ids:
                self._trim(db, game, player)
            if len(event_ids) < len(blobs):
                self._keep_rejections(db, game, player)
            self._purge(db, now)
        return CommitOutcome("ok", version, event_ids=event_ids)

    async def remember(
        self, game: str, player: str, *, expected_version: int, decided: list[Decided]
    ) -> CommitOutcome:
        check_remember_args(decided)
        blobs = [(d.action_id, orjson.dumps([d.fingerprint, d.result])) for d in decided]
        rejected = orjson.dumps(rejections_of(decided)) if self._history else None
        return await self._run(self._remember, game, player, expected_version, blobs, rejected)

    def _remember(
        self,
        game: str,
        player: str,
        expected: int,
        blobs: list[tuple[str, bytes]],
        rejected: bytes | None = None,
    ) -> CommitOutcome:
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT version FROM state WHERE game = ? AND player = ?", (game, player)
            ).fetchone()
            version = 0 if row is None else row[0]
            refused = self._refused(db, game, player, [b[0] for b in blobs], version, expected, now)
            if refused is not None:
                return refused
            # REPLACE only ever meets an expired row here: live ones were "seen" above
            db.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, 1)",
                [
                    (game, player, action_id, stored, now + self._rejection_ttl)
                    for action_id, stored in blobs
                ],
            )
            self._keep_rejections(db, game, player)
            if rejected is not None:
                self._feed(db, game, player, now, b"[]", rejected)
            self._purge(db, now)
        return CommitOutcome("ok", version)

    def _feed(
        self, db: sqlite3.Connection, game: str, player: str, now: float, entries: bytes, rej: bytes
    ) -> None:
        db.execute(
            "INSERT INTO history_outbox (game, player, at_ms, entries, rejections)"
            " VALUES (?, ?, ?, ?, ?)",
            (game, player, int(now * 1000), entries, rej),
        )

    def history_feed(self) -> SqliteFeed:
        """The history outbox, read by a history.Drainer."""
        return SqliteFeed(self)

    def _refused(
        self,
        db: sqlite3.Connection,
        game: str,
        player: str,
        ids: list[str],
        version: int,
        expected: int,
        now: float,
    ) -> CommitOutcome | None:
        """The checks before any write, in the contract's order: ids decided before, then the version."""
        seen = self._seen(db, game, player, ids, now)
        if seen:
            return CommitOutcome("seen", version, seen=seen)
        if version != expected:
            return CommitOutcome("conflict", version)
        return None

    def _keep_rejections(self, db: sqlite3.Connection, game: str, player: str) -> None:
        """Forget the player's rejections past the newest `max_rejections` (the soonest to
        expire first; expired ones not yet purged go first of all)."""
        db.execute(
            "DELETE FROM results WHERE game = ? AND player = ? AND rejected = 1 AND action_id IN"
            " (SELECT action_id FROM results WHERE game = ? AND player = ? AND rejected = 1"
            "  ORDER BY expires_at DESC LIMIT -1 OFFSET ?)",
            (game, player, game, player, self._max_rejections),
        )

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        if now - self._last_purge > PURGE_EVERY:
            db.execute("DELETE FROM results WHERE expires_at <= ?", (now,))
            self._last_purge = now

    def _seen(
        self, db: sqlite3.Connection, game: str, player: str, ids: list[str], now: float
    ) -> dict[str, tuple[str, dict]]:
        if not ids:
            return {}
        rows = db.execute(
            "SELECT action_id, stored FROM results WHERE game = ? AND player = ?"
            f" AND expires_at > ? AND action_id IN ({','.join('?' * len(ids))})",
            (game, player, now, *ids),
        ).fetchall()
        return {action_id: _stored(stored) for action_id, stored in rows}

    def _trim(self, db: sqlite3.Connection, game: str, player: str) -> None:
        row = db.execute(
            "SELECT seq FROM ledger WHERE game = ? AND player = ?"
            " ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (game, player, self._ledger_maxlen),
        ).fetchone()
        if row is not None:
            db.execute(
                "DELETE FROM ledger WHERE game = ? AND player = ? AND seq <= ?",
                (game, player, row[0]),
            )
            db.execute(
                "UPDATE state SET ledger_trimmed = max(ledger_trimmed, ?)"
                " WHERE game = ? AND player = ?",
                (row[0], game, player),
            )

    async def lookup(
        self, game: str, player: str, action_ids: list[str]
    ) -> dict[str, tuple[str, dict]]:
        def run() -> dict[str, tuple[str, dict]]:
            return self._seen(self._db(), game, player, action_ids, time.time())

        return await self._run(run)

    async def ledger(self, game: str, player: str, *, after: str | None, limit: int) -> list[dict]:
        start = 0 if after is None else _seq(after)
        if limit < 1:
            return []
        return await self._run(self._entries, game, player, start, limit)

    def _entries(self, game: str, player: str, after: int, limit: int = -1) -> list[dict]:
        rows = self._db().execute(
            "SELECT seq, entry FROM ledger WHERE game = ? AND player = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (game, player, after, limit),
        )
        out = []
        for seq, blob in rows:
            entry = orjson.loads(blob)
            entry["id"] = _event_id(seq)
            out.append(entry)
        return out

    async def ledger_recent(self, game: str, player: str, *, limit: int) -> list[dict]:
        if limit < 1:
            return []

        def run() -> list[dict]:
            rows = (
                self._db()
                .execute(
                    "SELECT seq, entry FROM ledger WHERE game = ? AND player = ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (game, player, limit),
                )
                .fetchall()
            )
            out = []
            for seq, blob in reversed(rows):
                entry = orjson.loads(blob)
                entry["id"] = _event_id(seq)
                out.append(entry)
            return out

        return await self._run(run)

    async def ledger_since(self, game: str, player: str, after: str) -> list[dict] | None:
        start = _seq(after)

        def run() -> list[dict] | None:
            with self._tx("DEFERRED") as db:  # trim mark and entries from one snapshot
                row = db.execute(
                    "SELECT ledger_trimmed FROM state WHERE game = ? AND player = ?",
                    (game, player),
                ).fetchone()
                if row is not None and row[0] > start:
                    return None
                return self._entries(game, player, start)

        return await self._run(run)

    async def player_for_device(self, game: str, device_id: str) -> str:
        def run() -> str:
            db = self._db()
            db.execute(
                "INSERT OR IGNORE INTO devices VALUES (?, ?, ?)",
                (game, device_id, new_player_id()),
            )
            return db.execute(
                "SELECT player FROM devices WHERE game = ? AND device = ?", (game, device_id)
            ).fetchone()[0]

        return await self._run(run)

    async def subscribe(self, game: str, player: str, callback: Callback) -> Subscription:
        self._subscribers.setdefault((game, player), []).append(callback)
        sub = _SqliteSubscription(self, (game, player), callback)
        # read after the callback is in: a commit either is in this version or reaches it
        try:
            sub.version = await self._run(self._version, game, player)
        except BaseException:
            await sub.close()
            raise
        return sub

    def _version(self, game: str, player: str) -> int:
        row = (
            self._db()
            .execute("SELECT version FROM state WHERE game = ? AND player = ?", (game, player))
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    def _publish(
        self, game: str, player: str, outcome: CommitOutcome, decided: list[Decided]
    ) -> None:
        callbacks = self._subscribers.get((game, player))
        if not callbacks:
            return
        message = push_message(outcome.version, decided, outcome.event_ids)
        # A copy through JSON, as a Redis subscriber gets: independent of the caller's dicts.
        message = orjson.loads(orjson.dumps(message))
        # now, before the commit call returns (as RedisStore does for its own process)
        deliver(list(callbacks), message)

    def _unsubscribe(self, key: tuple[str, str], callback: Callback) -> None:
        callbacks = self._subscribers.get(key)
        if callbacks and callback in callbacks:
            callbacks.remove(callback)
            if not callbacks:
                del self._subscribers[key]

    async def ping(self) -> None:
        await self._run(lambda: self._db().execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def run() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        with contextlib.suppress(StoreUnavailable, RuntimeError):  # already closed
            await self._run(run)
        self._executor.shutdown(wait=False)


class _SqliteSubscription(Subscription):
    def __init__(self, store: SqliteStore, key: tuple[str, str], callback: Callback) -> None:
        self._store, self._key, self._callback = store, key, callback

    async def close(self) -> None:
        self._store._unsubscribe(self._key, self._callback)


class SqliteFeed:
    """The history outbox (see runtime/history.py): rows stay until a drainer trims them,
    after the history database took them; positions are the rows' sequence numbers."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def name(self) -> str:
        def run() -> str:
            with self._store._tx() as db:  # made once, by the first drainer of this file
                db.execute(
                    "INSERT INTO history_totals VALUES ('epoch', ?) ON CONFLICT DO NOTHING",
                    (secrets.randbits(62),),
                )
                [(epoch,)] = db.execute("SELECT n FROM history_totals WHERE name = 'epoch'")
            return f"sqlite:{epoch:016x}"

        return await self._store._run(run)

    async def read_after(self, position: Position | None, limit: int) -> list[FeedItem]:
        after = -1 if position is None else position[0]

        def run() -> list[FeedItem]:
            rows = self._store._db().execute(
                "SELECT seq, game, player, at_ms, entries, rejections FROM history_outbox"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
            return [
                FeedItem((seq, 0), game, player, at_ms, orjson.loads(entries), orjson.loads(rej))
                for seq, game, player, at_ms, entries, rej in rows
            ]

        return await self._store._run(run)

    async def trim(self, position: Position, written: int) -> None:
        def run() -> None:
            with self._store._tx() as db:
                db.execute("DELETE FROM history_outbox WHERE seq <= ?", (position[0],))
                self._add(db, "written", written)

        await self._store._run(run)

    async def status(self) -> FeedStatus:
        def run() -> FeedStatus:
            db = self._store._db()
            n, oldest = db.execute("SELECT count(*), min(at_ms) FROM history_outbox").fetchone()
            totals = dict(db.execute("SELECT name, n FROM history_totals").fetchall())
            return FeedStatus(n, oldest, totals.get("written", 0), totals.get("failures", 0))

        return await self._store._run(run)

    async def count_failure(self) -> None:
        def run() -> None:
            with self._store._tx() as db:
                self._add(db, "failures", 1)

        await self._store._run(run)

    @staticmethod
    def _add(db: sqlite3.Connection, name: str, n: int) -> None:
        db.execute(
            "INSERT INTO history_totals VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + ?",
            (name, n, n),
        )
