"""The history sink: every committed ledger entry, and every rejection (counted), copied
into a SQL database off the hot path, for analysis (`rulesc report`).

The hot path pays one append: a commit (and a `remember` of rejections) adds one item to
the store's change feed in the same atomic step — on Redis one XADD to the stream
HISTORY_KEY inside the commit script, on SQLite one row of the `history_outbox` table in
the commit's transaction. Feed items have a position that only grows (the stream id, the
outbox's sequence number).

A Drainer moves the feed into the SQL database. It runs in a process of its own beside
the server's (cli/serve.py), so the serving processes pay only the append. The database
keeps, per feed, the position of the last item it holds (`history_feeds`), written in the
same transaction as the items' rows: that one row is the exactly-once guard and the
resume point. A batch goes:

1. read up to BATCH items after the position the database holds;
2. in one transaction: lock the feed's row, drop the items at or before its position (a
   second drainer wrote them meanwhile), write the rest, move the position to the last;
3. trim the feed up to that position (Redis: XTRIM MINID; SQLite: DELETE), adding the
   entries written to a total kept in the store, which each serving process reads for
   /metrics (FeedStatus).

On a Redis Cluster the feed is a stream per hash slot (a commit script reaches only its
player's slot; runtime/redis_history.py), a FeedSet: each round reads up to BATCH items
from the feeds that have any, from each one's first item, and writes them in one
transaction that locks every touched feed's row, in the order of their names (two drainers
lock in the same order: no deadlock), drops the items at or before each one's position,
and moves each; then each feed is trimmed up to the position the database holds for it.
Reading from the first item rather than after a position kept by the drainer costs
nothing more: the feeds keep only what waits, and what a crash (or another drainer) left
written and untrimmed is dropped by the positions and trimmed.

A crash between 2 and 3 leaves written items in the feed: the next batch reads after the
position, so they are never written again, and its trim removes them. A database that
is down fails step 2, and the same items are read again when it is back. Several
drainers on one feed are safe (the row lock orders them; the later writes nothing), one
is enough. A feed's name in the database carries an id the store makes once (its
`epoch`), so a wiped Redis or a new SQLite file starts a new feed, whose positions start
again, instead of being taken for items already written. Entries are keyed in the table, so a feed
that brings entries the table holds (a store restored from a backup, given a new epoch,
sends again what it had sent after the backup was taken) adds only the others.

Tables (the same in SQLite and PostgreSQL; `entry` is JSONB on PostgreSQL):
    history_entries(game, player, entry_id, at_ms, day, action, entry)  one per ledger entry
    history_rejections(game, action, reason, day, count)  rejections counted per UTC day
    history_feeds(feed, major, minor)  the last item written from each feed
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import orjson

log = logging.getLogger(__name__)

HISTORY_KEY = "rulesc:history"  # the Redis stream of committed entries (one node; a
# cluster's per-slot streams are named after it: redis_history.py)
HISTORY_FILE = "history.sqlite3"  # the embedded history database, in the data directory
REPORTS_DIR = "reports"  # `rulesc report` writes GAME.html here in the data directory
BATCH = 2000  # feed items per SQL transaction, at most
# Seconds between batches when the last was not full: the history is a second or so
# behind the game, and a drainer that keeps up writes one transaction a second rather
# than one per commit (its CPU per item is then mostly the rows themselves).
DRAIN_EVERY = 1.0
RETRY_WAIT = (0.5, 10.0)  # seconds before retrying a failed write: first, most

T = TypeVar("T")

# Where an item stands in its feed: (stream id's milliseconds, its sequence) on Redis,
# (outbox sequence number, 0) on SQLite. Compared as a tuple; only grows.
Position = tuple[int, int]


@dataclass(slots=True)
class FeedItem:
    """One commit's (or remember's) contribution to the history."""

    position: Position  # its place in the feed
    game: str
    player: str
    at_ms: int  # when the store took it (the day of its rejections)
    entries: list[tuple[str, dict]]  # (event id, ledger entry)
    rejections: list[tuple[str, str]]  # (action, reason code)


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The feed as any process sees it (for /metrics): kept in the store, not a process."""

    waiting: int  # items not yet acknowledged
    oldest_ms: int | None  # when the oldest of them was committed
    written: int  # entries the drainers wrote to the history database, in all
    failures: int  # writes (or feed reads) that failed and were retried, in all

    def behind(self, now: float) -> float:
        """Seconds since the oldest waiting item was committed (0: none waits)."""
        return 0.0 if self.oldest_ms is None else max(0.0, now - self.oldest_ms / 1000)


