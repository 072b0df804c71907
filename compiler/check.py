"""AST to typed IR: name resolution, types, bounds and the designer's mistakes.

Mistakes are collected as diagnostics and checking goes on, so one run shows them
all. A node that cannot be typed becomes None and its parents stay quiet about it
(one mistake, one diagnostic).
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Diagnostic, Span
from rulesc.dsl.parser import duration_ms

from . import ir
from . import types as T
from .loader import GameSources

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
EFFECTS = (
    ast.Gain,
    ast.Set,
    ast.Fill,
    ast.Empty,
    ast.Emit,
    ast.When,
    ast.Pick,
    ast.Give,
    ast.Take,
    ast.GainLoot,
)
CHECKS = (ast.Require, ast.Cost, ast.Limit, ast.Cooldown)
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# a table row as written: its name, its span and each cell's text and span
RawRow = tuple[str, Span, list[tuple[str, Span]]]
_NAMES_HINT = "no parameter of this action, `let` value, resource or table row has this name"
# a CSV row: the line it starts on, its raw text, its cells
CsvRow = tuple[int, str, list[str]]
SYNTAX_CODES = ("R001", "R002", "R003", "R004")
# `currency coins ...`, `action buy(...`, `game ...`, `level ...`: the keyword and the name
DECL_HEADER = re.compile(
    r"^(game|level|day)\b|^(?:currency|meter|stat|item|table|slots|action)\s+([A-Za-z_][A-Za-z0-9_]*)"
)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


@dataclass
class Scope:
    params: dict[str, ir.Param] = field(default_factory=dict)
    locals: dict[str, T.Type] = field(default_factory=dict)
    # parameters and values whose declaration had a mistake (already reported)
    broken: set[str] = field(default_factory=set)

    def child(self) -> Scope:
        return Scope(self.params, dict(self.locals), set(self.broken))


class Checker:
    def __init__(self, src: GameSources) -> None:
        self.src = src
        self.diags: list[Diagnostic] = []
        self.game: ast.GameDecl | None = None
        self.day_start = 0
        self.resources: dict[str, ir.Resource] = {}
        self.tables: dict[str, ir.Table] = {}
        self.slots: dict[str, ir.Slots] = {}
        self.level: ir.Level | None = None
        self.actions: dict[str, ir.Action] = {}
        self.decl_spans: dict[str, Span] = {}
        self.row_owner: dict[str, list[str]] = {}  # row name -> tables that have it
        self.used: set[str] = set()  # resources read or written by actions
        self.given: set[str] = set()  # resources some action gains
        self.costed: dict[str, Span] = {}  # resources some action costs
        self.limit_count = 0
        # names whose declaration did not parse: their syntax error was reported, so
        # uses of them stay quiet (one mistake, one diagnostic)
        self.broken: set[str] = set()
        self.level_broken = False  # `level` was declared but its line has a mistake
        self.level_span: Span | None = None
        self.table_names: set[str] = set()
        self.day_span: Span | None = None
        self.param_spans: dict[str, Span] = {}  # of the action being checked
        self.let_spans: dict[str, Span] = {}
        self.action_params: dict[
            str, dict[str, ir.Param]
        ] = {}  # the typed parameters, for scenarios
        # players meeting players (social.py): loot tables by name, and the `player`
        # parameters of the action being checked (the players it may read and deliver to)
        self.loot_names: set[str] = set()
        self.loot: dict[str, ir.Loot] = {}
        self.peer_params: set[str] = set()

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

    # ---- entry
    def run(self) -> ir.Game | None:
        decls = [d for m in self.src.rules for d in m.decls]
        self.broken = self.unparsed_names()
        for d in decls:
            if isinstance(d, ast.ScenarioDecl):
                self.error(
                    "R045",
                    "scenarios belong in the tests/ folder",
                    d.span,
                    "move this scenario to a file under tests/ beside the rules",
                )
        from . import social  # players meeting players; it builds on this module's Checker

        self.declare_names(decls)
        social.claim_names(self, decls)
        self.tables_pass(decls)
        for d in decls:
            if isinstance(d, ast.SlotsDecl):
                self.slot_decl(d)
            elif isinstance(d, ast.ResourceDecl | ast.ItemDecl):
                self.resource(d)
        for d in decls:
            if isinstance(d, ast.LevelDecl):
                self.level_decl(d)
        loot = social.check_loot(self, decls)
        actions = [self.action(d) for d in decls if isinstance(d, ast.ActionDecl)]
        hooks = social.check_hooks(self, decls)
        leaderboards = social.check_leaderboards(self, decls)
        invariants = [self.invariant(d) for d in decls if isinstance(d, ast.InvariantDecl)]
        if not self.rules_have_errors():
            # usage is only known once every action reads right: a misspelt or unparsed
            # use would make a used resource look unused
            self.usage_warnings()
        scenarios = [
            self.scenario(d)
            for m in self.src.tests
            for d in m.decls
            if isinstance(d, ast.ScenarioDecl)
        ]
        for m in self.src.tests:
            for d in m.decls:
                if not isinstance(d, ast.ScenarioDecl | ast.BotDecl):  # a bot there is R060
                    self.error(
                        "R045",
                        "only scenarios belong in the tests/ folder",
                        d.span,
                        "move declarations and actions to a .rules file beside tests/",
                    )
        from .botcheck import check_bots  # it builds on this module's Checker

        bots = check_bots(self)
        if self.game is None and self.src.rules and "game" not in self.broken:
            span = Span(self.first_file(), 1, 1, 1, 2)
            self.error(
                "R023",
                "the game has no `game` declaration",
                span,
                'start the main file with the game\'s id and title: `game my_game "My Game"`',
            )
        if any(d.is_error for d in self.diags) or self.game is None:
            return None
        sources = tuple(ir.SourceFile(p, h) for p, h in sorted(self.src.hashes.items()))
        return ir.Game(
            id=self.game.id,
            title=self.game.title or self.game.id,
            day_start_minutes=self.day_start,
            resources=tuple(self.resources.values()),
            tables=tuple(self.tables.values()),
            slots=tuple(self.slots.values()),
            level=self.level,
            actions=tuple(a for a in actions if a is not None),
            invariants=tuple(i for i in invariants if i is not None),
            scenarios=tuple(s for s in scenarios if s is not None),
            sources=sources,
            bots=tuple(bots),
            loot=tuple(loot),
            hooks=tuple(hooks),
            leaderboards=tuple(leaderboards),
        )

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

    def unparsed_names(self) -> set[str]:
        """The names declared by top-level declarations that have a syntax error.

        The parser drops such a declaration, so without this every use of its name
        would be reported again as unknown.
        """
        names: set[str] = set()
        for d in self.src.diagnostics:
            if d.code not in SYNTAX_CODES:
                continue
            header = self.declaration_line(d.span.file, d.span.line)
            m = DECL_HEADER.match(header or "")
            if m:
                names.add(m.group(2) or m.group(1))
        return names

    def declaration_line(self, file: str, line: int) -> str | None:
        """The unindented line that starts the declaration holding `line`."""
        for ln in range(line, 0, -1):
            text = self.src.texts.line(file, ln)
            if text and text[0] not in " \t#":
                return text
        return None

    # ---- declarations
    def declare_names(self, decls: list) -> None:
        seen_actions: dict[str, Span] = {}
        for d in decls:
            if isinstance(d, ast.GameDecl):
                if self.game is not None:
                    self.error(
                        "R011",
                        "the game is declared twice",
                        d.span,
                        "keep one `game` line",
                        [("first declared here", self.game.span)],
                    )
                else:
                    self.game = d
                    self.check_snake(d.id, d.span)
            elif isinstance(d, ast.DayStartDecl):
                self.day_start_decl(d)
            elif isinstance(d, ast.ResourceDecl | ast.ItemDecl | ast.TableDecl | ast.SlotsDecl):
                self.claim(d.name, d.name_span)
            elif isinstance(d, ast.ActionDecl):
                if d.name in seen_actions:
                    self.error(
                        "R011",
                        f"action `{d.name}` is declared twice",
                        d.name_span,
                        "rename one of them",
                        [("first declared here", seen_actions[d.name])],
                    )
                else:
                    seen_actions[d.name] = d.name_span
                self.check_snake(d.name, d.name_span)

    def day_start_decl(self, d: ast.DayStartDecl) -> None:
        if self.day_span is not None:
            self.error(
                "R011",
                "`day starts` is declared twice",
                d.span,
                "keep one `day starts` line",
                [("first declared here", self.day_span)],
            )
            return
        self.day_span = d.span
        self.day_start = d.minutes
        clock = self.find(d.span, r"([0-9]{2}:[0-9]{2})")
        hours, _, minutes = self.source(clock).partition(":")
        if hours.isdigit() and minutes.isdigit() and (int(hours) > 23 or int(minutes) > 59):
            self.error(
                "R039",
                f"`{self.source(clock)}` is not a time of day",
                clock,
                "write hours 00-23 and minutes 00-59, like 04:00",
            )
        if d.zone not in (None, "UTC"):
            self.error(
                "R039",
                f"unknown time zone `{d.zone}`",
                self.find(d.span, r"[0-9]{2}:[0-9]{2}\s+(\w+)"),
                "days are counted in UTC: write the reset time in UTC",
            )

    def claim(self, name: str, span: Span) -> None:
        if name in self.decl_spans:
            self.error(
                "R011",
                f"`{name}` is declared twice",
                span,
                "every name is declared once per game",
                [("first declared here", self.decl_spans[name])],
            )
        else:
            self.decl_spans[name] = span
        self.check_snake(name, span)

    def check_snake(self, name: str, span: Span) -> None:
        if not SNAKE.match(name):
            self.warn(
                "R040",
                f"`{name}` is not snake_case",
                span,
                f"write `{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}`",
            )

    def type_named(self, name: ast.Name, *, allow_slots: bool = False) -> T.Type | None:
        if name.id == "player":  # only parameters name other players (social.py)
            from .social import player_type

            return player_type(self, name, for_param=allow_slots)
        if name.id in T.SCALAR_TYPE_NAMES:
            return T.SCALAR_TYPE_NAMES[name.id]
        if name.id in self.table_names:
            return T.enum(name.id)
        if allow_slots and name.id in self.slots:
            return T.slot_index(name.id)
        if self.reported(name.id):
            return None
        options = (
            list(T.SCALAR_TYPE_NAMES)
            + sorted(self.table_names)
            + (list(self.slots) if allow_slots else [])
        )
        self.error(
            "R024",
            f"unknown type `{name.id}`",
            name.span,
            did_you_mean(name.id, options)
            or "types are int, duration, time, bool or a table's name",
        )
        return None

    # ---- tables: first every table's columns and row names, then the cells, so a
    # column may hold rows of a table declared later (or of its own table)
    def tables_pass(self, decls: list) -> None:
        tables = [d for d in decls if isinstance(d, ast.TableDecl)]
        self.table_names = {d.name for d in tables}
        shapes = [(d, self.table_columns(d), self.table_rows(d)) for d in tables]
        self.broken |= {d.name for d, columns, _ in shapes if columns is None}
        for d, columns, rows in shapes:
            self.table_cells(d, columns, rows)

    def table_columns(self, d: ast.TableDecl) -> list[ir.Column] | None:
        """The typed columns, or None when one has a mistake (reported)."""
        columns: list[ir.Column] = []
        seen: dict[str, Span] = {}
        for c in d.columns:
            t = self.type_named(c.type)
            if c.name in seen:
                self.error(
                    "R011",
                    f"column `{c.name}` is declared twice",
                    c.span,
                    "rename one of them",
                    [("first declared here", seen[c.name])],
                )
            seen.setdefault(c.name, c.span)
            if t is not None:
                columns.append(ir.Column(c.name, t))
        if not d.columns and (d.rows or d.source is not None):
            self.error(
                "R015",
                f"table `{d.name}` has no `columns` line",
                d.name_span,
                "declare the columns under the table: `columns seed_cost: int, grow: duration`",
            )
        return columns if len(columns) == len(d.columns) else None

    def table_rows(self, d: ast.TableDecl) -> list[RawRow]:
        """The rows as written (from the rules or the CSV), each named once and the right length."""
        if d.source is not None:
            if d.rows:
                self.error(
                    "R017",
                    "a table takes its rows from the CSV or from the rules, not both",
                    d.rows[0].span,
                    "remove these rows or the `from` file",
                )
            raw = self.csv_rows(d)
            if raw is None:
                return []  # the CSV's mistake is reported
        else:
            raw = [(r.name, r.span, [(_cell_text(c), c.span) for c in r.cells]) for r in d.rows]
        if not raw and not d.columns and d.source is None:
            self.error(
                "R015",
                f"table `{d.name}` is empty",
                d.name_span,
                "declare its columns and rows below it, indented: "
                "`columns seed_cost: int, grow: duration` then `wheat: 5, 2m`",
            )
        elif not raw:
            where = "the CSV" if d.source is not None else "the table"
            self.error(
                "R015",
                f"table `{d.name}` has no rows",
                d.name_span,
                f"add a row per kind to {where}: `wheat: 5, 2m`",
            )
        rows: list[RawRow] = []
        seen: dict[str, Span] = {}
        for name, span, cells in raw:
            if name in seen:
                self.error(
                    "R011",
                    f"row `{name}` appears twice in table `{d.name}`",
                    span,
                    "rename one of them",
                    [("first listed here", seen[name])],
                )
                continue
            seen[name] = span
            self.check_snake(name, span)
            self.row_owner.setdefault(name, []).append(d.name)
            if len(cells) != len(d.columns):
                self.error(
                    "R015",
                    f"row `{name}` has {_count(len(cells), 'cell')}, "
                    f"the table has {_count(len(d.columns), 'column')}",
                    span,
                    "one cell per column: " + ", ".join(c.name for c in d.columns),
                )
                continue
            rows.append((name, span, cells))
        return rows

    def table_cells(
        self, d: ast.TableDecl, columns: list[ir.Column] | None, raw: list[RawRow]
    ) -> None:
        rows: list[tuple[str, tuple]] = []
        for name, _, cells in raw if columns is not None else []:
            assert columns is not None
            values = [
                self.cell_value(text, col, span)
                for (text, span), col in zip(cells, columns, strict=True)
            ]
            if all(v is not None for v in values):
                rows.append((name, tuple(values)))
        self.tables.setdefault(
            d.name, ir.Table(d.name, tuple(columns or ()), tuple(rows), self.loc(d.span))
        )

    def csv_rows(self, d: ast.TableDecl) -> list[RawRow] | None:
        """The rows of a table's CSV, with the span of every cell; None if the CSV cannot be used."""
        assert d.source is not None
        rel = _source_path(d)
        found = self.src.read_data(rel)
        if found is None:
            self.error(
                "R017",
                f"cannot read `{rel}`",
                d.source.span,
                "the CSV file goes in the game folder, beside the .rules files",
            )
            return None
        label, text = found
        lines = _csv_lines(text)
        if not lines:
            self.error(
                "R017",
                f"`{rel}` is empty",
                d.source.span,
                "the first row names the columns: "
                + ",".join(["name"] + [c.name for c in d.columns]),
            )
            return None
        if not self.csv_header_fits(d, rel, label, lines[0]):
            return None
        rows: list[RawRow] = []
        for number, raw, cells in lines[1:]:
            if not any(c.strip() for c in cells):
                continue
            spans = _csv_cell_spans(label, number, raw, cells)
            name, nspan = spans[0]
            if not name:
                self.error(
                    "R015",
                    f"row {number} of `{rel}` has no name",
                    nspan,
                    "the first cell of a row is its name, such as `wheat`",
                )
                continue
            rows.append((name, nspan, spans[1:]))
        return rows

    def csv_header_fits(self, d: ast.TableDecl, rel: str, label: str, first: CsvRow) -> bool:
        number, _, cells = first
        expected = ["name"] + [c.name for c in d.columns]
        if [h.strip() for h in cells] == expected:
            return True
        text = self.src.texts.line(label, number) or ""
        hint = "the header must be: " + ",".join(expected)
        if ";" in text and "," not in text:
            hint = "separate the cells with commas, not semicolons; " + hint
        self.error(
            "R017",
            f"the header of `{rel}` does not match the columns of table `{d.name}`",
            Span(label, number, 1, number, max(2, len(text) + 1)),
            hint,
            [("the columns are declared here", d.span)],
        )
        return False

    def cell_value(self, text: str, col: ir.Column, span: Span):
        t = col.type
        if t == T.INT and re.fullmatch(r"-?[0-9][0-9_]*", text):
            value = int(text.replace("_", ""))
            if INT64_MIN <= value <= INT64_MAX:
                return value
            self.error(
                "R031",
                "the number does not fit in 64 bits",
                span,
                "numbers go up to 9223372036854775807",
            )
            return None
        if t == T.DURATION and re.fullmatch(r"([0-9][0-9_]*(ms|s|m|h|d|w))+", text):
            return duration_ms(text)
        if t == T.BOOL and text in ("true", "false"):
            return text == "true"
        if t.kind == "enum" and t.name in self.row_owner.get(text, ()):
            return text
        shown = text.replace("\n", "\\n")
        self.error(
            "R016",
            f"`{shown}` is not {_a(t)} (column `{col.name}`)",
            span,
            _example_of(t, self.row_names(t.name) if t.kind == "enum" else []),
        )
        return None

    def slot_decl(self, d: ast.SlotsDecl) -> None:
        fields: list[ir.Column] = []
        names: set[str] = set()
        for f in d.fields:
            if f.name in names:
                self.error(
                    "R011", f"slot field `{f.name}` is declared twice", f.span, "rename one of them"
                )
            names.add(f.name)
            t = self.type_named(f.type)
            if t is not None:
                fields.append(ir.Column(f.name, t))
        if not 1 <= d.count.value <= 1000:
            self.error(
                "R031",
                f"{d.count.value} slots is out of range",
                d.count.span,
                "a player has 1 to 1000 slots of a kind",
            )
        self.slots[d.name] = ir.Slots(d.name, d.count.value, tuple(fields), self.loc(d.span))

    def resource(self, d: ast.ResourceDecl | ast.ItemDecl) -> None:
        kind = d.kind if isinstance(d, ast.ResourceDecl) else "item"
        key = None
        if isinstance(d, ast.ItemDecl) and d.key is not None:
            if d.key.id in self.tables:
                key = d.key.id
            elif not self.reported(d.key.id):
                self.error(
                    "R024",
                    f"unknown table `{d.key.id}`",
                    d.key.span,
                    did_you_mean(d.key.id, self.table_names | self.broken)
                    or "an item is counted per row of a table: `item seed of crop`",
                )
        start = d.start.value if d.start else 0
        mx = d.max.value if d.max else None
        regen = (d.regen.amount, d.regen.every.ms) if d.regen else None
        if kind == "meter" and mx is None:
            self.error(
                "R030",
                f"meter `{d.name}` needs a `max`",
                d.name_span,
                f"write `meter {d.name} start {start} max {max(start, 1)} ...`",
            )
        if kind != "meter" and d.regen is not None:
            self.error(
                "R030",
                f"only meters regenerate, and `{d.name}` is {'an' if kind == 'item' else 'a'} {kind}",
                d.regen.span,
                f"declare it as `meter {d.name} ... max ...`, or remove the `regen`"
                if kind != "item"
                else "remove the `regen`: items change only through actions",
            )
        if d.regen is not None and (d.regen.amount <= 0 or d.regen.every.ms <= 0):
            self.error(
                "R030",
                "regeneration must give a positive amount over a positive time",
                d.regen.span,
                "for example `regen 1 every 3m`",
            )
        if start < 0:
            self.error(
                "R031",
                f"`{d.name}` cannot start below 0",
                d.start.span if d.start else d.name_span,
                "resources are never negative",
            )
        if mx is not None and not 0 < mx <= INT64_MAX:
            self.error(
                "R031",
                f"the max of `{d.name}` must be positive",
                d.max.span if d.max else d.name_span,
                "for example `max 999`",
            )
        elif mx is not None and start > mx:
            self.error(
                "R031",
                f"`{d.name}` starts at {start}, above its max {mx}",
                d.start.span if d.start else d.name_span,
                f"start at most at {mx}",
            )
        if kind == "meter" and d.start is None and mx is not None:
            start = mx  # a meter starts full unless told otherwise
        self.resources[d.name] = ir.Resource(
            d.name, kind, key, start, mx, regen, self.loc(d.span), d.public
        )

    def level_decl(self, d: ast.LevelDecl) -> None:
        if self.level_span is not None:
            self.error(
                "R011",
                "`level` is declared twice",
                d.span,
                "keep one `level from ... at ...` line",
                [("first declared here", self.level_span)],
            )
            return
        self.level_span = d.span
        stat = self.level_stat(d.stat)
        values = [t.value for t in d.thresholds]
        mistake = _threshold_mistake(d, stat.name if stat else d.stat.id)
        if mistake is not None:
            self.error("R018", *mistake)
        if stat is None or mistake is not None:
            self.level_broken = True
            return
        self.level = ir.Level(stat.name, tuple(values), self.loc(d.span))

    def level_stat(self, name: ast.Name) -> ir.Resource | None:
        res = self.resources.get(name.id)
        if res is None:
            if not self.reported(name.id):
                self.error(
                    "R010",
                    f"unknown resource `{name.id}`",
                    name.span,
                    did_you_mean(name.id, self.resources) or "levels come from a stat: `stat xp`",
                )
            return None
        if res.key is not None:
            self.error(
                "R026",
                f"`{name.id}` is counted per {res.key}: a level needs one number",
                name.span,
                "derive the level from a stat such as `stat xp`",
            )
            return None
        self.used.add(res.name)
        return res

    # ---- actions
    def action(self, d: ast.ActionDecl) -> ir.Action | None:
        scope = Scope()
        params: list[ir.Param] = []
        self.param_spans = {p.name: p.span for p in reversed(d.params)}
        self.let_spans = {}
        for p in d.params:
            param = self.param(p)
            if p.name in scope.params:
                self.error(
                    "R011",
                    f"parameter `{p.name}` is declared twice",
                    p.span,
                    "rename one of them",
                    [("first declared here", self.param_spans[p.name])],
                )
            elif param is not None:
                scope.params[p.name] = param
                params.append(param)
            else:
                scope.broken.add(p.name)
        self.action_params.setdefault(d.name, {p.name: p for p in params})
        self.peer_params = {p.name for p in params if p.type == T.PLAYER}
        self.check_order(d.body)
        self.current_action = d.name
        self.limit_count = (
            0  # limit keys are numbered per action, so editing one action keeps the others' windows
        )
        body = self.block(d.body, scope)
        self.never_holds(d, scope)
        if body is None or len(params) != len(d.params):
            return None
        self.busy_fills(d.body, body)
        from .social import loot_writes

        writes = sorted(_writes(body) | loot_writes(self, body))
        return ir.Action(d.name, tuple(params), tuple(body), tuple(writes), self.loc(d.span))

    def param(self, p: ast.Param) -> ir.Param | None:
        t = self.type_named(p.type, allow_slots=True)
        if t is None:
            return None
        if t == T.INT:
            if p.lo is None or p.hi is None:
                self.error(
                    "R025",
                    f"int parameter `{p.name}` needs bounds",
                    p.span,
                    f"write `{p.name}: int 1..99`: a client can send any number",
                )
                return None
            if p.lo.value > p.hi.value:
                self.error(
                    "R025",
                    f"the range {p.lo.value}..{p.hi.value} is empty",
                    p.lo.span,
                    "write the lower bound first",
                )
                return None
            return ir.Param(p.name, t, p.lo.value, p.hi.value)
        if p.lo is not None:
            self.error(
                "R025",
                f"only int parameters take a range, and `{p.name}` is {_a(t)}",
                p.lo.span,
                "remove the range",
            )
        if t.kind == "slot_index":
            return ir.Param(p.name, t, 0, self.slots[t.name].count - 1)  # type: ignore[index]
        if t in (T.DURATION, T.TIME):
            self.error(
                "R025",
                f"parameters cannot be {_a(t)}",
                p.type.span,
                "clients send intents, never times: use an int, a table's row, a slot or bool",
            )
            return None
        return ir.Param(p.name, t, None, None)

    def check_order(self, body: tuple) -> None:
        """Everything an action checks comes before anything it changes.

        Reported once per action, at the first check that comes too late.
        """
        first_effect = next((s for s in body if isinstance(s, EFFECTS)), None)
        if first_effect is None:
            return
        late = [s for s in body[body.index(first_effect) :] if isinstance(s, CHECKS)]
        if not late:
            return
        others = (
            f" (and the {_count(len(late) - 1, 'other check')} after it)" if len(late) > 1 else ""
        )
        word = type(late[0]).__name__.lower()
        self.error(
            "R028",
            f"`{word}` after an effect",
            late[0].span,
            f"move it{others} above line {first_effect.span.line}: "
            "an action checks everything before it changes anything",
            [("the first effect is here", first_effect.span)],
        )

    def block(self, stmts: tuple, scope: Scope) -> list | None:
        out = []
        ok = True
        for s in stmts:
            r = self.stmt(s, scope)
            if r is None:
                ok = False
            else:
                out.append(r)
        return out if ok else None

    def stmt(self, s, scope: Scope):
        """One statement to IR, or None when it (or something in it) has a mistake."""
        checks: dict[type, Callable[..., Any]] = {
            ast.Require: self.require_stmt,
            ast.Cost: self.amounts_stmt,
            ast.Gain: self.amounts_stmt,
            ast.Let: self.let,
            ast.Set: self.set_stmt,
            ast.Fill: self.fill,
            ast.Empty: self.empty_stmt,
            ast.Limit: self.limit_stmt,
            ast.Cooldown: self.cooldown_stmt,
            ast.Emit: self.emit_stmt,
            ast.When: self.when_stmt,
            ast.Pick: self.pick_stmt,
        }
        check = checks.get(type(s)) or self.social_stmt(s)
        if check is None:
            raise AssertionError(f"unknown statement {s!r}")
        return check(s, scope, self.loc(s.span))

    def social_stmt(self, s):
        """The check of a statement about another player, or of a loot draw (social.py)."""
        from . import social

        check = {
            ast.Give: social.give_stmt,
            ast.Take: social.take_stmt,
            ast.GainLoot: social.gain_loot,
        }.get(type(s))
        return None if check is None else functools.partial(check, self)

    def require_stmt(self, s: ast.Require, scope: Scope, loc: ir.Loc) -> ir.Require | None:
        cond = self.expect_type(s.cond, scope, T.BOOL, "a condition")
        msg = self.message(s.message, scope) if s.message else None
        if isinstance(s.cond, ast.BoolLit) and not s.cond.value:
            self.error(
                "R020",
                "this requirement can never hold",
                s.cond.span,
                "remove the action or the requirement",
            )
        if cond is None or (s.message and msg is None):
            return None
        return ir.Require(cond, msg, loc)

    def amounts_stmt(
        self, s: ast.Cost | ast.Gain, scope: Scope, loc: ir.Loc
    ) -> ir.Cost | ir.Gain | None:
        amounts = [self.amount(a, scope, isinstance(s, ast.Cost)) for a in s.amounts]
        if any(a is None for a in amounts):
            return None
        seen: dict[str, Span] = {}
        for a, src in zip(amounts, s.amounts, strict=True):
            assert a is not None
            if a.label in seen and a.key is None:
                self.error(
                    "R011",
                    f"`{a.label}` appears twice in one statement",
                    src.span,
                    "add the amounts together",
                    [("first here", seen[a.label])],
                )
            seen.setdefault(a.label, src.span)
        cls = ir.Cost if isinstance(s, ast.Cost) else ir.Gain
        return cls(tuple(amounts), loc)  # type: ignore[arg-type]

    def empty_stmt(self, s: ast.Empty, scope: Scope, loc: ir.Loc) -> ir.Empty | None:
        target = self.slot_place(s.place, scope)
        return ir.Empty(target[0], target[1], loc) if target is not None else None

    def limit_stmt(self, s: ast.Limit, scope: Scope, loc: ir.Loc) -> ir.Limit | None:
        if s.count <= 0:
            self.error(
                "R041",
                f"a limit of {s.count} never allows the action",
                self.find(s.span, r"limit\s+(-?[0-9_]+)"),
                "allow it at least once (`limit 1 per day`), or remove the action",
            )
            return None
        if s.period.kind == "span" and s.period.ms <= 0:
            self.error(
                "R041",
                "the period of a limit must be longer than 0",
                s.period.span,
                "for example `per 1h`",
            )
            return None
        per = self.per(s.per, scope)
        if s.per is not None and per is None:
            return None
        self.limit_count += 1
        return ir.Limit(
            f"{self.current_action}.{self.limit_count}",
            s.count,
            s.period.kind,
            s.period.ms,
            per,
            loc,
        )

    def cooldown_stmt(self, s: ast.Cooldown, scope: Scope, loc: ir.Loc) -> ir.Cooldown | None:
        if s.duration.ms <= 0:
            self.error(
                "R041",
                "a cooldown must be longer than 0",
                s.duration.span,
                "for example `cooldown 30m`",
            )
            return None
        per = self.per(s.per, scope)
        if s.per is not None and per is None:
            return None
        self.limit_count += 1
        return ir.Cooldown(f"{self.current_action}.{self.limit_count}", s.duration.ms, per, loc)

    def emit_stmt(self, s: ast.Emit, scope: Scope, loc: ir.Loc) -> ir.Emit | None:
        args = []
        seen: dict[str, Span] = {}
        for a in s.args:
            if a.name in seen:
                self.error(
                    "R011",
                    f"`{a.name}` is given twice",
                    a.span,
                    "give each value once",
                    [("first given here", seen[a.name])],
                )
            seen.setdefault(a.name, a.span)
            e = self.expr(a.expr, scope)
            if e is None:
                return None
            args.append((a.name, e))
        self.check_snake(s.event, s.span)
        return ir.Emit(s.event, tuple(args), loc)

    def when_stmt(self, s: ast.When, scope: Scope, loc: ir.Loc) -> ir.When | None:
        cond = self.expect_type(s.cond, scope, T.BOOL, "a condition")
        body = self.block(s.body, scope.child())
        other = self.block(s.otherwise, scope.child())
        if cond is None or body is None or other is None:
            return None
        return ir.When(cond, tuple(body), tuple(other), loc)

    def pick_stmt(self, s: ast.Pick, scope: Scope, loc: ir.Loc) -> ir.Pick | None:
        branches = []
        ok = True
        for b in s.branches:
            if b.weight <= 0:
                self.error(
                    "R019",
                    f"a weight must be positive, not {b.weight}",
                    b.weight_span,
                    "remove the branch, or give it a weight of 1 or more",
                )
                ok = False
            for inner in b.body:
                if isinstance(inner, ast.Limit | ast.Cooldown):
                    self.error(
                        "R028",
                        "a limit or cooldown cannot depend on a draw",
                        inner.span,
                        "put it at the top of the action, before the `pick one`",
                    )
                    ok = False
            body = self.block(b.body, scope.child())
            if body is None:
                ok = False
                continue
            branches.append(ir.Branch(b.weight, tuple(body), self.loc(b.span)))
        return ir.Pick(tuple(branches), loc) if ok else None

    def let(self, s: ast.Let, scope: Scope, loc: ir.Loc) -> ir.Let | None:
        name_span = self.find(s.span, r"let\s+([A-Za-z_][A-Za-z0-9_]*)")
        taken = self.name_taken(s.name, scope)
        if taken is not None:
            what, first = taken
            self.error(
                "R038",
                f"`{s.name}` is already {what}",
                name_span,
                "give the value another name",
                [("it is declared here", first)] if first else [],
            )
            scope.broken.add(s.name)
            return None
        value = self.expr(s.expr, scope)
        if value is not None and value.type.kind == "slot":
            fields = [f.name for f in self.slots[value.type.name or ""].fields] or ["field"]
            self.error(
                "R012",
                "a `let` value cannot hold a whole slot",
                s.expr.span,
                f"name one of its fields instead: `let {s.name} = {self.source(s.expr.span)}.{fields[0]}`",
            )
            value = None
        if value is None:
            scope.broken.add(s.name)
            return None
        scope.locals[s.name] = value.type
        self.let_spans[s.name] = name_span
        return ir.Let(s.name, value, loc)

    def name_taken(self, name: str, scope: Scope) -> tuple[str, Span | None] | None:
        """What already has this name (in words) and where it is declared, if anything does."""
        if name in scope.params:
            return "a parameter of this action", self.param_spans.get(name)
        if name in scope.locals:
            return "defined by an earlier `let`", self.let_spans.get(name)
        if name in self.decl_spans:
            return "the name of a declaration", self.decl_spans[name]
        if name in self.row_owner:
            return f"a row of table `{self.row_owner[name][0]}`", None
        return None

    def per(self, name: ast.Name | None, scope: Scope) -> str | None:
        if name is None:
            return None
        if name.id in scope.broken:
            return None
        if name.id not in scope.params:
            self.error(
                "R014",
                f"`per {name.id}` names no parameter of this action",
                name.span,
                self.per_hint(name.id, scope),
            )
            return None
        return name.id

    def per_hint(self, name: str, scope: Scope) -> str:
        typed = self.names_of_type(T.enum(name), scope) if name in self.table_names else []
        typed = typed or (
            self.names_of_type(T.slot_index(name), scope) if name in self.slots else []
        )
        if typed:
            return f"`{name}` is a type; the parameter of that type is `{typed[0]}`: write `per {typed[0]}`"
        params = ", ".join(f"`{p}`" for p in scope.params)
        return did_you_mean(name, scope.params) or (
            f"`per` takes one of the action's parameters: {params}"
            if params
            else "`per` takes a parameter, and this action has none"
        )

    def amount(self, a: ast.Amount, scope: Scope, is_cost: bool) -> ir.Amount | None:
        target = self.resource_place(a.place, scope, "cost" if is_cost else "gain")
        value = self.expect_type(a.expr, scope, T.INT, f"an amount of `{a.place.name}`")
        if target is None or value is None:
            return None
        res, key, label = target
        if isinstance(value, ir.Const) and isinstance(value.value, int) and value.value < 0:
            self.error(
                "R031",
                f"a negative amount ({value.value})",
                a.expr.span,
                "use `cost` to take and `gain` to give, with positive amounts",
            )
            return None
        if is_cost:
            self.costed.setdefault(res, a.place.span)
        else:
            self.given.add(res)
        return ir.Amount(res, key, value, label)

    def resource_place(
        self, p: ast.Place, scope: Scope, verb: str
    ) -> tuple[str, ir.Expr | None, str] | None:
        res = self.resources.get(p.name)
        if res is None:
            if (
                p.name in self.slots
                or p.name in self.tables
                or p.name in scope.params
                or p.name in scope.locals
            ):
                self.not_a_resource(p, scope, verb)
            elif p.name == "level":
                stat = self.level.stat if self.level else "its stat"
                self.error(
                    "R013",
                    f"`level` is not a resource: it follows from `{stat}`",
                    p.name_span,
                    f"write `{verb} {stat} ...` instead",
                )
            elif not self.reported(p.name, scope):
                self.error(
                    "R010",
                    f"unknown resource `{p.name}`",
                    p.name_span,
                    did_you_mean(p.name, self.resources) or "declare it: `currency gold start 0`",
                )
            return None
        self.used.add(res.name)
        if p.field is not None:
            self.error("R026", f"`{p.name}` has no fields", p.span, f"write `{p.name}` alone")
            return None
        return self.keyed(res, p.index, p.span, scope)

    def not_a_resource(self, p: ast.Place, scope: Scope, verb: str) -> None:
        index = f"[{self.source(p.index.span)}]" if p.index is not None else "[...]"
        if p.name in self.slots:
            what = "a row of slots"
            hint = (
                f"a slot is not counted: free it with `empty {p.name}{index}`, "
                f"or change it with `fill` and `set`"
            )
        elif p.name in self.tables:
            what = "a table"
            items = [r.name for r in self.resources.values() if r.key == p.name]
            hint = (
                f"a table's values are fixed; the item counted per {p.name} is `{items[0]}`: "
                f"`{verb} {items[0]}{index} 1`"
                if items
                else f"a table's values are fixed; `{verb}` takes a currency, meter, stat or item"
            )
        else:
            what = "a parameter" if p.name in scope.params else "a `let` value"
            hint = f"`{verb}` takes a currency, meter, stat or item, such as `{verb} coins 5`"
        self.error("R013", f"`{p.name}` is {what}, not a resource", p.name_span, hint)

    def keyed(self, res: ir.Resource, index: ast.Expr | None, span: Span, scope: Scope):
        if res.key is None:
            if index is not None:
                self.error(
                    "R026",
                    f"`{res.name}` is a single count, not counted per kind",
                    span,
                    self.single_count_hint(res, index, scope),
                )
                return None
            return res.name, None, res.name
        if index is None:
            self.error(
                "R026", f"`{res.name}` is counted per {res.key}", span, self.which_hint(res, scope)
            )
            return None
        key = self.expect_type(index, scope, T.enum(res.key), f"a {res.key}")
        if key is None:
            return None
        label = f"{res.name}[{_label(index)}]"
        return res.name, key, label

    def single_count_hint(self, res: ir.Resource, index: ast.Expr, scope: Scope) -> str:
        table = None
        if isinstance(index, ast.Name):
            param = scope.params.get(index.id)
            owners = self.row_owner.get(index.id, [])
            table = (
                param.type.name
                if param is not None and param.type.kind == "enum"
                else (owners[0] if owners else None)
            )
        if res.kind == "item" and table:
            return f"write `{res.name}` without `[...]`, or count it per {table}: `item {res.name} of {table}`"
        return f"write `{res.name}` without `[...]`"

    def which_hint(self, res: ir.Resource, scope: Scope) -> str:
        assert res.key is not None
        names = self.names_of_type(T.enum(res.key), scope) or self.row_names(res.key)[:1]
        example = names[0] if names else "..."
        return f"say which {res.key}: `{res.name}[{example}]`"

    def slot_place(self, p: ast.Place, scope: Scope) -> tuple[str, ir.Expr] | None:
        if p.name not in self.slots:
            if self.reported(p.name, scope):
                return None
            if p.name in self.resources:
                self.error(
                    "R012",
                    f"`{p.name}` is a resource, not a row of slots",
                    p.name_span,
                    f"resources change with `cost {p.name} ...`, `gain {p.name} ...` and `set {p.name} = ...`",
                )
            else:
                self.error(
                    "R010",
                    f"unknown slots `{p.name}`",
                    p.name_span,
                    did_you_mean(p.name, self.slots)
                    or "declare them: `slots field 6` with their fields",
                )
            return None
        if p.index is None:
            self.error("R026", f"say which slot of `{p.name}`", p.span, f"write `{p.name}[slot]`")
            return None
        if p.field is not None:
            said = self.source(p.index.span)
            self.error(
                "R012",
                "`fill` and `empty` take a whole slot, not one field",
                p.span,
                f"write `{p.name}[{said}]`; to change one field, use `set {p.name}[{said}].{p.field} = ...`",
            )
            return None
        index = self.slot_index(p.name, p.index, scope)
        return (p.name, index) if index is not None else None

    def slot_index(self, slots: str, index: ast.Expr, scope: Scope) -> ir.Expr | None:
        e = self.expr(index, scope)
        if e is None:
            return None
        if e.type.kind == "slot_index" and e.type.name != slots:
            self.error(
                "R012",
                f"this is {e.type}, not a {slots} slot",
                index.span,
                f"declare the parameter as `{slots}`",
            )
            return None
        if not T.is_intlike(e.type):
            self.error(
                "R012",
                f"a slot number must be an int, not {_a(e.type)}",
                index.span,
                f"declare the parameter as `slot: {slots}`",
            )
            return None
        count = self.slots[slots].count
        if isinstance(e, ir.Const) and not 0 <= int(e.value) < count:
            self.error(
                "R031",
                f"`{slots}[{e.value}]` is out of range: there are {_count(count, slots + ' slot')}",
                index.span,
                f"slots are numbered from 0: `{slots}[0]` to `{slots}[{count - 1}]`",
            )
            return None
        return e

    def set_stmt(self, s: ast.Set, scope: Scope, loc: ir.Loc):
        p = s.place
        if p.name in self.slots:
            if p.field is None or p.index is None:
                said = self.source(p.index.span) if p.index is not None else "slot"
                fields = [f.name for f in self.slots[p.name].fields] or ["field"]
                self.error(
                    "R012",
                    "`set` changes one field of a slot",
                    p.span,
                    f"write `set {p.name}[{said}].{fields[0]} = ...`, or use `fill` and `empty` for the whole slot",
                )
                return None
            index = self.slot_index(p.name, p.index, scope)
            fld = self.slot_field(p.name, p.field, p.span)
            if index is None or fld is None:
                return None
            value = self.expect_type(s.expr, scope, fld.type, f"{_a(fld.type)} for `{p.field}`")
            return (
                ir.SetSlotField(p.name, index, p.field, value, loc) if value is not None else None
            )
        if p.name in scope.params or p.name in scope.locals:
            first = (
                self.param_spans.get(p.name)
                if p.name in scope.params
                else self.let_spans.get(p.name)
            )
            what = "a parameter" if p.name in scope.params else "a `let` value"
            self.error(
                "R029",
                f"`{p.name}` cannot be changed: it is {what}",
                p.name_span,
                "parameters and `let` values are fixed; `set` changes the player's state, "
                "so use another `let` for a new value",
                [("it is declared here", first)] if first else [],
            )
            return None
        if p.name == "level":
            stat = f"`{self.level.stat}`" if self.level else "its stat"
            self.error(
                "R029",
                "`level` cannot be set",
                p.name_span,
                f"it follows from {stat}: change {stat} instead",
            )
            return None
        target = self.resource_place(p, scope, "set")
        if target is None:
            self.expr(s.expr, scope)  # its own mistakes; its type depends on the unknown target
            return None
        value = self.expect_type(s.expr, scope, T.INT, f"an amount of `{p.name}`")
        if value is None:
            return None
        res, key, label = target
        self.given.add(res)
        return ir.SetResource(res, key, value, label, loc)

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

    def fill(self, s: ast.Fill, scope: Scope, loc: ir.Loc):
        target = self.slot_place(s.place, scope)
        if target is None:
            return None
        slots, index = target
        given: dict[str, ir.Expr] = {}
        ok = True
        for fv in s.values:
            fld = self.slot_field(slots, fv.name, fv.span)
            if fld is None:
                ok = False
                continue
            if fv.name in given:
                self.error("R035", f"`{fv.name}` is given twice", fv.span, "give each field once")
                ok = False
                continue
            value = self.expect_type(fv.expr, scope, fld.type, f"{_a(fld.type)} for `{fv.name}`")
            if value is None:
                ok = False
                continue
            given[fv.name] = value
        missing = [f.name for f in self.slots[slots].fields if f.name not in given]
        if ok and missing:
            word = "replace" if s.replace else "fill"
            self.error(
                "R035",
                f"`{word}` leaves {', '.join(f'`{m}`' for m in missing)} unset",
                s.span,
                "a filled slot has every field: add " + ", ".join(f"`{m} = ...`" for m in missing),
            )
            return None
        if not ok:
            return None
        ordered = tuple((f.name, given[f.name]) for f in self.slots[slots].fields)
        return ir.Fill(slots, index, ordered, loc, s.replace)

    def busy_fills(self, stmts: tuple, body: list) -> None:
        """R075 at each `fill` that may find its slot filled (slotfill.py says which)."""
        from .slotfill import unguarded_fills

        busy = {f.loc.line for f in unguarded_fills(tuple(body))}
        for s in _ast_fills(stmts):
            if s.span.line in busy:
                slot = self.source(s.place.span)
                self.warn(
                    "R075",
                    f"`{slot}` may already be filled here: the action would be refused (slot_busy)",
                    s.place.span,
                    f'check it first with `require {slot} is empty else "..."`, '
                    f"or write `replace {slot} with ...` to overwrite it on purpose",
                )

    def never_holds(self, d: ast.ActionDecl, scope: Scope) -> None:
        """Requirements that contradict each other or the parameters' bounds (where we can tell)."""
        bounds: dict[str, tuple[int, int, Span | None]] = {}
        for r in self.resources.values():
            if r.key is None:
                bounds[r.name] = (0, r.max if r.max is not None else INT64_MAX, None)
        for p in scope.params.values():
            if p.lo is not None and p.hi is not None:
                bounds[p.name] = (p.lo, p.hi, None)
        for s in d.body:
            if not isinstance(s, ast.Require):
                continue
            for cmp in _conjuncts(s.cond):
                fact = _bound_fact(cmp)
                if fact is None or fact[0] not in bounds or fact[0] in scope.locals:
                    continue
                name, lo, hi = fact
                old_lo, old_hi, why = bounds[name]
                new_lo, new_hi = max(old_lo, lo), min(old_hi, hi)
                if new_lo > new_hi:
                    self.report_never(cmp, name, (old_lo, old_hi), why, scope)
                    return
                bounds[name] = (new_lo, new_hi, cmp.span)

    def report_never(
        self, cmp: ast.Expr, name: str, bound: tuple[int, int], why: Span | None, scope: Scope
    ) -> None:
        said = self.source(cmp.span)
        if why is not None:
            self.error(
                "R020",
                f"`{said}` can never hold together with `{self.source(why)}`",
                cmp.span,
                "the action could never run: fix one of the two requirements",
                [("the other requirement is here", why)],
            )
        elif name in scope.params:
            self.error(
                "R020",
                f"`{said}` can never hold: `{name}` is declared {bound[0]}..{bound[1]}",
                cmp.span,
                "the action could never run: fix the comparison or the parameter's range",
            )
        else:
            self.error(
                "R020",
                f"`{said}` can never hold: `{name}` is always {_range_words(*bound)}",
                cmp.span,
                "the action could never run: fix the comparison",
            )

    def invariant(self, d: ast.InvariantDecl) -> ir.Invariant | None:
        scope = Scope()
        cond = self.expect_type(d.cond, scope, T.BOOL, "a condition")
        msg = self.message(d.message, scope) if d.message else None
        if cond is None:
            return None
        now = _find_now(d.cond)
        if now is not None:
            self.error(
                "R036",
                "an invariant cannot depend on `now`",
                now.span,
                "state what must hold at all times, e.g. `coins <= 100_000_000`",
            )
            return None
        return ir.Invariant(cond, msg, self.loc(d.span))

    def usage_warnings(self) -> None:
        for name, span in self.costed.items():
            if (
                name not in self.given
                and self.resources[name].kind == "item"
                and self.resources[name].start == 0
            ):
                self.warn(
                    "R021",
                    f"`{name}` is costed but nothing gives it",
                    span,
                    f"add an action that gains `{name}`, or give it a `start`",
                )
        for r in self.resources.values():
            if r.name not in self.used:
                decl_span = self.decl_spans.get(r.name)
                if decl_span is not None:
                    self.warn(
                        "R022",
                        f"nothing uses `{r.name}`",
                        decl_span,
                        "use it in an action, or remove it",
                    )

    # ---- expressions
    def expect_type(self, e: ast.Expr, scope: Scope, want: T.Type, what: str) -> ir.Expr | None:
        got = self.expr(e, scope, want)
        if got is None:
            return None
        if not T.same(got.type, want):
            self.error(
                "R012",
                f"expected {what}, found {_a(got.type)}",
                e.span,
                self.type_hint(e, got.type, want),
            )
            return None
        return got

    def message(self, m: ast.StringLit, scope: Scope) -> ir.Message | None:
        parts: list = []
        for part in m.parts:
            if isinstance(part, str):
                parts.append(part)
            else:
                e = self.expr(part, scope)
                if e is None:
                    return None
                parts.append(e)
        return ir.Message(tuple(parts))

    def expr(self, e: ast.Expr, scope: Scope, want: T.Type | None = None) -> ir.Expr | None:
        """An expression to typed IR, or None when it has a mistake (reported once).

        `want` is the type the context expects, used only to read a row name that
        several tables share.
        """
        if isinstance(e, ast.IntLit | ast.DurationLit | ast.BoolLit | ast.StringLit | ast.Now):
            return self.literal(e)
        if isinstance(e, ast.Name):
            return self.name(e, scope, want)
        checks: dict[type, Callable[..., Any]] = {
            ast.LevelRef: self.level_ref,
            ast.Index: self.index,
            ast.Attr: self.attr,
            ast.Neg: self.neg,
            ast.Binary: self.binary,
            ast.Compare: self.compare,
            ast.BoolOp: self.bool_op,
            ast.Not: self.not_,
            ast.IsSlot: self.is_slot,
            ast.Call: self.call,
        }
        check = checks.get(type(e))
        if check is None:
            raise AssertionError(f"unknown expression {e!r}")
        return check(e, scope)

    def literal(self, e) -> ir.Expr | None:
        if isinstance(e, ast.IntLit):
            if not INT64_MIN <= e.value <= INT64_MAX:
                self.error(
                    "R031",
                    "the number does not fit in 64 bits",
                    e.span,
                    "numbers go up to 9223372036854775807",
                )
                return None
            return ir.Const(e.value, T.INT)
        if isinstance(e, ast.DurationLit):
            return ir.Const(e.ms, T.DURATION)
        if isinstance(e, ast.BoolLit):
            return ir.Const(e.value, T.BOOL)
        if isinstance(e, ast.Now):
            return ir.Now(T.TIME)
        self.error(
            "R012",
            "a message cannot be used as a value",
            e.span,
            "messages only follow `else`, in a `require` or an `invariant`",
        )
        return None

    def level_ref(self, e: ast.LevelRef, scope: Scope) -> ir.Expr | None:
        if self.level is None:
            if not (self.level_broken or self.reported("level")):
                self.error(
                    "R010",
                    "`level` is not declared",
                    e.span,
                    "declare it: `level from xp at 0, 50, 150`",
                )
            return None
        self.used.add(self.level.stat)
        return ir.LevelRead(T.INT)

    def neg(self, e: ast.Neg, scope: Scope) -> ir.Expr | None:
        x = self.expr(e.operand, scope)
        if x is None:
            return None
        if x.type.kind not in ("int", "duration", "slot_index"):
            self.error(
                "R012",
                f"cannot negate {_a(x.type)}",
                e.span,
                "only numbers and durations have a sign",
            )
            return None
        return ir.Neg(x, T.INT if T.is_intlike(x.type) else x.type)

    def binary(self, e: ast.Binary, scope: Scope) -> ir.Expr | None:
        left = self.expr(e.left, scope)
        right = self.expr(e.right, scope)
        if left is None or right is None:
            return None
        t = T.arith_result(left.type, e.op, right.type)
        if t is None:
            self.error(
                "R012",
                f"cannot compute {_a(left.type)} {e.op} {_a(right.type)}",
                e.span,
                self.arith_hint(e, left.type, right.type),
            )
            return None
        if e.op in "/%" and isinstance(right, ir.Const) and right.value == 0:
            self.error("R032", "division by zero", e.right.span, "divide by a number other than 0")
            return None
        return ir.Arith(e.op, left, right, t)

    def arith_hint(self, e: ast.Binary, left: T.Type, right: T.Type) -> str:
        if "enum" in (left.kind, right.kind):
            side, t = (e.left, left) if left.kind == "enum" else (e.right, right)
            table = self.tables.get(t.name or "")
            column = (
                next((c.name for c in table.columns if c.type == T.INT), None) if table else None
            )
            if column:
                return (
                    f"a {t.name} is a row, not a number: compute with one of its columns, "
                    f"as in `{t.name}[{self.source(side.span)}].{column}`"
                )
        return _arith_hint(left, e.op, right)

    def compare(self, e: ast.Compare, scope: Scope) -> ir.Expr | None:
        left = self.expr(e.left, scope)
        right = self.expr(e.right, scope, left.type if left else None)
        if left is None or right is None:
            return None
        if not T.same(left.type, right.type):
            self.error(
                "R012",
                f"cannot compare {_a(left.type)} with {_a(right.type)}",
                e.span,
                self.compare_hint(e, left.type, right.type),
            )
            return None
        if e.op not in ("==", "!=") and left.type.kind in ("bool", "enum", "slot", "player"):
            self.error("R012", f"{_a(left.type)} has no order", e.span, "compare with `==` or `!=`")
            return None
        return ir.Compare(e.op, left, right, T.BOOL)

    def bool_op(self, e: ast.BoolOp, scope: Scope) -> ir.Expr | None:
        items = [self.expect_type(i, scope, T.BOOL, "a condition") for i in e.items]
        if any(i is None for i in items):
            return None
        return ir.Logic(e.op, tuple(items), T.BOOL)  # type: ignore[arg-type]

    def not_(self, e: ast.Not, scope: Scope) -> ir.Expr | None:
        x = self.expect_type(e.operand, scope, T.BOOL, "a condition")
        return ir.Not(x, T.BOOL) if x is not None else None

    def is_slot(self, e: ast.IsSlot, scope: Scope) -> ir.Expr | None:
        x = self.expr(e.operand, scope)
        if x is None:
            return None
        if not isinstance(x, ir.SlotRead):
            word = "filled" if e.filled else "empty"
            said = self.source(e.operand.span)
            hint = (
                f"write `{x.type.name}[{said}] is {word}`"
                if x.type.kind == "slot_index"
                else f"write `field[slot] is {word}` with a row of slots"
            )
            self.error("R012", f"only a slot can be {word}, not {_a(x.type)}", e.operand.span, hint)
            return None
        return ir.IsFilled(x.slots, x.index, e.filled, T.BOOL)

    def type_hint(self, e: ast.Expr, got: T.Type, want: T.Type) -> str | None:
        if want == T.BOOL and T.is_intlike(got):
            return f"a condition is true or false: compare the number, as in `{self.source(e.span)} > 0`"
        if want.kind == "enum":
            rows = self.row_names(want.name)[:1]
            return f"give a {want.name}, such as `{rows[0]}`" if rows else _type_hint(got, want)
        return _type_hint(got, want)

    def compare_hint(self, e: ast.Compare, left: T.Type, right: T.Type) -> str | None:
        if "enum" in (left.kind, right.kind) and T.is_intlike(
            right if left.kind == "enum" else left
        ):
            side, other = (e.left, e.right) if left.kind == "enum" else (e.right, e.left)
            table = self.tables.get((left if left.kind == "enum" else right).name or "")
            if table is not None:
                column = next((c.name for c in table.columns if c.type == T.INT), None)
                row = self.row_names(table.name)[:1] or ["..."]
                said = self.source(side.span)
                of_column = (
                    f", or compare one of its columns: `{table.name}[{said}].{column} {e.op} "
                    f"{self.source(other.span)}`"
                    if column
                    else ""
                )
                return f"a {table.name} is a row such as `{row[0]}`: compare it with `==` (`{said} == {row[0]}`){of_column}"
        if "slot" in (left.kind, right.kind):
            side = e.left if left.kind == "slot" else e.right
            slots = self.slots.get((left if left.kind == "slot" else right).name or "")
            field = slots.fields[0].name if slots and slots.fields else "field"
            return (
                f"a slot is compared through its fields, as in `{self.source(side.span)}.{field}`"
            )
        if left.kind == "enum" and right.kind != "enum":
            rows = self.row_names(left.name)[:1] or ["..."]
            return f"compare a {left.name} with another, as in `{self.source(e.left.span)} == {rows[0]}`"
        return (
            _type_hint(right, left)
            or "compare values of one kind: numbers, durations, times or rows of one table"
        )

    def name(self, e: ast.Name, scope: Scope, want: T.Type | None) -> ir.Expr | None:
        if e.id in scope.locals:
            return ir.LocalRef(e.id, scope.locals[e.id])
        if e.id in scope.params:
            return ir.ParamRef(e.id, scope.params[e.id].type)
        if e.id in self.resources:
            res = self.resources[e.id]
            self.used.add(res.name)
            if res.key is not None:
                self.error(
                    "R026",
                    f"`{res.name}` is counted per {res.key}",
                    e.span,
                    self.which_hint(res, scope),
                )
                return None
            return ir.ResourceRead(res.name, None, T.INT)
        owners = self.row_owner.get(e.id, [])
        if want is not None and want.kind == "enum" and want.name in owners:
            return ir.Const(e.id, want)
        if len(owners) == 1:
            return ir.Const(e.id, T.enum(owners[0]))
        if len(owners) > 1:
            self.error(
                "R012",
                f"`{e.id}` is a row of several tables: {', '.join(owners)}",
                e.span,
                "compare it with a value of the table you mean",
            )
            return None
        if e.id in self.tables or e.id in self.slots:
            what, which = ("table", "row") if e.id in self.tables else ("row of slots", "slot")
            self.error(
                "R026", f"`{e.id}` is a {what}: say which {which}", e.span, f"write `{e.id}[...]`"
            )
            return None
        if self.reported(e.id, scope):
            return None
        candidates = [
            *scope.locals,
            *scope.params,
            *self.resources,
            *self.row_owner,
            *self.tables,
            *self.slots,
        ]
        self.error(
            "R010", f"unknown name `{e.id}`", e.span, did_you_mean(e.id, candidates) or _NAMES_HINT
        )
        return None

    def index(self, e: ast.Index, scope: Scope) -> ir.Expr | None:
        from .social import NOT_PEER, peer_index

        peer = peer_index(self, e, scope)
        if peer is not NOT_PEER:
            return peer  # type: ignore[return-value]
        if isinstance(e.base, ast.Name) and e.base.id in self.resources:
            res = self.resources[e.base.id]
            self.used.add(res.name)
            target = self.keyed(res, e.index, e.span, scope)
            if target is None:
                return None
            return ir.ResourceRead(res.name, target[1], T.INT)
        if isinstance(e.base, ast.Name) and e.base.id in self.slots:
            index = self.slot_index(e.base.id, e.index, scope)
            return ir.SlotRead(e.base.id, index, T.slot(e.base.id)) if index is not None else None
        if isinstance(e.base, ast.Name) and e.base.id in self.tables:
            self.error(
                "R026",
                f"say which column of `{e.base.id}`",
                e.span,
                f"write `{e.base.id}[...].{self.tables[e.base.id].columns[0].name if self.tables[e.base.id].columns else 'column'}`",
            )
            return None
        if isinstance(e.base, ast.Name) and self.reported(e.base.id, scope):
            return None
        if (
            isinstance(e.base, ast.Name)
            and e.base.id not in scope.locals
            and e.base.id not in scope.params
        ):
            candidates = [*self.resources, *self.tables, *self.slots]
            self.error(
                "R010",
                f"unknown name `{e.base.id}`",
                e.base.span,
                did_you_mean(e.base.id, candidates)
                or "only items, tables and slots are read with `[...]`",
            )
            return None
        self.error(
            "R012", "only items, tables and slots take `[...]`", e.span, "remove the brackets"
        )
        return None

    def attr(self, e: ast.Attr, scope: Scope) -> ir.Expr | None:
        from .social import NOT_PEER, peer_attr

        peer = peer_attr(self, e, scope)
        if peer is not NOT_PEER:
            return peer  # type: ignore[return-value]
        base = e.base
        if (
            isinstance(base, ast.Index)
            and isinstance(base.base, ast.Name)
            and base.base.id in self.tables
        ):
            table = self.tables[base.base.id]
            key = self.expect_type(base.index, scope, T.enum(table.name), f"a {table.name}")
            col = next((c for c in table.columns if c.name == e.name), None)
            if col is None and self.reported(table.name):
                return None  # a column of the table has a mistake (reported): it may be this one
            if col is None:
                self.error(
                    "R010",
                    f"table `{table.name}` has no column `{e.name}`",
                    e.name_span,
                    did_you_mean(e.name, [c.name for c in table.columns])
                    or "columns: " + ", ".join(c.name for c in table.columns),
                )
                return None
            return ir.TableGet(table.name, key, col.name, col.type) if key is not None else None
        if (
            isinstance(base, ast.Index)
            and isinstance(base.base, ast.Name)
            and base.base.id in self.slots
        ):
            slots = base.base.id
            index = self.slot_index(slots, base.index, scope)
            fld = self.slot_field(slots, e.name, e.name_span)
            if index is None or fld is None:
                return None
            return ir.SlotFieldRead(slots, index, fld.name, fld.type)
        inner = self.expr(base, scope)
        if inner is None:
            return None
        self.error(
            "R012",
            f"{_a(inner.type)} has no field `{e.name}`",
            e.name_span,
            self.field_hint(base, inner, e.name),
        )
        return None

    def field_hint(self, base: ast.Expr, inner: ir.Expr, name: str) -> str:
        if (
            isinstance(inner, ir.ResourceRead)
            and inner.key is not None
            and isinstance(base, ast.Index)
        ):
            table = self.resources[inner.resource].key
            return (
                f"`{self.source(base.span)}` is a count; columns are read from the table: "
                f"`{table}[{self.source(base.index.span)}].{name}`"
            )
        return "fields belong to table rows (`crop[kind].grow`) and slots (`field[slot].ready_at`)"

    def call(self, e: ast.Call, scope: Scope) -> ir.Expr | None:
        if e.func == "ceil":
            if len(e.args) != 1 or not (isinstance(e.args[0], ast.Binary) and e.args[0].op == "/"):
                self.error(
                    "R033",
                    "`ceil` takes one division",
                    e.span,
                    "write `ceil(a / b)`: divisions round down unless wrapped in `ceil`",
                )
                return None
            div = self.expr(e.args[0], scope)
            if div is None:
                return None
            assert isinstance(div, ir.Arith)
            return ir.CeilDiv(div.left, div.right, div.type)
        args = [self.expr(a, scope) for a in e.args]
        if any(a is None for a in args):
            return None
        if len(args) < 2:
            self.error(
                "R033", f"`{e.func}` takes two or more values", e.span, f"write `{e.func}(a, b)`"
            )
            return None
        first = args[0].type  # type: ignore[union-attr]
        for a, src in zip(args, e.args, strict=True):
            assert a is not None
            if not T.same(a.type, first) or a.type.kind not in (
                "int",
                "duration",
                "time",
                "slot_index",
            ):
                differs = not T.same(a.type, first)
                self.error(
                    "R012",
                    f"`{e.func}` needs numbers, durations or times of one kind",
                    src.span,
                    f"this is {_a(a.type)}, the first is {_a(first)}"
                    if differs
                    else f"this is {_a(a.type)}, which has no order",
                )
                return None
        t = T.INT if T.is_intlike(first) else first
        return ir.MinMax(e.func, tuple(args), t)  # type: ignore[arg-type]

    # ---- scenarios
    def scenario(self, d: ast.ScenarioDecl) -> ir.Scenario | None:
        steps: list = []
        ok = True
        actions = {a.name: a for a in self.actions_by_name()}
        for st in d.steps:
            loc = self.loc(st.span)
            if isinstance(st, ast.Wait):
                steps.append(ir.WaitStep(st.duration.ms, loc))
            elif isinstance(st, ast.ExpectEvent):
                named, player = self.scenario_player(st.player, st.span)
                ok = ok and named
                steps.append(ir.ExpectEventStep(st.event, loc, player))
            elif isinstance(st, ast.Given | ast.Expect):
                values = []
                for sv in st.values:
                    checked = self.state_value(sv, given=isinstance(st, ast.Given))
                    if checked is None:
                        ok = False
                    else:
                        values.append(checked)
                cls = ir.GivenStep if isinstance(st, ast.Given) else ir.ExpectStep
                steps.append(cls(tuple(values), loc))
            elif isinstance(st, ast.Do):
                step = self.do_step(st, actions, loc)
                ok = ok and step is not None
                if step is not None:
                    steps.append(step)
        return ir.Scenario(d.title, tuple(steps), self.loc(d.span)) if ok else None

    def actions_by_name(self) -> list[ast.ActionDecl]:
        return [d for m in self.src.rules for d in m.decls if isinstance(d, ast.ActionDecl)]

    def do_step(
        self, st: ast.Do, actions: dict[str, ast.ActionDecl], loc: ir.Loc
    ) -> ir.DoStep | None:
        action = actions.get(st.action)
        if action is None:
            if not self.reported(st.action):
                self.error(
                    "R034",
                    f"unknown action `{st.action}`",
                    st.span,
                    did_you_mean(st.action, actions)
                    or "the actions are: " + ", ".join(sorted(actions)),
                )
            return None
        params = {p.name: p for p in action.params}
        out: list[tuple[str, object]] = []
        for a in st.args:
            p = params.get(a.name)
            if p is None:
                self.error(
                    "R034",
                    f"`{st.action}` has no parameter `{a.name}`",
                    a.span,
                    did_you_mean(a.name, params) or f"parameters: {', '.join(params) or 'none'}",
                )
                return None
            if a.name in dict(out):
                self.error("R034", f"`{a.name}` is given twice", a.span, "give each parameter once")
                return None
            typed = self.action_params.get(st.action, {}).get(a.name)
            if typed is not None and not self.arg_fits(a, typed, st.fails):
                return None
            out.append((a.name, _literal(a.value)))
        missing = [n for n in params if n not in {a.name for a in st.args}]
        if missing and not st.fails:
            names = ", ".join(f"`{n}`" for n in missing)
            self.error(
                "R034",
                f"`{st.action}` needs a value for {names}",
                st.span,
                f"give every parameter: `do {st.action}("
                + ", ".join(f"{n}: ..." for n in params)
                + ")`",
            )
            return None
        if any(d < 1 for d in st.draws) or (st.draw is not None and st.draw < 1):
            self.error(
                "R034", "draws are numbered from 1", st.span, "write `draws 1` for the first branch"
            )
            return None
        named, player = self.scenario_player(st.player, st.span)
        if not named:
            return None
        return ir.DoStep(
            st.action,
            tuple(out),
            st.draw,
            st.fails,
            st.fail_text,
            loc,
            player,
            st.draws or ((st.draw,) if st.draw is not None else ()),
        )

    def scenario_player(self, name: str | None, span: Span) -> tuple[bool, str | None]:
        """(whether the name can be a player, the other player it names or None for the
        scenario's own, `me`). A name declared in the rules cannot (reported): `coins.gems`
        is a typo, not a player called coins."""
        if name is None or name == "me":
            return True, None
        if name in self.decl_spans or name in self.row_owner:
            self.error(
                "R034",
                f"`{name}` is declared in the rules, so it cannot name a player of the scenario",
                span,
                "players of a scenario have names of their own: `bob.coins`, `as bob do ...`",
            )
            return False, None
        return True, name

    def arg_fits(self, a: ast.CallArg, p: ir.Param, fails: bool) -> bool:
        """Whether a scenario's value for a parameter has its type (and, unless the step
        expects a failure, is within its bounds)."""
        v = a.value
        if p.type == T.PLAYER:
            if isinstance(v, ast.Name) and self.scenario_player(v.id, v.span)[0]:
                return True
            if not isinstance(v, ast.Name):
                self.error(
                    "R034",
                    f"`{a.name}` is a player of the scenario",
                    v.span,
                    f"name one: `{a.name}: bob` (`me` is the scenario's own player)",
                )
            return False
        if p.type.kind == "enum":
            rows = self.row_names(p.type.name)
            if isinstance(v, ast.Name) and v.id in rows:
                return True
            said = self.source(v.span)
            self.error(
                "R034",
                f"`{said}` is not a {p.type.name}",
                v.span,
                did_you_mean(said, rows) or "one of: " + ", ".join(rows),
            )
            return False
        if p.type == T.BOOL:
            if isinstance(v, ast.BoolLit):
                return True
            self.error("R034", f"`{a.name}` is true or false", v.span, f"write `{a.name}: true`")
            return False
        if not isinstance(v, ast.IntLit):
            self.error("R034", f"`{a.name}` is a whole number", v.span, f"write `{a.name}: {p.lo}`")
            return False
        if not fails and p.lo is not None and p.hi is not None and not p.lo <= v.value <= p.hi:
            self.error(
                "R034",
                f"`{a.name}: {v.value}` is outside {p.lo}..{p.hi}",
                v.span,
                "the action would reject it; end the step with `fails` if that is what it tests",
            )
            return False
        return True

    def state_value(self, sv: ast.StateValue, *, given: bool):
        """A `given` or `expect` value: (path, value) when the place and the value fit."""
        p = sv.place
        named, player = self.scenario_player(p.player, p.span)
        if not named:
            return None
        label = (
            p.name
            + (f"[{p.key}]" if p.key is not None else "")
            + (f".{p.field}" if p.field else "")
        )
        label = f"{player}.{label}" if player else label
        path = ir.StatePath(p.name, p.key, p.field, label, player)
        if p.name == "level":
            ok = self.level_value(p, given)
        elif p.name in self.resources:
            ok = self.count_value(sv, self.resources[p.name], label)
        elif p.name in self.slots:
            ok = self.slot_value(sv, label, given)
        else:
            ok = False
            if not self.reported(p.name):
                self.error(
                    "R034",
                    f"unknown name `{p.name}`",
                    p.span,
                    did_you_mean(p.name, [*self.resources, *self.slots, "level"])
                    or "a scenario gives and expects resources, slots and `level`",
                )
        return (path, _literal(sv.value)) if ok else None

    def level_value(self, p: ast.ScenarioPlace, given: bool) -> bool:
        if given:
            stat = self.level.stat if self.level else None
            self.error(
                "R034",
                "`level` follows from its stat and cannot be given",
                p.span,
                f"give `{stat}` instead, e.g. `given {stat} {self.level.thresholds[-1]}`"
                if self.level and stat
                else "give the stat it follows from instead",
            )
        return not given

    def count_value(self, sv: ast.StateValue, res: ir.Resource, label: str) -> bool:
        p = sv.place
        if (res.key is None) != (p.key is None) or p.field is not None:
            rows = self.row_names(res.key)[:1] if res.key else []
            self.error(
                "R034",
                f"`{label}` does not name a count",
                p.span,
                f"write `{res.name}[{rows[0] if rows else '...'}]`"
                if res.key
                else f"write `{res.name}`",
            )
            return False
        if res.key is not None and p.key not in self.row_names(res.key):
            self.error(
                "R034",
                f"`{p.key}` is not a {res.key}",
                p.span,
                did_you_mean(str(p.key), self.row_names(res.key))
                or f"{res.key} rows: {', '.join(self.row_names(res.key))}",
            )
            return False
        if not isinstance(sv.value, ast.IntLit) or sv.value.value < 0:
            self.error(
                "R034",
                f"`{label}` is a count: give a whole number, 0 or more",
                sv.value.span,
                f"write `{label} 10`",
            )
            return False
        return True

    def slot_value(self, sv: ast.StateValue, label: str, given: bool) -> bool:
        p = sv.place
        slots = self.slots[p.name]
        if not isinstance(p.key, int) or not 0 <= p.key < slots.count:
            self.error(
                "R034",
                f"there is no slot `{label}`",
                p.span,
                f"slots are numbered 0 to {slots.count - 1}",
            )
            return False
        if p.field is None:
            if not isinstance(sv.value, ast.EmptyLit):
                field = slots.fields[0].name if slots.fields else "field"
                self.error(
                    "R034",
                    f"`{label}` is a whole slot: it can only be `empty`",
                    sv.value.span,
                    f"write `{label} empty`, or name one of its fields: `{label}.{field} ...`",
                )
                return False
            return True
        fld = self.slot_field(p.name, p.field, p.span)
        if fld is None:
            return False
        if given:
            self.error(
                "R034",
                "a scenario cannot give one field of a slot",
                p.span,
                "fill the slot with an action, or give the whole slot as `empty`",
            )
            return False
        if fld.type.kind == "enum" and _literal(sv.value) not in self.row_names(fld.type.name):
            self.error(
                "R034",
                f"`{label}` holds a {fld.type.name}",
                sv.value.span,
                _example_of(fld.type, self.row_names(fld.type.name)),
            )
            return False
        return True


