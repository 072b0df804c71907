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

Players meeting players (runtime/social.py): before the actions, the snapshots of the
players they name are read (`peers`); deliveries waiting in the player's inbox are applied
first, in the same commit (a delivery moves the player's version, so a cached state meets
a conflict and the reload finds them). After a commit, what it sent is delivered to the
receivers' inboxes before the answer goes out, and stripped from the outbox by a later
commit (`_tidy`); leaderboards take the committed scores.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import engine, leaderboards, social
from .engine import Outcome
from .grants import GRANT_ACTION, Place, apply_grant
from .pack import PackError
from .packs import Game
from .players import Key, PlayerLocks, StateCache
from .store import CommitOutcome, Decided, Store, StoreUnavailable
from .wire import Action

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 5  # conflicts tolerated per batch before answering `busy`
GRANT_PREFIX = "@grant:"  # grants are remembered apart from action ids ('@' is not in them)
MIGRATE_PREFIX = "@migrate:"  # a state's migration to a new pack, decided like an action
MIGRATE_ACTION = "rules:migrate"  # the ledger's action name for it (no rule name has a ':')

_MISSING = object()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)  # (not frozen: made per action, see store.Snapshot)
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
    applies: bool  # some action is ok (or a delivery, or outbox tidying): commit
    done: list[str] = field(default_factory=list)  # inbox ids to forget after the commit
    sends: bool = False  # the commit adds effects to the outbox
    faults: Counter[str] = field(default_factory=Counter)  # pack faults contained, by where


