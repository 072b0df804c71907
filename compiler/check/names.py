"""Pass 1, names: every declaration's name, claimed once per game, and the names of the
declarations that did not parse (their uses stay quiet: one mistake, one diagnostic)."""

from __future__ import annotations

import re

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .context import Context

SYNTAX_CODES = ("R001", "R002", "R003", "R004")
# `currency coins ...`, `action buy(...`, `game ...`, `level ...`: the keyword and the name
DECL_HEADER = re.compile(
    r"^(game|level|day)\b|^(?:currency|meter|stat|item|table|slots|action|let|calendar)\s+([A-Za-z_][A-Za-z0-9_]*)"
)
# a line the parser left out of its declaration (dsl/parser.py, _without_bad_line) may have
# declared a name: `let total = ...` in an action, a row `wheat: ...` of a table
LET_LINE = re.compile(r"^\s+let\s+([A-Za-z_][A-Za-z0-9_]*)")
ROW_LINE = re.compile(r"^\s+(?!columns\b)([A-Za-z_][A-Za-z0-9_]*)")


class Names:
    def __init__(self, c: Context) -> None:
        self.c = c

    def unparsed_names(self) -> set[str]:
        """The names declared by top-level declarations that have a syntax error.

        The parser drops such a declaration, so without this every use of its name
        would be reported again as unknown.
        """
        names: set[str] = set()
        for d in self.c.src.diagnostics:
            if d.code not in SYNTAX_CODES:
                continue
            header = self.declaration_line(d.span.file, d.span.line)
            m = DECL_HEADER.match(header or "")
            if m:
                names.add(m.group(2) or m.group(1))
            names |= self.left_out_names(header or "", d.span.file, d.span.line)
        return names

    def left_out_names(self, header: str, file: str, line: int) -> set[str]:
        """The name a line with a syntax error would have declared, when the rest of its
        declaration was kept: its uses stay quiet too."""
        text = self.c.src.texts.line(file, line) or ""
        let = LET_LINE.match(text)
        if let:
            return {let.group(1)}
        row = ROW_LINE.match(text)
        if row and header.startswith("table"):
            return {row.group(1)}
        return set()

    def declaration_line(self, file: str, line: int) -> str | None:
        """The unindented line that starts the declaration holding `line`."""
        for ln in range(line, 0, -1):
            text = self.c.src.texts.line(file, ln)
            if text and text[0] not in " \t#":
                return text
        return None

    def declare_names(self, decls: list) -> None:
        seen_actions: dict[str, Span] = {}
        for d in decls:
            if isinstance(d, ast.GameDecl):
                if self.c.game is not None:
                    self.c.error(
                        "R011",
                        "the game is declared twice",
                        d.span,
                        "keep one `game` line",
                        [("first declared here", self.c.game.span)],
                    )
                else:
                    self.c.game = d
                    self.c.check_snake(d.id, d.span)
            elif isinstance(d, ast.DayStartDecl):
                self.day_start_decl(d)
            elif isinstance(
                d,
                ast.ResourceDecl
                | ast.ItemDecl
                | ast.TableDecl
                | ast.SlotsDecl
                | ast.ConstDecl
                | ast.CalendarDecl,
            ):
                self.claim(d.name, d.name_span)
            elif isinstance(d, ast.ActionDecl):
                if d.name in seen_actions:
                    self.c.error(
                        "R011",
                        f"action `{d.name}` is declared twice",
                        d.name_span,
                        "rename one of them",
                        [("first declared here", seen_actions[d.name])],
                    )
                else:
                    seen_actions[d.name] = d.name_span
                self.c.check_snake(d.name, d.name_span)

    def day_start_decl(self, d: ast.DayStartDecl) -> None:
        if self.c.day_span is not None:
            self.c.error(
                "R011",
                "`day starts` is declared twice",
                d.span,
                "keep one `day starts` line",
                [("first declared here", self.c.day_span)],
            )
            return
        self.c.day_span = d.span
        self.c.day_start = d.minutes
        clock = self.c.find(d.span, r"([0-9]{2}:[0-9]{2})")
        hours, _, minutes = self.c.source(clock).partition(":")
        if hours.isdigit() and minutes.isdigit() and (int(hours) > 23 or int(minutes) > 59):
            self.c.error(
                "R039",
                f"`{self.c.source(clock)}` is not a time of day",
                clock,
                "write hours 00-23 and minutes 00-59, like 04:00",
            )
        if d.zone not in (None, "UTC"):
            self.c.error(
                "R039",
                f"unknown time zone `{d.zone}`",
                self.c.find(d.span, r"[0-9]{2}:[0-9]{2}\s+(\w+)"),
                "days are counted in UTC: write the reset time in UTC",
            )

    def claim(self, name: str, span: Span) -> None:
        if name in self.c.decl_spans:
            self.c.error(
                "R011",
                f"`{name}` is declared twice",
                span,
                "every name is declared once per game",
                [("first declared here", self.c.decl_spans[name])],
            )
        else:
            self.c.decl_spans[name] = span
        self.c.check_snake(name, span)

    def claim_social_names(self, decls: list) -> None:
        """Loot tables and leaderboards share the one namespace of declarations."""
        for d in decls:
            if isinstance(d, ast.LootDecl | ast.LeaderboardDecl):
                self.claim(d.name, d.name_span)
