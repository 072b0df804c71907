"""What the language server knows of a game: its symbols and every use of them.

Built from the parsed syntax trees (rulesc.dsl.ast) and the CSV tables' text, not from the
typed IR, so that it still answers while the rules have errors. A symbol is keyed by
(kind, scope, name): resources, tables, slots, actions, loot and leaderboards are global
(scope ""); rows and columns are scoped by their table, slot fields by their slots, and
parameters and `let` names by their action. Names resolve by scope, then globally, then as
a table row; a name two tables both have as a row resolves to the first (good enough for
an editor, and the checker says the rest).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from rulesc.compiler.loader import GameSources
from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

Key = tuple[str, str, str]  # (kind, scope, name)

KEYWORDS = (
    "action",
    "bot",
    "cooldown",
    "cost",
    "currency",
    "day",
    "do",
    "draws",
    "else",
    "emit",
    "empty",
    "every",
    "expect",
    "fails",
    "fill",
    "filled",
    "gain",
    "game",
    "give",
    "given",
    "invariant",
    "is",
    "item",
    "leaderboard",
    "let",
    "level",
    "limit",
    "loot",
    "max",
    "meter",
    "now",
    "on",
    "otherwise",
    "per",
    "pick",
    "public",
    "regen",
    "replace",
    "require",
    "resets",
    "scenario",
    "sessions",
    "set",
    "slots",
    "start",
    "stat",
    "table",
    "take",
    "try",
    "wait",
    "when",
    "with",
)
GLOBAL_KINDS = ("resource", "table", "slots", "action", "loot", "leaderboard")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Symbol:
    key: Key
    span: Span  # its name where it is declared
    decl: Span  # the whole declaration (its first line is the signature)
    info: str = ""  # more to say on hover (a resource's start/max/regen, a row's values)

    @property
    def kind(self) -> str:
        return self.key[0]

    @property
    def name(self) -> str:
        return self.key[2]


@dataclass
class Index:
    src: GameSources
    symbols: dict[Key, Symbol] = field(default_factory=dict)
    uses: list[tuple[Key, Span]] = field(default_factory=list)  # every use, not the declaration

    def text_of(self, span: Span) -> str:
        line = self.src.texts.line(span.file, span.line) or ""
        if span.end_line != span.line:
            return line[span.col - 1 :]
        return line[span.col - 1 : span.end_col - 1]

    def signature(self, sym: Symbol) -> str:
        line = self.src.texts.line(sym.decl.file, sym.decl.line) or sym.name
        return line.split("#")[0].strip() if not sym.decl.file.endswith(".csv") else line

    def at(self, file: str, line: int, col: int) -> Key | None:
        """The symbol whose name (declared or used) covers the 1-based position."""
        for key, span in self.occurrences():
            if span.file == file and span.line == line and span.col <= col <= span.end_col:
                return key
        return None

    def occurrences(self) -> Iterator[tuple[Key, Span]]:
        for key, sym in self.symbols.items():
            yield key, sym.span
        yield from self.uses

    def references(self, key: Key, *, with_declaration: bool = True) -> list[Span]:
        spans = [s for k, s in self.uses if k == key]
        if with_declaration and key in self.symbols:
            spans.insert(0, self.symbols[key].span)
        return sorted(set(spans), key=lambda s: (s.file, s.line, s.col))

    def hover(self, key: Key) -> str | None:
        sym = self.symbols.get(key)
        if sym is None:
            return None
        kind, scope, name = key
        owner = {"row": "table", "column": "table", "field": "slots", "param": "action"}
        head = f"**{kind}** `{name}`" + (f" of {owner[kind]} `{scope}`" if kind in owner else "")
        out = [head, "", "```rules", self.signature(sym), "```"]
        if sym.info:
            out += ["", sym.info]
        out += ["", f"declared at {sym.span}"]
        return "\n".join(out)

    def names_of(self, kind: str, scope: str | None = None) -> list[str]:
        return sorted(
            {k[2] for k in self.symbols if k[0] == kind and (scope is None or k[1] == scope)}
        )


def build_index(src: GameSources) -> Index:
    index = Index(src)
    modules = [*src.rules, *src.tests, *src.bots]
    for module in src.rules:
        for decl in module.decls:
            _declare(index, decl)
    walker = _Walker(index)
    for module in modules:
        for decl in module.decls:
            walker.decl(decl)
    return index


# ---- declarations --------------------------------------------------------------------


def _declare(index: Index, decl: ast.Decl) -> None:
    add = index.symbols.setdefault
    if isinstance(decl, ast.ResourceDecl | ast.ItemDecl):
        key: Key = ("resource", "", decl.name)
        add(key, Symbol(key, decl.name_span, decl.span, _resource_info(index, decl)))
    elif isinstance(decl, ast.TableDecl):
        key = ("table", "", decl.name)
        add(key, Symbol(key, decl.name_span, decl.span))
        columns = [c.name for c in decl.columns]
        for col in decl.columns:
            k = ("column", decl.name, col.name)
            add(k, Symbol(k, _word_in(index, col.span, col.name) or col.span, col.span))
        for row in decl.rows:
            k = ("row", decl.name, row.name)
            cells = [index.text_of(c.span) for c in row.cells]
            info = ", ".join(f"{c} = {v}" for c, v in zip(columns, cells, strict=False))
            add(k, Symbol(k, _word_in(index, row.span, row.name) or row.span, row.span, info))
        if decl.source is not None:
            _declare_csv_rows(index, decl)
    elif isinstance(decl, ast.SlotsDecl):
        key = ("slots", "", decl.name)
        add(key, Symbol(key, decl.name_span, decl.span))
        for f in decl.fields:
            k = ("field", decl.name, f.name)
            add(k, Symbol(k, _word_in(index, f.span, f.name) or f.span, f.span))
    elif isinstance(decl, ast.ActionDecl):
        key = ("action", "", decl.name)
        add(key, Symbol(key, decl.name_span, decl.span))
        for p in decl.params:
            k = ("param", decl.name, p.name)
            add(k, Symbol(k, _word_in(index, p.span, p.name) or p.span, p.span))
    elif isinstance(decl, ast.LootDecl):
        key = ("loot", "", decl.name)
        add(key, Symbol(key, decl.name_span, decl.span))
    elif isinstance(decl, ast.LeaderboardDecl):
        key = ("leaderboard", "", decl.name)
        add(key, Symbol(key, decl.name_span, decl.span))


def _resource_info(index: Index, decl: ast.ResourceDecl | ast.ItemDecl) -> str:
    parts = [f"start {decl.start.value if decl.start else 0}"]
    parts.append(f"max {decl.max.value}" if decl.max else "no max")
    if decl.regen:
        parts.append(f"regen {decl.regen.amount} every {decl.regen.every.text}")
    if isinstance(decl, ast.ItemDecl) and decl.key:
        parts.append(f"one per row of `{decl.key.id}`")
    if decl.public:
        parts.append("public")
    return ", ".join(parts)


def _declare_csv_rows(index: Index, decl: ast.TableDecl) -> None:
    """A `table ... from "x.csv"`: its rows are the CSV's lines (the checker read the file)."""
    literal = "".join(p for p in decl.source.parts if isinstance(p, str)) if decl.source else ""
    label = index.src.file_label(literal)
    text = index.src.texts.texts.get(label)
    if text is None:
        return
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return
    header = lines[0]
    for number, cells in enumerate(lines[1:], start=2):
        if not cells or not cells[0].strip():
            continue
        name = cells[0].strip()
        span = Span(label, number, 1, number, len(cells[0]) + 1)
        info = ", ".join(f"{c} = {v}" for c, v in zip(header[1:], cells[1:], strict=False))
        key: Key = ("row", decl.name, name)
        index.symbols.setdefault(key, Symbol(key, span, span, info))


