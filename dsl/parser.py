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

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedInput,
    VisitError,
)
from lark.indenter import DedentError, Indenter

from rulesc.pack_contract import DURATION_UNITS

from . import ast, syntax_errors
from .diagnostics import Diagnostic, Span
from .syntax_errors import Unexpected
from .syntax_errors import strip_comment as _strip_comment

# Limits (docs/language.md, "Limits"): past them a declaration gets a diagnostic instead of
# a pack Python cannot load (it allows 100 levels of indentation and 200 of brackets) or a
# compiler that runs out of stack. They are checked on lark's tree, without recursion,
# before anything recursive walks it.
MAX_BLOCK_DEPTH = 32  # `when` and `pick one` branches inside each other
MAX_EXPR_DEPTH = 256  # operators, `[...]`, `.field` and calls inside each other: a sum of 257 terms
MAX_EXPR_NESTING = 64  # the same, with a run of `+`/`-` (or of `and`, of `or`) counted once
MAX_INT_DIGITS = 19  # 64-bit numbers have at most 19 digits
_BLOCK_RULES = frozenset({"when_stmt", "otherwise_when", "branch", "chance_stmt"})
# a left operand of the same operator continues a run: `a + b - c` is emitted flat
_RUNS = {"add": {"add", "sub"}, "sub": {"add", "sub"}, "and_": {"and_"}, "or_": {"or_"}}
_EXPR_RULES = frozenset(
    {
        "or_",
        "and_",
        "not_",
        "compare",
        "is_empty",
        "is_filled",
        "is_row",
        "in_set",
        "add",
        "sub",
        "mul",
        "div",
        "mod",
        "neg",
        "index",
        "index_pair",
        "attr",
        "attr_level",
        "call",
        "place",
        "level_place",
    }
)

_DURATION_UNITS = DURATION_UNITS  # shared with the runtime's fmt_duration
_DURATION_PART = re.compile(r"([0-9][0-9_]*)(ms|s|m|h|d|w)")


class _RulesIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


# the grammar's keywords: its quoted words, and `up to` and the functions (regex tokens)
_QUOTED_WORD = re.compile(r'"([a-z_]+)"')


def _grammar() -> str:
    """rules.lark, with field_name accepting every keyword (but `level`: `.level` is its own)."""
    text = (Path(__file__).parent / "rules.lark").read_text(encoding="utf-8")
    words = sorted(set(_QUOTED_WORD.findall(text)) - {"level"})
    return text.replace("@keywords", " | ".join(f'"{w}"' for w in words) + " | FUNC")


@functools.cache
def _lark() -> Lark:
    grammar = _grammar()
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
    return sum(
        int(n.replace("_", "")) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text)
    )


