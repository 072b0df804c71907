"""Text to AST. The only module that imports lark.

Each top-level declaration is parsed on its own, so a syntax error in one action
does not hide the errors in the next: every declaration gets its own diagnostic.
Syntax errors are said in words ("expected ')' to close the parameter list opened
at 5:11"), never with lark's token names.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    VisitError,
)
from lark.indenter import DedentError, Indenter

from . import ast
from .diagnostics import Diagnostic, Span

_DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION_PART = re.compile(r"([0-9][0-9_]*)(ms|s|m|h|d|w)")


class _RulesIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


@functools.cache
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "rules.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        # the basic lexer keeps keywords whole: `costs` is a name, never `cost` + `s`
        lexer="basic",
        postlex=_RulesIndenter(),
        propagate_positions=True,
        maybe_placeholders=False,
        start=["start", "expr"],
    )


def duration_ms(text: str) -> int:
    return sum(int(n.replace("_", "")) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))


class _Build(Transformer):
    """Lark tree -> AST nodes. Positions are shifted for interpolated expressions."""

    def __init__(
        self, file: str, line_offset: int = 0, col_offset: int = 0, lines: list[str] | None = None
    ) -> None:
        super().__init__()
        self.file = file
        self.line_offset = line_offset
        self.col_offset = col_offset
        self.lines = lines or []

    # -- spans
    def _pos(self, line: int, col: int) -> tuple[int, int]:
        if line == 1 and self.col_offset:
            col += self.col_offset
        return line + self.line_offset, col

    def span(self, meta) -> Span:
        line, col = self._pos(meta.line, meta.column)
        end_line, end_col = self._pos(meta.end_line, meta.end_column)
        if end_line > line and self.lines:
            # a node's span ends at its last character, not at the newline after it
            end_line, end_col = _last_code_before(self.lines, end_line, end_col)
        return Span(self.file, line, col, end_line, end_col)

    def tspan(self, tok: Token) -> Span:
        line, col = self._pos(tok.line, tok.column)
        end_line, end_col = self._pos(tok.end_line, tok.end_column)
        return Span(self.file, line, col, end_line, end_col)

    def string(self, tok: Token) -> ast.StringLit:
        return _string_lit(tok, self)

    # -- top level
    @v_args(meta=True)
    def start(self, meta, children):
        return list(children)

    @v_args(meta=True)
    def game_decl(self, meta, c):
        title = _unquote(c[1]) if len(c) > 1 else None
        return ast.GameDecl(str(c[0]), title, self.span(meta))

    @v_args(meta=True)
    def day_decl(self, meta, c):
        hours, minutes = str(c[0]).split(":")
        zone = str(c[1]) if len(c) > 1 else None
        return ast.DayStartDecl(int(hours) * 60 + int(minutes), zone, self.span(meta))

    @v_args(meta=True)
    def resource_decl(self, meta, c):
        kind, name, *opts = c
        o = dict(opts)
        return ast.ResourceDecl(
            str(kind), str(name), o.get("start"), o.get("max"), o.get("regen"), self.tspan(name), self.span(meta)
        )

    @v_args(meta=True)
    def opt_start(self, meta, c):
        return ("start", c[0])

    @v_args(meta=True)
    def opt_max(self, meta, c):
        return ("max", c[0])

    @v_args(meta=True)
    def opt_regen(self, meta, c):
        every = ast.DurationLit(duration_ms(str(c[1])), str(c[1]), self.tspan(c[1]))
        return ("regen", ast.Regen(c[0].value, every, self.span(meta)))

    @v_args(meta=True)
    def level_decl(self, meta, c):
        return ast.LevelDecl(ast.Name(str(c[0]), self.tspan(c[0])), tuple(c[1:]), self.span(meta))

    @v_args(meta=True)
    def table_decl(self, meta, c):
        name = c[0]
        rest = c[1:]
        source = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            source = self.string(rest[0])
            rest = rest[1:]
        columns: tuple = ()
        rows: list = []
        for part in rest:
            if isinstance(part, tuple):
                columns = part
            else:
                rows.append(part)
        return ast.TableDecl(str(name), source, columns, tuple(rows), self.tspan(name), self.span(meta))

    @v_args(meta=True)
    def columns(self, meta, c):
        return tuple(c)

    @v_args(meta=True)
    def column(self, meta, c):
        return ast.Column(str(c[0]), ast.Name(str(c[1]), self.tspan(c[1])), self.span(meta))

    @v_args(meta=True)
    def row(self, meta, c):
        return ast.Row(str(c[0]), tuple(c[1:]), self.span(meta))

    @v_args(meta=True)
    def item_decl(self, meta, c):
        name = c[0]
        key = None
        opts = c[1:]
        if opts and isinstance(opts[0], Token):
            key = ast.Name(str(opts[0]), self.tspan(opts[0]))
            opts = opts[1:]
        o = dict(opts)
        return ast.ItemDecl(
            str(name), key, o.get("start"), o.get("max"), o.get("regen"), self.tspan(name), self.span(meta)
        )

    @v_args(meta=True)
    def slots_decl(self, meta, c):
        return ast.SlotsDecl(str(c[0]), c[1], tuple(c[2:]), self.tspan(c[0]), self.span(meta))

    @v_args(meta=True)
    def slot_field(self, meta, c):
        return ast.SlotField(str(c[0]), ast.Name(str(c[1]), self.tspan(c[1])), self.span(meta))

    @v_args(meta=True)
    def action_decl(self, meta, c):
        name = c[0]
        params: tuple = ()
        body = c[1:]
        if body and isinstance(body[0], tuple):
            params, body = body[0], body[1:]
        return ast.ActionDecl(str(name), params, tuple(body), self.tspan(name), self.span(meta))

    @v_args(meta=True)
    def param_list(self, meta, c):
        return tuple(c)

    @v_args(meta=True)
    def param(self, meta, c):
        lo = hi = None
        if len(c) > 2:
            lo, hi = c[2]
        return ast.Param(str(c[0]), ast.Name(str(c[1]), self.tspan(c[1])), lo, hi, self.span(meta))

    @v_args(meta=True)
    def int_range(self, meta, c):
        return (c[0], c[1])

    @v_args(meta=True)
    def invariant_decl(self, meta, c):
        message = self.string(c[1]) if len(c) > 1 else None
        return ast.InvariantDecl(c[0], message, self.span(meta))

    # -- statements
    @v_args(meta=True)
    def require_stmt(self, meta, c):
        message = self.string(c[1]) if len(c) > 1 else None
        return ast.Require(c[0], message, self.span(meta))

    @v_args(meta=True)
    def cost_stmt(self, meta, c):
        return ast.Cost(tuple(c), self.span(meta))

    @v_args(meta=True)
    def gain_stmt(self, meta, c):
        return ast.Gain(tuple(c), self.span(meta))

    @v_args(meta=True)
    def amount(self, meta, c):
        return ast.Amount(c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def set_stmt(self, meta, c):
        return ast.Set(c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def fill_stmt(self, meta, c):
        return ast.Fill(c[0], tuple(c[1:]), self.span(meta))

    @v_args(meta=True)
    def field_value(self, meta, c):
        return ast.FieldValue(str(c[0]), c[1], self.span(meta))

    @v_args(meta=True)
    def empty_stmt(self, meta, c):
        return ast.Empty(c[0], self.span(meta))

    @v_args(meta=True)
    def let_stmt(self, meta, c):
        return ast.Let(str(c[0]), c[1], self.span(meta))

    @v_args(meta=True)
    def limit_stmt(self, meta, c):
        per = ast.Name(str(c[2]), self.tspan(c[2])) if len(c) > 2 else None
        return ast.Limit(c[0].value, c[1], per, self.span(meta))

    @v_args(meta=True)
    def period_day(self, meta, c):
        return ast.Period("day", _DURATION_UNITS["d"], self.span(meta))

    @v_args(meta=True)
    def period_week(self, meta, c):
        return ast.Period("week", _DURATION_UNITS["w"], self.span(meta))

    @v_args(meta=True)
    def period_span(self, meta, c):
        return ast.Period("span", duration_ms(str(c[0])), self.span(meta))

    @v_args(meta=True)
    def cooldown_stmt(self, meta, c):
        tok = c[0]
        duration = ast.DurationLit(duration_ms(str(tok)), str(tok), self.tspan(tok))
        per = ast.Name(str(c[1]), self.tspan(c[1])) if len(c) > 1 else None
        return ast.Cooldown(duration, per, self.span(meta))

    @v_args(meta=True)
    def emit_stmt(self, meta, c):
        return ast.Emit(str(c[0]), tuple(c[1:]), self.span(meta))

    @v_args(meta=True)
    def named_arg(self, meta, c):
        return ast.NamedArg(str(c[0]), c[1], self.span(meta))

    @v_args(meta=True)
    def when_stmt(self, meta, c):
        cond, *body = c
        otherwise: tuple = ()
        if body and isinstance(body[-1], _Otherwise):
            otherwise = body.pop().body
        return ast.When(cond, tuple(body), otherwise, self.span(meta))

    @v_args(meta=True)
    def otherwise(self, meta, c):
        return _Otherwise(tuple(c))

    @v_args(meta=True)
    def pick_stmt(self, meta, c):
        return ast.Pick(tuple(c), self.span(meta))

    @v_args(meta=True)
    def branch(self, meta, c):
        weight = c[0]
        return ast.Branch(weight.value, weight.span, tuple(c[1:]), self.span(meta))

    @v_args(meta=True)
    def place(self, meta, c):
        name = c[0]
        index = None
        fld = None
        for part in c[1:]:
            if isinstance(part, Token) and part.type == "NAME":
                fld = str(part)
            else:
                index = part
        return ast.Place(str(name), self.tspan(name), index, fld, self.span(meta))

    # -- expressions
    def _bin(self, op):
        @v_args(meta=True)
        def build(meta, c):
            return ast.Binary(op, c[0], c[1], self.span(meta))

        return build

    @v_args(meta=True)
    def add(self, meta, c):
        return ast.Binary("+", c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def sub(self, meta, c):
        return ast.Binary("-", c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def mul(self, meta, c):
        return ast.Binary("*", c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def div(self, meta, c):
        return ast.Binary("/", c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def mod(self, meta, c):
        return ast.Binary("%", c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def neg(self, meta, c):
        if isinstance(c[0], ast.IntLit):
            return ast.IntLit(-c[0].value, self.span(meta))
        return ast.Neg(c[0], self.span(meta))

    @v_args(meta=True)
    def compare(self, meta, c):
        return ast.Compare(str(c[1]), c[0], c[2], self.span(meta))

    def _boolop(self, op: str, meta, c) -> ast.BoolOp:
        # `a and b and c` is one node with three items, not a chain
        left = c[0]
        items = left.items if isinstance(left, ast.BoolOp) and left.op == op else (left,)
        return ast.BoolOp(op, (*items, c[1]), self.span(meta))

    @v_args(meta=True)
    def and_(self, meta, c):
        return self._boolop("and", meta, c)

    @v_args(meta=True)
    def or_(self, meta, c):
        return self._boolop("or", meta, c)

    @v_args(meta=True)
    def not_(self, meta, c):
        return ast.Not(c[0], self.span(meta))

    @v_args(meta=True)
    def is_empty(self, meta, c):
        return ast.IsSlot(c[0], False, self.span(meta))

    @v_args(meta=True)
    def is_filled(self, meta, c):
        return ast.IsSlot(c[0], True, self.span(meta))

    @v_args(meta=True)
    def index(self, meta, c):
        return ast.Index(c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def attr(self, meta, c):
        return ast.Attr(c[0], str(c[1]), self.tspan(c[1]), self.span(meta))

    @v_args(meta=True)
    def int_lit(self, meta, c):
        return ast.IntLit(int(str(c[0]).replace("_", "")), self.span(meta))

    @v_args(meta=True)
    def sint(self, meta, c):
        return ast.IntLit(int(str(c[0]).replace("_", "")), self.span(meta))

    @v_args(meta=True)
    def neg_int(self, meta, c):
        return ast.IntLit(-int(str(c[0]).replace("_", "")), self.span(meta))

    @v_args(meta=True)
    def duration(self, meta, c):
        return ast.DurationLit(duration_ms(str(c[0])), str(c[0]), self.span(meta))

    @v_args(meta=True)
    def true_lit(self, meta, c):
        return ast.BoolLit(True, self.span(meta))

    @v_args(meta=True)
    def false_lit(self, meta, c):
        return ast.BoolLit(False, self.span(meta))

    @v_args(meta=True)
    def string_lit(self, meta, c):
        return self.string(c[0])

    @v_args(meta=True)
    def now(self, meta, c):
        return ast.Now(self.span(meta))

    @v_args(meta=True)
    def level_ref(self, meta, c):
        return ast.LevelRef(self.span(meta))

    @v_args(meta=True)
    def name_ref(self, meta, c):
        return ast.Name(str(c[0]), self.span(meta))

    @v_args(meta=True)
    def call(self, meta, c):
        return ast.Call(str(c[0]), tuple(c[1:]), self.span(meta))

    # -- scenarios
    @v_args(meta=True)
    def scenario_decl(self, meta, c):
        return ast.ScenarioDecl(_unquote(c[0]), tuple(c[1:]), self.span(meta))

    @v_args(meta=True)
    def given_step(self, meta, c):
        return ast.Given(tuple(c), self.span(meta))

    @v_args(meta=True)
    def expect_step(self, meta, c):
        return ast.Expect(tuple(c), self.span(meta))

    @v_args(meta=True)
    def expect_event(self, meta, c):
        return ast.ExpectEvent(str(c[0]), self.span(meta))

    @v_args(meta=True)
    def wait_step(self, meta, c):
        tok = c[0]
        return ast.Wait(ast.DurationLit(duration_ms(str(tok)), str(tok), self.tspan(tok)), self.span(meta))

    @v_args(meta=True)
    def do_step(self, meta, c):
        name, *rest = c
        args: tuple = ()
        draw = None
        fails = False
        fail_text = None
        for part in rest:
            if isinstance(part, tuple) and part and part[0] == "draws":
                draw = part[1]
            elif isinstance(part, tuple) and part and part[0] == "fails":
                fails, fail_text = True, part[1]
            else:
                args = part
        return ast.Do(str(name), args, draw, fails, fail_text, self.span(meta))

    @v_args(meta=True)
    def call_args(self, meta, c):
        return tuple(c)

    @v_args(meta=True)
    def call_arg(self, meta, c):
        return ast.CallArg(str(c[0]), c[1], self.span(meta))

    @v_args(meta=True)
    def draws(self, meta, c):
        return ("draws", int(str(c[0]).replace("_", "")))

    @v_args(meta=True)
    def outcome(self, meta, c):
        if not c:
            return ("fails", None)
        tok = c[0]
        if not isinstance(tok, Token):
            return ("fails", tok)
        return ("fails", _unquote(tok) if tok.type == "STRING" else str(tok))

    def fail_limit(self, c):
        return "limit"

    def fail_cooldown(self, c):
        return "cooldown"

    @v_args(meta=True)
    def state_value(self, meta, c):
        return ast.StateValue(c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def scenario_place(self, meta, c):
        name = "level"
        key: str | int | None = None
        fld = None
        for part in c:
            if isinstance(part, Token):
                name = str(part)
            elif part[0] == "key":
                key = part[1]
            else:
                fld = part[1]
        return ast.ScenarioPlace(name, key, fld, self.span(meta))

    def scenario_key(self, c):
        tok = c[0]
        return ("key", int(str(tok).replace("_", "")) if tok.type == "INT" else str(tok))

    def scenario_field(self, c):
        return ("field", str(c[0]))

    @v_args(meta=True)
    def empty_lit(self, meta, c):
        return ast.EmptyLit(self.span(meta))


class _BadInterpolation(Exception):
    def __init__(self, text: str, span: Span) -> None:
        super().__init__(text)
        self.text = text
        self.span = span


class _Otherwise:
    __slots__ = ("body",)

    def __init__(self, body: tuple) -> None:
        self.body = body


def _last_code_before(lines: list[str], line: int, col: int) -> tuple[int, int]:
    if line <= len(lines) and lines[line - 1][: col - 1].strip():
        return line, col
    ln = min(line - 1, len(lines))
    while ln > 1 and not _strip_comment(lines[ln - 1]).strip():
        ln -= 1
    return ln, len(_strip_comment(lines[ln - 1]).rstrip()) + 1


def _strip_comment(line: str) -> str:
    """The line without its trailing comment (a `#` inside a message is kept)."""
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_string = not in_string
        elif ch == "#" and not in_string:
            return line[:i]
    return line


def _unquote(tok) -> str:
    raw = str(tok)[1:-1]
    return re.sub(r"\\(.)", r"\1", raw)


_INTERP = re.compile(r"\{([^{}]*)\}")


def _string_lit(tok: Token, build: _Build) -> ast.StringLit:
    """Split a message into text and `{expr}` parts, each expr parsed with its own span."""
    raw = str(tok)[1:-1]
    span = build.tspan(tok)
    parts: list = []
    pos = 0
    for m in _INTERP.finditer(raw):
        if m.start() > pos:
            parts.append(_unescape(raw[pos : m.start()]))
        # +1 for the opening quote, +1 for '{'; columns are 1-based
        col = span.col + 1 + m.start(1)
        inner = _Build(build.file, span.line - 1, col - 1)
        try:
            tree = _lark().parse(m.group(1), start="expr")
        except UnexpectedInput as err:
            where = Span(build.file, span.line, col, span.line, col + max(1, len(m.group(1))))
            raise _BadInterpolation(m.group(1), where) from err
        parts.append(inner.transform(tree))
        pos = m.end()
    if pos < len(raw):
        parts.append(_unescape(raw[pos:]))
    return ast.StringLit(tuple(parts), span)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# ---- error reporting ------------------------------------------------------------

_TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "DURATION": "a duration such as 5m",
    "STRING": 'a quoted message',
    "CLOCK": "a time of day such as 04:00",
    "_NL": "the end of the line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "the end of the file",
    "RESOURCE_KIND": "`currency`, `meter` or `stat`",
    "FUNC": "`min(`, `max(` or `ceil(`",
    "COMPARE": "a comparison such as `>=`",
}

_EXPR_STARTS = {"INT", "DURATION", "NAME", "LPAR", "MINUS", "NOW", "LEVEL", "TRUE", "FALSE", "FUNC", "NOT", "STRING"}


_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "COMPARE", "DOT", "LSQB", "AND", "OR", "IS"}


def _describe_expected(expected: set[str]) -> str:
    names = set(expected)
    if {"ACTION", "GAME", "TABLE"} <= names:
        return "a declaration such as `action`, `currency`, `table` or `scenario`"
    if {"COST", "GAIN", "REQUIRE"} <= names:
        return "a statement such as `require`, `cost`, `gain`, `set` or `when`"
    if {"GIVEN", "DO", "EXPECT"} <= names:
        return "a scenario step: `given`, `do`, `wait` or `expect`"
    words: list[str] = []
    if len(names & _OPERATORS) >= 4:
        names -= _OPERATORS | {"RPAR", "RSQB", "COMMA"}
        words.append("an operator")
    if len(names & _EXPR_STARTS) >= 5:
        names -= _EXPR_STARTS
        words.append("a value")
    terminals = {t.name: t for t in _lark().terminals}
    for name in sorted(names):
        if name in _TOKEN_WORDS:
            words.append(_TOKEN_WORDS[name])
            continue
        term = terminals.get(name)
        if term is not None and term.pattern.type == "str":
            words.append(f"`{term.pattern.value}`")
        else:
            words.append(name.lower())
    words = sorted(set(words), key=lambda w: (w.startswith("the end"), w))
    if len(words) > 7:
        return "one of " + ", ".join(words[:7]) + ", ..."
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    if tok.type == "_INDENT":
        return "an indented line"
    if tok.type == "_DEDENT":
        return "the end of the block"
    return f"`{tok}`"


_OPENERS = {"(": ")", "[": "]"}


def _open_bracket(text: str, upto: tuple[int, int]) -> tuple[str, int, int, str] | None:
    """The innermost bracket still open before position `upto`, with what it opened."""
    stack: list[tuple[str, int, int, str]] = []
    line, col = 1, 1
    i = 0
    in_string = False
    while i < len(text):
        if (line, col) >= upto:
            break
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
                col += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif ch in _OPENERS:
            stack.append((ch, line, col, _bracket_role(text, i)))
        elif ch in ")]" and stack:
            stack.pop()
        if ch == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1
    return stack[-1] if stack else None


def _bracket_role(text: str, i: int) -> str:
    if text[i] == "[":
        return "index"
    before = text[:i].rsplit("\n", 1)[-1]
    if re.match(r"\s*action\s+\w+\s*$", before):
        return "parameter list"
    if re.match(r"\s*do\s+\w+\s*$", before):
        return "argument list"
    if re.search(r"\w\s*$", before):
        return "argument list"
    return "parenthesised expression"


def _syntax_diagnostic(err: UnexpectedInput, file: str, text: str) -> Diagnostic:
    line, col = err.line if err.line > 0 else 1, err.column if err.column > 0 else 1
    tok = getattr(err, "token", None)
    width = 1
    hint = None
    if isinstance(err, UnexpectedCharacters):
        ch = text.splitlines()[line - 1][col - 1] if line <= len(text.splitlines()) else "?"
        message = f"unexpected character `{ch}`"
        if ch == "'":
            hint = 'messages are written in double quotes: "like this"'
        elif ch == ".":
            hint = "numbers are whole: there are no decimals in the rules"
        else:
            hint = "names are snake_case letters, digits and `_`"
    else:
        expected = set(getattr(err, "expected", None) or getattr(err, "accepts", None) or [])
        if isinstance(tok, Token) and tok.type in ("_NL", "_DEDENT", "$END") or isinstance(err, UnexpectedEOF):
            # point after the last real character rather than at the next line
            line, col = _end_of_previous(text, line, col)
        elif isinstance(tok, Token) and tok.type == "_INDENT":
            line, col = tok.end_line, tok.end_column
            width = max(1, len(text.splitlines()[line - 1].strip())) if line <= len(text.splitlines()) else 1
        elif isinstance(tok, Token):
            width = max(1, len(str(tok)))
        opened = _open_bracket(text, (line, col))
        closers = {"RPAR": ")", "RSQB": "]"}
        closing = [closers[e] for e in expected if e in closers]
        if opened and _OPENERS[opened[0]] in closing:
            message = (
                f"expected `{_OPENERS[opened[0]]}` to close the {opened[3]} opened at {opened[1]}:{opened[2]}"
            )
        else:
            message = f"expected {_describe_expected(expected)}, found {_found(tok)}"
        if isinstance(tok, Token) and str(tok) == "=" and "COMPARE" in expected:
            hint = "to compare, write `==`"
        elif isinstance(tok, Token) and tok.type == "_INDENT":
            hint = "this line is indented more than the line before it"
        elif isinstance(tok, Token) and tok.type == "INT" and _char_before(text, line, col) == ".":
            hint = "numbers are whole: there are no decimals in the rules"
        elif isinstance(tok, Token) and tok.type == "NAME" and str(tok) in _KEYWORDLIKE_TYPOS:
            hint = _KEYWORDLIKE_TYPOS[str(tok)]
    return Diagnostic("R001", "error", message, Span(file, line, col, line, col + width), hint)


_KEYWORDLIKE_TYPOS = {
    "costs": "the statement is `cost`",
    "gains": "the statement is `gain`",
    "requires": "the statement is `require`",
    "if": "conditions are written `when ...` with an indented block",
    "else": "alternatives are written `otherwise` on their own line",
    "elif": "write `otherwise` with a nested `when`",
    "def": "actions are declared with `action`",
}


def _char_before(text: str, line: int, col: int) -> str:
    lines = text.splitlines()
    return lines[line - 1][col - 2] if line <= len(lines) and 1 < col <= len(lines[line - 1]) + 1 else ""


def _end_of_previous(text: str, line: int, col: int) -> tuple[int, int]:
    lines = text.splitlines()
    # walk back to the last line with code on it
    ln = min(line, len(lines))
    while ln > 1 and not _code(lines[ln - 1]):
        ln -= 1
    if ln < line or col > len(lines[ln - 1]) if ln <= len(lines) else True:
        return ln, len(_code(lines[ln - 1]).rstrip()) + 1 if ln <= len(lines) else 1
    return line, col


def _code(line: str) -> str:
    return line.split("#", 1)[0] if '"' not in line else line


# ---- entry points ----------------------------------------------------------------


def _chunks(text: str) -> list[tuple[int, str]]:
    """Split a file into top-level declarations: each starts at an unindented line."""
    chunks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        starts = line[:1] not in ("", " ", "\t", "#") and line.strip()
        if starts or not chunks:
            chunks.append((number, [line]))
        else:
            chunks[-1][1].append(line)
    return [(start, "\n".join(lines)) for start, lines in chunks]


def parse_source(file: str, text: str) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse one file. Never raises on bad input: mistakes come back as diagnostics."""
    diags: list[Diagnostic] = []
    decls: list = []
    text = text.replace("\r\n", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    for start, chunk in _chunks(text):
        tab = _tab_in_indent(chunk)
        if tab is not None:
            ln = start + tab
            diags.append(
                Diagnostic(
                    "R002", "error", "a tab in the indentation",
                    Span(file, ln, 1, ln, 2), "indent with spaces only (two per level is usual)",
                )
            )
            continue
        chunk = _align_pick_weights(chunk)
        padded = "\n" * (start - 1) + chunk + "\n"
        try:
            tree = _lark().parse(padded, start="start")
            decls.extend(_Build(file, lines=padded.split("\n")).transform(tree))
        except UnexpectedInput as err:
            diags.append(_syntax_diagnostic(err, file, padded))
        except (DedentError, LarkError) as err:
            cause = err.orig_exc if isinstance(err, VisitError) else err
            if isinstance(cause, _BadInterpolation):
                diags.append(
                    Diagnostic(
                        "R004", "error", f"cannot read `{{{cause.text}}}` in this message",
                        cause.span, "inside `{...}` write a value such as `{coins}` or `{crop[kind].sell}`",
                    )
                )
                continue
            ln = start + _bad_dedent_line(chunk)
            diags.append(
                Diagnostic(
                    "R003", "error", "the indentation does not match any outer block",
                    Span(file, ln, 1, ln, 2), "line up the block with the lines around it",
                )
            )
    return ast.Module(file, tuple(decls)), diags


_WEIGHT_LINE = re.compile(r"^( +)([0-9][0-9_]*)( *):")


def _align_pick_weights(chunk: str) -> str:
    """Let designers right-align the weights of a `pick one` block (` 5:` under `70:`).

    The spaces before a shorter weight move to after it, so the block's indentation
    is the leftmost weight's and every other column stays where the designer put it.
    """
    lines = chunk.split("\n")
    for i, line in enumerate(lines):
        if not re.match(r"^\s*pick\s+one\b", line):
            continue
        outer = len(line) - len(line.lstrip(" "))
        block = []
        for j in range(i + 1, len(lines)):
            text = lines[j]
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            indent = len(text) - len(text.lstrip(" "))
            if indent <= outer:
                break
            if _WEIGHT_LINE.match(text):
                block.append(j)
        if not block:
            continue
        left = min(len(_WEIGHT_LINE.match(lines[j]).group(1)) for j in block)  # type: ignore[union-attr]
        for j in block:
            m = _WEIGHT_LINE.match(lines[j])
            assert m is not None
            extra = len(m.group(1)) - left
            if extra:
                lines[j] = " " * left + m.group(2) + m.group(3) + " " * extra + lines[j][m.end(3) :]
    return "\n".join(lines)


def _bad_dedent_line(chunk: str) -> int:
    """The offset of the first line that dedents to a column no outer block used."""
    stack = [0]
    for i, line in enumerate(chunk.split("\n")):
        if not _strip_comment(line).strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent > stack[-1]:
            stack.append(indent)
            continue
        while indent < stack[-1]:
            stack.pop()
        if indent != stack[-1]:
            return i
    return 0


def _tab_in_indent(chunk: str) -> int | None:
    for i, line in enumerate(chunk.splitlines()):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            return i
    return None


def parse_expr(text: str, file: str = "<expr>") -> ast.Expr:
    return _Build(file).transform(_lark().parse(text, start="expr"))
