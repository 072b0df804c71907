"""A new game is new rule files only: nothing under dsl/, compiler/, runtime/ or cli/ names
a game, a resource, a table or its rows, a row of slots or its fields, an action, a loot
table or a leaderboard of a game under games/ (parameter names, such as `kind`, are words
of every language and are not counted).

The names come from the games themselves (compiled), so a game added later is covered.
What counts is code: identifiers, and string literals that are a name on their own (a key,
a lookup); prose is not (comments, docstrings, and the examples inside messages and hints,
which show the language, not a game). A few names every program uses are allowed.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from rulesc.compiler.build import compile_game

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("dsl", "compiler", "runtime", "cli")
# words a game happened to pick that are also everyday words of code: dataclasses.field
# and AST fields, a hash seed, set.clear(), a common prefix
ALLOWED = {"field", "seed", "clear", "common"}
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def game_names() -> dict[str, set[str]]:
    """Every name each game under games/ declares: name -> the games that declare it."""
    out: dict[str, set[str]] = {}
    for folder in sorted(p for p in (ROOT / "games").iterdir() if p.is_dir()):
        game = compile_game(folder, with_tests=False).game
        assert game is not None, f"{folder.name} does not build"
        names = {game.id, *(r.name for r in game.resources), *(a.name for a in game.actions)}
        names |= {t.name for t in game.tables} | {row for t in game.tables for row, _ in t.rows}
        names |= {s.name for s in game.slots} | {f.name for s in game.slots for f in s.fields}
        names |= {lt.name for lt in game.loot} | {lb.name for lb in game.leaderboards}
        for name in names:
            out.setdefault(name, set()).add(folder.name)
    return out


def python_words(text: str) -> Iterator[tuple[int, str]]:
    """Identifiers, and string literals that are one word; not comments or docstrings."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type not in (tokenize.NL, tokenize.COMMENT)
    ]
    for i, t in enumerate(tokens):
        if t.type == tokenize.NAME:
            yield t.start[0], t.string
        elif t.type == tokenize.STRING:
            before = tokens[i - 1].type if i else tokenize.NEWLINE
            after = tokens[i + 1].type if i + 1 < len(tokens) else tokenize.NEWLINE
            if (
                before in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
                and after == tokenize.NEWLINE
            ):
                continue  # a docstring
            body = re.sub(r"^[rbuRBU]*(\"\"\"|'''|\"|')|(\"\"\"|'''|\"|')$", "", t.string)
            if WORD.fullmatch(body.strip()):
                yield t.start[0], body.strip()


def other_words(text: str, comment: str) -> Iterator[tuple[int, str]]:
    """Words outside comments in a grammar, a template or a script: identifiers and quoted
    literals alike (a name inside a longer string is prose)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for number, line in enumerate(text.splitlines(), start=1):
        code = re.split(comment, line, maxsplit=1)[0]
        for quoted in re.finditer(r"\"([^\"]*)\"|'([^']*)'", code):
            inner = (quoted.group(1) or quoted.group(2) or "").strip()
            if WORD.fullmatch(inner):
                yield number, inner
        for word in WORD.findall(re.sub(r"\"[^\"]*\"|'[^']*'", " ", code)):
            yield number, word


def words(path: Path) -> Iterator[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return python_words(text)
    if path.suffix in (".lark",):
        return other_words(text, r"//")
    if path.suffix == ".j2":  # generated Python: its own comments are prose too
        return other_words(re.sub(r"\{#.*?#\}", "", text, flags=re.S), r"(?<![\"'{])#(?![}%])")
    return other_words(text, r"(?<!:)//")


def source_files() -> list[Path]:
    kinds = {".py", ".lark", ".j2", ".js", ".ts", ".html", ".css"}
    return sorted(
        p
        for folder in SOURCES
        for p in (ROOT / folder).rglob("*")
        if p.suffix in kinds and "__pycache__" not in p.parts
    )


@pytest.fixture(scope="module")
def names() -> dict[str, set[str]]:
    return game_names()


def test_the_games_declare_names_to_look_for(names: dict[str, set[str]]) -> None:
    assert {"harvest", "arena", "wheat", "plant", "trophies", "attack", "common_chest"} <= set(
        names
    )


def test_no_source_names_what_a_game_declares(names: dict[str, set[str]]) -> None:
    found = []
    for path in source_files():
        for line, word in words(path):
            if word in names and word not in ALLOWED:
                games = ", ".join(sorted(names[word]))
                found.append(f"{path.relative_to(ROOT)}:{line}: `{word}` ({games})")
    assert not found, "game names in the shared code:\n" + "\n".join(found)


def test_the_check_finds_a_game_name_in_code(names: dict[str, set[str]]) -> None:
    code = 'def pay(s):\n    """Pay in trophies."""\n    return s["trophies"]  # trophies\n'
    assert [w for _, w in python_words(code) if w in names] == ["trophies"]
    assert [w for _, w in other_words('x = "wheat"; // plant', r"//") if w in names] == ["wheat"]
