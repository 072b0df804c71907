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


def _line_shifts(text: str) -> list[tuple[str, bool]]:
    """Edits that move actions without changing them, each with whether every action is
    the same text as in the edit before it (so each must be replayed, none checked again)."""
    require = '  require energy < 30 else "Energy is already full"\n'
    gain = "  gain energy 10  # clamped at the meter's max of 30\n"
    late_require = text.replace(require, "").replace(gain, gain + require)
    assert late_require != text
    no_fertilizer = text.replace("gain fertilizer", "gain gems")
    return [
        (text, False),
        (text.replace("\naction sell(", "\n\naction sell("), True),  # and the event below
        (text.replace("\naction sell(", "\n# a comment\n\naction sell("), True),
        (text.replace("\n# Fertilizer halves", "\n\n\n# Fertilizer halves"), True),
        (text.replace("\n\naction plant(", "\naction plant("), True),  # a line deleted
        ("\n\n" + text, True),  # every declaration moves, the environment too
        (text, True),
        # `R028 ... move it above line 95`: a message that names a line, moved
        (late_require, False),
        (late_require.replace("\naction buy_energy", "\n\naction buy_energy"), False),
        (late_require.replace("\naction buy_energy", "\n\n\naction buy_energy"), False),
        # "fertilizer is costed but nothing gives it", pointing into a moved action
        (no_fertilizer, False),
        (no_fertilizer.replace("\naction fertilize(", "\n\n\naction fertilize("), True),
        (no_fertilizer.replace("\n\naction speed_up(", "\naction speed_up("), True),
        ("# a new first line\n" + no_fertilizer, True),
    ]


def test_the_memo_replays_moved_actions_as_checked_where_they_now_stand(tmp_path) -> None:
    game = Path(shutil.copytree(HARVEST, tmp_path / "harvest"))
    rules = (game / "harvest.rules").resolve()
    memo = ActionMemo()
    n_actions = rules.read_text().count("\naction ")
    for edited, unchanged in _line_shifts(rules.read_text()):
        overrides = {rules: edited}
        hits = memo.hits
        remembered = check_game(load_game(game, overrides=overrides), memo)
        fresh = check_game(load_game(game, overrides=overrides))
        # the IR (its Locs: the pack's line markers) when the game checks, else diagnostics
        assert remembered == fresh
        if unchanged:  # moved, not changed: every action's check replayed
            assert memo.hits - hits == n_actions
    # the last edits compared a whole game and the warning that points into a moved action
    game_ir, diagnostics = fresh
    assert game_ir is not None
    assert [(d.code, d.span.line) for d in diagnostics] == [("R021", 74)]


def test_a_replayed_action_keeps_its_marks_when_an_earlier_one_loses_them(tmp_path) -> None:
    # plant, water and buy_energy use energy; plant stops using it: the two replayed after
    # it still do (their checks were first made when plant had already marked energy used)
    game = Path(shutil.copytree(HARVEST, tmp_path / "harvest"))
    rules = (game / "harvest.rules").resolve()
    text = rules.read_text()
    memo = ActionMemo()
    for edited in [text, text.replace("cost energy 1, seed[kind] 1", "cost seed[kind] 1")]:
        overrides = {rules: edited}
        remembered = check_game(load_game(game, overrides=overrides), memo)
        assert remembered == check_game(load_game(game, overrides=overrides))
    assert remembered[1] == []  # not "nothing uses `energy`"
    assert memo.hits > 0


def test_a_row_renamed_in_a_csv_is_checked_again(tmp_path) -> None:
    """The memo compares the data files tables load too: a CSV row renamed (the rules
    untouched) must not replay checks that used the old row."""
    game = Path(shutil.copytree(HARVEST, tmp_path / "harvest"))
    rules = (game / "harvest.rules").resolve()
    memo = ActionMemo()
    _, before = check_game(load_game(game), memo)
    assert not any(d.is_error for d in before)
    csv = next(game.glob("*.csv"))
    csv.write_text(csv.read_text().replace("wheat", "rye"), encoding="utf-8")
    text = rules.read_text()
    remembered = check_game(load_game(game, overrides={rules: text}), memo)
    fresh = check_game(load_game(game, overrides={rules: text}))
    assert remembered == fresh
    assert any(d.is_error for d in fresh[1])  # the rules still name wheat