class Feed(Protocol):
    """A store's change feed of committed entries (store_redis.py, store_sqlite.py)."""

    async def name(self) -> str:
        """The feed's name in the history database: the same while the store's data
        lives, a new one when the store starts afresh (its positions start again)."""
        ...

    async def read_after(self, position: Position | None, limit: int) -> list[FeedItem]:
        """Up to `limit` items after `position` (None: from the first), oldest first."""
        ...

    async def trim(self, position: Position, written: int) -> None:
        """The items up to `position` are in the history database: drop them, and add
        `written` (the entries that batch wrote) to the drainers' total."""
        ...

    async def status(self) -> FeedStatus: ...

    async def count_failure(self) -> None:
        """One more failed write or read (best effort: the store may be what failed)."""
        ...


Batches = dict[str, list[FeedItem]]  # feed name -> items of that feed, oldest first


class FeedSet(Protocol):
    """Many feeds read and written together: a Redis Cluster's, a stream per hash slot
    (store_redis.RedisFeed on a cluster). Each feed keeps only the items not yet written,
    so they are read from each feed's first."""

    async def read_many(self, limit: int) -> tuple[Batches, bool]:
        """About `limit` items at most, from the feeds that have any, by feed name; and
        whether some were left (the next batch goes at once)."""
        ...

    async def trim_many(self, positions: dict[str, Position], written: int) -> None:
        """Each feed's items up to its position are in the database: drop them, and add
        `written` to the drainers' total."""
        ...

    def forget(self) -> None:
        """After a failure: what was read once (the feeds' epoch) is read again."""
        ...

    async def status(self) -> FeedStatus: ...

    async def count_failure(self) -> None: ...


async def feed_set(feed: Feed | FeedSet) -> FeedSet | None:
    """The feed as a FeedSet when it is many feeds (a store's feed says so by an async
    `many()`; one without it is one feed)."""
    many = getattr(feed, "many", None)
    if many is not None and await many():
        return feed  # type: ignore[return-value]
    return None


def rejections_of(decided: list) -> list[tuple[str, str]]:
    """(action, reason code) of each rejected Decided (store.Decided, ledger None)."""
    return [(d.action, d.result["error"]["code"]) for d in decided if d.ledger is None]


