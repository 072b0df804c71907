"""The store contract: where player state, decided results, the ledger and pushes live.

Two implementations keep the same guarantees: RedisStore (production, one Lua script per
commit) and SqliteStore (embedded, one process). tests/test_store_contract.py runs the same
tests against both.

Guarantees of `commit`, in one atomic step:
- reads and checks come before any write: an action id decided before answers "seen" with
  its stored result; else a version other than `expected_version` answers "conflict";
  either way nothing is written;
- else the state fields are written and the version goes up by one, every decided result is
  remembered under its id (an applied one for `result_ttl`, a rejected one — `ledger`
  None — for `rejection_ttl`, see below), every ledger entry is appended to the
  player's ledger (the event id is the ledger id), and one message goes to the player's
  subscribers (unless push=False).

A commit or remember whose answer was lost raises StoreOutcomeUnknown; any other store
failure raises StoreUnavailable and means nothing was written.

`remember` is the same step for decisions that change nothing (a batch whose every action
was rejected): the same checks in the same order, then only the results are remembered;
state, version and ledger stay as they are and nothing is pushed. So a rejection is
decided once, on the version it was judged on, and a retry gets it back identical.

What one player can make the store remember is bounded: rejected results are remembered
for `rejection_ttl` (at most `result_ttl`), and at most `max_rejections` of them per player
— a write that would keep more forgets the ones closest to expiry first (the oldest).
A forgotten id is decided anew when it comes again. Applied results are kept for
`result_ttl` whatever the player rejects: rejections never push them out.

Ledger event ids are strings that increase within one player's ledger of one store; they
are not comparable across stores.
"""

from __future__ import annotations

import abc
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .history import Feed
from .store_social import SocialStore

log = logging.getLogger(__name__)

# Top-level state fields starting with this are reserved for the store (the Redis hash
# keeps the version next to the fields). Rule names are identifiers, so never collide.
RESERVED_PREFIX = "@"

DEFAULT_RESULT_TTL = 24 * 3600.0  # seconds; the protocol promises at least 24 h
# Rejected results are kept briefly and counted, so a player sending rejected actions
# with fresh ids cannot make the store remember without end (applied ones: result_ttl).
DEFAULT_REJECTION_TTL = 3600.0  # seconds (never more than result_ttl)
DEFAULT_MAX_REJECTIONS = 1000  # rejected results remembered per player, the newest
DEFAULT_LEDGER_MAXLEN = 10_000  # entries kept per player


class StoreError(Exception):
    """Base class of store errors."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or cannot take the call now: answer 503 `unavailable`.
    A commit or remember that raises this (and not StoreOutcomeUnknown) wrote nothing."""


class StoreOutcomeUnknown(StoreUnavailable):
    """A commit or remember was sent and its answer lost (a reply timeout, a link that
    broke after the write): it was applied entirely or not at all (it is atomic), and the
    caller cannot tell which. Answer 503 `outcome_unknown`: the same ids sent again get the
    stored results ("seen") if it was applied, and are decided now if it was not."""


# not frozen: a frozen dataclass's __init__ pays a call per field, and these are made per action
@dataclass(slots=True)
class Snapshot:
    version: int  # 0 when the player has no state yet
    state: dict | None  # None when the player has no state yet


@dataclass(slots=True)  # (not frozen: see Snapshot)
class Decided:
    """One action decided in a commit."""

    action_id: str
    fingerprint: str  # hash of (name, params): same id, other fingerprint -> id_reused
    result: dict  # the protocol result object, answered identically on retry
    ledger: dict | None  # None for rejected actions (nothing enters the ledger)
    action: str = ""  # the action's name: rejections are counted by it (runtime/history.py)


@dataclass(slots=True)  # (not frozen: see Snapshot)
class CommitOutcome:
    status: Literal["ok", "conflict", "seen"]
    version: int  # the version after (ok), else the current version
    # for "seen": action_id -> (fingerprint, stored result) of the ids decided before
    seen: dict[str, tuple[str, dict]] = field(default_factory=dict)
    # for "ok": the event id of each Decided that has a ledger entry, in order
    event_ids: list[str] = field(default_factory=list)


# Called on the event loop for every commit of the player, from any process, with
# {"version", "decided": [results], "event_ids": [...], "ledger": [entries]} (ledger[i]
# has event id event_ids[i]). The dict is shared by all callbacks: do not mutate it.
# A commit made through this store instance is delivered before its `commit` call
# returns; others when they arrive. The two ways do not keep order between them: order
# by "version".
# After the store link was lost and restored, callbacks get {"gap": True}: commits made
# meanwhile were not delivered, so the client should resync.
# A callback must not block; its exceptions are logged and dropped.
Callback = Callable[[dict], object]