# ---- helpers ------------------------------------------------------------------------


class _EmptyValue:
    def __repr__(self) -> str:
        return "empty"


EMPTY = _EmptyValue()


def _literal(e: ast.Expr):
    if isinstance(e, ast.IntLit):
        return e.value
    if isinstance(e, ast.DurationLit):
        return e.ms
    if isinstance(e, ast.BoolLit):
        return e.value
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.StringLit):
        return "".join(p for p in e.parts if isinstance(p, str))
    return EMPTY


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _csv_lines(text: str) -> list[CsvRow]:
    """The rows of a CSV: where each starts, its raw text and its cells as the csv module reads them."""
    physical = text.removeprefix("\ufeff").split("\n")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    rows: list[CsvRow] = []
    start = 1
    for cells in reader:
        end = reader.line_num  # the line the row ends on
        rows.append((start, "\n".join(physical[start - 1 : end]), cells))
        start = end + 1
    return rows


def _csv_cell_spans(
    label: str, first_line: int, raw: str, cells: list[str]
) -> list[tuple[str, Span]]:
    """Each cell's value, stripped, with its span in the CSV file.

    `raw` is the row as written (one line, or several when a quoted cell holds a line
    break), starting at `first_line`; the values are the csv module's reading of it.
    """
    bounds = _csv_cell_bounds(raw)
    if len(bounds) != len(cells):  # cannot happen for a row the csv module read; stay safe
        bounds = [(0, max(1, len(raw.split("\n", 1)[0])))] * len(cells)
    out: list[tuple[str, Span]] = []
    for value, (start, end) in zip(cells, bounds, strict=True):
        line, col = _csv_position(raw, start, first_line)
        end_line, end_col = _csv_position(raw, end, first_line)
        if end_line != line:  # a quoted cell over several lines: underline its first line
            end_line, end_col = line, len(raw.split("\n")[line - first_line]) + 1
        end_col = max(end_col, col + 1)
        out.append((value.strip(), Span(label, line, col, end_line, end_col)))
    return out