def utc_day(ms: int) -> str:
    return _day(ms // DAY_MS)


DAY_MS = 86_400_000


@functools.lru_cache(maxsize=64)
def _day(days: int) -> str:  # every entry has one: strftime once per day, not per entry
    return datetime.fromtimestamp(days * DAY_MS / 1000, UTC).strftime("%Y-%m-%d")


class HistoryUnavailable(Exception):
    """The history database cannot take the write now: the batch stays in the feed."""


# history_entries' key begins with the entry id, which grows with time on both stores
# (the ledger's ids: a player's, so the player too makes the key): new rows go to the end
# of the index. Player first spread them over as many places as there are players, and a
# big table then cost twice the CPU per row (bench: about 14 µs against 5).
SCHEMA = """
CREATE TABLE IF NOT EXISTS history_entries (
    game TEXT NOT NULL, player TEXT NOT NULL, entry_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL, day TEXT NOT NULL, action TEXT NOT NULL,
    entry {json} NOT NULL,
    PRIMARY KEY (game, entry_id, player)
);
CREATE INDEX IF NOT EXISTS history_entries_day ON history_entries (game, day);
CREATE TABLE IF NOT EXISTS history_rejections (
    game TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, day TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (game, action, reason, day)
);
CREATE TABLE IF NOT EXISTS history_feeds (
    feed TEXT NOT NULL PRIMARY KEY, major BIGINT NOT NULL, minor BIGINT NOT NULL
);
"""

# A feed's row, made before it is locked: PostgreSQL's FOR UPDATE locks rows that exist
NEW_FEED = "INSERT INTO history_feeds VALUES (?, -1, -1) ON CONFLICT DO NOTHING"
FEED_POSITION = "SELECT major, minor FROM history_feeds WHERE feed = ?"
FEED_POSITIONS = "SELECT feed, major, minor FROM history_feeds WHERE feed IN ({}) ORDER BY feed"
LOCK_AT_ONCE = 500  # feed rows one statement locks (SQLite allows 999 parameters or more)
MOVE_FEED = "UPDATE history_feeds SET major = ?, minor = ? WHERE feed = ?"
INSERT_ENTRY = "INSERT INTO history_entries VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
ADD_REJECTIONS = (
    "INSERT INTO history_rejections VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (game, action, reason, day)"
    " DO UPDATE SET count = history_rejections.count + excluded.count"
)


class Sink(abc.ABC):
    """A SQL database the history is written to. Every call runs on one thread of its own."""

    json_type = "TEXT"
    lock_row = ""  # what locks a selected row till the commit (SQLite locks the file)
    schema_lock = ""  # what makes two drainers creating the tables at once take turns

    def __init__(self, describe: str) -> None:
        self.describe = describe  # for the log: never a password
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rulesc-history")
        self._conn: Any = None  # touched only on the executor thread

    @abc.abstractmethod
    def _connect(self) -> Any: ...

    @abc.abstractmethod
    def _transaction(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """A context that commits on success and rolls back on error; yields a cursor."""

    def _sql(self, statement: str) -> str:
        return statement

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _db(self) -> Any:
        if self._conn is None:
            conn = self._connect()
            with self._transaction(conn) as cur:
                if self.schema_lock:
                    cur.execute(self.schema_lock)
                for statement in SCHEMA.format(json=self.json_type).split(";"):
                    if statement.strip():
                        cur.execute(statement)
            self._conn = conn
        return self._conn

    async def position(self, feed: str) -> Position | None:
        """The last item of `feed` the database holds (None: none yet)."""
        return await self._run(self._position, feed)

    def _position(self, feed: str) -> Position | None:
        try:
            with self._transaction(self._db()) as cur:
                cur.execute(self._sql(FEED_POSITION), (feed,))
                row = cur.fetchone()
        except Exception as e:
            self._drop_connection()
            raise HistoryUnavailable(f"{self.describe}: {e}") from e
        return None if row is None or row[0] < 0 else (row[0], row[1])

    async def write(self, feed: str, items: list[FeedItem]) -> tuple[int, Position | None]:
        """Write the items after the feed's position, in one transaction, and move the
        position to the last of them: (entries written, the position now). Raises
        HistoryUnavailable (nothing written) when the database cannot take it."""
        written, positions = await self.write_many({feed: items})
        return written, positions[feed]

    async def write_many(self, batches: Batches) -> tuple[int, dict[str, Position | None]]:
        """write() for several feeds in one transaction: (entries written, each feed's
        position now)."""
        return await self._run(self._write_many, batches)

    def _write_many(self, batches: Batches) -> tuple[int, dict[str, Position | None]]:
        names = sorted(batches)  # every drainer locks the rows in this order: no deadlock
        try:
            with self._transaction(self._db()) as cur:
                # the rows locked: a second drainer of the same items waits here, then
                # finds the positions past them and writes none
                cur.executemany(self._sql(NEW_FEED), [(n,) for n in names])
                held = self._lock_feeds(cur, names)
                positions: dict[str, Position | None] = {}
                new: list[FeedItem] = []
                moves = []
                for name in names:
                    h = held[name]
                    items = [i for i in batches[name] if h is None or i.position > h]
                    positions[name] = items[-1].position if items else h
                    if items:
                        new += items
                        moves.append((*items[-1].position, name))
                if not new:
                    return 0, positions
                written = self._write_items(cur, new)
                cur.executemany(self._sql(MOVE_FEED), moves)
                return written, positions
        except Exception as e:
            self._drop_connection()
            raise HistoryUnavailable(f"{self.describe}: {e}") from e

    def _lock_feeds(self, cur: Any, names: list[str]) -> dict[str, Position | None]:
        """The positions of the feeds (sorted names, their rows made), their rows locked
        in that order."""
        if len(names) == 1:
            cur.execute(self._sql(FEED_POSITION + self.lock_row), (names[0],))
            rows = [(names[0], *cur.fetchone())]
        else:
            rows = []
            for i in range(0, len(names), LOCK_AT_ONCE):
                some = names[i : i + LOCK_AT_ONCE]
                marks = ", ".join("?" * len(some))
                cur.execute(self._sql(FEED_POSITIONS.format(marks) + self.lock_row), some)
                rows += cur.fetchall()
        return {feed: None if major < 0 else (major, minor) for feed, major, minor in rows}

    def _write_items(self, cur: Any, items: list[FeedItem]) -> int:
        """The entries and the rejections (counted per day) of the items, in one statement
        each; the entries written (not those the table held)."""
        rows = [
            (
                item.game,
                item.player,
                eid,
                entry.get("time", item.at_ms),
                utc_day(entry.get("time", item.at_ms)),
                entry.get("action", ""),
                orjson.dumps(entry).decode(),
            )
            for item in items
            for eid, entry in item.entries
        ]
        inserted = self._insert_entries(cur, rows) if rows else 0
        counted: dict[tuple[str, str, str, str], int] = {}
        for item in items:
            day = utc_day(item.at_ms)
            for action, reason in item.rejections:
                key = (item.game, action, reason, day)
                counted[key] = counted.get(key, 0) + 1
        if counted:
            cur.executemany(self._sql(ADD_REJECTIONS), [(*k, n) for k, n in counted.items()])
        return inserted

    def _insert_entries(self, cur: Any, rows: list[tuple]) -> int:
        """Insert the rows the table lacks: how many it took."""
        cur.executemany(self._sql(INSERT_ENTRY), rows)
        return int(cur.rowcount)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # closed before
            await self._run(self._drop_connection)
        self._executor.shutdown(wait=False)


class SqliteSink(Sink):
    """The embedded history database: one SQLite file."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"history in SQLite at {path.resolve()}")
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        # A new file turned to WAL by another drainer at this moment answers "locked" at
        # once, without the busy timeout: wait for it as the timeout would.
        for _ in range(50):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e):
                    raise
                time.sleep(0.1)
        return conn

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")


class Drainer:
    """Moves the feed into the sink, a batch at a time (see the top of this module); a
    failed batch is retried, with growing waits, from the position the database holds,
    so no item is lost or doubled."""

    def __init__(
        self, feed: Feed, sink: Sink, *, batch: int = BATCH, every: float = DRAIN_EVERY
    ) -> None:
        self.feed, self.sink, self.batch, self.every = feed, sink, batch, every
        self._name: str | None = None
        self._position: Position | None = None
        self._known = False  # whether _position is the database's (read it again if not)
        self._many: FeedSet | None = None  # the feed, when it is many (set with _known)
        self._more = False  # whether the last batch left items: the next goes at once
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        wait = RETRY_WAIT[0]
        while True:
            try:
                moved = await self.drain_once()
                wait = RETRY_WAIT[0]
            except Exception as e:
                self._known = False  # start again from what the database holds
                log.warning("history: %s; retrying in %.1fs", e, wait)
                with contextlib.suppress(Exception):
                    await self.feed.count_failure()
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_WAIT[1])
                continue
            if not (moved and self._more):  # caught up: let the next batch gather
                await asyncio.sleep(self.every)

    async def drain_once(self) -> int:
        """One batch: the items read (0: none waited). Raises on a failure."""
        if not self._known:
            self._many = await feed_set(self.feed)
            if self._many is not None:
                self._many.forget()
                self._known = True
        if self._many is not None:
            return await self._drain_many(self._many)
        if not self._known:
            self._name = await self.feed.name()
            self._position = await self.sink.position(self._name)
            self._known = True
            if self._position is not None:  # written before a crash, maybe not trimmed
                await self.feed.trim(self._position, 0)
        assert self._name is not None
        items = await self.feed.read_after(self._position, self.batch)
        if not items:
            return 0
        written, position = await self.sink.write(self._name, items)
        assert position is not None  # the items read are at or before it
        self._position = position
        await self.feed.trim(position, written)
        self._more = len(items) >= self.batch
        return len(items)

    async def _drain_many(self, feeds: FeedSet) -> int:
        batches, self._more = await feeds.read_many(self.batch)
        if not batches:
            return 0
        written, positions = await self.sink.write_many(batches)
        # every feed read has a position now: at or after its items
        await feeds.trim_many({f: p for f, p in positions.items() if p is not None}, written)
        return sum(len(items) for items in batches.values())

    async def drain(self) -> None:
        """Everything now in the feed (tests)."""
        while await self.drain_once():
            pass

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sink.close()


class UnknownHistory(ValueError):
    """A --history value no sink takes."""


def make_sink(url: str, data_dir: Path) -> Sink:
    """The sink `url` names: postgresql://... (psycopg 3, the `history` extra),
    sqlite:///PATH, or sqlite (HISTORY_FILE in the data directory)."""
    if url in ("sqlite", "sqlite:", "sqlite://"):
        return SqliteSink(data_dir / HISTORY_FILE)
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://")
        if not path:
            raise UnknownHistory("sqlite:///PATH names the history file")
        return SqliteSink(Path(path))
    if scheme in ("postgresql", "postgres"):
        # imported on use: a server without the `history` extra never loads psycopg
        try:
            from .history_postgres import PostgresSink
        except ImportError as e:
            raise UnknownHistory(
                f"--history {scheme}:// needs psycopg: pip install 'rulesc[history]' ({e})"
            ) from e

        return PostgresSink(url)
    raise UnknownHistory(
        "--history takes postgresql://USER@HOST/DB, sqlite:///PATH or sqlite (in the data dir)"
    )
