"""The gateway: applies a player's batches exactly once, in order, one writer at a time.

For each batch, under the player's lock in this process:
1. take the player's state from the warm cache (or load it: the only extra round trip);
2. run every action through the engine in order, each on the state the earlier ones left;
   an id decided before is answered from the store with `"replayed": true`;
3. ONE store write for the whole batch, checked against the version we started from: a
   commit when some action applies; when none does, `remember` (the rejections are
   remembered, state and version stay as they are). "seen" (an id was decided before or
   meanwhile, e.g. the answer to an earlier try was lost): nothing was written, those ids
   become replays and the rest is computed again. "conflict" (another process wrote):
   reload and compute again, a bounded number of times, then answer `busy`.
So every id is decided once, on the version its batch was judged on (a rejection too), and
a retry gets that decision back, identical, whatever the state has become since.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import engine
from .engine import Outcome
from .grants import GRANT_ACTION, Place, apply_grant
from .packs import Game
from .players import Key, PlayerLocks, StateCache
from .store import CommitOutcome, Decided, Store, StoreUnavailable
from .wire import Action

DEFAULT_RETRIES = 5  # conflicts tolerated per batch before answering `busy`
GRANT_PREFIX = "@grant:"  # grants are remembered apart from action ids ('@' is not in them)

_MISSING = object()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Intent:
    """One thing to decide: a player's action or an admin grant."""

    store_id: str  # the id its result is remembered under
    answer_id: str  # the id in the result object
    name: str
    params: Any
    fingerprint: str
    grant: list[Place] | None = None  # set for a grant
    reason: str = ""

    @classmethod
    def of(cls, action: Action) -> Intent:
        return cls(action.id, action.id, action.name, action.params, action.fingerprint)


@dataclass(slots=True)
class Answer:
    results: list[dict]
    version: int
    server_time: int


@dataclass(slots=True)
class _Plan:
    results: list[dict]
    decided: list[Decided]
    state: dict | None
    applies: bool  # some action is ok: there is something to commit


