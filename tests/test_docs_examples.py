"""Every example in README.md and docs/*.md is run, so the docs cannot drift from the code.

An example is a fenced block with a directive on the line (or lines) just above it, an
HTML comment the reader does not see:

    <!-- example: cwd=tests/exploits delete=foundry/tests -->
    ```
    $ rulesc check foundry
    ok: foundry — 4 actions, 4 resources, 0 scenarios
    ```

**Command blocks** hold `$ COMMAND` lines, each followed by the output the doc shows.
The commands run in-process (typer's CliRunner), one block at a time, in a temporary
folder; `$ echo $?` prints the exit status of the command before it. What is laid out in
the folder is said by the directive:

- `copy=PATH[,PATH...]`: repository paths copied into the folder at the same place
  (default: the `cwd`);
- `cwd=PATH`: the commands run in that folder of the copy;
- `delete=PATH`, `edit=PATH:"OLD"->"NEW"` (OLD must occur exactly once; `\\n` is a
  newline) and `paste=PATH` (appends the scenario shown in the nearest command block
  above that shows one, as a designer pastes it): changes made to the copy first,
  paths taken from `cwd`; each may be given more than once;
- `skip="REASON"`: the block is not run (say why: it needs a server, ...).

In the shown output, a line that is only `...` (indented or not) stands for any number of
lines, and a timing `in 6.8s` matches any timing. Trailing spaces are ignored.

**Claims**: a line of a fenced block that reads `rulesc ARGS  # ... -> "TEXT"` (README's
list of commands) is run the same way, and TEXT must be the last line of its output.

**Files**: `shows=PATH` says the block is that repository file as it is (its opening
comment lines aside), as the designer guide shows the foundry's files.

**Rules blocks** (docs/language.md):

- `game=NAME [files=PATH,...] [prelude="..."]`: the block is a complete game (after the
  prelude, if any): it is written as `game.rules` beside the files and must check
  without errors. Later blocks name it with `in=NAME`.
- `in=NAME`: a fragment added to game NAME (with every fragment of NAME above it); the
  result must check without errors; with `expect=CODE` it is added alone and the check
  must fail with that diagnostic code instead.
- `scenarios in=NAME` or `scenarios of=GAME_DIR`: the block is the game's only
  `tests/*.rules` file, and `rulesc test` must pass every scenario in it.
- `bots of=GAME_DIR`: the block is the game's only `bots/*.rules` file and must check.

A `$` line or a claim without a directive fails the test, and so does a directive on a
block it does not fit: a new example is either run or marked `skip` with a reason.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DIRECTIVE = re.compile(r"^<!--\s*example:(.*?)-->$")
FENCE = re.compile(r"^(\s*)```")
CLAIM = re.compile(r'^\s*(rulesc\s.*?)\s+#.*->\s*"([^"]*)"\s*$')
TIMING = re.compile(r"\bin \d+(\.\d+)?m?s\b")
runner = CliRunner()


@dataclass
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lines: list[str]
    options: dict[str, list[str]] | None  # None: no directive
    flags: set[str] = field(default_factory=set)

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    def opt(self, key: str, default: str | None = None) -> str | None:
        values = (self.options or {}).get(key)
        return values[-1] if values else default

    def is_command_block(self) -> bool:
        return any(line.startswith("$ ") for line in self.lines)

    def claims(self) -> list[tuple[str, str]]:
        return [(m[1], m[2]) for m in map(CLAIM.match, self.lines) if m]


def parse_directive(text: str) -> tuple[dict[str, list[str]], set[str]]:
    options: dict[str, list[str]] = {}
    flags: set[str] = set()
    for token in shlex.split(text):
        key, sep, value = token.partition("=")
        if sep:
            options.setdefault(key, []).append(value)
        else:
            flags.add(key)
    return options, flags


def comment_above(lines: list[str], fence: int) -> str:
    """The HTML comment just above a fence (blank lines between allowed), as one line."""
    end = fence - 1
    while end >= 0 and not lines[end].strip():
        end -= 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return ""
    start = end
    while start > 0 and "<!--" not in lines[start]:
        start -= 1
    return " ".join(line.strip() for line in lines[start : end + 1])


def read_blocks(doc: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent = len(opening[1])
        end = i + 1
        while end < len(lines) and not FENCE.match(lines[end]):
            end += 1
        body = [line[indent:] for line in lines[i + 1 : end]]
        directive = DIRECTIVE.match(comment_above(lines, i))
        options, flags = parse_directive(directive[1]) if directive else (None, set())
        blocks.append(Block(doc, i + 1, body, options, flags))
        i = end + 1
    return blocks


def examples() -> list[Block]:
    return [
        block
        for doc in DOCS
        for block in read_blocks(doc)
        if block.options is not None or block.is_command_block() or block.claims()
    ]


ALL = examples()


# ---- laying out the folder -------------------------------------------------------------


def unescape(text: str) -> str:
    return text.replace("\\n", "\n")


def shown_scenario(block: Block) -> str | None:
    """The scenario a command block shows in its output, dedented, as a designer pastes it."""
    for n, line in enumerate(block.lines):
        if line.lstrip().startswith('scenario "'):
            indent = len(line) - len(line.lstrip())
            taken = [line]
            for more in block.lines[n + 1 :]:
                if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                    break
                taken.append(more)
            return textwrap.dedent("\n".join(taken)) + "\n"
    return None


def scenario_to_paste(block: Block) -> str:
    earlier = [
        b for b in ALL if b.doc == block.doc and b.line < block.line and b.is_command_block()
    ]
    for candidate in reversed(earlier):
        scenario = shown_scenario(candidate)
        if scenario is not None:
            return scenario
    raise AssertionError(f"{block.where}: paste= but no command block above shows a scenario")


def lay_out(block: Block, tmp: Path) -> Path:
    options = block.options or {}
    cwd_rel = block.opt("cwd", ".") or "."
    copies = [p for value in options.get("copy", []) for p in value.split(",")] or (
        [cwd_rel] if cwd_rel != "." else []
    )
    for rel in copies:
        source, target = ROOT / rel, tmp / rel
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    cwd = tmp / cwd_rel
    cwd.mkdir(parents=True, exist_ok=True)
    for rel in options.get("delete", []):
        target = cwd / rel
        assert target.exists(), f"{block.where}: delete={rel}: no such file in the copy"
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for edit in options.get("edit", []):
        rel, _, change = edit.partition(":")
        old, arrow, new = change.partition("->")
        assert arrow, f'{block.where}: edit= needs PATH:"OLD"->"NEW", got {edit!r}'
        target = cwd / rel
        text = target.read_text(encoding="utf-8")
        old, new = unescape(old), unescape(new)
        assert text.count(old) == 1, (
            f"{block.where}: edit {old!r} occurs {text.count(old)} times in {rel}"
        )
        target.write_text(text.replace(old, new), encoding="utf-8")
    for rel in options.get("paste", []):
        target = cwd / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        before = target.read_text(encoding="utf-8") if target.exists() else ""
        target.write_text(before + scenario_to_paste(block), encoding="utf-8")
    return cwd


# ---- running and comparing -------------------------------------------------------------


def run_rulesc(command: str, cwd: Path, where: str) -> tuple[int, str]:
    words = shlex.split(command)
    assert words[0] == "rulesc", (
        f"{where}: only `rulesc` commands and `echo $?` run, not {command!r}"
    )
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(app, words[1:])
    finally:
        os.chdir(old)
    return result.exit_code, result.output


def normalized(lines: list[str]) -> list[str]:
    out = [TIMING.sub("in <time>", line.rstrip()) for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def matches(shown: list[str], actual: list[str]) -> bool:
    """`...` alone on a line matches any number of lines; every other line must be equal."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n"
        for line in normalized(shown)
    )
    return re.fullmatch(pattern, "".join(f"{line}\n" for line in normalized(actual))) is not None


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """The block's `$ COMMAND` lines, each with the output shown below it."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            steps.append((line[2:].strip(), []))
        else:
            assert steps, f"{block.where}: output shown before the first `$` line"
            steps[-1][1].append(line)
    return steps


def run_command_block(block: Block, tmp: Path) -> None:
    cwd = lay_out(block, tmp)
    status = 0
    for command, shown in commands(block):
        if command == "echo $?":
            actual = [str(status)]
        else:
            status, output = run_rulesc(command, cwd, block.where)
            actual = output.splitlines()
        assert matches(shown, actual), (
            f"{block.where}: `$ {command}` printed (exit {status}):\n"
            + "\n".join(actual)
            + "\n--- but the doc shows:\n"
            + "\n".join(shown)
        )


def run_claims(block: Block, tmp: Path) -> None:
    cwd = lay_out(block, tmp)
    for command, last_line in block.claims():
        _, output = run_rulesc(command, cwd, block.where)
        lines = normalized(output.splitlines())
        assert lines and lines[-1] == last_line, (
            f"{block.where}: `{command}` ends with {lines[-1:]!r}, the doc says {last_line!r}"
        )


# ---- rules blocks -----------------------------------------------------------------------


def base_game(block: Block) -> Block:
    name = block.opt("in")
    for candidate in ALL:
        if (
            candidate.doc == block.doc
            and candidate.opt("game") == name
            and candidate.line < block.line
        ):
            return candidate
    raise AssertionError(f"{block.where}: in={name} names no game=... block above it")


def game_text(block: Block) -> str:
    """The complete game a rules block is part of, up to and including itself."""
    if block.opt("game"):
        return unescape(block.opt("prelude", "") or "") + "\n".join(block.lines) + "\n"
    base = base_game(block)
    fragments = [
        b
        for b in ALL
        if b.doc == block.doc
        and b.opt("in") == block.opt("in")
        and base.line < b.line < block.line
        and "scenarios" not in b.flags
        and not b.opt("expect")
    ]
    own = [] if "scenarios" in block.flags else ["\n".join(block.lines)]
    texts = [game_text(base)] + ["\n".join(b.lines) for b in fragments] + own
    return "\n\n".join(texts) + "\n"


def write_game(block: Block, folder: Path) -> Path:
    """Lays out the game a rules block belongs to; returns its folder."""
    folder.mkdir(parents=True)
    of = block.opt("of")
    if of:
        shutil.copytree(ROOT / of, folder, dirs_exist_ok=True)
        return folder
    base = block if block.opt("game") else base_game(block)
    for value in (base.options or {}).get("files", []):
        for rel in value.split(","):
            shutil.copy(ROOT / rel, folder / Path(rel).name)
    text = game_text(block)
    if block.opt("expect"):  # this fragment alone on its game, so the diagnostic is its own
        text = game_text(base) + "\n" + "\n".join(block.lines) + "\n"
    (folder / "game.rules").write_text(text, encoding="utf-8")
    return folder


def replace_folder(folder: Path, name: str, text: str) -> None:
    shutil.rmtree(folder / name, ignore_errors=True)
    (folder / name).mkdir()
    (folder / name / "example.rules").write_text(text, encoding="utf-8")


def run_rules_block(block: Block, tmp: Path) -> None:
    folder = write_game(block, tmp / "game")
    text = "\n".join(block.lines) + "\n"
    if "scenarios" in block.flags:
        replace_folder(folder, "tests", text)
        result = runner.invoke(app, ["test", str(folder), "-v"])
        assert result.exit_code == 0, f"{block.where}: scenarios fail:\n{result.output}"
        return
    if "bots" in block.flags:
        replace_folder(folder, "bots", text)
    result = runner.invoke(app, ["check", str(folder)])
    code = block.opt("expect")
    if code:
        assert result.exit_code == 1 and f"[{code}]" in result.output, (
            f"{block.where}: expected diagnostic {code}, got (exit {result.exit_code}):\n{result.output}"
        )
    else:
        assert result.exit_code == 0, f"{block.where}: does not check:\n{result.output}"


def check_shown_file(block: Block, tmp: Path) -> None:
    rel = block.opt("shows") or ""
    lines = (ROOT / rel).read_text(encoding="utf-8").splitlines()
    while lines and (not lines[0].strip() or lines[0].startswith("#")):
        lines.pop(0)
    assert normalized(block.lines) == normalized(lines), f"{block.where}: not what {rel} holds"


# ---- the tests --------------------------------------------------------------------------

KNOWN_OPTIONS = {
    "shows",
    "cwd",
    "copy",
    "delete",
    "edit",
    "paste",
    "skip",
    "game",
    "files",
    "prelude",
    "in",
    "of",
    "expect",
}
KNOWN_FLAGS = {"scenarios", "bots"}


def kind_of(block: Block) -> str:
    if block.options is None:
        return "unmarked"
    if block.opt("skip") is not None:
        return "skip"
    if block.is_command_block():
        return "commands"
    if block.opt("shows"):
        return "file"
    if block.claims():
        return "claims"
    if block.opt("game") or block.opt("in") or block.opt("of"):
        return "rules"
    return "unfit"


@pytest.mark.parametrize("block", ALL, ids=[b.where for b in ALL])
def test_doc_example(block: Block, tmp_path: Path) -> None:
    kind = kind_of(block)
    assert kind != "unmarked", (
        f"{block.where}: a `$` command or claim with no directive: run it "
        '(<!-- example: cwd=... -->) or mark it (<!-- example: skip="why" -->)'
    )
    assert kind != "unfit", f"{block.where}: a directive on a block it does not fit"
    unknown = set(block.options or {}) - KNOWN_OPTIONS | block.flags - KNOWN_FLAGS
    assert not unknown, f"{block.where}: unknown directive words {sorted(unknown)}"
    if kind == "skip":
        assert block.opt("skip"), f"{block.where}: skip= needs a reason"
        pytest.skip(f"{block.where}: {block.opt('skip')}")
    run = {
        "commands": run_command_block,
        "claims": run_claims,
        "rules": run_rules_block,
        "file": check_shown_file,
    }[kind]
    run(block, tmp_path)


def test_the_docs_have_examples_of_each_kind() -> None:
    """Guards the finder itself: if it stopped seeing blocks, every doc would 'pass'."""
    kinds = {kind_of(b) for b in ALL}
    assert {"commands", "claims", "rules"} <= kinds
    assert any(b.doc.name == "designer-guide.md" and b.is_command_block() for b in ALL)


def test_elision_and_timing_matching() -> None:
    assert matches(["a", "  ...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "b"], ["a", "b"])
    assert not matches(["a", "...", "d"], ["a", "b"])
    assert not matches(["a", "b"], ["a", "b", "c"])
    assert matches(["done in 6.8s"], ["done in 0.2s  "])
    assert not matches(["coins 7"], ["coins 5"])


def test_a_command_line_without_a_directive_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "new.md"
    doc.write_text("text\n\n```\n$ rulesc check foundry\nok\n```\n", encoding="utf-8")
    [block] = read_blocks(doc)
    assert block.is_command_block() and kind_of(block) == "unmarked"