@dataclass(slots=True)
class Gateway:
    store: Store
    retries: int = DEFAULT_RETRIES
    cache_size: int = 100_000
    clock: Callable[[], int] = now_ms
    # store calls by kind, read by /metrics at scrape time (nothing costs on the hot path)
    calls: Counter[str] = field(default_factory=Counter)
    # pack faults contained, by (game, where): read by /metrics (rulesc_pack_faults_total).
    # Counted from the plan that was answered (a plan redone after a conflict counts once).
    faults: Counter[tuple[str, str]] = field(default_factory=Counter)
    _locks: PlayerLocks = field(default_factory=PlayerLocks)
    _cache: StateCache = field(init=False)
    # per player: ids of effects in their outbox known to be in their receivers' inboxes,
    # stripped from the outbox by the next commit
    _sent: dict[Key, set[str]] = field(default_factory=dict)
    _tasks: set[asyncio.Task] = field(default_factory=set)  # outbox tidying under way

    def __post_init__(self) -> None:
        self._cache = StateCache(self.cache_size)

    # -- deciding --

    async def apply(self, game: Game, player: str, intents: list[Intent]) -> Answer:
        key = (game.id, player)
        turn = self._locks.acquire(key)  # (not `async with`: no coroutine when it is free)
        if turn is not None:
            await turn
        try:
            known: dict[str, tuple[str, dict]] = {}
            conflicts = 0
            while True:
                now = self.clock()
                # (not `await self._current`: no coroutine when the state is warm)
                version, base, inbox = self._warm(key) or await self._load(key, game)
                ids = self._peer_ids(game, player, intents, known)
                peers = await self._peers(game, ids) if ids else {}
                plan = self._plan(game, player, base, intents, known, now, version, inbox, peers)
                if not plan.decided and not plan.applies:  # answered from memory; nothing to tidy
                    self._count_faults(game, plan)
                    await self._forget(key, plan.done)
                    return Answer(plan.results, version, now)
                if plan.sends:
                    await self._mark(key, now)  # before the commit: a crash after it is found
                try:
                    outcome = await self._write(key, version, base, plan)
                except StoreUnavailable:
                    self._cache.drop(key)  # applied or not, we cannot tell: reload next time
                    raise
                if outcome.status == "ok":
                    self._count_faults(game, plan)
                    if plan.applies:
                        self._cache.put(key, outcome.version, plan.state)
                        try:
                            if self._after_needed(game, key, plan):
                                await self._after(game, player, base, plan, outcome.version, now)
                        except Exception:  # the commit stands: the answer must say so
                            log.exception("after the commit of %s/%s", *key)
                    return Answer(plan.results, outcome.version, now)
                if outcome.status == "conflict" or outcome.version != version:
                    self._cache.drop(key)
                if outcome.status == "conflict":
                    conflicts += 1
                    if conflicts > self.retries:
                        return Answer([_busy(i) for i in intents], outcome.version, now)
                known.update(outcome.seen)
        finally:
            self._locks.release(key)

    def _write(
        self, key: Key, version: int, base: dict | None, plan: _Plan
    ) -> Awaitable[CommitOutcome]:
        """One store round trip for the plan: a commit when something applies, else the
        rejections are remembered (state and version stay as they are). Either way the
        store checks the ids and the version first and writes nothing when they fail.
        (The store's call itself is returned: no coroutine of its own on this path.)"""
        if not plan.applies:
            self.calls["remember"] += 1
            return self.store.remember(*key, expected_version=version, decided=plan.decided)
        assert plan.state is not None
        self.calls["commit"] += 1
        return self.store.commit(
            *key,
            expected_version=version,
            state=plan.state,
            changed=_changed(base, plan.state, version),
            decided=plan.decided,
        )

    async def check(self, game: Game, player: str, intents: list[Intent]) -> Answer:
        """What the batch would do now; nothing is written."""
        key = (game.id, player)
        now = self.clock()
        version, base, inbox = await self._current(key, game)
        known = await self._lookup(key, [i.store_id for i in intents])
        ids = self._peer_ids(game, player, intents, known)
        peers = await self._peers(game, ids) if ids else {}
        plan = self._plan(game, player, base, intents, known, now, version, inbox, peers)
        self._count_faults(game, plan)
        return Answer(plan.results, version, now)

    def _count_faults(self, game: Game, plan: _Plan) -> None:
        for where, n in plan.faults.items():
            self.faults[(game.id, where)] += n

    def _plan(
        self,
        game: Game,
        player: str,
        base: dict | None,
        intents: list[Intent],
        known: dict[str, tuple[str, dict]],
        now: int,
        version: int = 0,
        inbox: list[dict] | None = None,
        peers: dict[str, dict | None] | None = None,
    ) -> _Plan:
        # a state last written under another pack: its migration comes first, in this commit
        faults: Counter[str] = Counter()
        try:
            state, migrated = _migration(game, base, now, version)
        except PackError as err:  # each action below meets it again and is its pack_fault
            faults["migrate"] += 1
            log.error(
                "%s/%s: migration to pack %s failed: %s", game.id, player, game.pack.version, err
            )
            state, migrated = base, None
        results: list[dict] = []
        in_batch: dict[str, tuple[str, dict]] = {}
        # effects this commit sends are numbered by the version it makes
        numbering = social.Numbering(player, version + 1)
        sent = self._sent.get((game.id, player))
        if sent and state is not None and state.get(social.OUTBOX):
            state = social.without(state, sent)  # delivered before: this commit strips them
        state, decided, done = social.receive_all(
            game.pack, player, state, inbox or [], now, numbering, faults
        )
        if migrated is not None:
            decided.insert(0, migrated)
        applies = state is not base
        for it in intents:
            prior = known.get(it.store_id) or in_batch.get(it.store_id)
            if prior is not None:
                fp, stored = prior
                results.append(
                    {**stored, "replayed": True} if fp == it.fingerprint else _reused(it)
                )
                continue
            out = self._run(game, player, it, state, now, peers)
            if out.error is not None and out.error["code"] == "pack_fault":
                faults["grant" if it.grant is not None else "action"] += 1
            elif out.ok and out.events:
                faults["hook"] += len(engine.hook_faults(out.events))
            result = out.result(it.answer_id)
            if out.ok:  # a rejected action leaves the state as it was
                state = social.send(out.state, out.outbox, numbering) if out.outbox else out.state
            ledger = _ledger(it, out) if out.ok else None
            applies = applies or out.ok
            decided.append(Decided(it.store_id, it.fingerprint, result, ledger, it.name))
            in_batch[it.store_id] = (it.fingerprint, result)
            results.append(result)
        return _Plan(results, decided, state, applies, done, numbering.n > 0, +faults)

    @staticmethod
    def _run(
        game: Game, player: str, it: Intent, state: dict | None, now: int, peers: dict | None = None
    ) -> Outcome:
        try:
            if it.grant is not None:
                return apply_grant(game.pack, state, it.grant, now, it.reason)
            out = engine.run(
                game.pack,
                state,
                it.name,
                it.params,
                now=now,
                player_id=player,
                action_id=it.answer_id,
                peers=peers,
            )
        except PackError as err:  # a bug in the rules: this action only, the batch goes on
            log.error(
                "%s/%s: action %s (%s) failed inside pack %s: %s",
                game.id,
                player,
                it.answer_id,
                it.name,
                game.pack.version,
                err,
            )
            # (_plan keeps the state it had: preparing it may be what faulted)
            return engine.rejected(state or {}, now, "pack_fault", f"the rules failed: {err}")
        if not out.ok and out.error is not None and out.error["code"] == "unknown_row":
            log.warning(
                "%s/%s: action %s (%s) under pack %s: %s",
                game.id,
                player,
                it.answer_id,
                it.name,
                game.pack.version,
                out.error["message"],
            )
        return out

    # -- players meeting players (runtime/social.py) --

    @staticmethod
    def _peer_ids(game: Game, player: str, intents: list[Intent], known: dict) -> list[str]:
        """The other players the actions name (not those answered from memory)."""
        if not social.names_players(game.pack):
            return []  # most games: nothing to look for, on a path every action takes
        return sorted(
            social.peer_ids(game.pack, player, [i for i in intents if i.store_id not in known])
        )

    async def _peers(self, game: Game, ids: list[str]) -> dict[str, dict | None]:
        """The states of the other players the actions name, read now from the store (a
        snapshot: the action is judged on them, and they may change before it commits).
        Callers skip it when there are none (most actions): no coroutine to run."""
        self.calls["peer"] += len(ids)
        snaps = await asyncio.gather(*(self.store.load(game.id, p) for p in ids))
        return {p: s.state for p, s in zip(ids, snaps, strict=True)}

    async def _mark(self, key: Key, now: int) -> None:
        self.calls["mark"] += 1
        await self.store.mark_outbox(*key, now)

    def _after_needed(self, game: Game, key: Key, plan: _Plan) -> bool:
        """Whether _after has anything to do (most commits: no; then no coroutine)."""
        assert plan.state is not None
        return bool(
            plan.done
            or plan.state.get(social.OUTBOX)
            or key in self._sent
            or leaderboards.kept(game.pack)
        )

    async def _after(
        self, game: Game, player: str, base: dict | None, plan: _Plan, version: int, now: int
    ) -> None:
        """After a commit: forget the inbox ids it applied, deliver what it sent, put its
        scores on the leaderboards. The commit stands whatever happens here: what fails is
        done again later (the next commit, the sweep of marked outboxes, the next score)."""
        key = (game.id, player)
        assert plan.state is not None
        await self._forget(key, plan.done)
        outbox = plan.state.get(social.OUTBOX)
        if outbox:
            waiting = {e["id"] for e in outbox}
            sent = self._sent[key] = self._sent.get(key, set()) & waiting  # the rest were stripped
            self.calls["deliver"] += len(waiting - sent)
            delivered = await social.deliver(
                self.store, game.id, [e for e in outbox if e["id"] not in sent]
            )
            if delivered:
                sent |= delivered
                self._spawn(self._tidy(game, player))
        else:
            self._sent.pop(key, None)  # every effect sent is stripped now
        if leaderboards.kept(game.pack):
            await leaderboards.update(
                self.store, game.pack, game.id, player, base, plan.state, version, now
            )

    async def _forget(self, key: Key, ids: list[str]) -> None:
        if not ids:
            return
        try:
            await self.store.inbox_done(*key, ids)
        except StoreUnavailable as e:  # they are skipped when seen again (the mark), then forgotten
            log.warning("inbox of %s/%s not cleaned: %s", *key, e)

    async def _tidy(self, game: Game, player: str) -> None:
        """Strip delivered effects from the player's outbox (a commit of its own), and take
        the player off the outbox index when nothing is left to deliver."""
        key = (game.id, player)
        try:
            mark = await self.store.outbox_mark(*key)
            await self.apply(game, player, [])  # the plan strips what _sent holds
            cached = self._cache.get(key)
            if mark is not None and cached is not None and not (cached[1] or {}).get(social.OUTBOX):
                await self.store.unmark_outbox(*key, mark)
        except StoreUnavailable as e:  # the sweep of marked outboxes does it later
            log.warning("outbox of %s/%s not tidied: %s", *key, e)

    async def flush_outbox(self, game: Game, player: str) -> None:
        """Deliver what a player's outbox still holds (left there by a crash, or a failed
        delivery) and tidy it: the sweep of marked outboxes calls this."""
        key = (game.id, player)
        async with self._locks.hold(key):
            self._cache.drop(key)  # read what is stored: another process may have written
            _, state, _ = await self._current(key, game)
            outbox = (state or {}).get(social.OUTBOX)
            if outbox:
                self.calls["deliver"] += len(outbox)
                self._sent.setdefault(key, set()).update(
                    await social.deliver(self.store, game.id, outbox)
                )
        await self._tidy(game, player)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until the outbox tidying under way is done (tests; shutting down)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- reading --

    async def _current(
        self, key: Key, game: Game | None = None
    ) -> tuple[int, dict | None, list[dict]]:
        """(version, state, the inbox). A cached state comes with no inbox: a delivery
        since moved the stored version, so the commit meets a conflict and reloads."""
        return self._warm(key) or await self._load(key, game)

    def _warm(self, key: Key) -> tuple[int, dict | None, list[dict]] | None:
        """(version, state, no inbox) from the cache, or None when it holds none."""
        cached = self._cache.get(key)
        return None if cached is None else (cached[0], cached[1], [])

    async def _load(
        self, key: Key, game: Game | None = None
    ) -> tuple[int, dict | None, list[dict]]:
        self.calls["load"] += 1
        if game is None or not social.receives(game.pack):
            snap = await self.store.load(*key)
            inbox: list[dict] = []
        else:  # the same round trip: both commands go out together
            self.calls["inbox"] += 1
            snap, inbox = await asyncio.gather(self.store.load(*key), self.store.inbox(*key))
        self._cache.offer(key, snap.version, snap.state)
        return snap.version, snap.state, inbox

    async def _lookup(self, key: Key, ids: list[str]) -> dict[str, tuple[str, dict]]:
        if not ids:
            return {}
        self.calls["lookup"] += 1
        return await self.store.lookup(*key, ids)

    async def state(self, game: Game, player: str) -> tuple[int, dict, int]:
        """(version, the state as clients see it, server time). Always read from the
        store: a reader may be served by another process than the last writer. What
        waits in the inbox is applied first, so the state shows it."""
        version, base, inbox = await self._load((game.id, player), game)
        if inbox or _unmigrated(game, base):
            self._cache.drop((game.id, player))  # so the apply reads the inbox too
            await self.apply(game, player, [])
            version, base, _ = await self._load((game.id, player))
        now = max(self.clock(), (base or {}).get("_now", 0))
        try:
            return version, engine.view(game.pack, base, now), now
        except PackError:  # answered 409 pack_fault (handlers.py)
            self.faults[(game.id, "read")] += 1
            raise

    async def apply_inbox(self, game: Game, player: str) -> None:
        """Apply what waits in the player's inbox, if anything does (read from the store,
        not the cache: a cached state comes without its inbox)."""
        if not social.receives(game.pack):
            return
        self.calls["inbox"] += 1
        if await self.store.inbox(game.id, player):
            self._cache.drop((game.id, player))  # so the apply reads the inbox too
            await self.apply(game, player, [])

    async def version(self, game: str, player: str) -> int:
        return (await self._current((game, player)))[0]

    def saw_version(self, game: str, player: str, version: int) -> None:
        """A push said the stored version is `version`: forget an older cached state."""
        self._cache.drop_if_older((game, player), version)