def _csv_cell_bounds(raw: str) -> list[tuple[int, int]]:
    """Where each cell of a raw CSV row starts and ends (offsets), without surrounding spaces."""
    bounds: list[tuple[int, int]] = []
    start, quoted = 0, False
    for i, ch in enumerate(raw + ","):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            cell = raw[start:i]
            lead = len(cell) - len(cell.lstrip())
            bounds.append((start + lead, start + len(cell.rstrip())))
            start = i + 1
    return bounds


def _csv_position(raw: str, offset: int, first_line: int) -> tuple[int, int]:
    before = raw[:offset]
    return first_line + before.count("\n"), offset - (before.rfind("\n") + 1) + 1


def _source_path(d: ast.TableDecl) -> str:
    assert d.source is not None
    return "".join(p for p in d.source.parts if isinstance(p, str))


def _cell_text(c: ast.Expr) -> str:
    if isinstance(c, ast.IntLit):
        return str(c.value)
    if isinstance(c, ast.DurationLit):
        return c.text
    if isinstance(c, ast.BoolLit):
        return "true" if c.value else "false"
    if isinstance(c, ast.Name):
        return c.id
    return "?"


def _label(e: ast.Expr) -> str:
    """How the rules write an index, for messages: `seed[kind]`."""
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.IntLit):
        return str(e.value)
    return "..."


