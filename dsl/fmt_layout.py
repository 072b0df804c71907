"""The canonical layout of a rules file (`rulesc fmt`), line by line.

- Blocks are indented two spaces a level; a comment line takes the level of the block
  it sits in (or of the block it introduces).
- Tokens are spaced canonically (fmt_tokens.spaced); a line whose characters do not all
  make tokens is kept as written, only re-indented.
- The rows of a table line up: names padded after their colon, numbers right-aligned,
  other cells left-aligned. The weights of a `pick one` or `loot` block are
  right-aligned, as the parser allows (` 5:` under `70:`).
- Trailing comments on consecutive lines line up two spaces after the longest code;
  every comment is kept, word for word.
- Blank lines: at most one in a row, none at the start of a block or the file; exactly
  one around a top-level declaration with a block (and its comments above it).

This module only lays out. fmt.py checks that the result means the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .fmt_tokens import Tok, bracket_depth, spaced, split_comment, tokenize
from .parser import align_pick_weights

INDENT = "  "
# blocks whose lines start with a weight that may be right-aligned (parser.align_pick_weights)
_WEIGHTED = re.compile(r"^(pick one|loot [A-Za-z_][A-Za-z0-9_]*)$")
_NUMBER = re.compile(r"^-?[0-9][0-9_]*([a-z]+[0-9_a-z]*)?$")  # an int or a duration


@dataclass
class Line:
    """One logical line: code (possibly continued over lines in brackets), a comment, or blank."""

    kind: str  # code, comment, blank
    width: int = 0  # the indentation as written
    physical: list[str] = field(default_factory=list)  # the lines as written
    depth: int = 0
    code: str = ""  # canonical code (for code lines)
    tokens: list[Tok] | None = None
    comment: str | None = None  # a trailing comment, or the text of a comment line
    verbatim: bool = False  # continued lines with comments inside: kept as written
    opens_block: bool = False
    parent: int | None = None  # index of the line heading its block


def format_text(text: str) -> str:
    text = text.replace("\r\n", "\n").removeprefix("\ufeff")
    aligned, _ = align_pick_weights(text)  # right-aligned weights read as the parser reads them
    lines = _logical_lines(aligned.split("\n"))
    _depths(lines)
    for line in lines:
        if line.kind == "code":
            _render(line)
    _align_tables(lines)
    _align_weights(lines)
    out = _with_blank_lines(lines)
    return _emit(out)


# ---- reading ---------------------------------------------------------------------


def _logical_lines(physical: list[str]) -> list[Line]:
    out: list[Line] = []
    i = 0
    while i < len(physical):
        raw = physical[i]
        code, comment = split_comment(raw)
        width = len(raw) - len(raw.lstrip(" "))
        if not code.strip():
            out.append(
                Line("blank") if comment is None else Line("comment", width, [raw], comment=comment)
            )
            i += 1
            continue
        line = Line("code", width, [raw])
        toks = tokenize(code)
        depth = _depth_after(code, toks, 0)
        comments = [comment]
        # a bracket left open continues the line (the parser ignores line ends inside brackets)
        while depth > 0 and i + 1 < len(physical):
            i += 1
            more_code, more_comment = split_comment(physical[i])
            line.physical.append(physical[i])
            comments.append(more_comment)
            more = tokenize(more_code)
            toks = toks + more if toks is not None and more is not None else None
            depth = _depth_after(more_code, more, depth)
        line.tokens = toks
        if len(line.physical) > 1 and (toks is None or any(comments[:-1])):
            line.verbatim = True  # a comment inside the brackets: keep those lines as written
        else:
            line.comment = comments[-1]
        out.append(line)
        i += 1
    return out


def _depth_after(code: str, toks: list[Tok] | None, depth: int) -> int:
    if toks is not None:
        return bracket_depth(toks, depth)
    outside = re.sub(r'"([^"\\\n]|\\.)*"', "", code)  # brackets in messages do not count
    return depth + sum(outside.count(c) for c in "([") - sum(outside.count(c) for c in ")]")


def _depths(lines: list[Line]) -> None:
    """Each line's block depth, from its indentation, as the parser's indenter reads it."""
    stack = [0]
    heads: list[int | None] = [None]  # the line heading each open block
    last_code: int | None = None
    for i, line in enumerate(lines):
        if line.kind != "code":
            continue
        if line.width > stack[-1]:
            stack.append(line.width)
            heads.append(last_code)
            if last_code is not None:
                lines[last_code].opens_block = True
        while line.width < stack[-1] and len(stack) > 1:
            stack.pop()
            heads.pop()
        line.depth = len(stack) - 1
        line.parent = heads[-1]
        last_code = i
    # a comment line: the level of the block it sits in, or of the block it introduces
    widths = [0]  # the indentation of each open level, after the last code line
    for i, line in enumerate(lines):
        if line.kind == "code":
            widths = widths[: line.depth] + [line.width]
        elif line.kind == "comment":
            following = next((x for x in lines[i + 1 :] if x.kind == "code"), None)
            if following is not None and following.width > widths[-1] and line.width > widths[-1]:
                line.depth = following.depth
            else:
                line.depth = max(0, sum(1 for w in widths if w <= line.width) - 1)


def _render(line: Line) -> None:
    if line.verbatim or line.tokens is None:
        line.code = split_comment(line.physical[0])[0].strip() if len(line.physical) == 1 else ""
        line.verbatim = line.verbatim or len(line.physical) > 1
        return
    line.code = spaced(line.tokens)


# ---- alignment -----------------------------------------------------------------------


def _children(lines: list[Line], head: int) -> list[Line]:
    return [line for line in lines if line.kind == "code" and line.parent == head]


def _align_tables(lines: list[Line]) -> None:
    """Line up the cells of each inline table's rows."""
    for i, head in enumerate(lines):
        if head.kind != "code" or not head.opens_block or not head.code.startswith("table "):
            continue
        rows, parsed = [], []
        for r in _children(lines, i):
            if (cells_of_row := _row_cells(r)) is not None:
                rows.append(r)
                parsed.append(cells_of_row)
        if len(rows) < 2:
            continue
        count = max(len(cells) for _, cells in parsed)
        name_width = max(len(name) for name, _ in parsed) + 1
        widths = [
            max((len(c[k]) for _, c in parsed if k < len(c)), default=0) for k in range(count)
        ]
        numeric = [all(_NUMBER.match(c[k]) for _, c in parsed if k < len(c)) for k in range(count)]
        for row, (name, cells) in zip(rows, parsed, strict=True):
            parts = []
            for k, cell in enumerate(cells):
                last = k == len(cells) - 1
                if numeric[k]:
                    parts.append(cell.rjust(widths[k]) + ("" if last else ","))
                else:
                    parts.append(
                        cell
                        + ("" if last else ",").ljust(widths[k] - len(cell) + (0 if last else 1))
                    )
            row.code = (f"{name}:".ljust(name_width) + " " + " ".join(parts)).rstrip()