def deliver(callbacks: list[Callback], message: dict) -> None:
    """Call each callback with `message`; one that fails is logged and the rest still
    get it (see Callback)."""
    for callback in callbacks:
        try:
            callback(message)
        except Exception:
            log.exception("push callback failed")


def push_message(version: int, decided: list[Decided], event_ids: list[str]) -> dict:
    """The message a commit sends its player's subscribers (see Callback)."""
    return {
        "version": version,
        "decided": [d.result for d in decided],
        "event_ids": event_ids,
        "ledger": [d.ledger for d in decided if d.ledger is not None],
    }


class Subscription(abc.ABC):
    # the player's version when the subscription started: every commit after it (a
    # greater version) is delivered, and none before it is
    version: int = 0

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivering to this callback. Closing twice is harmless."""


class Store(SocialStore, abc.ABC):
    """The whole contract: player state, results, ledger and pushes (here), inboxes, the
    outbox index and leaderboards (store_social.py)."""

    @abc.abstractmethod
    async def load(self, game: str, player: str) -> Snapshot: ...

    @abc.abstractmethod
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
        """Apply one commit atomically (see the module docstring).

        `state` maps top-level fields to JSON-able values. With `changed` None the stored
        state becomes exactly `state`; else only the listed fields are written: set from
        `state`, or deleted when absent from it. Other stored fields stay as they are.
        """

    @abc.abstractmethod
    async def remember(
        self, game: str, player: str, *, expected_version: int, decided: list[Decided]
    ) -> CommitOutcome:
        """Remember results that change nothing, atomically (see the module docstring).

        An id decided before (and still remembered) answers "seen" with its stored result
        and nothing is written: the first decision of an id wins. Else a version other
        than `expected_version` answers "conflict" and nothing is written. Else every
        result is remembered under its id for `result_ttl`, and the answer is "ok" with the
        version unchanged. Every Decided must have `ledger` None (ValueError otherwise).
        """

    @abc.abstractmethod
    async def lookup(
        self, game: str, player: str, action_ids: list[str]
    ) -> dict[str, tuple[str, dict]]:
        """The (fingerprint, result) of each id decided before and still remembered."""

    @abc.abstractmethod
    async def ledger(self, game: str, player: str, *, after: str | None, limit: int) -> list[dict]:
        """At most `limit` entries strictly after event id `after` (None: from the oldest
        retained), oldest first, each with its event id added as "id". An `after` that is
        not shaped like this store's event ids raises ValueError."""

    @abc.abstractmethod
    async def ledger_recent(self, game: str, player: str, *, limit: int) -> list[dict]:
        """The newest `limit` retained entries, oldest first (as `ledger`)."""

    @abc.abstractmethod
    async def ledger_since(self, game: str, player: str, after: str) -> list[dict] | None:
        """Every retained entry strictly after `after` (as `ledger`), or None when some
        entry after `after` was trimmed away (the client must resync). "0" means from the
        very beginning."""

    @abc.abstractmethod
    async def player_for_device(self, game: str, device_id: str) -> str:
        """The player of a device: the same device always gets the same player, a new
        device gets a new random, unguessable id."""

    @abc.abstractmethod
    async def subscribe(self, game: str, player: str, callback: Callback) -> Subscription:
        """Deliver every later commit of the player to `callback` (see Callback), made by
        any process, this one included. When this returns, the subscription is active, and
        its `version` says from which version on commits are delivered."""

    def history_feed(self) -> Feed:
        """The change feed of the history sink (runtime/history.py): what commits append
        when the store was made with history=True."""
        raise NotImplementedError(f"{type(self).__name__} has no history feed")

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    @abc.abstractmethod
    async def close(self) -> None: ...


def new_player_id() -> str:
    # 128 random bits, URL-safe, no '{' '}' or ':' so it reads well inside Redis keys.
    return secrets.token_urlsafe(16)


def check_max_rejections(n: int) -> int:
    if n < 1:
        raise ValueError("max_rejections must be at least 1")
    return n


def check_commit_args(state: dict, changed: list[str] | None, decided: list[Decided]) -> None:
    """Refuse, before touching the store, what would corrupt it."""
    fields = state if changed is None else changed
    for name in fields:
        if not isinstance(name, str) or name.startswith(RESERVED_PREFIX):
            raise ValueError(f"state field name not allowed: {name!r}")
    _check_ids(decided)


def check_remember_args(decided: list[Decided]) -> None:
    """Refuse what `remember` must not write: ledger entries, an id twice."""
    if any(d.ledger is not None for d in decided):
        raise ValueError("remember() takes results that change nothing (ledger None)")
    _check_ids(decided)


def _check_ids(decided: list[Decided]) -> None:
    ids = [d.action_id for d in decided]
    if len(set(ids)) != len(ids):
        raise ValueError("the same action id is decided twice in one commit")