def _a(t: T.Type) -> str:
    if t.kind in ("int", "bool"):
        return f"an {t.kind}" if t.kind == "int" else "a bool"
    if t.kind in ("duration", "time", "string", "player"):
        return f"a {t.kind}"
    if t.kind == "enum":
        return f"a {t.name}"
    return str(t)


def _example_of(t: T.Type, rows: list[str]) -> str:
    if t == T.INT:
        return "write a whole number such as 12"
    if t == T.DURATION:
        return "write a duration such as 90s, 10m or 1h30m"
    if t == T.BOOL:
        return "write true or false"
    if t.kind == "enum" and rows:
        return "one of: " + ", ".join(rows)
    return f"write {_a(t)}"


def _type_hint(got: T.Type, want: T.Type) -> str | None:
    if got == T.DURATION and want == T.INT:
        return "write a whole number; a duration counts as a number only divided by a duration, as in `(...) / 1m`"
    if got == T.INT and want == T.DURATION:
        return "write a duration with its unit, such as 5m, or multiply: `n * 1m`"
    if got == T.BOOL and want == T.INT:
        return "a condition is not a number: choose between amounts with `when ...` / `otherwise`"
    if got == T.TIME and want == T.INT:
        return "a time is a moment, not a number: subtract two times to get a duration, as in `ready_at - now`"
    if got == T.TIME and want == T.DURATION:
        return "subtract two times to get a duration: `ready_at - now`"
    if got.kind == "enum" and T.is_intlike(want):
        return f"a {got.name} is a row, not a number: use one of its columns, as in `{got.name}[...].<column>`"
    return _WHAT_FITS.get(want.kind, f"give {_a(want)}")


