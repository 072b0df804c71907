"""The push hub: every change of a player reaches every connection of that player.

The hub holds one store subscription per player while the player has a connection in
this process; the store delivers every commit, from any process (Redis pub/sub) or from
this one. Each commit becomes frames, encoded once and sent to every connection:
a `state` frame per applied action or grant, then an `event` frame per event it raised.
A delivery to the player's inbox (from another player) comes as {"version", "inbox"}:
no frames, but the hub asks for it to be applied now (`on_inbox`), so a player who is
connected sees what was sent at once (the commit that applies it is pushed as usual).

A commit made in this process is pushed to this process's connections straight away
(`committed`, told by the gateway), without waiting for the store to bring it back: the
connection that acted sends it with its result, in one write. That is only done when
the commit follows the last version pushed here (version + 1), so pushes stay in commit
order; otherwise (another process's commit is still on its way) the store's copy comes
in order as before. The store's copy of a commit already pushed is dropped by version.
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
        # per subscribed player: the last version whose commit was pushed here (absent:
        # not known yet, or lost with the store link)
        self._pushed: dict[Key, int] = {}
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
            self._pushed.pop(key, None)
        if sub is not None:
            await sub.close()

    def committed(self, key: Key, message: dict) -> None:
        """A commit this process made (the message the store publishes for it): push it
        now when it is the next version after the last one pushed here."""
        pushed = self._pushed.get(key)
        if pushed is not None and message["version"] == pushed + 1:
            self._pushed[key] = message["version"]
            self._send(key, message)

    def _push(self, key: Key, message: dict) -> None:
        """A message from the store's subscription."""
        version = message.get("version")
        if version is None:  # a gap: what was pushed here is not known any more
            self._pushed.pop(key, None)
        else:
            self._on_version(key[0], key[1], version)
            pushed = self._pushed.get(key)
            if pushed is not None and version <= pushed:
                return  # pushed when it was committed here
            if key in self._subs:
                self._pushed[key] = version
        if message.get("inbox"):
            if self._on_inbox is not None:
                self._on_inbox(*key)
            return
        self._send(key, message)

    def _send(self, key: Key, message: dict) -> None:
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
        self._pushed.clear()
        for sub in subs:
            await sub.close()
