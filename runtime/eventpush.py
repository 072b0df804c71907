"""The `events` push: live connections hear when a scheduled event starts or ends.

Each connection gets an `events` frame right after its `welcome` (in the same write), and
again whenever what `GET /state` would answer under `events` changes: a run of one of the
game's events starts or ends. There is one timer per game in a process (not one per
connection), running while the game has a connection here: it sleeps until the next
start or end of a run (runtime/events.py `next_change`), at most MAX_SLEEP seconds (so a
clock that jumps, or a long sleep that drifts, is caught up with soon), then sends each
connection the events judged at its player's time, when they differ from what that
connection was last sent. A pack swapped in (admin reload, `--watch`) and a player's dev
clock moved re-arm the game's timer, which checks every connection at once.

The time is the one `GET /state` judges events by: the server's clock, and in
development mode the player's dev clock (real time plus the player's skip, see
runtime/devclock.py). A frame is encoded once for all the connections that share a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from .events import events_at, next_change
from .games import Games
from .players import Key
from .wire import dumps

log = logging.getLogger(__name__)

MAX_SLEEP = 60.0  # seconds: the longest a timer sleeps before it looks again
MIN_SLEEP = 0.001  # a boundary in the past or at once: look again very soon


class Listener(Protocol):
    @property
    def key(self) -> Key: ...

    def push(self, frames: list[tuple[dict, bytes]]) -> None:
        """Send the frames (each as a dict and as its UTF-8 JSON). Must not block."""


def events_frame(events: dict, now: int) -> dict:
    return {"type": "events", "events": events, "server_time": now}


class EventPush:
    def __init__(
        self,
        games: Games,
        clock: Callable[[], int],
        offset: Callable[[Key], int] = lambda key: 0,
    ) -> None:
        self._games = games
        self._clock = clock  # the server's clock (the real one, in development mode)
        self._offset = offset  # a player's dev clock offset (0 outside development mode)
        # game -> connection -> the `events` it was last sent
        self._sent: dict[str, dict[Listener, dict]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._closed = False  # shutting down: no timer is armed any more

    def join(self, listener: Listener) -> dict | None:
        """Start telling `listener` of changes; returns its first `events` frame (the
        caller sends it right after `welcome`), None for a game not hosted here."""
        game_id, _ = listener.key
        game = self._games.get(game_id)
        if game is None:
            return None
        now = self._clock() + self._offset(listener.key)
        events = events_at(game.pack, now)
        sent = self._sent.setdefault(game_id, {})
        sent[listener] = events
        if game_id not in self._timers and not self._closed:
            self._arm(game_id)
        return events_frame(events, now)

    def leave(self, listener: Listener) -> None:
        game_id, _ = listener.key
        sent = self._sent.get(game_id)
        if sent is None or sent.pop(listener, None) is None:
            return
        if not sent:  # nobody of this game is connected here: no timer
            del self._sent[game_id]
            timer = self._timers.pop(game_id, None)
            if timer is not None:
                timer.cancel()

    def rearm(self, game_id: str) -> None:
        """The game's pack or a player's clock changed: check every connection of the game
        now and sleep until the next boundary from there."""
        timer = self._timers.pop(game_id, None)
        if timer is not None:
            timer.cancel()
        if self._sent.get(game_id) and not self._closed:
            self._arm(game_id)

    def timers(self) -> int:
        return len(self._timers)

    async def close(self) -> None:
        self._closed = True
        timers, self._timers = list(self._timers.values()), {}
        self._sent.clear()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    # -- the timer --

    def _arm(self, game_id: str) -> None:
        self._timers[game_id] = asyncio.get_running_loop().create_task(
            self._run(game_id), name=f"events of {game_id}"
        )

    async def _run(self, game_id: str) -> None:
        while True:
            try:
                wait = self._check(game_id)
            except Exception:
                log.exception("events push of %s failed", game_id)
                wait = MAX_SLEEP
            await asyncio.sleep(wait)

    def _check(self, game_id: str) -> float:
        """Send each connection of the game the events at its time, when they changed;
        returns the seconds until the next boundary of any of them (capped)."""
        game = self._games.get(game_id)
        sent = self._sent.get(game_id)
        if game is None or not sent:
            return MAX_SLEEP
        base = self._clock()
        by_time: dict[int, list[Listener]] = {}
        for listener in sent:
            by_time.setdefault(base + self._offset(listener.key), []).append(listener)
        wait = MAX_SLEEP
        for now, listeners in by_time.items():
            events = events_at(game.pack, now)
            encoded: list[tuple[dict, bytes]] | None = None
            for listener in listeners:
                last = sent.get(listener)
                if last is events or last == events:
                    continue
                if encoded is None:
                    frame = events_frame(events, now)
                    encoded = [(frame, dumps(frame))]  # once, for all who share this time
                sent[listener] = events  # (before the push: a push may make it leave)
                try:
                    listener.push(encoded)
                except Exception:
                    log.exception("events push to a connection failed")
            boundary = next_change(game.pack, now)
            if boundary is not None:
                wait = min(wait, (boundary - now) / 1000)
        return max(wait, MIN_SLEEP)