# what a value of each type looks like, for hints
_WHAT_FITS = {
    "int": "give a whole number such as 5, or a count such as `coins`",
    "duration": "give a duration such as 10m, or the time between two times: `ready_at - now`",
    "time": "a time is `now` or a slot's time, plus or minus a duration: `now + 5m`",
    "bool": "a condition compares values, e.g. `coins >= 10`",
}


def _arith_hint(left: T.Type, op: str, right: T.Type) -> str:
    if T.BOOL in (left, right):
        return "a bool is true or false, not a number: choose between amounts with `when ...` / `otherwise`"
    if "enum" in (left.kind, right.kind):
        return "a table's row is not a number: compute with one of its columns"
    if T.DURATION in (left, right) and T.is_intlike(left) != T.is_intlike(right):
        return "add durations to durations; multiply a duration by a number (`qty * 5m`)"
    if left == T.TIME and right == T.TIME:
        return "subtract two times to get a duration; times cannot be added"
    if T.TIME in (left, right):
        return "a time moves by a duration (`now + 5m`), and two times subtract to a duration (`ready_at - now`)"
    return "arithmetic works on numbers, durations and times"


def _threshold_mistake(d: ast.LevelDecl, stat: str) -> tuple[str, Span, str] | None:
    """What is wrong with a level's thresholds, if anything: (message, span, hint)."""
    first = d.thresholds[0]
    if first.value != 0:
        return (
            f"level 1 must start at 0 {stat}, not {first.value}",
            first.span,
            f"write `level from {stat} at 0, ...`: every player starts at level 1",
        )
    for prev, cur in zip(d.thresholds, d.thresholds[1:], strict=False):
        if cur.value <= prev.value:
            return (
                f"level thresholds must increase: {cur.value} comes after {prev.value}",
                cur.span,
                f"list the {stat} each level starts at, for level 1, 2, 3, ... in increasing order",
            )
    return None


