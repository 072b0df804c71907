"""Effects between players, delivered exactly once (the gateway calls in here).

A `give` or `take` is an effect on another player. Its way, in atomic steps that each
touch one player (one Redis Cluster slot), never two:

1. The sender's commit writes it into the sender's own state, field `_outbox`, with an id
   `SENDER:VERSION:N` (the version the commit makes, the effect's place in it) and its
   order `seq` = [VERSION, N]. Committed or not, all or nothing: no gift without its cost.
2. A deliverer puts it in the receiver's inbox (store.deliver: a no-op when the id already
   waits there), then strips it from the sender's `_outbox` with another commit. A crash
   in between leaves it in the outbox: a later deliverer (the sender's next commit, or the
   sweep of marked outboxes) delivers it again, and at worst the inbox sees it twice.
   Effects from one sender to one receiver are delivered in `seq` order, each only after
   the one before it arrived.
3. The receiver applies inbox effects in its own commit, in `seq` order per sender, and
   records in its state (`_received`) the `seq` of the last effect applied from each
   sender. An effect at or below that mark was applied before: it is skipped and forgotten.
   Because of (2)'s order, nothing below the mark can still be on its way.

So an effect is applied once: never lost (it stays in an outbox until an inbox has it,
and in the inbox until a commit records it), never twice (the mark). A `take` applies in
the receiver's step (what they have, at most the amount) and sends what it took back to
the taker the same way, as a `return`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from . import engine
from .pack import Pack, PackError
from .store import Decided, StoreUnavailable
from .store_social import SocialStore

log = logging.getLogger(__name__)

RECEIVE_ACTION = "inbox:receive"  # the ledger's action name for a delivery (no rule name has ':')
SET_ASIDE_ACTION = "inbox:set_aside"  # ... for one the rules fault on (receive_all)
INBOX_PREFIX = "@inbox:"  # deliveries are decided under this prefix, apart from action ids
OUTBOX, RECEIVED = "_outbox", "_received"


def receives(pack: Pack) -> bool:
    """Whether players of this pack may be sent effects (so have inboxes to look at)."""
    return bool(getattr(pack.module, "PLAYER_PARAMS", None))


@dataclass(slots=True)
class Numbering:
    """The ids of the effects one commit sends: SENDER:VERSION:N."""

    player: str
    version: int  # the version the commit will make
    n: int = 0

    def stamp(self, effects: list[dict]) -> list[dict]:
        out = []
        for e in effects:
            out.append(
                {**e, "id": f"{self.player}:{self.version}:{self.n}", "seq": [self.version, self.n]}
            )
            self.n += 1
        return out


def send(state: dict, effects: list[dict], numbering: Numbering) -> dict:
    """The state with `effects` added to its outbox (committed with it)."""
    return {**state, OUTBOX: [*state.get(OUTBOX, ()), *numbering.stamp(effects)]}


def receive_all(
    pack: Pack,
    player: str,
    state: dict | None,
    inbox: list[dict],
    now: int,
    numbering: Numbering,
    faults: Counter[str] | None = None,
) -> tuple[dict | None, list[Decided], list[str]]:
    """Apply the waiting effects: (the new state, one Decided per effect applied, the ids
    to forget from the inbox: applied now or before).

    A fault in a hook stays in the hook (engine.run_hook: the delivery applies, the hook's
    effects are dropped, a `hook_failed` event names the `.rules` line). Outside a hook,
    nothing of the faulting delivery applies, the server logs it, the rest of the step
    goes on, and either
    - these rules cannot bring this player's state to now at all (their actions are
      `pack_fault` too): the delivery stays in the inbox, with the ones from the same
      sender after it (their order holds), for rules that work to apply; or
    - the state is fine and this delivery faults: it is set aside, once (so it never
      faults again on every read): recorded as decided, past the sender's mark, with a
      ledger entry `inbox:set_aside` that holds the effect and the error (an operator
      can grant what it carried).

    `faults`, when given, counts the pack faults met: "delivery" (set aside or kept) and
    "hook" (an `on receive` or `on level_up` hook that faulted)."""
    if state is None or not inbox:
        return state, [], []
    marks: dict[str, Any] = dict(state.get(RECEIVED, {}))
    decided: list[Decided] = []
    done: list[str] = []
    held: set[str] = set()  # senders whose line waits behind a delivery that faulted
    for effect in sorted(inbox, key=lambda e: (e["from"], e["seq"])):
        if effect["from"] in held:
            continue
        mark = marks.get(effect["from"])
        if mark is not None and effect["seq"] <= mark:
            done.append(effect["id"])
            continue  # applied before (a delivery made twice)
        try:
            out = engine.receive(pack, state, effect, now=now, player_id=player)
        except PackError as err:
            if faults is not None:
                faults["delivery"] += 1
            aside = _prepares(pack, state, now)
            log.error(
                "%s: delivery %s %s, it failed inside pack %s: %s",
                player,
                effect["id"],
                "set aside" if aside else "kept in the inbox",
                pack.version,
                err,
            )
            if not aside:
                held.add(effect["from"])
                continue
            done.append(effect["id"])
            marks[effect["from"]] = effect["seq"]
            decided.append(_set_aside(effect, str(err), max(now, state.get("_now", 0))))
            continue
        done.append(effect["id"])
        if faults is not None and out.events:
            faults["hook"] += len(engine.hook_faults(out.events))
        state = send(out.state, out.outbox, numbering) if out.outbox else out.state
        marks[effect["from"]] = effect["seq"]
        decided.append(_decided(effect, out))
    if decided:
        state = {**state, RECEIVED: marks}
    return state, decided, done


def _prepares(pack: Pack, state: dict, now: int) -> bool:
    """Whether the rules can bring this state to `now` (else nothing can be applied to it)."""
    try:
        engine.prepare(pack, state, now)
    except PackError:
        return False
    return True


def _set_aside(effect: dict, error: str, now: int) -> Decided:
    message = f"the rules failed on this delivery: {error}"
    fault = {"code": "pack_fault", "message": message, "details": {}}
    result = {"id": effect["id"], "status": "rejected", "error": fault}
    params = {"from": effect["from"], "action": effect["action"], "kind": effect["kind"]}
    ledger = {
        "action": SET_ASIDE_ACTION,
        "action_id": effect["id"],
        "params": params,
        "effect": effect,
        "error": fault,
        "changes": {},
        "events": [],
        "time": now,
    }
    return Decided(INBOX_PREFIX + effect["id"], "inbox", result, ledger)


def _decided(effect: dict, out: engine.Outcome) -> Decided:
    result = {"id": effect["id"], "status": "ok", "changes": out.changes, "events": out.events}
    params = {"from": effect["from"], "action": effect["action"], "kind": effect["kind"]}
    ledger = {
        "action": RECEIVE_ACTION,
        "action_id": effect["id"],
        "params": params,
        "changes": out.changes,
        "events": out.events,
        "time": out.now,
    }
    return Decided(INBOX_PREFIX + effect["id"], "inbox", result, ledger)


def by_receiver(outbox: list[dict]) -> dict[str, list[dict]]:
    """The outbox per receiver, each in the order it must be delivered."""
    out: dict[str, list[dict]] = {}
    for effect in sorted(outbox, key=lambda e: e["seq"]):
        out.setdefault(effect["to"], []).append(effect)
    return out


def without(state: dict, delivered: set[str]) -> dict:
    """The state with the delivered effects stripped from its outbox (`state` itself when
    none of them is there)."""
    outbox = state.get(OUTBOX, ())
    left = [e for e in outbox if e["id"] not in delivered]
    if len(left) == len(outbox):
        return state
    out = dict(state)
    if left:
        out[OUTBOX] = left
    else:
        out.pop(OUTBOX, None)
    return out


def names_players(pack: Pack) -> bool:
    """Whether some action of the pack has a `player` parameter. (Read from the module's
    dict: a getattr that misses makes an AttributeError, on a path every action takes.)"""
    return bool(pack.module.__dict__.get("PLAYER_PARAMS"))


def peer_ids(pack: Pack, player: str, intents: list[Any]) -> set[str]:
    """The other players the actions name (their `player` parameters): whose snapshots to
    read before running them."""
    out: set[str] = set()
    if not names_players(pack):
        return out
    for it in intents:
        if it.grant is not None or not isinstance(it.params, dict):
            continue
        for name in engine.player_params(pack, it.name):
            other = it.params.get(name)
            if isinstance(other, str) and other != player and 0 < len(other) <= 128:
                out.add(other)
    return out


async def deliver(store: SocialStore, game: str, outbox: list[dict]) -> set[str]:
    """Put each effect in its receiver's inbox: the ids that are there now (or whose
    receiver is gone: nothing can ever take them). Each receiver's effects go in `seq`
    order, one after another, and a failure stops that receiver's line, so no effect
    ever reaches an inbox before the ones sent to it earlier (the mark of (3) relies on
    it); the others are tried again by the next deliverer."""

    async def line(receiver: str, effects: list[dict]) -> list[str]:
        done = []
        for effect in effects:
            try:
                there = await store.deliver(game, receiver, effect)
            except StoreUnavailable as e:
                log.warning("delivery to %s/%s stopped: %s", game, receiver, e)
                break
            if not there:
                log.warning("dropped %s: no player %s in %s", effect["id"], receiver, game)
            done.append(effect["id"])
        return done

    lines = by_receiver(outbox)
    results = await asyncio.gather(*(line(r, effects) for r, effects in lines.items()))
    return {i for ids in results for i in ids}
