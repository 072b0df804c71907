"""The push hub: every change of a player reaches every connection of that player.

The hub holds one store subscription per player while the player has a connection in
this process; the store delivers every commit, from any process (Redis pub/sub) or from
this one. Each commit becomes frames, encoded once and sent to every connection:
a `state` frame per applied action or grant, then an `event` frame per event it raised.
A delivery to the player's inbox (from another player) comes as {"version", "inbox"}:
no frames, but the hub asks for it to be applied now (`on_inbox`), so a player who is
connected sees what was sent at once (the commit that applies it is pushed as usual).

Order: every connection gets the player's commits once each, in version order. The hub
keeps the last version pushed here (from the version the subscription started at): a
message for the next version goes out, an older one is a copy and is dropped, and a later
one waits for those before it. Overtaking is normal: the store delivers a commit made in
this process the moment it stands (before the commit call returns: the connection that
acted sends it with its answer, in one write), and those of other processes through
Redis, two ways that do not keep order between them. What still waits after GAP_WAIT
never had its predecessor delivered (a lapse the store could not see): the connections
are told to `resync` and pushes go on from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from .players import Key, PlayerLocks
from .store import Store, Subscription
from .wire import dumps

log = logging.getLogger(__name__)

GAP_WAIT = 5.0  # seconds a commit waits for the versions before it, then: resync


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
        out.append(
            {"type": "state", "version": version, "changes": entry["changes"], "cause": cause}
        )
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


class _Feed:
    """What was pushed to one player's connections here, and what waits for its turn."""

    __slots__ = ("pushed", "waiting", "timer")

    def __init__(self) -> None:
        self.pushed: int | None = None  # the last version pushed; None: not known (yet)
        self.waiting: dict[int, dict] = {}  # version -> message, each after a gap
        self.timer: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Hub:
    def __init__(
        self,
        store: Store,
        on_version: Callable[[str, str, int], None],
        on_inbox: Callable[[str, str], None] | None = None,
    ) -> None:
        self._store = store
        self._on_version = on_version  # tells the gateway's cache what is stored now
        self._on_inbox = on_inbox  # a delivery waits in the player's inbox: apply it
        self._listeners: dict[Key, set[Listener]] = {}
        self._subs: dict[Key, Subscription] = {}
        self._feeds: dict[Key, _Feed] = {}  # per subscribed player
        self._locks = PlayerLocks()  # join and leave of one player never interleave

    async def join(self, key: Key, listener: Listener) -> None:
        """Start pushing to `listener`. Raises StoreUnavailable when the store cannot
        subscribe (the caller closes the connection; the client reconnects later)."""
        async with self._locks.hold(key):
            if key not in self._subs:
                feed = self._feeds[key] = _Feed()  # what arrives meanwhile finds it
                try:
                    sub = await self._store.subscribe(*key, lambda m: self._push(key, m))
                except BaseException:
                    del self._feeds[key]
                    raise
                self._subs[key] = sub
                if feed.pushed is None or feed.pushed < sub.version:
                    feed.pushed = sub.version  # nobody listened yet: nothing is lost
                    self._drain(key, feed)
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
            feed = self._feeds.pop(key, None)
            if feed is not None:
                feed.stop()
        if sub is not None:
            await sub.close()

    def _push(self, key: Key, message: dict) -> None:
        """A message from the store's subscription."""
        feed = self._feeds.get(key)
        if feed is None:
            return  # left meanwhile
        version = message.get("version")
        if version is None:  # commits were missed while the store link was down
            feed.stop()
            feed.pushed, feed.waiting = None, {}
            self._out(key, message)
            return
        self._on_version(key[0], key[1], version)
        self._take(key, feed, message)

    def _take(self, key: Key, feed: _Feed, message: dict) -> None:
        version = message["version"]
        if feed.pushed is not None:
            if version <= feed.pushed:
                return  # a copy of what was pushed
            if version > feed.pushed + 1:  # an earlier commit is still on its way
                feed.waiting[version] = message
                if feed.timer is None:
                    feed.timer = asyncio.get_running_loop().call_later(GAP_WAIT, self._give_up, key)
                return
        feed.pushed = version
        self._out(key, message)
        self._drain(key, feed)

    def _drain(self, key: Key, feed: _Feed) -> None:
        """Push what waited and is next now."""
        while feed.waiting and feed.pushed is not None:
            message = feed.waiting.pop(feed.pushed + 1, None)
            if message is None:
                break
            feed.pushed += 1
            self._out(key, message)
        if feed.waiting and feed.pushed is not None:  # copies of what went out meanwhile
            for version in [v for v in feed.waiting if v <= feed.pushed]:
                del feed.waiting[version]
        if not feed.waiting:
            feed.stop()

    def _give_up(self, key: Key) -> None:
        """What waited for GAP_WAIT never had its predecessors delivered: resync."""
        feed = self._feeds.get(key)
        if feed is None or not feed.waiting:
            return
        feed.timer = None
        log.info("pushes of %s/%s missed versions before %d: resync", *key, min(feed.waiting))
        waited, feed.waiting = feed.waiting, {}
        feed.pushed = max(waited)
        self._out(key, {"gap": True})
        if self._on_inbox is not None and any(m.get("inbox") for m in waited.values()):
            self._on_inbox(*key)

    def _out(self, key: Key, message: dict) -> None:
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
        for feed in self._feeds.values():
            feed.stop()
        self._feeds.clear()
        for sub in subs:
            await sub.close()