def _range_words(lo: int, hi: int) -> str:
    return f"at least {lo}" if hi == INT64_MAX else f"between {lo} and {hi}"


def _conjuncts(e: ast.Expr) -> list[ast.Expr]:
    if isinstance(e, ast.BoolOp) and e.op == "and":
        return [c for item in e.items for c in _conjuncts(item)]
    return [e]


def _bound_fact(e: ast.Expr) -> tuple[str, int, int] | None:
    """`qty > 10` -> ("qty", 11, max). Only a name against an integer literal."""
    if not isinstance(e, ast.Compare):
        return None
    op = e.op
    if isinstance(e.left, ast.Name) and isinstance(e.right, ast.IntLit):
        name, value = e.left.id, e.right.value
    elif isinstance(e.right, ast.Name) and isinstance(e.left, ast.IntLit):
        name, value = e.right.id, e.left.value
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]
    else:
        return None
    return {
        "<": (name, INT64_MIN, value - 1),
        "<=": (name, INT64_MIN, value),
        ">": (name, value + 1, INT64_MAX),
        ">=": (name, value, INT64_MAX),
        "==": (name, value, value),
    }.get(op)


def _find_now(e) -> ast.Now | None:
    """The first `now` in an expression, if any."""
    if isinstance(e, ast.Now):
        return e
    for f in getattr(e, "__slots__", ()):
        child = getattr(e, f)
        for c in child if isinstance(child, tuple) else (child,):
            found = _find_now(c)
            if found is not None:
                return found
    return None


