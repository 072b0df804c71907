"""`rulesc test` with several players: names, deliveries between steps, failures told
with the player's name."""

from __future__ import annotations

import textwrap
from pathlib import Path

from rulesc.compiler.build import compile_game, write_pack
from rulesc.compiler.scenarios import render_failure, run_scenario
from rulesc.runtime.pack import load_pack

RULES = """
    game duel "Duel"
    currency coins start 100
    currency trophies start 10 public

    action gift(friend: player)
      give friend coins 5

    action raid(target: player)
      take target trophies up to 4
"""


def results(tmp_path: Path, scenarios: str) -> list[str]:
    game = tmp_path / "duel"
    (game / "tests").mkdir(parents=True)
    (game / "game.rules").write_text(textwrap.dedent(RULES).lstrip(), encoding="utf-8")
    (game / "tests" / "s.rules").write_text(textwrap.dedent(scenarios).lstrip(), encoding="utf-8")
    built = compile_game(game)
    assert built.ok and built.game is not None and built.files is not None, built.diagnostics
    pack = load_pack(write_pack(built.files, tmp_path / "pack"))
    out = []
    for s in built.game.scenarios:
        r = run_scenario(pack, s)
        out.append("ok" if r.passed else render_failure(r, "duel"))
    return out


def test_deliveries_and_returns_arrive_before_the_next_step(tmp_path: Path) -> None:
    assert results(
        tmp_path,
        """
        scenario "a raid and a gift back"
          given bob.trophies 3
          do raid(target: bob)
          expect trophies 13, bob.trophies 0
          expect event received
          expect bob event received
          as bob do gift(friend: me)
          expect coins 105, bob.coins 100
    """,
    ) == ["ok"]


def test_failures_name_the_player(tmp_path: Path) -> None:
    [wrong, no_event] = results(
        tmp_path,
        """
        scenario "wrong"
          do gift(friend: bob)
          expect bob.coins 99
        scenario "no event"
          do gift(friend: bob)
          expect carol event received
    """,
    )
    assert "bob.coins: expected 99, got 105" in wrong
    assert "expected event `received`, carol got none" in no_event
