"""The compiler on mangled rule files: only diagnostics come out, and every pack it builds imports.

`rulesc check` and `build` exit 3 ("internal error") when compile_game raises any
Exception (cli/main.py, `guarded`); a pack that does not import fails only later, in the
server. So for each mutant of the example game's rules: compile_game must not raise, every
error must be a diagnostic pointing into the file, and whatever builds must load the way
the server loads it (runtime/pack.py, load_pack).
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game, write_pack
from rulesc.compiler.codes import CODES
from rulesc.dsl.parser import MAX_BLOCK_DEPTH, MAX_EXPR_DEPTH, MAX_EXPR_NESTING
from rulesc.runtime.pack import load_pack

from .gamekit import Player, build_pack

HARVEST = Path(__file__).resolve().parents[1] / "games" / "harvest"
RULES = (HARVEST / "harvest.rules").read_bytes()


def action(*lines: str) -> bytes:
    return ("\naction fuzz\n" + "\n".join(lines) + "\n").encode()


def nested_whens(depth: int) -> bytes:
    lines = ["  " * (i + 1) + f"when coins > {i}" for i in range(depth)]
    return action(*lines, "  " * (depth + 1) + "gain coins 1")


def a_sum(terms: int) -> str:
    return " + ".join(["1"] * terms)


def compile_mutant(tmp: Path, rules: bytes) -> list[str]:
    """Check and build harvest with `rules` as its rules file; import the pack if it builds.

    Returns the codes of the errors (none if it built).
    """
    game = tmp / "game"
    if game.exists():
        shutil.rmtree(game)
    game.mkdir(parents=True)
    shutil.copy(HARVEST / "crops.csv", game / "crops.csv")
    (game / "harvest.rules").write_bytes(rules)
    result = compile_game(game, with_tests=False)  # any exception here is an exit 3
    errors = [d for d in result.diagnostics if d.is_error]
    lines = result.sources.texts.texts[str(game / "harvest.rules")].split("\n")
    for d in result.diagnostics:
        assert d.code in CODES, d
        assert d.hint, d
        assert 1 <= d.span.line <= len(lines), d
        assert 1 <= d.span.col <= len(lines[d.span.line - 1]) + 1, d
    if result.ok:
        assert not errors and result.files is not None
        pack = load_pack(write_pack(result.files, tmp / "pack"))  # PackError if it does not import
        sys.modules.pop(pack.module.__name__, None)
    else:
        assert errors, "no pack and no error"
    return [d.code for d in errors]


# the inputs the hardening issue found, each with the code it must get (None: it must build)
CASES = {
    "when nested 99 deep": (nested_whens(99), "R006"),
    "when nested 400 deep": (nested_whens(400), "R006"),
    "when nested to the limit": (nested_whens(MAX_BLOCK_DEPTH), None),
    "a sum of 250 terms": (action("  gain coins " + a_sum(250)), None),
    "a sum at the limit": (action("  gain coins " + a_sum(MAX_EXPR_DEPTH + 1)), None),
    "a sum of 500 terms": (action("  gain coins " + a_sum(500)), "R006"),
    "a sum of 2000 terms in a message": (
        action(f'  require coins > 0 else "{{{a_sum(2000)}}}"'),
        "R006",
    ),
    "500 unary minus signs": (action("  gain coins " + "-" * 500 + "1"), "R006"),
    "min( nested to the limit": (
        action("  gain coins " + "min(" * MAX_EXPR_NESTING + "1" + ", 2)" * MAX_EXPR_NESTING),
        None,
    ),
    "min( nested past the limit": (
        action("  gain coins " + "min(" * 65 + "1" + ", 2)" * 65),
        "R006",
    ),
    "`and` 600 times": (
        action("  require " + " and ".join(["coins > 1"] * 600), "  gain coins 1"),
        "R006",
    ),
    "an index nested 300 deep": (
        action("  gain coins " + "crop[" * 300 + "wheat" + "].sell" * 300),
        "R006",
    ),
    "a number of 5000 digits": (action("  gain coins " + "9" * 5000), "R031"),
    "a duration of 5000 digits": (
        action("  cooldown " + "9" * 5000 + "m", "  gain coins 1"),
        "R031",
    ),
    "a number of 20 digits": (action("  gain coins 99_999_999_999_999_999_999"), "R031"),
    "a NUL in a message": (action('  require coins > 0 else "a\0b"', "  gain coins 1"), "R007"),
    "an escape in a message": (
        action("  require coins > 0 else \"a\\\\N x \\\\x1 'q'\"", "  gain coins 1"),
        None,
    ),
    "a lone carriage return": (action("  gain coins 1\r  gain coins 2"), "R007"),
    "a form feed": (action("  gain coins 1\x0c"), "R007"),
    "a line separator in a comment": (action("  gain coins 1  # a\u2028b"), "R007"),
    "a superscript digit": (action("  gain coins \u00b2"), "R001"),
    "100 KB of binary garbage": (random.Random(1).randbytes(100_000), "R005"),
    "garbage that is UTF-8": (
        random.Random(2).randbytes(20_000).decode("latin-1").encode(),
        "R007",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_known_case_gets_a_diagnostic_or_builds_a_pack_that_imports(
    name: str, tmp_path: Path
) -> None:
    extra, code = CASES[name]
    codes = compile_mutant(tmp_path, RULES + extra)
    if code is None:
        assert codes == []
    else:
        assert code in codes


def test_title_with_a_backslash_builds_a_pack_that_imports(tmp_path: Path) -> None:
    rules = RULES.replace(b'"Harvest Valley"', b'"Harvest \\\\N \\"\\"\\" Valley\\\\"')
    assert rules != RULES
    assert compile_mutant(tmp_path, rules) == []


@pytest.mark.parametrize("command", ["check", "build"])
def test_the_cli_says_exit_1_not_3(command: str, tmp_path: Path) -> None:
    compile_mutant(tmp_path, RULES + nested_whens(400))  # lays out tmp_path/game
    cmd = [
        command,
        str(tmp_path / "game"),
        *(["-o", str(tmp_path / "out")] if command == "build" else []),
    ]
    result = CliRunner().invoke(app, cmd)
    assert result.exit_code == 1, result.output
    assert "error[R006]" in result.output
    assert not (tmp_path / "out").exists()


# ---- random mutants ----------------------------------------------------------------

TOKENS = [
    "when",
    "otherwise",
    "pick one",
    "(",
    ")",
    "[",
    "]",
    "+",
    "-",
    "*",
    "/",
    "%",
    ",",
    ":",
    "..",
    '"',
    "{",
    "}",
    "#",
    "  ",
    "\n",
    "\n  ",
    "\t",
    "coins",
    "crop[kind]",
    "level",
    "now",
    "5m",
    "9" * 30,
    "-" * 300,
    "not",
    "and",
    "or",
    "==",
    "\0",
    "\r",
    "\x85",
    "\ufeff",
    "é",
    "²",
]


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    lines = RULES.split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(
            st.sampled_from(["delete", "duplicate", "token", "bytes", "deepen", "number", "sum"])
        )
        line = lines[i]
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "token":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(TOKENS)).encode() + line[at:]
        elif kind == "bytes":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.binary(min_size=1, max_size=8)) + line[at:]
        elif kind == "deepen":  # wrap a statement in `when`s, indenting it further each time
            statements = [
                j for j, text in enumerate(lines) if text.startswith(b"  ") and text.strip()
            ]
            i = draw(st.sampled_from(statements)) if statements else i
            line = lines[i]
            depth = draw(st.sampled_from([2, MAX_BLOCK_DEPTH, MAX_BLOCK_DEPTH + 1, 120]))
            indent = len(line) - len(line.lstrip(b" "))
            whens = [b" " * (indent + 2 * k) + b"when coins > 0" for k in range(depth)]
            lines[i : i + 1] = [*whens, b" " * (2 * depth) + line]
        elif kind == "number":
            lines[i] = line.replace(b"1", b"9" * draw(st.sampled_from([18, 19, 20, 5000])), 1)
        else:
            terms = draw(st.sampled_from([3, 100, MAX_EXPR_DEPTH + 1, MAX_EXPR_DEPTH + 2, 700]))
            lines[i] = line.replace(b"qty", b"(" + " + ".join(["qty"] * terms).encode() + b")", 1)
        if not lines:
            break
    return b"\n".join(lines)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rules=mutants())
def test_mutants_get_diagnostics_or_build_packs_that_import(rules: bytes, tmp_path_factory) -> None:
    compile_mutant(tmp_path_factory.mktemp("mutant"), rules)


def test_add_sub_computes_a_run_as_add_and_sub_do() -> None:
    from rulesc.runtime import rt

    assert rt.add_sub("+-+", 5, 3, 10, 2) == rt.add(rt.sub(rt.add(5, 3), 10), 2) == 0
    with pytest.raises(rt.Rejected):  # past 64 bits in a middle step, as nested calls would be
        rt.add_sub("+-", rt.INT64_MAX, 1, 5)


def test_names_that_are_words_of_python_build_and_play(tmp_path: Path) -> None:
    """An action, parameter or `let` named like a Python keyword or one of the pack's own
    functions (`raise`, `import`, `global`, `settle`) is the designer's business: the pack
    renames it inside and clients still use the rules' names."""
    pack = build_pack(
        tmp_path,
        """
        game words "Words"

        currency coins start 10

        action raise(import: int 1..5)
          let global = import
          gain coins global

        action settle
          gain coins 100
        """,
    )
    player = Player(pack)
    assert player.do("raise", **{"import": 3}).changes["coins"] == [10, 13]
    assert player.do("settle").changes["coins"] == [13, 113]
    refused = player.do("raise", **{"import_": 3})  # only the rules' name is a parameter
    assert refused.error is not None and refused.error["code"] == "bad_params"