def _ast_fills(body: Iterable) -> Iterable[ast.Fill]:
    """Every `fill` and `replace` of a body, nested blocks too."""
    for s in body:
        if isinstance(s, ast.Fill):
            yield s
        elif isinstance(s, ast.When):
            yield from _ast_fills(s.body + s.otherwise)
        elif isinstance(s, ast.Pick):
            for b in s.branches:
                yield from _ast_fills(b.body)


def _writes(body: Iterable) -> set[str]:
    """The top-level state keys a body may change, so the engine copies only those."""
    out: set[str] = set()
    for s in body:
        if isinstance(s, ir.Cost | ir.Gain):
            out.update(a.resource for a in s.amounts)
        elif isinstance(s, ir.SetResource):
            out.add(s.resource)
        elif isinstance(s, ir.SetSlotField | ir.Fill | ir.Empty):
            out.add(s.slots)
        elif isinstance(s, ir.Limit):
            out.add("_limits")
        elif isinstance(s, ir.Cooldown):
            out.add("_cooldowns")
        elif isinstance(s, ir.When):
            out |= _writes(s.body) | _writes(s.otherwise)
        elif isinstance(s, ir.Pick):
            for b in s.branches:
                out |= _writes(b.body)
    return out


def check_game(src: GameSources) -> tuple[ir.Game | None, list[Diagnostic]]:
    """The checker pass: parsed sources in, typed IR (or None) and every diagnostic out."""
    checker = Checker(src)
    game = checker.run()
    diags = src.diagnostics + checker.diags
    if any(d.is_error for d in diags):
        game = None
    return game, diags