@dataclass(slots=True)
class Gateway:
    store: Store
    retries: int = DEFAULT_RETRIES
    cache_size: int = 100_000
    clock: Callable[[], int] = now_ms
    # store calls by kind, read by /metrics at scrape time (nothing costs on the hot path)
    calls: Counter[str] = field(default_factory=Counter)
    _locks: PlayerLocks = field(default_factory=PlayerLocks)
    _cache: StateCache = field(init=False)

    def __post_init__(self) -> None:
        self._cache = StateCache(self.cache_size)

    # -- deciding --

    async def apply(self, game: Game, player: str, intents: list[Intent]) -> Answer:
        key = (game.id, player)
        async with self._locks.hold(key):
            known: dict[str, tuple[str, dict]] = {}
            conflicts = 0
            while True:
                now = self.clock()
                version, base = await self._current(key)
                plan = self._plan(game, player, base, intents, known, now)
                if not plan.decided:  # every id was decided before: answered from memory
                    return Answer(plan.results, version, now)
                outcome = await self._write(key, version, base, plan)
                if outcome.status == "ok":
                    if plan.applies:
                        self._cache.put(key, outcome.version, plan.state)
                    return Answer(plan.results, outcome.version, now)
                if outcome.status == "conflict" or outcome.version != version:
                    self._cache.drop(key)
                if outcome.status == "conflict":
                    conflicts += 1
                    if conflicts > self.retries:
                        return Answer([_busy(i) for i in intents], outcome.version, now)
                known.update(outcome.seen)

    async def _write(self, key: Key, version: int, base: dict | None, plan: _Plan) -> CommitOutcome:
        """One store round trip for the plan: a commit when something applies, else the
        rejections are remembered (state and version stay as they are). Either way the
        store checks the ids and the version first and writes nothing when they fail."""
        if not plan.applies:
            self.calls["remember"] += 1
            return await self.store.remember(*key, expected_version=version, decided=plan.decided)
        assert plan.state is not None
        self.calls["commit"] += 1
        try:
            return await self.store.commit(
                *key,
                expected_version=version,
                state=plan.state,
                changed=_changed(base, plan.state, version),
                decided=plan.decided,
            )
        except StoreUnavailable:
            self._cache.drop(key)  # applied or not, we cannot tell: reload next time
            raise

    async def check(self, game: Game, player: str, intents: list[Intent]) -> Answer:
        """What the batch would do now; nothing is written."""
        key = (game.id, player)
        now = self.clock()
        version, base = await self._current(key)
        known = await self._lookup(key, [i.store_id for i in intents])
        plan = self._plan(game, player, base, intents, known, now)
        return Answer(plan.results, version, now)

    def _plan(
        self,
        game: Game,
        player: str,
        base: dict | None,
        intents: list[Intent],
        known: dict[str, tuple[str, dict]],
        now: int,
    ) -> _Plan:
        state = base
        results: list[dict] = []
        decided: list[Decided] = []
        in_batch: dict[str, tuple[str, dict]] = {}
        applies = False
        for it in intents:
            prior = known.get(it.store_id) or in_batch.get(it.store_id)
            if prior is not None:
                fp, stored = prior
                results.append(
                    {**stored, "replayed": True} if fp == it.fingerprint else _reused(it)
                )
                continue
            out = self._run(game, player, it, state, now)
            result = out.result(it.answer_id)
            state = out.state
            ledger = _ledger(it, out) if out.ok else None
            applies = applies or out.ok
            decided.append(Decided(it.store_id, it.fingerprint, result, ledger))
            in_batch[it.store_id] = (it.fingerprint, result)
            results.append(result)
        return _Plan(results, decided, state, applies)

    @staticmethod
    def _run(game: Game, player: str, it: Intent, state: dict | None, now: int) -> Outcome:
        if it.grant is not None:
            return apply_grant(game.pack, state, it.grant, now, it.reason)
        return engine.run(
            game.pack, state, it.name, it.params, now=now, player_id=player, action_id=it.answer_id
        )

    # -- reading --

    async def _current(self, key: Key) -> tuple[int, dict | None]:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        return await self._load(key)

    async def _load(self, key: Key) -> tuple[int, dict | None]:
        self.calls["load"] += 1
        snap = await self.store.load(*key)
        self._cache.offer(key, snap.version, snap.state)
        return snap.version, snap.state

    async def _lookup(self, key: Key, ids: list[str]) -> dict[str, tuple[str, dict]]:
        if not ids:
            return {}
        self.calls["lookup"] += 1
        return await self.store.lookup(*key, ids)

    async def state(self, game: Game, player: str) -> tuple[int, dict, int]:
        """(version, the state as clients see it, server time). Always read from the
        store: a reader may be served by another process than the last writer."""
        version, base = await self._load((game.id, player))
        now = max(self.clock(), (base or {}).get("_now", 0))
        return version, engine.view(game.pack, base, now), now

    async def version(self, game: str, player: str) -> int:
        return (await self._current((game, player)))[0]

    def saw_version(self, game: str, player: str, version: int) -> None:
        """A push said the stored version is `version`: forget an older cached state."""
        self._cache.drop_if_older((game, player), version)


def _changed(base: dict | None, new: dict, version: int) -> list[str] | None:
    """Top-level fields that differ (None: write the whole state, for a new player)."""
    if base is None or version == 0:
        return None
    keys = base.keys() | new.keys()
    return sorted(k for k in keys if base.get(k, _MISSING) != new.get(k, _MISSING))


def _ledger(it: Intent, out: Outcome) -> dict:
    # "action_id", not "id": the store adds the event id as "id" when it reads the ledger.
    if it.grant is not None:
        return {"action": GRANT_ACTION, "action_id": it.answer_id,
                "params": it.params, "changes": out.changes, "events": out.events,
                "time": out.now}  # fmt: skip
    return {"action": it.name, "action_id": it.answer_id, "params": it.params,
            "changes": out.changes, "events": out.events, "time": out.now}  # fmt: skip


def _reused(it: Intent) -> dict:
    return {"id": it.answer_id, "status": "rejected", "error": {
        "code": "id_reused",
        "message": f"id {it.answer_id} was used before for another action or other params",
        "details": {}}}  # fmt: skip


def _busy(it: Intent) -> dict:
    return {"id": it.answer_id, "status": "rejected", "error": {
        "code": "busy", "message": "the player's state is changing elsewhere; retry later",
        "details": {}}}  # fmt: skip
