"""The history sink: every committed ledger entry, and every rejection (counted), copied
into a SQL database off the hot path, for analysis (`rulesc report`).

The hot path pays one append: a commit (and a `remember` of rejections) adds one item to
the store's change feed in the same atomic step — on Redis one XADD to the stream
HISTORY_KEY inside the commit script, on SQLite one row of the `history_outbox` table in
the commit's transaction. A Drainer (one task per server process) reads the feed in
batches, writes each batch to the SQL database in one transaction and only then
acknowledges it (Redis: XACK + XDEL in the consumer group; SQLite: DELETE). It runs in a
process of its own beside the server's (cli/serve.py), so the serving processes pay only
the append; several drainers on one feed are safe (below), one is enough. A crash of
either side before the acknowledgement redelivers the batch, so delivery is at least
once; the SQL side makes it exactly once: every feed item's id is recorded in
`history_applied` in the same transaction as its rows, and an item already there is
skipped (rejection counters are added once), and ledger entries also have the primary key
(game, player, entry_id). The acknowledgement also adds the entries written to a total
kept in the store, which each serving process reads for /metrics (FeedStatus).

Tables (the same in SQLite and PostgreSQL; `entry` is JSONB on PostgreSQL):
    history_entries(game, player, entry_id, at_ms, day, action, entry)  one per ledger entry
    history_rejections(game, action, reason, day, count)  rejections counted per UTC day
    history_applied(feed, item)  the feed items written (the exactly-once guard)
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import orjson

log = logging.getLogger(__name__)

HISTORY_KEY = "rulesc:history"  # the Redis stream of committed entries (one node only)
HISTORY_GROUP = "drain"  # its consumer group
HISTORY_FILE = "history.sqlite3"  # the embedded history database, in the data directory
REPORTS_DIR = "reports"  # `rulesc report` writes GAME.html here in the data directory
BATCH = 500  # feed items per SQL transaction
IDLE_WAIT = 0.2  # seconds between reads of an empty feed
RETRY_WAIT = (0.5, 10.0)  # seconds before retrying a failed write: first, most

T = TypeVar("T")


@dataclass(slots=True)
class FeedItem:
    """One commit's (or remember's) contribution to the history."""

    id: str  # the feed's own id of the item (Redis stream id, SQLite outbox seq)
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

    name: str  # tells feeds apart in `history_applied` (ids are per feed)

    async def read(self, limit: int) -> list[FeedItem]:
        """Up to `limit` items not yet acknowledged, oldest first; after `rewind`, the
        items read before and not acknowledged come again."""
        ...

    async def ack(self, items: list[FeedItem], written: int) -> None:
        """The items are written (`written` entries of them new): never deliver them again."""
        ...

    async def status(self) -> FeedStatus: ...

    async def count_failure(self) -> None:
        """One more failed write or read (best effort: the store may be what failed)."""
        ...

    def rewind(self) -> None: ...


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


SCHEMA = """
CREATE TABLE IF NOT EXISTS history_entries (
    game TEXT NOT NULL, player TEXT NOT NULL, entry_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL, day TEXT NOT NULL, action TEXT NOT NULL,
    entry {json} NOT NULL,
    PRIMARY KEY (game, player, entry_id)
);
CREATE INDEX IF NOT EXISTS history_entries_day ON history_entries (game, day);
CREATE TABLE IF NOT EXISTS history_rejections (
    game TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, day TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (game, action, reason, day)
);
CREATE TABLE IF NOT EXISTS history_applied (
    feed TEXT NOT NULL, item TEXT NOT NULL,
    PRIMARY KEY (feed, item)
);
"""

INSERT_ENTRY = "INSERT INTO history_entries VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
ADD_REJECTIONS = (
    "INSERT INTO history_rejections VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (game, action, reason, day)"
    " DO UPDATE SET count = history_rejections.count + excluded.count"
)


class Sink(abc.ABC):
    """A SQL database the history is written to. Every call runs on one thread of its own."""

    json_type = "TEXT"

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
                for statement in SCHEMA.format(json=self.json_type).split(";"):
                    if statement.strip():
                        cur.execute(statement)
            self._conn = conn
        return self._conn

    async def write(self, feed: str, items: list[FeedItem]) -> int:
        """Write the items not written before, in one transaction; the entries written.
        Raises HistoryUnavailable (nothing written) when the database cannot take it."""
        return await self._run(self._write, feed, items)

    def _write(self, feed: str, items: list[FeedItem]) -> int:
        try:
            with self._transaction(self._db()) as cur:
                new = self._mark_applied(cur, feed, items)
                return self._write_items(cur, [i for i in items if i.id in new])
        except Exception as e:
            self._drop_connection()
            raise HistoryUnavailable(f"{self.describe}: {e}") from e

    def _mark_applied(self, cur: Any, feed: str, items: list[FeedItem]) -> set[str]:
        """The items not written before (the others are redeliveries), marked written now:
        one statement for the batch. A second writer of the same items at once waits for
        the first's transaction (the primary key), then gets none of them back."""
        if not items:
            return set()
        values = ", ".join(["(?, ?)"] * len(items))
        cur.execute(
            self._sql(
                f"INSERT INTO history_applied VALUES {values} ON CONFLICT DO NOTHING RETURNING item"
            ),
            [v for i in items for v in (feed, i.id)],
        )
        return {row[0] for row in cur.fetchall()}

    def _write_items(self, cur: Any, items: list[FeedItem]) -> int:
        """The entries and the rejections (counted per day) of the items, in one statement
        each; the entries written."""
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
        if rows:
            cur.executemany(self._sql(INSERT_ENTRY), rows)
        counted: dict[tuple[str, str, str, str], int] = {}
        for item in items:
            day = utc_day(item.at_ms)
            for action, reason in item.rejections:
                key = (item.game, action, reason, day)
                counted[key] = counted.get(key, 0) + 1
        if counted:
            cur.executemany(self._sql(ADD_REJECTIONS), [(*k, n) for k, n in counted.items()])
        return len(rows)

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
        conn.execute("PRAGMA journal_mode=WAL")
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
    """Moves the feed into the sink: read a batch, write it, acknowledge it; a failed write
    is retried (with growing waits) from the same items, so none is lost or doubled."""

    def __init__(self, feed: Feed, sink: Sink, *, batch: int = BATCH) -> None:
        self.feed, self.sink, self.batch = feed, sink, batch
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
                self.feed.rewind()  # the unacknowledged items come again
                log.warning("history: %s; retrying in %.1fs", e, wait)
                with contextlib.suppress(Exception):
                    await self.feed.count_failure()
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_WAIT[1])
                continue
            if not moved:
                await asyncio.sleep(IDLE_WAIT)

    async def drain_once(self) -> int:
        """One batch: the items moved (0: the feed was empty). Raises on a failure."""
        items = await self.feed.read(self.batch)
        if not items:
            return 0
        written = await self.sink.write(self.feed.name, items)
        await self.feed.ack(items, written)
        return len(items)

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
