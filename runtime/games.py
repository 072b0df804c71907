"""The games a server hosts: one current pack per game id, swapped atomically.

A handler takes the Game once when a request starts and uses that pack to the end, so an
action in flight finishes on the pack it started with while new requests get the new one.
"""

from __future__ import annotations

from .packs import Game


class Games:
    def __init__(self) -> None:
        self._games: dict[str, Game] = {}

    def get(self, game_id: str) -> Game | None:
        return self._games.get(game_id)

    def put(self, game: Game) -> Game | None:
        """Swap `game` in (one dict store: atomic on the loop); the old one is returned."""
        old = self._games.get(game.id)
        self._games[game.id] = game
        return old

    def ids(self) -> list[str]:
        return sorted(self._games)

    def __len__(self) -> int:
        return len(self._games)
