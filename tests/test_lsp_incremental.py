"""What the language server builds on, without a client: unsaved texts standing for files
(load_game's overrides) and the parse cache that keeps a keystroke cheap."""

from __future__ import annotations

from pathlib import Path

from rulesc.compiler.build import compile_game
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
