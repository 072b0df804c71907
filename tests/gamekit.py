"""Build small games from inline rules text for tests: compile, write the pack, load it."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

from rulesc.compiler.build import compile_game, write_pack
from rulesc.dsl.diagnostics import render_all
from rulesc.runtime import engine
from rulesc.runtime.pack import Pack, load_pack

T0 = 1_767_614_400_000  # Monday 2026-01-05 12:00 UTC
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_ids = itertools.count(1)


def build_pack(tmp_path: Path, rules: str, **files: str) -> Pack:
    game = tmp_path / f"game{next(_ids)}"
    game.mkdir()
    (game / "game.rules").write_text(textwrap.dedent(rules).lstrip(), encoding="utf-8")
    for name, text in files.items():
        path = game / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    result = compile_game(game)
    assert result.ok, render_all(result.diagnostics, result.sources.texts)
    assert result.files is not None
    return load_pack(write_pack(result.files, tmp_path / f"{game.name}_pack"))


class Player:
    """One player's state driven through the engine, as the server would, on a test clock."""

    def __init__(self, pack: Pack, player_id: str = "p1", now: int = T0) -> None:
        self.pack = pack
        self.player_id = player_id
        self.now = now
        self.state = engine.prepare(pack, None, now)
        self.count = 0

    def do(
        self, name: str, pin: int | None = None, action_id: str | None = None, **params
    ) -> engine.Outcome:
        self.count += 1
        outcome = engine.run(
            self.pack,
            self.state,
            name,
            params,
            now=self.now,
            player_id=self.player_id,
            action_id=action_id or f"a{self.count}",
            pin=pin,
        )
        if outcome.ok:
            self.state = outcome.state
        return outcome

    def wait(self, ms: int) -> None:
        self.now += ms

    def view(self) -> dict:
        return engine.view(self.pack, self.state, self.now)