def _changed(base: dict | None, new: dict, version: int) -> list[str] | None:
    """Top-level fields that differ (None: write the whole state, for a new player).
    The engine copies only what an action may change, so most fields are the very same
    objects: `is` settles them without comparing their contents."""
    if base is None or version == 0:
        return None
    changed = [k for k, v in new.items() if (old := base.get(k, _MISSING)) is not v and old != v]
    return sorted(changed + list(base.keys() - new.keys()))


def _unmigrated(game: Game, state: dict | None) -> bool:
    return state is not None and state.get("_pack") != game.pack.version


def _migration(
    game: Game, state: dict | None, now: int, version: int
) -> tuple[dict | None, Decided | None]:
    """A state last written under another pack, migrated (runtime/migrate.py), with its
    ledger entry: written in the commit that also records the new pack in the state, so it
    happens once. None when nothing it holds moves: the upgrade is then made again by the
    engine until the next commit writes it (no entry: nothing changed)."""
    if not _unmigrated(game, state):
        return state, None
    assert state is not None
    new, done = engine.upgrade(game.pack, state, now)
    if not done.changes:
        return state, None
    action_id = f"{MIGRATE_PREFIX}{game.pack.version}:{version}"
    result = {"id": action_id, "status": "ok", "changes": done.changes, "events": []}
    if done.clamped:
        result["clamped"] = done.clamped
    ledger = {
        "action": MIGRATE_ACTION,
        "action_id": action_id,
        "params": {},
        "migrate": {"from": state.get("_pack"), "to": game.pack.version, "lines": done.lines},
        "changes": done.changes,
        "events": [],
        "time": max(now, state.get("_now", 0)),
    }
    if done.clamped:
        ledger["clamped"] = done.clamped
    return new, Decided(action_id, "", result, ledger)


def _ledger(it: Intent, out: Outcome) -> dict:
    # "action_id", not "id": the store adds the event id as "id" when it reads the ledger.
    if it.grant is not None:
        return {
            "action": GRANT_ACTION,
            "action_id": it.answer_id,
            "params": it.params,
            "changes": out.changes,
            "events": out.events,
            "time": out.now,
        }
    return {
        "action": it.name,
        "action_id": it.answer_id,
        "params": it.params,
        "changes": out.changes,
        "events": out.events,
        "time": out.now,
    }


def _reused(it: Intent) -> dict:
    return {
        "id": it.answer_id,
        "status": "rejected",
        "error": {
            "code": "id_reused",
            "message": f"id {it.answer_id} was used before for another action or other params",
            "details": {},
        },
    }


def _busy(it: Intent) -> dict:
    return {
        "id": it.answer_id,
        "status": "rejected",
        "error": {
            "code": "busy",
            "message": "the player's state is changing elsewhere; retry later",
            "details": {},
        },
    }