def _row_cells(line: Line) -> tuple[str, list[str]] | None:
    """`wheat: 5, 2m` as ("wheat", ["5", "2m"]); None for any other line."""
    toks = line.tokens
    if line.verbatim or not toks or len(toks) < 3 or toks[0].kind != "WORD" or toks[1].text != ":":
        return None
    if toks[0].text == "columns":
        return None
    cells: list[list[Tok]] = [[]]
    depth = 0
    for t in toks[2:]:
        if t.text == "," and depth == 0:
            cells.append([])
            continue
        depth = bracket_depth([t], depth)
        cells[-1].append(t)
    if any(not c for c in cells):
        return None
    return toks[0].text, [spaced(c) for c in cells]


def _align_weights(lines: list[Line]) -> None:
    """Right-align the weights of each `pick one` and `loot` block: ` 5:` under `70:`."""
    for i, head in enumerate(lines):
        if head.kind != "code" or not head.opens_block or not _WEIGHTED.match(head.code):
            continue
        branches = [
            b
            for b in _children(lines, i)
            if b.tokens
            and not b.verbatim
            and b.tokens[0].kind == "INT"
            and len(b.tokens) > 1
            and b.tokens[1].text == ":"
        ]
        width = max((len(b.tokens[0].text) for b in branches if b.tokens), default=0)
        for b in branches:
            assert b.tokens is not None
            b.code = b.tokens[0].text.rjust(width) + b.code[len(b.tokens[0].text) :]


# ---- blank lines and output ---------------------------------------------------------


def _with_blank_lines(lines: list[Line]) -> list[Line]:
    out: list[Line] = []
    for i, line in enumerate(lines):
        if line.kind == "blank":
            prev = next((x for x in reversed(out) if x.kind != "blank"), None)
            if (
                not out
                or out[-1].kind == "blank"
                or (prev is not None and prev.kind == "code" and prev.opens_block)
            ):
                continue  # no blank at the start of the file or of a block, none twice
            out.append(line)
            continue
        if line.depth == 0 and _needs_space_before(lines, i) and out and out[-1].kind != "blank":
            out.append(Line("blank"))
        out.append(line)
    while out and out[-1].kind == "blank":
        out.pop()
    return out


def _needs_space_before(lines: list[Line], i: int) -> bool:
    """A top-level line after a block, or the first line (comments included) of a top-level
    declaration that has a block, gets a blank line before it."""
    prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].kind != "blank"), None)
    if prev is None:
        return False
    if prev.depth > 0:
        return True  # leaving a block
    if lines[i - 1].kind == "comment" and lines[i - 1].depth == 0:
        return False  # inside a run of comments: the run's first line decides
    j = i  # the declaration this run of top-level comments (if any) sits on
    while j < len(lines) and lines[j].kind == "comment" and lines[j].depth == 0:
        j += 1
    return j < len(lines) and lines[j].kind == "code" and lines[j].opens_block


def _emit(lines: list[Line]) -> str:
    out: list[str] = []
    run: list[
        tuple[int, str, str]
    ] = []  # (output index, code, comment) of consecutive commented lines

    def flush() -> None:
        width = max((len(code) for _, code, _ in run), default=0)
        for index, code, comment in run:
            out[index] = f"{code.ljust(width)}  {comment}"
        run.clear()

    for line in lines:
        indent = INDENT * line.depth
        if line.kind == "blank":
            flush()
            out.append("")
        elif line.kind == "comment":
            flush()
            out.append(indent + (line.comment or "#"))
        elif line.verbatim:
            flush()
            first = line.physical[0].lstrip(" ")
            shift = len(indent) - line.width
            out.append(indent + first.rstrip())
            for more in line.physical[1:]:
                lead = len(more) - len(more.lstrip(" "))
                out.append(" " * max(len(indent) + 1, lead + shift) + more.strip())
        elif line.comment:
            out.append("")
            run.append((len(out) - 1, indent + line.code, line.comment))
        else:
            flush()
            out.append(indent + line.code)
    flush()
    return "\n".join(out) + "\n" if out else ""
