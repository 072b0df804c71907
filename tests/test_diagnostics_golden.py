"""Golden tests of the diagnostics: what `rulesc check` says about each kind of mistake.

Each folder under tests/golden/diagnostics/ is a tiny game with one deliberate mistake
(a few have several, to show that checking goes on after the first). Its expected.txt
is the exact human rendering of `rulesc check` on it: every diagnostic, sorted, as
render_all prints them, with paths relative to the repository root.

To add a case, make a folder with a game.rules (and a CSV or tests/x.rules if the
mistake needs one), then write its expected.txt and review it like code:

    RULESC_UPDATE_GOLDEN=1 python -m pytest tests/test_diagnostics_golden.py

With RULESC_UPDATE_GOLDEN=1 the golden test rewrites expected.txt instead of comparing.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import BuildResult, compile_game
from rulesc.compiler.codes import CODES, explain
from rulesc.dsl.diagnostics import render_all

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = ROOT / "tests" / "golden" / "diagnostics"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())
UPDATE = os.environ.get("RULESC_UPDATE_GOLDEN") == "1"

# Codes no golden case can show, each with why.
NOT_FROM_SOURCE: dict[str, str] = {
    # R050 for a missing folder is a usage mistake of the command line; the golden case
    # no_rules_files shows R050 for a folder without .rules files.
}

# Diagnostics that may come without a hint, as (code, message pattern). None so far:
# even an unknown name with nothing close to suggest says where names come from.
HINTLESS: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # diagnostics name files relative to the working directory
    monkeypatch.chdir(ROOT)


@functools.cache
def check_case(name: str) -> BuildResult:
    """The check of one case, done once per session (the working directory is the repo root)."""
    return compile_game(Path("tests/golden/diagnostics") / name)


def rendered(result: BuildResult) -> str:
    return render_all(result.diagnostics, result.sources.texts) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    expected_file = CASES_DIR / name / "expected.txt"
    actual = rendered(check_case(name))
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
        return
    assert expected_file.is_file(), f"{name} has no expected.txt: run with RULESC_UPDATE_GOLDEN=1"
    expected = expected_file.read_text(encoding="utf-8")
    assert actual == expected, (
        f"diagnostics of {name} changed (RULESC_UPDATE_GOLDEN=1 rewrites them)"
    )


def test_every_case_shows_a_diagnostic() -> None:
    for name in CASES:
        assert check_case(name).diagnostics, f"{name} checks clean: it shows no mistake"


def codes_in_goldens() -> set[str]:
    found: set[str] = set()
    for name in CASES:
        path = CASES_DIR / name / "expected.txt"
        if path.is_file():
            found |= set(
                re.findall(
                    r"^(?:error|warning)\[(R\d{3})\]", path.read_text(encoding="utf-8"), re.M
                )
            )
    return found


def test_every_code_has_a_golden_case() -> None:
    missing = set(CODES) - codes_in_goldens() - set(NOT_FROM_SOURCE)
    assert not missing, (
        f"codes with no golden case (add one, or explain in NOT_FROM_SOURCE): {sorted(missing)}"
    )
    assert set(NOT_FROM_SOURCE) <= set(CODES), "NOT_FROM_SOURCE names a code that does not exist"


def test_severity_matches_the_catalogue() -> None:
    for name in CASES:
        for d in check_case(name).diagnostics:
            assert d.severity == CODES[d.code][0], (
                f"{name}: {d.code} is {d.severity}, the catalogue says otherwise"
            )


def test_every_diagnostic_has_a_hint_and_a_span_in_its_file() -> None:
    for name in CASES:
        result = check_case(name)
        for d in result.diagnostics:
            where = f"{name}: {d.code} {d.message!r}"
            if not any(
                d.code == code and re.search(pattern, d.message) for code, pattern in HINTLESS
            ):
                assert d.hint, f"{where} has no hint"
            assert_span_in_file(d.span, result.sources.texts.texts, where)
            for _, note in d.notes:
                assert_span_in_file(note, result.sources.texts.texts, where + " (note)")


def assert_span_in_file(span, texts: dict[str, str], where: str) -> None:
    if span.file not in texts:
        # only a diagnostic about the folder itself has no text to point into
        assert Path(span.file).is_dir(), (
            f"{where}: points into {span.file}, which is not a file it read"
        )
        return
    lines = texts[span.file].split("\n")
    assert 1 <= span.line <= len(lines), f"{where}: line {span.line} is outside {span.file}"
    assert 1 <= span.col <= len(lines[span.line - 1]) + 1, (
        f"{where}: column {span.col} is past the line"
    )
    assert (span.end_line, span.end_col) > (span.line, span.col), f"{where}: the span is empty"
    if span.end_line == span.line:
        assert span.end_col <= len(lines[span.line - 1]) + 2, (
            f"{where}: the span runs past the line"
        )


def test_check_json_has_format_version_and_one_based_positions() -> None:
    name = "unknown_resource"
    result = CliRunner().invoke(
        app, ["check", f"tests/golden/diagnostics/{name}", "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["format_version"] == 1
    assert report["valid"] is False and report["error_count"] == 1
    [diag] = report["diagnostics"]
    assert diag["code"] == "R010"
    assert diag["file"] == f"tests/golden/diagnostics/{name}/game.rules"
    # `  cost coin 5` on line 8: the name starts at the 8th character
    assert (diag["line"], diag["column"], diag["end_line"], diag["end_column"]) == (8, 8, 8, 12)
    assert diag["hint"] == "did you mean `coins`?"


def codes_in_sources() -> set[str]:
    found: set[str] = set()
    for folder in ("dsl", "compiler", "cli"):
        for path in (ROOT / folder).glob("*.py"):
            if path.name != "codes.py":
                found |= set(re.findall(r"\"(R0\d\d)\"", path.read_text(encoding="utf-8")))
    return found


def test_explain_knows_every_code_the_compiler_emits() -> None:
    emitted = codes_in_sources()
    assert {"R001", "R010", "R012"} <= emitted, "the search for codes in the sources found too few"
    for code in sorted(emitted):
        text = explain(code)
        assert text is not None, (
            f"`rulesc explain {code}` does not know it: add it to compiler/codes.py"
        )
        assert text.startswith(f"{code} ({CODES[code][0]}): ")
    # and the command answers with the same text
    result = CliRunner().invoke(app, ["explain", "r010"])
    assert result.exit_code == 0 and result.stdout == explain("R010")
