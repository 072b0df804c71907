"""Pass 2, tables: first every table's columns and row names, then the cells, so a column
may hold rows of a table declared later (or of its own table). Rows come from the rules
or from a CSV file beside them."""

from __future__ import annotations

import csv
import io
import re

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span
from rulesc.dsl.parser import duration_ms

from .. import ir
from .. import types as T
from .context import INT64_MAX, INT64_MIN, Context, a_type, example_of, plural
from .typenames import type_named

# a table row as written: its name, its span and each cell's text and span
RawRow = tuple[str, Span, list[tuple[str, Span]]]
# a CSV row: the line it starts on, its raw text, its cells
CsvRow = tuple[int, str, list[str]]
# a duration cell: `90m`, `1h30m` or, in parts, `2h 30m` (in the rules and in a CSV alike)
_DURATION_CELL = re.compile(r"[0-9][0-9_]*(ms|s|m|h|d|w)( *[0-9][0-9_]*(ms|s|m|h|d|w))*")


class Tables:
    def __init__(self, c: Context) -> None:
        self.c = c

    def tables_pass(self, decls: list) -> None:
        tables = [d for d in decls if isinstance(d, ast.TableDecl)]
        self.c.table_names |= {d.name for d in tables}  # calendars' are there already
        shapes = [(d, self.table_columns(d), self.table_rows(d)) for d in tables]
        self.c.broken |= {d.name for d, columns, _ in shapes if columns is None}
        for d, columns, rows in shapes:
            self.table_cells(d, columns, rows)

    def table_columns(self, d: ast.TableDecl) -> list[ir.Column] | None:
        """The typed columns, or None when one has a mistake (reported)."""
        columns: list[ir.Column] = []
        seen: dict[str, Span] = {}
        for c in d.columns:
            t = type_named(self.c, c.type)
            if t is not None and c.is_set:
                t = self.set_type(c, t)
            if c.name in seen:
                self.c.error(
                    "R011",
                    f"column `{c.name}` is declared twice",
                    c.span,
                    "rename one of them",
                    [("first declared here", seen[c.name])],
                )
            seen.setdefault(c.name, c.span)
            if t is not None:
                columns.append(ir.Column(c.name, t))
        partial = d.name in self.c.broken  # a line of it has a syntax error (reported)
        if not d.columns and (d.rows or d.source is not None) and not partial:
            self.c.error(
                "R015",
                f"table `{d.name}` has no `columns` line",
                d.name_span,
                "declare the columns under the table: `columns seed_cost: int, grow: duration`",
            )
        return columns if len(columns) == len(d.columns) else None

    def set_type(self, c: ast.Column, t: T.Type) -> T.Type | None:
        """`seasons: set of season`: some rows of a table or periods of a calendar."""
        if t.kind == "enum":
            return T.set_of(t.name or "")
        self.c.error(
            "R024",
            f"a set holds rows of a table or periods of a calendar, not {a_type(t)}",
            c.type.span,
            "write `set of` and a table's or a calendar's name, such as `set of season`",
        )
        return None

    def table_rows(self, d: ast.TableDecl) -> list[RawRow]:
        """The rows as written (from the rules or the CSV), each named once and the right length."""
        if d.source is not None:
            if d.rows:
                self.c.error(
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
        if d.name in self.c.broken and not raw:
            pass  # its rows have a syntax error, reported
        elif not raw and not d.columns and d.source is None:
            self.c.error(
                "R015",
                f"table `{d.name}` is empty",
                d.name_span,
                "declare its columns and rows below it, indented: "
                "`columns seed_cost: int, grow: duration` then `wheat: 5, 2m`",
            )
        elif not raw:
            where = "the CSV" if d.source is not None else "the table"
            self.c.error(
                "R015",
                f"table `{d.name}` has no rows",
                d.name_span,
                f"add a row per kind to {where}: `wheat: 5, 2m`",
            )
        rows: list[RawRow] = []
        seen: dict[str, Span] = {}
        for name, span, cells in raw:
            if name in seen:
                self.c.error(
                    "R011",
                    f"row `{name}` appears twice in table `{d.name}`",
                    span,
                    "rename one of them",
                    [("first listed here", seen[name])],
                )
                continue
            seen[name] = span
            self.c.check_snake(name, span)
            self.c.row_owner.setdefault(name, []).append(d.name)
            if len(cells) != len(d.columns):
                self.c.error(
                    "R015",
                    f"row `{name}` has {plural(len(cells), 'cell')}, "
                    f"the table has {plural(len(d.columns), 'column')}",
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
        self.c.tables.setdefault(
            d.name, ir.Table(d.name, tuple(columns or ()), tuple(rows), self.c.loc(d.span))
        )

    def csv_rows(self, d: ast.TableDecl) -> list[RawRow] | None:
        """The rows of a table's CSV, with the span of every cell; None if the CSV cannot be used."""
        assert d.source is not None
        rel = _source_path(d)
        found = self.c.src.read_data(rel)
        if found is None:
            self.c.error(
                "R017",
                f"cannot read `{rel}`",
                d.source.span,
                "the CSV file goes in the game folder, beside the .rules files",
            )
            return None
        label, text = found
        lines = _csv_lines(text)
        if not lines:
            self.c.error(
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
                self.c.error(
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
        text = self.c.src.texts.line(label, number) or ""
        hint = "the header must be: " + ",".join(expected)
        if ";" in text and "," not in text:
            hint = "separate the cells with commas, not semicolons; " + hint
        self.c.error(
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
            self.c.error(
                "R031",
                "the number does not fit in 64 bits",
                span,
                "numbers go up to 9223372036854775807",
            )
            return None
        if t == T.DURATION and _DURATION_CELL.fullmatch(text):
            return duration_ms(text)
        if t == T.BOOL and text in ("true", "false"):
            return text == "true"
        if t.kind == "enum" and t.name in self.c.row_owner.get(text, ()):
            return text
        if t.kind == "set":
            names = text.split()
            if all(t.name in self.c.row_owner.get(n, ()) for n in names):
                return tuple(names)
            t = T.enum(t.name or "")  # the message says what each name may be
        shown = text.replace("\n", "\\n")
        self.c.error(
            "R016",
            f"`{shown}` is not {a_type(t)} (column `{col.name}`)",
            span,
            example_of(t, self.c.row_names(t.name) if t.kind == "enum" else []),
        )
        return None


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
    if isinstance(c, ast.NameSet):
        return " ".join(n.id for n in c.names)
    return "?"