def _word_in(index: Index, span: Span, word: str, after: int = 0) -> Span | None:
    """The span of `word` as a whole identifier on the first line of `span`."""
    line = index.src.texts.line(span.file, span.line)
    if line is None:
        return None
    pattern = re.compile(rf"(?<![\w]){re.escape(word)}(?![\w])")
    found = pattern.search(line, span.col - 1 + after)
    if found is None:
        return None
    return Span(span.file, span.line, found.start() + 1, span.line, found.end() + 1)


# ---- uses ------------------------------------------------------------------------------


class _Walker:
    """Walks every declaration's nodes, recording each name it can resolve."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.action: str | None = None  # the action whose body we are in
        self.locals: set[str] = set()

    def use(self, key: Key | None, span: Span | None) -> None:
        declared = self.index.symbols.get(key) if key is not None else None
        if declared is not None and span is not None and declared.span != span:
            self.index.uses.append((declared.key, span))

    def resolve(self, name: str) -> Key | None:
        if self.action and (
            name in self.locals or ("param", self.action, name) in self.index.symbols
        ):
            return ("param", self.action, name)
        for kind in GLOBAL_KINDS:
            if (kind, "", name) in self.index.symbols:
                return (kind, "", name)
        for kind, scope, n in self.index.symbols:
            if kind == "row" and n == name:
                return (kind, scope, n)
        return None

    def decl(self, decl: ast.Decl) -> None:
        self.action, self.locals = None, set()
        if isinstance(decl, ast.ActionDecl):
            self.action = decl.name
            for p in decl.params:
                self.node(p.type)
                self.node(p.lo)
                self.node(p.hi)
            for stmt in decl.body:
                self.node(stmt)
            return
        if isinstance(decl, ast.TableDecl | ast.SlotsDecl):
            for part in (*getattr(decl, "columns", ()), *getattr(decl, "fields", ())):
                self.node(part.type)
            return
        self.node(decl)

    def node(self, node: object) -> None:
        if node is None or isinstance(node, str | int | bool | Span):
            return
        if isinstance(node, tuple):
            for item in node:
                self.node(item)
            return
        if not dataclasses.is_dataclass(node):
            return
        special = getattr(self, f"on_{type(node).__name__}", None)
        if special is not None and special(node):
            return  # handled all of it
        for f in dataclasses.fields(node):
            self.node(getattr(node, f.name))

    # each returns True when it walked the node's children itself
    def on_Name(self, node: ast.Name) -> bool:
        self.use(self.resolve(node.id), node.span)
        return True

    def on_Place(self, node: ast.Place) -> bool:
        self.use(self.resolve(node.name), node.name_span)
        self.node(node.index)
        if node.field:
            key = ("field", node.name, node.field)
            self.use(key, _word_in(self.index, node.span, node.field, len(node.name)))
        return True

    def on_Attr(self, node: ast.Attr) -> bool:
        self.node(node.base)
        table = _base_name(node.base)
        candidates = [("column", table or "", node.name), ("field", table or "", node.name)]
        candidates += [k for k in self.index.symbols if k[0] in ("column", "field")]
        for key in candidates:
            if key in self.index.symbols and key[2] == node.name:
                self.use(key, node.name_span)
                break
        return True

    def on_Let(self, node: ast.Let) -> bool:
        self.node(node.expr)
        self.locals.add(node.name)
        return True

    def on_Fill(self, node: ast.Fill) -> bool:
        self.node(node.place)
        for value in node.values:
            key = ("field", node.place.name, value.name)
            self.use(key, _word_in(self.index, value.span, value.name))
            self.node(value.expr)
        return True

    def on_Do(self, node: ast.Do) -> bool:
        line = self.index.src.texts.line(node.span.file, node.span.line) or ""
        found = re.compile(rf"\bdo\s+({re.escape(node.action)})\b").search(line, node.span.col - 1)
        if found:
            col = found.start(1) + 1
            span = Span(node.span.file, node.span.line, col, node.span.line, found.end(1) + 1)
            self.use(("action", "", node.action), span)
        self._call_args(node.action, node.args)
        return True

    def on_BotTry(self, node: ast.BotTry) -> bool:
        self.use(("action", "", node.action), node.action_span)
        self._call_args(node.action, node.args)
        self.action, self.locals = node.action, set()  # `when seed[kind] < 6` names params
        self.node(node.when)
        self.action = None
        return True

    def _call_args(self, action: str, args: tuple) -> None:
        for arg in args:
            self.use(("param", action, arg.name), _word_in(self.index, arg.span, arg.name))
            value = arg.value
            if isinstance(value, ast.Name):  # a row of the parameter's table, most likely
                self.use(self.resolve(value.id), value.span)
            else:
                self.node(value)

    def on_ScenarioPlace(self, node: ast.ScenarioPlace) -> bool:
        after = len(node.player) + 1 if node.player else 0
        name_span = _word_in(self.index, node.span, node.name, after)
        self.use(self.resolve(node.name), name_span)
        if isinstance(node.key, str) and name_span is not None:
            key_span = _word_in(self.index, node.span, node.key, name_span.end_col - node.span.col)
            self.use(self.resolve(node.key), key_span)
        if node.field and name_span is not None:
            field_span = _word_in(
                self.index, node.span, node.field, name_span.end_col - node.span.col
            )
            self.use(("field", node.name, node.field), field_span)
        return True


def _base_name(expr: object) -> str | None:
    """`crop` of `crop[kind].sell`, `field` of `field[slot].ready_at`."""
    if isinstance(expr, ast.Index):
        expr = expr.base
    return expr.id if isinstance(expr, ast.Name) else None


# ---- quick fixes ---------------------------------------------------------------------

SUGGESTION = re.compile(r"did you mean `([^`]+)`\?")


def did_you_mean_fix(message: str, hint: str | None, span_text: str) -> tuple[int, int, str] | None:
    """For a "did you mean `X`?" hint: (start, end) of the misspelt name in the span's text
    and the replacement; None when the hint suggests nothing or the name is not found."""
    if not hint:
        return None
    suggested = SUGGESTION.search(hint)
    if suggested is None:
        return None
    for wrong in reversed(re.findall(r"`([^`]+)`", message)):
        found = re.search(rf"(?<![\w]){re.escape(wrong)}(?![\w])", span_text)
        if found and wrong != suggested.group(1):
            return found.start(), found.end(), suggested.group(1)
    return None
