"""The VS Code extension (editors/vscode): its TextMate grammar against lines of the example
games (vscode-tmgrammar-test, through node), every keyword of dsl/rules.lark highlighted,
and the extension's manifest pointing at files that exist."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .jskit import ROOT, missing_packages, node
from .systemkit import need

EXTENSION = ROOT / "editors" / "vscode"
GRAMMAR = EXTENSION / "syntaxes" / "rules.tmLanguage.json"
RUNNER = ROOT / "node_modules" / "vscode-tmgrammar-test" / "dist" / "unit.js"


def grammar_words() -> set[str]:
    """Every word of an alternation `\\b(a|b|c)\\b` (or a fixed `^(...)`) in the grammar."""
    words: set[str] = set()
    for match in re.findall(r'"match": "([^"]+)"', GRAMMAR.read_text()):
        for group in re.findall(r"\(([a-z_|]+)\)", match):
            words |= set(group.split("|"))
    return words


def test_every_keyword_of_the_grammar_is_highlighted() -> None:
    lark = (ROOT / "dsl" / "rules.lark").read_text()
    keywords = set(re.findall(r'"([a-z_]+)"', lark))
    kinds = re.search(r"RESOURCE_KIND[^/]*/\(([a-z|]+)\)", lark)
    assert kinds is not None
    keywords |= set(kinds.group(1).split("|"))
    missing = keywords - grammar_words() - {"up", "to"}  # `up to` is matched as one phrase
    assert not missing, f"add to editors/vscode/syntaxes/rules.tmLanguage.json: {sorted(missing)}"
    assert r"\\bup\\s+to\\b" in GRAMMAR.read_text()


def test_the_manifest_points_at_what_exists() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text())
    (grammar,) = manifest["contributes"]["grammars"]
    assert (EXTENSION / grammar["path"]).is_file()
    assert json.loads(GRAMMAR.read_text())["scopeName"] == grammar["scopeName"]
    (language,) = manifest["contributes"]["languages"]
    assert language["extensions"] == [".rules"]
    config = json.loads((EXTENSION / language["configuration"]).read_text())
    assert config["comments"]["lineComment"] == "#"
    assert (EXTENSION / manifest["main"]).is_file()


def test_the_grammar_tests_pass() -> None:
    need("node")
    reason = missing_packages()
    if reason:
        pytest.fail(reason)
    node_bin = node()
    assert node_bin is not None
    tests = sorted(str(p.relative_to(ROOT)) for p in (EXTENSION / "tests").glob("*.rules"))
    assert len(tests) >= 3
    run = subprocess.run(
        [node_bin, str(RUNNER), "--config", "editors/vscode/package.json", *tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("run successfuly") == len(tests), run.stdout
