"""The kinds of store a server can keep its state in, chosen by the scheme of a URL.

STORES maps a URL scheme to its kind (None: no URL, the embedded SQLite store in the data
directory). Adding a kind of store is one entry here; `rulesc serve` looks the kind up,
names it in its log and makes one store per process with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .store import Store
from .store_sqlite import DB_FILE, SqliteStore


@dataclass(frozen=True)
class StoreSettings:
    """What every kind of store is told (each takes what applies to it)."""

    data_dir: Path  # the embedded store keeps its file here
    result_ttl: float  # seconds an action id is remembered
    rejection_ttl: float  # seconds the id of a rejected action is remembered
    max_rejections: int
    ledger_maxlen: int
    sharded_pubsub: bool = False  # Redis: SPUBLISH on one node too
    timeout: float = 5.0  # Redis: seconds to wait for a reply
    history: bool = False  # feed the history sink (runtime/history.py)


@dataclass(frozen=True)
class StoreKind:
    make: Callable[[str | None, StoreSettings], Store]  # (url, settings) -> a new store
    describe: Callable[[str | None, StoreSettings], str]  # for the log: never a password
    many_processes: bool  # whether server processes (--workers) can share it


class UnknownStore(ValueError):
    """A store URL whose scheme no kind of store takes."""


def _make_redis(url: str | None, settings: StoreSettings) -> Store:
    # imported on use: a server on the embedded store never loads redis-py
    from .store_redis import RedisStore

    assert url is not None
    return RedisStore(
        url,  # one node, or any node of a Redis Cluster: the store finds out on first use
        result_ttl=settings.result_ttl,
        rejection_ttl=settings.rejection_ttl,
        max_rejections=settings.max_rejections,
        ledger_maxlen=settings.ledger_maxlen,
        publish_command="SPUBLISH" if settings.sharded_pubsub else None,
        socket_timeout=settings.timeout,
        history=settings.history,
    )


def _describe_redis(url: str | None, settings: StoreSettings) -> str:
    return f"redis at {without_password(url or '')}"


def _make_sqlite(url: str | None, settings: StoreSettings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(
        settings.data_dir,
        result_ttl=settings.result_ttl,
        rejection_ttl=settings.rejection_ttl,
        max_rejections=settings.max_rejections,
        ledger_maxlen=settings.ledger_maxlen,
        history=settings.history,
    )


def _describe_sqlite(url: str | None, settings: StoreSettings) -> str:
    return f"embedded SQLite at {(settings.data_dir / DB_FILE).resolve()}"


REDIS = StoreKind(_make_redis, _describe_redis, many_processes=True)
SQLITE = StoreKind(_make_sqlite, _describe_sqlite, many_processes=False)

STORES: dict[str | None, StoreKind] = {
    None: SQLITE,  # no URL
    "redis": REDIS,
    "rediss": REDIS,  # TLS
}


def store_kind(url: str | None) -> StoreKind:
    """The kind of store `url` names (None or empty: the embedded one). Raises
    UnknownStore."""
    if not url:  # RULESC_REDIS_URL set but empty too
        return STORES[None]
    known = ", ".join(f"{s}://" for s in STORES if s is not None)
    try:
        scheme = urlsplit(url).scheme  # lower case
    except ValueError as e:  # the URL itself is not printed: it may hold a password
        raise UnknownStore(f"not a URL ({e}); a store URL starts {known}") from e
    kind = STORES.get(scheme) if scheme else None
    if kind is None:
        raise UnknownStore(f"{without_password(url)} is not a store URL (known: {known})")
    return kind


def without_password(url: str) -> str:
    """The URL to print: a password in it never reaches the logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
