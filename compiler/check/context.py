"""What every pass of the checker shares: the sources, what was declared so far, the
diagnostics, and the words the messages use.

The passes (names, tables, declarations, expressions, statements, effects, actions,
social, scenarios, bots) each read and fill one Context; none reaches into another's
private names. The driver (driver.py) runs them in order.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Diagnostic, Span

from .. import ir
from .. import types as T
from ..loader import GameSources

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def did_you_mean_or(name: str, candidates: Iterable[str], otherwise: str) -> str:
    return did_you_mean(name, candidates) or otherwise


@dataclass
class Scope:
    params: dict[str, ir.Param] = field(default_factory=dict)
    locals: dict[str, T.Type] = field(default_factory=dict)
    # parameters and values whose declaration had a mistake (already reported)
    broken: set[str] = field(default_factory=set)

    def child(self) -> Scope:
        return Scope(self.params, dict(self.locals), set(self.broken))


class Context:
    def __init__(self, src: GameSources) -> None:
        self.src = src
        self.diags: list[Diagnostic] = []
        self.game: ast.GameDecl | None = None
        self.day_start = 0
        self.resources: dict[str, ir.Resource] = {}
        self.tables: dict[str, ir.Table] = {}
        self.slots: dict[str, ir.Slots] = {}
        self.level: ir.Level | None = None
        self.decl_spans: dict[str, Span] = {}
        self.row_owner: dict[str, list[str]] = {}  # row name -> tables that have it
        self.used: set[str] = set()  # resources read or written by actions
        self.given: set[str] = set()  # resources some action gains
        self.costed: dict[str, Span] = {}  # resources some action costs
        # names whose declaration did not parse: their syntax error was reported, so
        # uses of them stay quiet (one mistake, one diagnostic)
        self.broken: set[str] = set()
        self.level_broken = False  # `level` was declared but its line has a mistake
        self.level_span: Span | None = None
        self.table_names: set[str] = set()
        self.day_span: Span | None = None
        self.action_params: dict[
            str, dict[str, ir.Param]
        ] = {}  # the typed parameters, for scenarios
        # players meeting players (social.py): loot tables by name
        self.loot_names: set[str] = set()
        self.loot: dict[str, ir.Loot] = {}
        # constants of the game (`let season_length = 28d`), in the order computed
        self.constants: dict[str, ir.Constant] = {}
        # the game's calendars (`calendar season every 28d: spring, ...`), by name
        self.calendars: dict[str, ir.Calendar] = {}
        # the body being checked (an action's or a hook's): see start_body
        self.current_action = ""
        self.limit_count = 0
        self.param_spans: dict[str, Span] = {}
        self.let_spans: dict[str, Span] = {}
        self.peer_params: set[str] = (
            set()
        )  # its `player` parameters: the players it may read and deliver to

    def start_body(self, name: str, param_spans: dict[str, Span], peer_params: set[str]) -> None:
        """Before checking an action's or a hook's statements."""
        self.current_action = name
        self.limit_count = (
            0  # limit keys are numbered per action, so editing one action keeps the others' windows
        )
        self.param_spans = param_spans
        self.let_spans = {}
        self.peer_params = peer_params

    # ---- reporting
    def error(self, code: str, message: str, span: Span, hint: str | None = None, notes=()) -> None:
        self.diags.append(Diagnostic(code, "error", message, span, hint, tuple(notes)))

    def warn(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, "warning", message, span, hint))

    def loc(self, span: Span) -> ir.Loc:
        rel = span.file
        prefix = self.src.label + "/"
        if self.src.label not in ("", ".") and rel.startswith(prefix):
            rel = rel[len(prefix) :]
        text = self.src.texts.line(span.file, span.line) or ""
        return ir.Loc(rel, span.line, text.strip())

    def reported(self, name: str, scope: Scope | None = None) -> bool:
        """Whether a mistake in the declaration of `name` was already reported."""
        return name in self.broken or (scope is not None and name in scope.broken)

    def source(self, span: Span) -> str:
        """The text a one-line span covers, for quoting the designer's own words."""
        text = self.src.texts.line(span.file, span.line) or ""
        end = span.end_col if span.end_line == span.line else len(text) + 1
        return text[span.col - 1 : end - 1]

    def find(self, span: Span, pattern: str) -> Span:
        """The span of the first group of `pattern` in the line of `span`, searched from its start."""
        text = self.src.texts.line(span.file, span.line) or ""
        m = re.compile(pattern).search(text, span.col - 1)
        if m is None:
            return span
        return Span(span.file, span.line, m.start(1) + 1, span.line, m.end(1) + 1)

    def names_of_type(self, t: T.Type, scope: Scope) -> list[str]:
        """Parameters and `let` values of type `t`, to suggest in a hint."""
        params = [p.name for p in scope.params.values() if p.type == t]
        return params + [name for name, lt in scope.locals.items() if lt == t]

    def row_names(self, table: str | None) -> list[str]:
        return [name for name, owners in self.row_owner.items() if table in owners]

    def first_file(self) -> str:
        return self.src.rules[0].file if self.src.rules else self.src.label

    def rules_have_errors(self) -> bool:
        test_files = {m.file for m in self.src.tests}
        return any(
            d.is_error and d.span.file not in test_files for d in self.src.diagnostics + self.diags
        )

    def actions_by_name(self) -> list[ast.ActionDecl]:
        return [d for m in self.src.rules for d in m.decls if isinstance(d, ast.ActionDecl)]

    def check_snake(self, name: str, span: Span) -> None:
        if not SNAKE.match(name):
            self.warn(
                "R040",
                f"`{name}` is not snake_case",
                span,
                f"write `{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}`",
            )

    def slot_field(self, slots: str, name: str, span: Span) -> ir.Column | None:
        for f in self.slots[slots].fields:
            if f.name == name:
                return f
        self.error(
            "R010",
            f"`{slots}` slots have no field `{name}`",
            span,
            did_you_mean(name, [f.name for f in self.slots[slots].fields])
            or "fields: " + ", ".join(f.name for f in self.slots[slots].fields),
        )
        return None


# ---- words the messages share ------------------------------------------------------------


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def a_type(t: T.Type) -> str:
    """A type with its article, as a sentence says it: `an int`, `a crop`."""
    if t.kind in ("int", "bool"):
        return f"an {t.kind}" if t.kind == "int" else "a bool"
    if t.kind in ("duration", "time", "string", "player"):
        return f"a {t.kind}"
    if t.kind == "enum":
        return f"a {t.name}"
    return str(t)


def example_of(t: T.Type, rows: list[str]) -> str:
    if t == T.INT:
        return "write a whole number such as 12"
    if t == T.DURATION:
        return "write a duration such as 90s, 10m or 1h30m"
    if t == T.BOOL:
        return "write true or false"
    if t.kind == "enum" and rows:
        return "one of: " + ", ".join(rows)
    return f"write {a_type(t)}"
