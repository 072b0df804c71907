"""What the language server builds on, without a client: unsaved texts standing for files
(load_game's overrides) and the parse cache that keeps a keystroke cheap."""

from __future__ import annotations

import shutil
from pathlib import Path

from rulesc.compiler.build import compile_game
from rulesc.compiler.check import ActionMemo, check_game
from rulesc.compiler.loader import load_game
from rulesc.dsl.parser import parse_source
from rulesc.tools.lsp_parse import ChunkedParser

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"


def test_overrides_stand_for_the_files_on_disk() -> None:
    rules = (HARVEST / "harvest.rules").resolve()
    csv = (HARVEST / "crops.csv").resolve()
    overrides = {
        rules: rules.read_text().replace("cost energy 1,", "cost energi 1,"),
        csv: csv.read_text().replace("corn,12", "corn,x"),
    }
    result = compile_game(HARVEST, overrides=overrides)
    assert sorted((d.code, Path(d.span.file).name) for d in result.diagnostics) == [
        ("R010", "harvest.rules"),
        ("R016", "crops.csv"),
    ]
    assert compile_game(HARVEST).ok  # the files on disk are untouched and still check


def test_the_chunked_parse_is_the_parse_of_the_whole_file_after_each_edit() -> None:
    text = (HARVEST / "harvest.rules").read_text()
    edits = [
        text,
        text.replace("cost energy 1,", "cost energy 2,"),  # one declaration changes
        text.replace("action sell(", "\n\naction sell("),  # later declarations move down
        text.replace("action sell(", "action sell(("),  # a syntax error
        text.replace("\naction buy_energy", "\n# a comment\naction buy_energy").replace(
            "action plant(", "action  plant("
        ),
    ]
    parser = ChunkedParser()
    for edited in edits:
        assert parser.parse("harvest.rules", edited) == parse_source("harvest.rules", edited)


def _edits(text: str, anchor: str) -> list[str]:
    """Keystrokes in one action: a typo, its fix, a new error, a moved declaration."""
    return [
        text,
        text.replace(anchor, anchor.replace("1", "2", 1), 1),
        text.replace("cost energy", "cost energi", 1),
        # another action changes: the first one's error is replayed from the memo
        text.replace("cost energy", "cost energi", 1).replace("sell * qty", "sell * qty * 1"),
        text,
        # the actions that give fertilizer change; the one that costs it is replayed, and
        # "costed but nothing gives it" still warns
        text.replace("gain fertilizer", "gain gems"),
        text.replace("\naction ", "\n\naction ", 1),
        text.replace("coins", "coinz", 1),  # a declaration every action depends on
        text,
        # a `let` named like an action (allowed: actions have a namespace of their own),
        # then that action moved below it
        text.replace("let kind = field[slot].crop", "let sell = field[slot].crop"),
        text.replace("let kind = field[slot].crop", "let sell = field[slot].crop").replace(
            "\naction sell(", "\n\naction sell("
        ),
    ]


def test_the_memo_gives_the_check_without_it_after_each_edit(tmp_path) -> None:
    game = Path(shutil.copytree(HARVEST, tmp_path / "harvest"))
    rules = (game / "harvest.rules").resolve()
    text = rules.read_text()
    memo = ActionMemo()
    for edited in _edits(text, "cost energy 1"):
        overrides = {rules: edited}
        remembered = check_game(load_game(game, overrides=overrides), memo)
        fresh = check_game(load_game(game, overrides=overrides))
        assert remembered == fresh
    assert memo.hits > 0  # it did reuse checks


def test_the_memo_on_the_arena_game_and_its_social_statements(tmp_path) -> None:
    game = Path(shutil.copytree(ROOT / "games" / "arena", tmp_path / "arena"))
    rules = (game / "arena.rules").resolve()
    text = rules.read_text()
    memo = ActionMemo()
    for edited in [
        text,
        text,
        text.replace("coins", "coin", 2),
        text,
        text.replace("potion", "potio"),
    ]:
        overrides = {rules: edited}
        remembered = check_game(load_game(game, overrides=overrides), memo)
        assert remembered == check_game(load_game(game, overrides=overrides))
    assert memo.hits > 0
