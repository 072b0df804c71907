"""The tokens of one line of rules, for the formatter, and their canonical spacing.

The formatter works on lines and tokens rather than on the syntax tree, so that a
statement added to the grammar later is laid out sensibly without teaching the
formatter about it: words get one space between them, punctuation follows a few
general rules. What it cannot tokenize it leaves as written (and the safety checks
of fmt.py catch anything it got wrong).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .parser import reserved_words
from .syntax_errors import comment_start

# the lexer's own token shapes (rules.lark), most specific first
_TOKEN = re.compile(
    r"""(?P<STRING>"([^"\\\n]|\\.)*")
      | (?P<DATE>[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9A-Za-z_]))
      | (?P<CLOCK>[0-9]{2}:[0-9]{2})
      | (?P<DURATION>([0-9][0-9_]*(ms|s|m|h|d|w))+(?![A-Za-z0-9_]))
      | (?P<INT>[0-9][0-9_]*(?![A-Za-z0-9_]))
      | (?P<WORD>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<OP>->|==|!=|<=|>=|\.\.|[-+*/%=<>()\[\],:.])
    """,
    re.VERBOSE,
)
_WORDLIKE = {"STRING", "DATE", "CLOCK", "DURATION", "INT", "WORD"}
# keywords that are values: a `-` after them subtracts
_VALUE_WORDS = {"now", "level", "true", "false", "empty", "any"}
_FUNCTIONS = {"min", "max", "ceil"}  # `max(` is a call only when the bracket touches it
_BINARY = {"==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "="}


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # STRING DATE CLOCK DURATION INT WORD OP
    text: str
    start: int  # column in the line (0-based)
    end: int


@functools.cache
def keywords() -> frozenset[str]:
    return reserved_words()


def split_comment(line: str) -> tuple[str, str | None]:
    """The code of a line and its comment (from `#`, right spaces removed), if any."""
    start = comment_start(line)
    if start is None:
        return line.rstrip(), None
    return line[:start].rstrip(), line[start:].rstrip()


def tokenize(code: str) -> list[Tok] | None:
    """The tokens of a line's code, or None when some character starts no token."""
    out: list[Tok] = []
    pos = 0
    while pos < len(code):
        if code[pos] == " ":
            pos += 1
            continue
        m = _TOKEN.match(code, pos)
        if m is None:
            return None
        kind = m.lastgroup or "OP"
        out.append(Tok(kind, m.group(), pos, m.end()))
        pos = m.end()
    return out


def bracket_depth(tokens: list[Tok], depth: int = 0) -> int:
    """The bracket depth after these tokens (a line continues while it is above 0)."""
    for t in tokens:
        if t.kind == "OP" and t.text in "([":
            depth += 1
        elif t.kind == "OP" and t.text in ")]":
            depth -= 1
    return depth


def _is_value_end(t: Tok, before: Tok | None = None) -> bool:
    """Whether a token can end a value, so that a `-` after it subtracts."""
    if t.kind == "WORD":
        after_dot = before is not None and before.text == "."  # `crop[kind].cost`: a column
        return after_dot or t.text not in keywords() or t.text in _VALUE_WORDS
    return t.kind in _WORDLIKE or t.text in (")", "]")


def spaced(tokens: list[Tok]) -> str:
    """The tokens written with canonical spacing."""
    out: list[str] = []
    unary = False  # the previous token was a minus sign, not a subtraction
    for i, t in enumerate(tokens):
        if i:
            prev = tokens[i - 1]
            if not unary and _space_between(prev, t, tokens[i - 2] if i > 1 else None):
                out.append(" ")
        out.append(t.text)
        unary = t.text == "-" and _is_sign(tokens, i)
    return "".join(out)


def _is_sign(tokens: list[Tok], i: int) -> bool:
    """Whether the `-` at `i` is a sign: nothing before it ends a value, or it is written
    as one, touching what follows but not what precedes (`gain xp -1`, an amount)."""
    if i == 0 or not _is_value_end(tokens[i - 1], tokens[i - 2] if i > 1 else None):
        return True
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    return (
        after is not None and tokens[i - 1].end < tokens[i].start and tokens[i].end == after.start
    )


def _space_between(a: Tok, b: Tok, before_a: Tok | None) -> bool:
    if a.kind in _WORDLIKE and b.kind in _WORDLIKE:
        return True  # never merge two words
    if b.text in (",", ")", "]", ":", ".", "..") or a.text in ("(", "[", ".", ".."):
        return False
    if b.text == "(":
        if a.kind != "WORD":
            return a.text in _BINARY or a.text in (",", ":")
        if a.text in _FUNCTIONS:
            return a.end != b.start  # `max (` is the keyword `max`, `max(` the function
        return a.text in keywords()  # `require (a or b)`, but `buy(kind: crop)`
    if b.text == "[":
        return not (_is_value_end(a, before_a) and a.kind in ("WORD", "OP"))
    return True
