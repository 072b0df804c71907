"""The push hub: every change of a player reaches every connection of that player.

The hub holds one store subscription per player while the player has a connection in
this process; the store delivers every commit, from any process (Redis pub/sub) or from
this one. Each commit becomes frames, encoded once and sent to every connection:
a `state` frame per applied action or grant, then an `event` frame per event it raised.
A delivery to the player's inbox (from another player) comes as {"version", "inbox"}:
no frames, but the hub asks for it to be applied now (`on_inbox`), so a player who is
connected sees what was sent at once (the commit that applies it is pushed as usual).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from .players import Key, PlayerLocks
from .store import Store, Subscription
from .wire import dumps

log = logging.getLogger(__name__)


class Listener(Protocol):
    def push(self, frames: list[tuple[dict, bytes]]) -> None:
        """Send the frames (each as a dict and as its UTF-8 JSON). Must not block."""


def entry_frames(entry: dict, event_id: str, version: int | None) -> list[dict]:
    """The frames of one ledger entry: `state` (when `version` is given: a live push) and
    one `event` per event. Events share their entry's ledger id, so resuming after it
    replays what came later."""
    out: list[dict] = []
    if version is not None:
        cause = {"action_id": entry["action_id"], "action": entry["action"]}
        out.append({"type": "state", "version": version, "changes": entry["changes"],
                    "cause": cause})  # fmt: skip
    for ev in entry.get("events", ()):
        out.append({"type": "event", "id": event_id, "name": ev["name"], "data": ev["data"]})
    return out


def push_frames(message: dict) -> list[dict]:
    if message.get("gap"):  # commits were missed while the store link was down
        return [{"type": "resync"}]
    frames: list[dict] = []
    for entry, event_id in zip(message["ledger"], message["event_ids"], strict=True):
        frames += entry_frames(entry, event_id, message["version"])
    return frames


class Hub:
    def __init__(
        self, store: Store, on_version: Callable[[str, str, int], None],
        on_inbox: Callable[[str, str], None] | None = None,
    ) -> None:
        self._store = store
        self._on_version = on_version  # tells the gateway's cache what is stored now
        self._on_inbox = on_inbox  # a delivery waits in the player's inbox: apply it
        self._listeners: dict[Key, set[Listener]] = {}
        self._subs: dict[Key, Subscription] = {}
        self._locks = PlayerLocks()  # join and leave of one player never interleave

    async def join(self, key: Key, listener: Listener) -> None:
        """Start pushing to `listener`. Raises StoreUnavailable when the store cannot
        subscribe (the caller closes the connection; the client reconnects later)."""
        async with self._locks.hold(key):
            if key not in self._subs:
                self._subs[key] = await self._store.subscribe(*key, lambda m: self._push(key, m))
            self._listeners.setdefault(key, set()).add(listener)

    async def leave(self, key: Key, listener: Listener) -> None:
        async with self._locks.hold(key):
            listeners = self._listeners.get(key)
            if listeners is None:
                return
            listeners.discard(listener)
            if listeners:
                return
            del self._listeners[key]
            sub = self._subs.pop(key, None)
        if sub is not None:
            await sub.close()

    def _push(self, key: Key, message: dict) -> None:
        if "version" in message:
            self._on_version(key[0], key[1], message["version"])
        if message.get("inbox"):
            if self._on_inbox is not None:
                self._on_inbox(*key)
            return
        frames = push_frames(message)
        if not frames:
            return
        encoded = [(f, dumps(f)) for f in frames]  # once, the same bytes to every connection
        for listener in list(self._listeners.get(key, ())):
            try:
                listener.push(encoded)
            except Exception:
                log.exception("push to a connection failed")

    def players(self) -> int:
        return len(self._listeners)

    async def close(self) -> None:
        subs, self._subs = list(self._subs.values()), {}
        self._listeners.clear()
        for sub in subs:
            await sub.close()