class _Build(Transformer):
    """Lark tree -> AST nodes. Positions are shifted for interpolated expressions."""

    def __init__(
        self,
        file: str,
        line_offset: int = 0,
        col_offset: int = 0,
        lines: list[str] | None = None,
        weight_shifts: dict[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.file = file
        self.line_offset = line_offset
        self.col_offset = col_offset
        self.lines = lines or []
        # line -> columns a right-aligned pick weight was moved left by (align_pick_weights)
        self.weight_shifts = weight_shifts or {}
        # mistakes that still parse (`field[0] .crop`): reported, the declaration kept
        self.problems: list[Diagnostic] = []

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
        line, col = self._pos(tok.line or 1, tok.column or 1)
        end_line, end_col = self._pos(
            tok.end_line or tok.line or 1, tok.end_column or tok.column or 1
        )
        return Span(self.file, line, col, end_line, end_col)

    def check_dot(self, meta, name: Token) -> None:
        """`field[0] .crop`: a space around the `.` that reads a field is an error (R081)."""
        if not self.lines or not name.line or not name.column:
            return
        line, col = self._pos(name.line, name.column)
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        before = text[: col - 1]
        code = before.rstrip()
        if not code.endswith(".") or not code[:-1].strip():
            return  # `.` starting a continued line: nothing on its left to touch
        if before == code and code[:-1] == code[:-1].rstrip():
            return
        left = len(code[:-1].rstrip())  # 0-based end of what is read
        start_line, start_col = self._pos(meta.line, meta.column)
        first = start_col - 1 if start_line == line else left
        said = text[first : col - 1 + len(name)]
        fixed = text[first:left] + "." + str(name)
        self.problems.append(
            Diagnostic(
                "R081",
                "error",
                f"a space around the `.` of `{said.strip()}`",
                Span(self.file, line, left + 1, line, col + len(name)),
                f"write `{fixed.strip()}`: `.{name}` touches what it reads, without spaces",
            )
        )

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
            str(kind),
            str(name),
            o.get("start"),
            o.get("max"),
            o.get("regen"),
            self.tspan(name),
            self.span(meta),
            public=o.get("public", False),
        )

    @v_args(meta=True)
    def opt_start(self, meta, c):
        return ("start", c[0])

    @v_args(meta=True)
    def opt_max(self, meta, c):
        return ("max", c[0])

    @v_args(meta=True)
    def opt_public(self, meta, c):
        return ("public", True)

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
        return ast.TableDecl(
            str(name), source, columns, tuple(rows), self.tspan(name), self.span(meta)
        )

    def field_name(self, c):
        # a keyword naming a column or a field is a name like any other from here on
        return Token.new_borrow_pos("NAME", str(c[0]), c[0])

    @v_args(meta=True)
    def columns(self, meta, c):
        return tuple(c)

    @v_args(meta=True)
    def column(self, meta, c):
        return ast.Column(str(c[0]), ast.Name(str(c[1]), self.tspan(c[1])), self.span(meta))

    @v_args(meta=True)
    def set_column(self, meta, c):
        return ast.Column(
            str(c[0]), ast.Name(str(c[1]), self.tspan(c[1])), self.span(meta), is_set=True
        )

    @v_args(meta=True)
    def name_set(self, meta, c):
        return ast.NameSet(tuple(ast.Name(str(n), self.tspan(n)) for n in c), self.span(meta))

    @v_args(meta=True)
    def calendar_decl(self, meta, c):
        name, every, *rest = c
        start = start_span = None
        if rest and rest[0].type == "DATE":
            start, start_span = str(rest[0]), self.tspan(rest[0])
            rest = rest[1:]
        return ast.CalendarDecl(
            str(name),
            ast.DurationLit(duration_ms(str(every)), str(every), self.tspan(every)),
            start,
            start_span,
            tuple(ast.Name(str(n), self.tspan(n)) for n in rest),
            self.tspan(name),
            self.span(meta),
        )

    @v_args(meta=True)
    def row(self, meta, c):
        return ast.Row(str(c[0]), tuple(c[1:]), self.span(meta))

    @v_args(meta=True)
    def item_decl(self, meta, c):
        name = c[0]
        keys = [ast.Name(str(t), self.tspan(t)) for t in c[1:] if isinstance(t, Token)]
        opts = [o for o in c[1:] if not isinstance(o, Token)]
        key = keys[0] if keys else None
        o = dict(opts)
        return ast.ItemDecl(
            str(name),
            key,
            o.get("start"),
            o.get("max"),
            o.get("regen"),
            self.tspan(name),
            self.span(meta),
            public=o.get("public", False),
            key2=keys[1] if len(keys) > 1 else None,
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
        return ast.ActionDecl(str(name), params, _stmts(body), self.tspan(name), self.span(meta))

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
    def const_decl(self, meta, c):
        return ast.ConstDecl(str(c[0]), c[1], self.tspan(c[0]), self.span(meta))

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
    def replace_stmt(self, meta, c):
        return ast.Fill(c[0], tuple(c[1:]), self.span(meta), replace=True)

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
    def period_calendar(self, meta, c):
        return ast.Period("calendar", 0, self.span(meta), calendar=str(c[0]))

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
        return self._when(meta, c)

    def _when(self, meta, c) -> ast.When:
        cond, *body = c
        otherwise: tuple = ()
        if body and isinstance(body[-1], _Otherwise):
            otherwise = body.pop().body
        return ast.When(cond, _stmts(body), otherwise, self.span(meta))

    @v_args(meta=True)
    def otherwise(self, meta, c):
        return _Otherwise(_stmts(c))

    @v_args(meta=True)
    def otherwise_when(self, meta, c):
        # `otherwise when C` is an `otherwise` block holding one `when`: the chain nests
        return _Otherwise((self._when(meta, c),))

    def nothing_stmt(self, c):
        return _NOTHING

    @v_args(meta=True)
    def pick_stmt(self, meta, c):
        return ast.Pick(tuple(c), self.span(meta))

    @v_args(meta=True)
    def branch(self, meta, c):
        weight = c[0]
        body = _stmts(c[1:])
        if not isinstance(weight, ast.IntLit):  # computed when drawn: `crop[kind].weight`
            return ast.Branch(0, weight.span, body, self.span(meta), weight_expr=weight)
        return ast.Branch(weight.value, self.weight_span(weight), body, self.span(meta))

    @v_args(meta=True)
    def chance_stmt(self, meta, c):
        amount, out_of, *body = c
        otherwise: tuple = ()
        if body and isinstance(body[-1], _Otherwise):
            otherwise = body.pop().body
        return ast.Chance(amount, out_of, _stmts(body), otherwise, self.span(meta))

    def per_cent(self, c):
        return 100

    def per_mille(self, c):
        return 1000

    def weight_span(self, weight: ast.IntLit) -> Span:
        """Where the designer wrote a weight (right-aligned weights were moved left)."""
        span = weight.span
        shift = self.weight_shifts.get(span.line, 0)
        if shift:
            span = Span(span.file, span.line, span.col + shift, span.end_line, span.end_col + shift)
        return span

    @v_args(meta=True)
    def place(self, meta, c):
        name = c[0]
        indexes = []
        fld = None
        for part in c[1:]:
            if isinstance(part, Token) and part.type == "NAME":
                fld = str(part)
                self.check_dot(meta, part)
            else:
                indexes.append(part)
        index = indexes[0] if indexes else None
        index2 = indexes[1] if len(indexes) > 1 else None
        return ast.Place(str(name), self.tspan(name), index, fld, self.span(meta), index2)

    @v_args(meta=True)
    def level_place(self, meta, c):
        span = self.span(meta)
        return ast.Place("level", span, None, None, span)

    # -- expressions
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
    def is_row(self, meta, c):
        return ast.IsRow(c[0], ast.Name(str(c[1]), self.tspan(c[1])), self.span(meta))

    @v_args(meta=True)
    def in_set(self, meta, c):
        return ast.InSet(c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def day_of(self, meta, c):
        return ast.CalendarExpr("day", ast.Name(str(c[0]), self.tspan(c[0])), self.span(meta))

    @v_args(meta=True)
    def next_day(self, meta, c):
        return ast.CalendarExpr("next", None, self.span(meta))

    @v_args(meta=True)
    def next_period(self, meta, c):
        return ast.CalendarExpr("next", ast.Name(str(c[0]), self.tspan(c[0])), self.span(meta))

    @v_args(meta=True)
    def index(self, meta, c):
        return ast.Index(c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def index_pair(self, meta, c):
        return ast.Index(c[0], c[1], self.span(meta), c[2])

    @v_args(meta=True)
    def attr(self, meta, c):
        self.check_dot(meta, c[1])
        return ast.Attr(c[0], str(c[1]), self.tspan(c[1]), self.span(meta))

    @v_args(meta=True)
    def attr_level(self, meta, c):
        span = self.span(meta)  # `target.level`: the name is the last five characters
        name_span = Span(span.file, span.end_line, span.end_col - 5, span.end_line, span.end_col)
        return ast.Attr(c[0], "level", name_span, span)

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
        player = str(c[0]) if len(c) > 1 else None
        return ast.ExpectEvent(str(c[-1]), self.span(meta), player)

    @v_args(meta=True)
    def wait_until(self, meta, c):
        return ast.WaitUntil(c[0], self.span(meta))

    @v_args(meta=True)
    def wait_step(self, meta, c):
        tok = c[0]
        return ast.Wait(
            ast.DurationLit(duration_ms(str(tok)), str(tok), self.tspan(tok)), self.span(meta)
        )

    @v_args(meta=True)
    def do_step(self, meta, c):
        player = None
        if isinstance(c[0], tuple) and c[0][0] == "as":
            player, c = c[0][1], c[1:]
        name, *rest = c
        args: tuple = ()
        draws: tuple[int, ...] = ()
        fails = False
        fail_text = None
        for part in rest:
            if isinstance(part, tuple) and part and part[0] == "draws":
                draws = part[1]
            elif isinstance(part, tuple) and part and part[0] == "fails":
                fails, fail_text = True, part[1]
            else:
                args = part
        draw = draws[0] if draws else None
        return ast.Do(str(name), args, draw, fails, fail_text, self.span(meta), player, draws)

    def as_player(self, c):
        return ("as", str(c[0]))

    @v_args(meta=True)
    def call_args(self, meta, c):
        return tuple(c)

    @v_args(meta=True)
    def call_arg(self, meta, c):
        return ast.CallArg(str(c[0]), c[1], self.span(meta))

    @v_args(meta=True)
    def draws(self, meta, c):
        return ("draws", tuple(int(str(tok).replace("_", "")) for tok in c))

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
        # parts: a name (or `level`) with an optional [key]; `bob.coins` names a player first
        parts: list[list] = []
        for part in c:
            if isinstance(part, Token):
                if parts:
                    self.check_dot(meta, part)
                parts.append([str(part), None])
            else:
                parts[-1][1] = part[1]
        span = self.span(meta)
        player = None
        if len(parts) > 1 and parts[0][1] is None and (len(parts) == 2 or parts[1][1] is not None):
            player = parts.pop(0)[0]
        if len(parts) == 1:
            return ast.ScenarioPlace(parts[0][0], parts[0][1], None, span, player)
        if len(parts) == 2 and parts[0][1] is not None and parts[1][1] is None:
            return ast.ScenarioPlace(parts[0][0], parts[0][1], parts[1][0], span, player)
        # no place has this shape: the checker names it as written
        said = ".".join(n + (f"[{k}]" if k is not None else "") for n, k in parts)
        return ast.ScenarioPlace(said, None, None, span, player)

    def level_word(self, c):
        return Token("NAME", "level")

    def scenario_key(self, c):
        tok = c[0]
        return ("key", int(str(tok).replace("_", "")) if tok.type == "INT" else str(tok))

    def scenario_key_pair(self, c):
        return ("key", (str(c[0]), str(c[1])))

    @v_args(meta=True)
    def duration_sum(self, meta, c):
        text = " ".join(str(tok) for tok in c)
        return ast.DurationLit(sum(duration_ms(str(tok)) for tok in c), text, self.span(meta))

    @v_args(meta=True)
    def empty_lit(self, meta, c):
        return ast.EmptyLit(self.span(meta))

    # -- players meeting players
    @v_args(meta=True)
    def give_stmt(self, meta, c):
        target, *amounts = c
        return ast.Give(
            ast.Name(str(target), self.tspan(target)), tuple(amounts), None, self.span(meta)
        )

    @v_args(meta=True)
    def give_loot(self, meta, c):
        target, loot = c
        return ast.Give(
            ast.Name(str(target), self.tspan(target)),
            (),
            ast.Name(str(loot), self.tspan(loot)),
            self.span(meta),
        )

    @v_args(meta=True)
    def take_stmt(self, meta, c):
        target, place, _up_to, expr = c
        return ast.Take(ast.Name(str(target), self.tspan(target)), place, expr, self.span(meta))

    @v_args(meta=True)
    def gain_loot(self, meta, c):
        return ast.GainLoot(ast.Name(str(c[0]), self.tspan(c[0])), self.span(meta))

    @v_args(meta=True)
    def loot_decl(self, meta, c):
        name, *entries = c
        return ast.LootDecl(str(name), tuple(entries), self.tspan(name), self.span(meta))

    @v_args(meta=True)
    def loot_entry(self, meta, c):
        weight, *items = c
        return ast.LootEntry(weight.value, self.weight_span(weight), tuple(items), self.span(meta))

    @v_args(meta=True)
    def loot_amount(self, meta, c):
        return ast.LootAmount(c[0], c[1], self.span(meta))

    @v_args(meta=True)
    def loot_ref(self, meta, c):
        return ast.LootRef(ast.Name(str(c[0]), self.tspan(c[0])), self.span(meta))

    @v_args(meta=True)
    def hook_decl(self, meta, c):
        event, *body = c
        return ast.HookDecl(ast.Name(str(event), self.tspan(event)), _stmts(body), self.span(meta))

    @v_args(meta=True)
    def leaderboard_decl(self, meta, c):
        name, stat, *rest = c
        resets = ast.Name(str(rest[0]), self.tspan(rest[0])) if rest else None
        return ast.LeaderboardDecl(
            str(name),
            ast.Name(str(stat), self.tspan(stat)),
            resets,
            self.tspan(name),
            self.span(meta),
        )

    # -- migrations
    @v_args(meta=True)
    def migrate_place(self, meta, c):
        name, *keys = (str(k) for k in c)
        return ast.MigratePlace(
            name,
            keys[0] if keys else None,
            self.span(meta),
            keys[1] if len(keys) > 1 else None,
        )

    def migrate_any(self, c):
        return ast.ANY_ROW  # `*`: every row of that key

    def migrate_nothing(self, c):
        return None  # `-> nothing`: dropped, on purpose

    @v_args(meta=True)
    def migrate_decl(self, meta, c):
        source, target, *times = c
        n = int(str(times[0]).replace("_", "")) if times else 1
        return ast.MigrateDecl(source, target, n, False, self.span(meta))

    @v_args(meta=True)
    def migrate_scale(self, meta, c):
        source, times = c
        return ast.MigrateDecl(
            source, None, int(str(times).replace("_", "")), True, self.span(meta)
        )

    # -- events
    @v_args(meta=True)
    def event_decl(self, meta, c):
        name, when, *overrides = c
        start = end = every = weekday = at = length = None
        if when[0] == "window":
            start, end = when[1], when[2]
        else:
            every, weekday, at, length = when[1:]
        return ast.EventDecl(
            str(name),
            start,
            end,
            every,
            weekday,
            at,
            length,
            tuple(overrides),
            self.tspan(name),
            self.span(meta),
        )

    def event_window(self, c):
        return ("window", c[0], c[1])

    def event_every(self, c):
        period, *rest = c
        weekday = at = None
        for tok in rest[:-1]:
            if tok.type == "NAME":
                weekday = ast.Name(str(tok), self.tspan(tok))
            else:
                at = str(tok)
        tok = rest[-1]
        length = ast.DurationLit(duration_ms(str(tok)), str(tok), self.tspan(tok))
        return ("every", period, weekday, at, length)

    def moment(self, c):
        return " ".join(str(t) for t in c)

    @v_args(meta=True)
    def override_cell(self, meta, c):
        table, row, column, value = c
        return ast.EventOverride(str(table), str(row), str(column), value, None, self.span(meta))

    @v_args(meta=True)
    def override_limit(self, meta, c):
        action, count, period = c
        return ast.EventOverride(str(action), None, None, count, period, self.span(meta))

    # -- bots (bots/*.rules)
    @v_args(meta=True)
    def bot_decl(self, meta, c):
        name, *rest = c
        title = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            title = _unquote(rest.pop(0))
        rates = tuple(x for x in rest if isinstance(x, ast.BotRate))
        tries = tuple(x for x in rest if isinstance(x, ast.BotTry))
        given = tuple(v for x in rest if isinstance(x, ast.Given) for v in x.values)
        return ast.BotDecl(str(name), title, rates, tries, self.tspan(name), self.span(meta), given)

    @v_args(meta=True)
    def bot_given(self, meta, c):
        return ast.Given(tuple(c), self.span(meta))

    @v_args(meta=True)
    def bot_sessions(self, meta, c):
        return ast.BotRate("sessions", c[0], self.span(meta))

    @v_args(meta=True)
    def bot_actions(self, meta, c):
        return ast.BotRate("actions", c[0], self.span(meta))

    @v_args(meta=True)
    def bot_try(self, meta, c):
        name, *rest = c
        args: tuple = ()
        if rest and isinstance(rest[0], tuple):
            args = rest.pop(0)
        when = rest[0] if rest else None
        return ast.BotTry(str(name), self.tspan(name), args, when, self.span(meta))

    @v_args(meta=True)
    def bot_args(self, meta, c):
        return tuple(c)

    @v_args(meta=True)
    def bot_arg(self, meta, c):
        return ast.BotArg(str(c[0]), c[1], self.span(meta))

    @v_args(meta=True)
    def any_value(self, meta, c):
        return ast.AnyValue(self.span(meta))


class _OverLimit(Exception):
    """A limit of the language passed: the diagnostic that says which."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _check_limits(tree: Tree, build: _Build) -> None:
    """Raise _OverLimit at the first block, expression or number past its limit.

    Iterative, so that a tree of any depth is measured without running out of stack.
    """
    # (node, blocks around it, expression depth, nesting with runs counted once, the
    # parent's rule if the node is its first child (a first child continues a run), and
    # the outermost expression around the node)
    stack: list[tuple[Tree | Token, int, int, int, str, Tree]] = [(tree, 0, 0, 0, "", tree)]
    while stack:
        node, blocks, depth, nesting, parent, outer = stack.pop()
        if isinstance(node, Token):
            _check_number(node, build)
            continue
        rule = str(node.data)
        if rule in _BLOCK_RULES:
            blocks += 1
            if blocks > MAX_BLOCK_DEPTH:
                raise _OverLimit(_nested_blocks(node, build))
        if rule in _EXPR_RULES:
            depth += 1
            outer = node if depth == 1 else outer
            nesting += 0 if rule in _RUNS.get(parent, ()) else 1
            if depth > MAX_EXPR_DEPTH or nesting > MAX_EXPR_NESTING:
                too_long = depth > MAX_EXPR_DEPTH  # then the whole expression is the mistake
                raise _OverLimit(_nested_expression(outer if too_long else node, build, too_long))
        for i, child in enumerate(node.children):
            stack.append((child, blocks, depth, nesting, rule if i == 0 else "", outer))


def _check_number(tok: Token, build: _Build) -> None:
    """A whole number or a duration with more digits than 64 bits hold (int() of 4,300+
    digits would fail, and no such number fits anyway)."""
    if tok.type == "INT":
        parts = [str(tok)]
    elif tok.type == "DURATION":
        parts = [n for n, _ in _DURATION_PART.findall(str(tok))]
    else:
        return
    if any(len(part.replace("_", "").lstrip("0")) > MAX_INT_DIGITS for part in parts):
        span = build.tspan(tok)
        raise _OverLimit(
            Diagnostic(
                "R031",
                "error",
                "the number does not fit in 64 bits",
                _one_line(span, len(str(tok))),
                "numbers go up to 9223372036854775807",
            )
        )


def _one_line(span: Span, width: int) -> Span:
    """The span cut to its first line (a caret under one line)."""
    return Span(span.file, span.line, span.col, span.line, span.col + max(1, width))


def _width(node: Tree) -> int:
    meta = node.meta
    return meta.end_column - meta.column if meta.end_line == meta.line else 1


def _line_width(span: Span, build: _Build) -> int:
    """From the span's start to the end of the code on its line."""
    if not 0 < span.line <= len(build.lines):
        return 1
    return len(_strip_comment(build.lines[span.line - 1]).rstrip()) - span.col + 1


def _nested_blocks(node: Tree, build: _Build) -> Diagnostic:
    span = build.span(node.meta)
    return Diagnostic(
        "R006",
        "error",
        f"blocks nest more than {MAX_BLOCK_DEPTH} deep here",
        _one_line(span, _line_width(span, build)),
        f"`when` and the branches of `pick one` nest at most {MAX_BLOCK_DEPTH} deep: "
        "join conditions with `and`, or split the action in two",
    )


def _nested_expression(node: Tree, build: _Build, too_long: bool) -> Diagnostic:
    span = build.span(node.meta)
    if too_long:
        message = f"this expression is more than {MAX_EXPR_DEPTH} operations deep"
        hint = (
            f"a sum has at most {MAX_EXPR_DEPTH + 1} terms: split it with `let`, "
            "as in `let part = a + b` and then `part + c`"
        )
    else:
        message = f"this expression nests more than {MAX_EXPR_NESTING} levels deep"
        hint = "brackets, calls and `[...]` nest at most 64 deep: name a part with `let`"
    return Diagnostic("R006", "error", message, _one_line(span, _width(node)), hint)


class _BadInterpolation(Exception):
    def __init__(self, text: str, span: Span) -> None:
        super().__init__(text)
        self.text = text
        self.span = span


class _Otherwise:
    __slots__ = ("body",)

    def __init__(self, body: tuple) -> None:
        self.body = body


# `nothing`: a statement that is no statement, so a block may say "do nothing" (a `pick one`
# branch that gives nothing, an empty `otherwise`); the blocks that hold it drop it
_NOTHING = object()


def _stmts(items) -> tuple:
    return tuple(s for s in items if s is not _NOTHING)


def _last_code_before(lines: list[str], line: int, col: int) -> tuple[int, int]:
    if line <= len(lines) and lines[line - 1][: col - 1].strip():
        return line, col
    ln = min(line - 1, len(lines))
    while ln > 1 and not _strip_comment(lines[ln - 1]).strip():
        ln -= 1
    return ln, len(_strip_comment(lines[ln - 1]).rstrip()) + 1


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
        _check_limits(tree, inner)
        parts.append(inner.transform(tree))
        pos = m.end()
    if pos < len(raw):
        parts.append(_unescape(raw[pos:]))
    return ast.StringLit(tuple(parts), span)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# ---- error reporting ------------------------------------------------------------


@functools.cache
def _literals() -> dict[str, str]:
    """Token type -> its fixed text, for saying what was expected: RPAR -> ")"."""
    return {t.name: t.pattern.value for t in _lark().terminals if t.pattern.type == "str"}


def _unexpected(err: UnexpectedInput) -> Unexpected:
    """Lark's error as plain data for syntax_errors (which does not know lark)."""
    line, col = max(err.line or 1, 1), max(err.column or 1, 1)
    if isinstance(err, UnexpectedCharacters):
        return Unexpected("", "", line, col, line, col + 1, frozenset())
    accepts = frozenset(getattr(err, "accepts", None) or getattr(err, "expected", None) or ())
    tok = getattr(err, "token", None)
    if not isinstance(tok, Token):
        return Unexpected("$END", "", line, col, line, col, accepts)
    line, col = tok.line or line, tok.column or col
    end_line, end_col = tok.end_line or line, tok.end_column or col + len(tok)
    return Unexpected(tok.type, str(tok), line, col, end_line, end_col, accepts)


def _syntax_diagnostic(err: UnexpectedInput, file: str, text: str, above: str = "") -> Diagnostic:
    return syntax_errors.explain(_unexpected(err), file, text, _literals(), above)


def _word_above(lines: list[str], start: int) -> str:
    """The first word of the top-level declaration before line `start` (1-based), if any."""
    for text in reversed(lines[: start - 1]):
        if text[:1].isalpha():
            return text.split(" ", 1)[0]
    return ""


# ---- entry points ----------------------------------------------------------------


def _chunks(text: str) -> list[tuple[int, str]]:
    """Split a file into top-level declarations: each starts at an unindented line."""
    chunks: list[tuple[int, list[str]]] = []
    # split at "\n" only, as the lexer counts lines (splitlines also splits at \x0c, \x85, ...)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        starts = line[:1] not in ("", " ", "\t", "#") and line.strip()
        if starts or not chunks:
            chunks.append((number, [line]))
        else:
            chunks[-1][1].append(line)
    return [(start, "\n".join(lines)) for start, lines in chunks]


def declaration_chunks(text: str) -> list[tuple[int, str]]:
    """The file's top-level declarations as (first line, text): each parses on its own, the
    same as in the whole file but for its lines (the language server caches them)."""
    return _chunks(text.replace("\r\n", "\n").removeprefix("\ufeff"))


def parse_source(file: str, text: str) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse one file. Never raises on bad input: mistakes come back as diagnostics."""
    diags: list[Diagnostic] = []
    decls: list = []
    text = text.replace("\r\n", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    # the file's lines, each chunk's aligned copy put in its place (same count and length);
    # spans read them by absolute line number
    lines = text.split("\n") + [""]
    for start, chunk in _chunks(text):
        tab = _tab_in_indent(chunk)
        if tab is not None:
            diags.append(_tab_diagnostic(file, start + tab, chunk.split("\n")[tab]))
            continue
        control = _CONTROL.search(chunk)
        if control is not None:
            diags.append(_control_diagnostic(file, start, chunk, control.start()))
            continue
        chunk, shifts = align_pick_weights(chunk)
        chunk_lines = chunk.split("\n")
        lines[start - 1 : start - 1 + len(chunk_lines)] = chunk_lines
        build = _Build(
            file,
            line_offset=start - 1,
            lines=lines,
            weight_shifts={start + i: n for i, n in shifts.items()},
        )
        parsed, diag = _parse_chunk(file, start, chunk, build)
        decls.extend(parsed)
        if diag is not None:
            diags.append(diag)
        diags.extend(build.problems)
    return ast.Module(file, tuple(decls)), diags


def _parse_chunk(
    file: str, start: int, chunk: str, build: _Build
) -> tuple[list, Diagnostic | None]:
    """One top-level declaration (starting at line `start`): its nodes, or its one mistake."""
    try:
        # parsed on its own and shifted by `start - 1` lines: padding each chunk with the
        # newlines before it made parsing a file quadratic in its length
        tree = _lark().parse(chunk + "\n", start="start")
        _check_limits(tree, build)
        return build.transform(tree), None
    except _OverLimit as err:
        return [], err.diagnostic
    except UnexpectedInput as err:
        # rare: parse again padded, so the error's lines and columns are the file's
        padded = "\n" * (start - 1) + chunk + "\n"
        above = _word_above(build.lines, start)
        diag = _syntax_diagnostic(_syntax_error(padded) or err, file, padded, above)
        return _without_bad_line(chunk, err, build), diag
    except VisitError as err:
        if isinstance(err.orig_exc, _OverLimit):  # inside a message's `{...}`
            return [], err.orig_exc.diagnostic
        if not isinstance(err.orig_exc, _BadInterpolation):
            raise
        cause = err.orig_exc
        return [], Diagnostic(
            "R004",
            "error",
            f"cannot read `{{{cause.text}}}` in this message",
            cause.span,
            "inside `{...}` write a value such as `{coins}` or `{crop[kind].sell}`",
        )
    except DedentError:
        return [], _dedent_diagnostic(file, start, chunk)


def _without_bad_line(chunk: str, err: UnexpectedInput, build: _Build) -> list:
    """The declaration without the one line (statement, row) its syntax error is in, if the
    rest parses: the checker then still checks the rest of it (its mistakes get their own
    diagnostics) and what it declares, so one misplaced word does not hide the others.
    Nothing when the error is in the declaration's first line or the rest does not parse."""
    lines = chunk.split("\n")
    first, last = _statement_lines(lines, (err.line or 1) - 1)
    if first <= 0 or first >= len(lines):
        return []
    kept = lines[:first] + [""] * (last + 1 - first) + lines[last + 1 :]
    try:
        tree = _lark().parse("\n".join(kept) + "\n", start="start")
        _check_limits(tree, build)
        return build.transform(tree)
    except (UnexpectedInput, DedentError, VisitError, _OverLimit):
        return []


def _statement_lines(lines: list[str], bad: int) -> tuple[int, int]:
    """The lines (first, last; indexes) of the statement holding line `bad`: from where its
    brackets opened to where they close, and the block indented under it."""
    depths = [0]  # open brackets at the start of each line
    for text in lines:
        depths.append(max(0, depths[-1] + _bracket_change(_strip_comment(text))))
    first = min(bad, len(lines) - 1)
    while first > 0 and depths[first] > 0:
        first -= 1
    last = first
    while last + 1 < len(lines) and depths[last + 1] > 0:
        last += 1
    indent = len(lines[first]) - len(lines[first].lstrip(" "))
    while last + 1 < len(lines):
        text = lines[last + 1]
        if _strip_comment(text).strip() and len(text) - len(text.lstrip(" ")) <= indent:
            break
        last += 1
    return first, last


def _bracket_change(code: str) -> int:
    code = re.sub(r'"([^"\\\n]|\\.)*"', "", code)  # brackets in messages do not count
    return sum(code.count(c) for c in "([") - sum(code.count(c) for c in ")]")


# control characters (but tab and newline), a lone carriage return, and the Unicode line
# and paragraph separators: no rule needs them, they would end up in the generated pack,
# and some of them end lines for one tool and not for another
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _control_diagnostic(file: str, start: int, chunk: str, offset: int) -> Diagnostic:
    before = chunk[:offset]
    line = start + before.count("\n")
    col = offset - (before.rfind("\n") + 1) + 1
    char = chunk[offset]
    what = (
        "a carriage return without a line feed"
        if char == "\r"
        else f"the control character U+{ord(char):04X}"
    )
    return Diagnostic(
        "R007",
        "error",
        f"{what} in the text",
        Span(file, line, col, line, col + 1),
        "remove it: rules files are plain text, and a message cannot hold control characters",
    )


def _tab_diagnostic(file: str, line: int, text: str) -> Diagnostic:
    width = len(text) - len(text.lstrip(" \t"))
    return Diagnostic(
        "R002",
        "error",
        "a tab in the indentation",
        Span(file, line, 1, line, 1 + max(1, width)),
        "indent with spaces only (two per level is usual)",
    )


def _dedent_diagnostic(file: str, start: int, chunk: str) -> Diagnostic:
    offset, used = _bad_dedent_line(chunk)
    text = chunk.split("\n")[offset]
    indent = len(text) - len(text.lstrip(" "))
    spaces = (
        ", ".join(str(n) for n in used[:-1]) + f" or {used[-1]}" if len(used) > 1 else str(used[0])
    )
    line = start + offset
    return Diagnostic(
        "R003",
        "error",
        "the indentation does not match any block around it",
        Span(file, line, indent + 1, line, indent + 1 + max(1, len(_strip_comment(text).strip()))),
        f"this line is indented by {indent} space{'s' * (indent != 1)}; "
        f"line it up with a block around it: {spaces} spaces",
    )


def _syntax_error(text: str) -> UnexpectedInput | None:
    try:
        _lark().parse(text, start="start")
    except UnexpectedInput as err:
        return err
    return None


_WEIGHT_LINE = re.compile(r"^( +)([0-9][0-9_]*)( *):")


def align_pick_weights(chunk: str) -> tuple[str, dict[int, int]]:
    """Let designers right-align the weights of a `pick one` block or a `loot` table (` 5:` under `70:`).

    The spaces before a shorter weight move to after it, so the block's indentation
    is the leftmost weight's and every other column stays where the designer put it.
    Returns the chunk and, per line moved (index in the chunk), how far its weight moved left.
    """
    lines = chunk.split("\n")
    shifts: dict[int, int] = {}
    for i, line in enumerate(lines):
        if not re.match(r"^\s*pick\s+one\b|^loot\s+\w+\s*(#.*)?$", line):  # both list weights
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
                shifts[j] = extra
    return "\n".join(lines), shifts


def _bad_dedent_line(chunk: str) -> tuple[int, list[int]]:
    """The first line that dedents to a column no outer block used: its offset in the
    chunk, and the indentations (in spaces) of the blocks open before it."""
    stack = [0]
    for i, line in enumerate(chunk.split("\n")):
        if not _strip_comment(line).strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent > stack[-1]:
            stack.append(indent)
            continue
        used = list(stack)
        while indent < stack[-1]:
            stack.pop()
        if indent != stack[-1]:
            return i, used
    return 0, stack


def _tab_in_indent(chunk: str) -> int | None:
    for i, line in enumerate(chunk.split("\n")):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            return i
    return None


def parse_expr(text: str, file: str = "<expr>") -> ast.Expr:
    return _Build(file).transform(_lark().parse(text, start="expr"))


def reserved_words() -> frozenset[str]:
    """The grammar's keywords (`action`, `cost`, `when`, ...): words that cannot be names."""
    words = {text for text in _literals().values() if text.isidentifier()}
    return frozenset(words | {"currency", "meter", "stat", "min", "max", "ceil"})
