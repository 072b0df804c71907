"""The history sink on PostgreSQL (`--history postgresql://...`): psycopg 3, the `history`
extra (`pip install 'rulesc[history]'`). The same tables and statements as the SQLite sink
(runtime/history.py), with `entry` as JSONB."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from .history import Sink
from .stores import without_password

COPY_ENTRIES = "COPY history_entries FROM STDIN"
# when some of a batch's entries are in the table already (a store restored from a backup
# sends again what it had sent), they go by a scratch table emptied at each commit
STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS history_staging"
    " (LIKE history_entries INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
COPY_STAGING = "COPY history_staging FROM STDIN"
FROM_STAGING = "INSERT INTO history_entries SELECT * FROM history_staging ON CONFLICT DO NOTHING"
APPLICATION = "rulesc history drainer"
CONNECT_TIMEOUT = 5  # seconds: a database that is down fails the write, not the drainer


class PostgresSink(Sink):
    json_type = "JSONB"
    lock_row = " FOR UPDATE"
    # CREATE TABLE IF NOT EXISTS is not safe against itself at the same moment (a unique
    # violation in the catalogue): one transaction-scoped lock, any number of our own
    schema_lock = "SELECT pg_advisory_xact_lock(hashtext('rulesc history schema'))"

    def __init__(self, url: str) -> None:
        super().__init__(f"history in PostgreSQL at {without_password(url)}")
        self.url = url

    def _connect(self) -> psycopg.Connection:
        # named in pg_stat_activity, for whoever watches the database (unless the URL names it)
        url = self.url
        if "application_name" not in url:
            url = psycopg.conninfo.make_conninfo(url, application_name=APPLICATION)
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT)

    @contextlib.contextmanager
    def _transaction(self, conn: psycopg.Connection) -> Iterator[Any]:
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _insert_entries(self, cur: Any, rows: list[tuple]) -> int:
        # COPY: executemany sends a statement per row, which took the drainer and the
        # database about 2x the CPU. Straight into the table (a scratch table and
        # INSERT ... ON CONFLICT cost the database ~40% more per row), in a savepoint:
        # the feed's position keeps a feed's items from coming twice, but another feed
        # may bring entries the table has (see history.py), and then the batch goes by
        # the scratch table, which skips them.
        try:
            with cur.connection.transaction():
                _copy(cur, COPY_ENTRIES, rows)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            pass
        cur.execute(STAGING)
        _copy(cur, COPY_STAGING, rows)
        cur.execute(FROM_STAGING)
        return int(cur.rowcount)


def _copy(cur: Any, statement: str, rows: list[tuple]) -> None:
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
