"""Find a game's files and parse them: rules, scenario tests and the CSVs tables load."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Diagnostic, Sources, Span
from rulesc.dsl.parser import parse_source

Parse = Callable[[str, str], tuple[ast.Module, list[Diagnostic]]]  # (label, text) -> parsed


@dataclass
class GameSources:
    root: Path
    label: str  # how diagnostics name the folder, e.g. games/harvest
    rules: list[ast.Module] = field(default_factory=list)
    tests: list[ast.Module] = field(default_factory=list)
    bots: list[ast.Module] = field(default_factory=list)  # bots/*.rules, for `rulesc simulate`
    texts: Sources = field(default_factory=Sources)
    hashes: dict[str, str] = field(default_factory=dict)  # pack sources only: path -> sha256
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # resolved path -> text that stands for the file on disk (an editor's unsaved buffer)
    overrides: dict[Path, str] = field(default_factory=dict)
    parse: Parse = parse_source

    def read_bytes(self, path: Path) -> bytes:
        """A file's bytes: the override's text when there is one, else the file on disk."""
        text = self.overrides.get(path.resolve()) if self.overrides else None
        return path.read_bytes() if text is None else text.encode("utf-8")

    def file_label(self, rel: str) -> str:
        return f"{self.label}/{rel}" if self.label not in ("", ".") else rel

    def read_data(self, rel: str) -> tuple[str, str] | None:
        """A data file beside the rules (a table's CSV): its label and text, hashed into the pack."""
        path = (self.root / rel).resolve()
        if self.root.resolve() not in path.parents:
            return None
        if not path.is_file() and path not in self.overrides:
            return None
        raw = self.read_bytes(path)
        text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
        label = self.file_label(rel)
        self.hashes[rel] = hashlib.sha256(raw).hexdigest()
        self.texts.texts[label] = text
        return label, text


def _label_for(root: Path) -> str:
    try:
        return str(root.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(root)


def load_game(
    root: Path | str,
    *,
    with_tests: bool = True,
    with_bots: bool | None = None,
    overrides: dict[Path, str] | None = None,
    parse: Parse = parse_source,
) -> GameSources:
    """Parse a game folder. `overrides` (resolved path -> text) stand for those files on
    disk, e.g. the language server's unsaved buffers; a file only in `overrides` is not added.
    `parse` parses one file (the language server's caches what it parsed before)."""
    root = Path(root)
    src = GameSources(root=root, label=_label_for(root), overrides=dict(overrides or {}))
    src.parse = parse
    if not root.is_dir():
        src.diagnostics.append(
            Diagnostic(
                "R050",
                "error",
                f"no game folder at {root}",
                Span(str(root), 1, 1, 1, 1),
                "pass the folder that holds the game's .rules files",
            )
        )
        return src
    rule_files = sorted(root.glob("*.rules"))
    if not rule_files:
        src.diagnostics.append(
            Diagnostic(
                "R050",
                "error",
                f"no .rules files in {src.label}",
                Span(src.label, 1, 1, 1, 1),
                "a game is a folder of .rules files, with scenario tests under tests/",
            )
        )
    for path in rule_files:
        rel = path.relative_to(root).as_posix()
        src.rules.append(_parse(src, path, rel))
        src.hashes[rel] = hashlib.sha256(src.read_bytes(path)).hexdigest()
    if with_tests:
        for path in sorted((root / "tests").glob("*.rules")):
            src.tests.append(_parse(src, path, path.relative_to(root).as_posix()))
        _warn_of_stray_scenarios(src)
    # bots are scripted players, like scenarios never part of the pack (nor of its version)
    load_bots = with_tests if with_bots is None else with_bots
    if load_bots:
        for path in sorted((root / "bots").glob("*.rules")):
            src.bots.append(_parse(src, path, path.relative_to(root).as_posix()))
    return src


SCENARIO_FOLDERS = ("tests", "bots")  # the folders beside the rules that commands read


def _warn_of_stray_scenarios(src: GameSources) -> None:
    """Scenarios in a folder no command reads (`test/`, `Tests/`) would never run: say so."""
    for folder in sorted(p for p in src.root.iterdir() if p.is_dir()):
        if folder.name in SCENARIO_FOLDERS or folder.name.startswith("."):
            continue
        for path in sorted(folder.glob("*.rules")):
            text = src.read_bytes(path).decode("utf-8", errors="replace").replace("\r\n", "\n")
            lines = text.split("\n")
            line = next((i for i, t in enumerate(lines, 1) if t.startswith("scenario ")), None)
            if line is None:
                continue
            label = src.file_label(path.relative_to(src.root).as_posix())
            src.texts.texts[label] = text
            src.diagnostics.append(
                Diagnostic(
                    "R051",
                    "warning",
                    f"`{folder.name}/` holds scenarios that `rulesc test` never runs",
                    Span(label, line, 1, line, len("scenario") + 1),
                    f"scenario tests live in `tests/` beside the rules: move them there "
                    f"(e.g. `git mv {folder.name}/{path.name} tests/`)",
                )
            )
            break  # one warning per folder


def _parse(src: GameSources, path: Path, rel: str) -> ast.Module:
    label = src.file_label(rel)
    raw = src.read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        text = raw.decode("utf-8", errors="replace")
        line = raw[: err.start].count(b"\n") + 1
        src.diagnostics.append(
            Diagnostic(
                "R005",
                "error",
                "the file is not UTF-8 text",
                Span(label, line, 1, line, 2),
                "save the file as UTF-8",
            )
        )
    src.texts.texts[label] = text.replace("\r\n", "\n")
    module, diags = src.parse(label, text)
    src.diagnostics.extend(diags)
    return module
