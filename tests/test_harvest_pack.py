"""The example game end to end: its scenarios pass, and its pack is the committed golden copy.

Refresh the golden pack after an intended change to code generation:

    RULESC_UPDATE_GOLDEN=1 python -m pytest tests/test_harvest_pack.py

and review the diff of tests/golden/harvest_pack/ like code.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"
GOLDEN = ROOT / "tests" / "golden" / "harvest_pack"
runner = CliRunner()


@pytest.fixture(scope="module")
def harvest_files() -> dict[str, str]:
    result = compile_game(HARVEST, with_tests=False)
    assert result.ok and result.files is not None
    return result.files


def test_harvest_scenarios_all_pass():
    result = runner.invoke(app, ["test", str(HARVEST)])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    passed = int(last.split()[0])
    assert last == f"{passed} passed, 0 failed" and passed >= 15


def test_run_selects_scenarios_by_title():
    result = runner.invoke(app, ["test", str(HARVEST), "--run", "crate", "-v"])
    assert result.exit_code == 0, result.output
    assert all("crate" in line for line in result.output.splitlines() if line.startswith("ok"))
    assert (
        runner.invoke(app, ["test", str(HARVEST), "--run", "no such title at all"]).exit_code == 1
    )


def test_a_failing_scenario_shows_its_line_expected_and_actual(tmp_path):
    game = tmp_path / "harvest"
    shutil.copytree(HARVEST, game)
    (game / "tests" / "broken.rules").write_text(
        'scenario "wrong on purpose"\n  do buy_seed(kind: wheat, qty: 2)\n  expect coins 1, seed[wheat] 2\n'
    )
    result = runner.invoke(app, ["test", str(game), "--run", "wrong on purpose"])
    assert result.exit_code == 1
    assert "FAIL  wrong on purpose" in result.output
    assert "tests/broken.rules:3: expect coins 1, seed[wheat] 2" in result.output
    assert "coins: expected 1, got 190" in result.output
    assert result.output.strip().endswith("0 passed, 1 failed")


def test_pack_matches_the_golden_copy(harvest_files):
    if os.environ.get("RULESC_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for name, text in harvest_files.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
    golden = {p.name: p.read_text(encoding="utf-8") for p in GOLDEN.iterdir()}
    assert golden == harvest_files, (
        "the harvest pack changed: RULESC_UPDATE_GOLDEN=1 refreshes the golden copy"
    )


def test_pack_imports_only_the_runtime_helpers(harvest_files):
    tree = ast.parse(harvest_files["rules.py"])
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    # typing and pydantic describe the parameter models; everything else comes from rt
    assert imported == {"__future__", "typing", "pydantic", "rulesc.runtime"}
    assert "from rulesc.runtime import rt" in harvest_files["rules.py"]


def test_generated_code_is_lint_clean(harvest_files, tmp_path):
    module = tmp_path / "rules.py"
    module.write_text(harvest_files["rules.py"])
    lint = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--isolated",
            "--select",
            "E,F,W,B",
            "--ignore",
            "E501",
            str(module),
        ],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


def test_every_statement_carries_its_rules_line(harvest_files):
    from rulesc.runtime.pack import build_line_map

    lines = harvest_files["rules.py"].splitlines()
    mapped = build_line_map(harvest_files["rules.py"])
    checked = 0
    in_action = False
    for number, line in enumerate(lines, start=1):
        if line.startswith("def "):
            in_action = "ctx: rt.Context" in line
            continue
        if line and not line[0].isspace():
            in_action = False
        if in_action and line.strip() and not line.strip().startswith("#"):
            assert number in mapped, f"line {number} has no .rules line: {line}"
            checked += 1
    assert checked > 50


def test_manifest_names_sources_and_version(harvest_files):
    import json

    manifest = json.loads(harvest_files["manifest.json"])
    assert manifest["game"] == "harvest"
    assert {s["path"] for s in manifest["sources"]} == {"harvest.rules", "crops.csv"}
    assert len(manifest["version"]) == 16 and manifest["compiler"].startswith("rulesc ")
    schema = json.loads(harvest_files["schema.json"])
    assert schema["actions"]["buy_seed"]["params"]["properties"]["qty"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 99,
    }
    assert schema["actions"]["buy_seed"]["params"]["properties"]["kind"]["enum"][:3] == [
        "wheat",
        "corn",
        "pumpkin",
    ]


def test_no_scenarios_is_a_failure_unless_allowed(tmp_path):
    game = tmp_path / "mill"
    (game / "test").mkdir(parents=True)  # misspelt: scenarios live in tests/
    (game / "game.rules").write_text(
        'game mill "Mill"\ncurrency coins start 5\naction sell\n  gain coins 1\n'
    )
    (game / "test" / "a.rules").write_text('scenario "sells"\n  do sell\n  expect coins 6\n')
    result = runner.invoke(app, ["test", str(game)])
    assert result.exit_code == 1
    assert "warning[R051]: `test/` holds scenarios that `rulesc test` never runs" in result.output
    assert "no scenarios in" in result.output and "--allow-empty" in result.output
    assert runner.invoke(app, ["test", str(game), "--allow-empty"]).exit_code == 0
    (game / "test").rename(game / "tests")
    result = runner.invoke(app, ["test", str(game)])
    assert result.exit_code == 0 and result.output.strip().endswith("1 passed, 0 failed")
    assert "R051" not in result.output
