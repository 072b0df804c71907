"""`rulesc lsp`: the language server of .rules files (pygls, over stdio).

A document belongs to its game folder (the folder of the file, or its parent for
tests/ and bots/). On open and on change (debounced) the whole folder is checked, the open
buffers' unsaved texts standing for the files on disk, and every file's diagnostics are
published with the codes, spans, messages and hints of `rulesc check`; a file whose
diagnostics are gone gets an empty list. Hover, completion, definition, references and
rename read the symbol index (lsp_index.py), built on demand from the last check.
"""

from __future__ import annotations

import asyncio
import gc
import re
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from rulesc import __version__
from rulesc.compiler.check import ActionMemo, check_game
from rulesc.compiler.codes import explain
from rulesc.compiler.loader import SCENARIO_FOLDERS, GameSources, load_game
from rulesc.dsl.diagnostics import Diagnostic, Span
from rulesc.dsl.fmt import format_source

from .lsp_index import KEYWORDS, Index, Key, build_index, did_you_mean_fix
from .lsp_parse import ChunkedParser

DEBOUNCE_SECONDS = 0.15  # a pause in typing this long, and the folder is checked
IDLE_COLLECT_SECONDS = 10.0  # no check for this long: collect the garbage the checks left
CODE = re.compile(r"\bR\d{3}\b")


def game_root(path: Path) -> Path:
    """The game folder a file belongs to: tests/ and bots/ files belong to the folder above."""
    folder = path.parent
    if folder.name in SCENARIO_FOLDERS and any(folder.parent.glob("*.rules")):
        return folder.parent
    return folder


def is_game(root: Path, open_files: dict[Path, str]) -> bool:
    """Whether a folder holds rules (on disk or open): a CSV elsewhere is none of ours."""
    return any(root.glob("*.rules")) or any(
        p.parent == root and p.suffix == ".rules" for p in open_files
    )


def label_path(src: GameSources, label: str) -> Path:
    """The file a diagnostic's label names (labels are relative to the working directory)."""
    if src.label in ("", "."):
        return (src.root / label).resolve()
    if label == src.label:
        return src.root.resolve()
    if label.startswith(src.label + "/"):
        return (src.root / label[len(src.label) + 1 :]).resolve()
    return Path(label).resolve()


def utf16_col(line: str, col: int) -> int:
    """LSP columns count UTF-16 code units; ours count characters from 1."""
    return len(line[: col - 1].encode("utf-16-le")) // 2


def char_col(line: str, character: int) -> int:
    """The 1-based character column of an LSP (UTF-16) position on `line`."""
    units = 0
    for i, ch in enumerate(line):
        if units >= character:
            return i + 1
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line) + 1


@dataclass
class GameView:
    """One game folder as last checked."""

    root: Path
    src: GameSources
    diagnostics: dict[str, list[Diagnostic]]  # uri -> its diagnostics
    _index: Index | None = None

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = build_index(self.src)
        return self._index

    def uri(self, label: str) -> str:
        return from_fs_path(str(label_path(self.src, label))) or label

    def label(self, uri: str) -> str | None:
        path = Path(to_fs_path(uri) or uri).resolve()
        for label in self.src.texts.texts:
            if label_path(self.src, label) == path:
                return label
        return None

    def range(self, span: Span) -> lsp.Range:
        first = self.src.texts.line(span.file, span.line) or ""
        last = self.src.texts.line(span.file, span.end_line) or ""
        return lsp.Range(
            start=lsp.Position(line=span.line - 1, character=utf16_col(first, span.col)),
            end=lsp.Position(line=span.end_line - 1, character=utf16_col(last, span.end_col)),
        )

    def location(self, span: Span) -> lsp.Location:
        return lsp.Location(uri=self.uri(span.file), range=self.range(span))

    def key_at(self, uri: str, pos: lsp.Position) -> Key | None:
        label = self.label(uri)
        if label is None:
            return None
        line = self.src.texts.line(label, pos.line + 1) or ""
        return self.index.at(label, pos.line + 1, char_col(line, pos.character))


class RulesServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("rulesc", __version__)
        self.games: dict[Path, GameView] = {}
        self.pending: dict[Path, asyncio.Task] = {}
        self.parser = ChunkedParser()  # parses only the declarations a keystroke changed
        self.memos: dict[Path, ActionMemo] = {}  # and checks only the actions it changed
        self.debounce = DEBOUNCE_SECONDS
        self.idle_collect: asyncio.TimerHandle | None = None

    def overrides(self, root: Path) -> dict[Path, str]:
        out = {}
        for doc in self.workspace.text_documents.values():
            path = Path(doc.path).resolve()
            if game_root(path) == root.resolve():
                out[path] = doc.source
        return out

    def check(self, root: Path) -> GameView:
        """Check the game folder now and publish every file's diagnostics."""
        root = root.resolve()
        src = load_game(root, overrides=self.overrides(root), parse=self.parser.parse)
        _, diags = check_game(src, self.memos.setdefault(root, ActionMemo()))
        old = self.games.get(root)
        view = GameView(root, src, {})
        for d in diags:
            view.diagnostics.setdefault(view.uri(d.span.file), []).append(d)
        self.games[root] = view
        stale = set(old.diagnostics) - set(view.diagnostics) if old else set()
        opened = {from_fs_path(str(path)) or "" for path in self.overrides(root)}
        for uri in sorted(stale | opened | set(view.diagnostics)):  # an empty list clears
            found = [to_lsp(view, d) for d in view.diagnostics.get(uri, [])]
            self.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=uri, diagnostics=found)
            )
        self._spare_the_collector()
        return view

    def _spare_the_collector(self) -> None:
        """The caches hold a game's syntax trees and checks (~200,000 objects for 1,000
        actions), and the collector's full passes over them cost a newline 3-4x the check
        (bench/bench_lsp.py): freeze what is alive now, and collect once typing stops."""
        gc.freeze()
        if self.idle_collect is not None:
            self.idle_collect.cancel()
        self.idle_collect = asyncio.get_event_loop().call_later(IDLE_COLLECT_SECONDS, _collect)

    def schedule(self, uri: str) -> None:
        root = game_root(Path(to_fs_path(uri) or uri).resolve())
        if not is_game(root, self.overrides(root)):
            return
        task = self.pending.pop(root, None)
        if task is not None:
            task.cancel()  # a newer keystroke: check once typing pauses
        self.pending[root] = asyncio.get_event_loop().create_task(self._check_later(root))

    async def _check_later(self, root: Path) -> None:
        await asyncio.sleep(self.debounce)
        self.pending.pop(root, None)
        self.check(root)

    def view(self, uri: str) -> GameView:
        root = game_root(Path(to_fs_path(uri) or uri).resolve())
        view = self.games.get(root)
        return view if view is not None else self.check(root)


def _collect() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def to_lsp(view: GameView, d: Diagnostic) -> lsp.Diagnostic:
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    related = [
        lsp.DiagnosticRelatedInformation(location=view.location(span), message=note)
        for note, span in d.notes
    ]
    return lsp.Diagnostic(
        range=view.range(d.span),
        message=message,
        severity=lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning,
        code=d.code,
        source="rulesc",
        related_information=related or None,
        data={"hint": d.hint} if d.hint else None,
    )


server = RulesServer()


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: RulesServer, params: lsp.DidOpenTextDocumentParams) -> None:
    root = game_root(Path(to_fs_path(params.text_document.uri) or "").resolve())
    if is_game(root, ls.overrides(root)):
        ls.check(root)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: RulesServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: RulesServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: RulesServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)  # the file on disk counts again


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: RulesServer, params: lsp.HoverParams) -> lsp.Hover | None:
    view = ls.view(params.text_document.uri)
    text = _code_hover(view, params) or _symbol_hover(view, params)
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))


def _symbol_hover(view: GameView, params: lsp.HoverParams) -> str | None:
    key = view.key_at(params.text_document.uri, params.position)
    return view.index.hover(key) if key else None


def _code_hover(view: GameView, params: lsp.HoverParams) -> str | None:
    """`rulesc explain` of a diagnostic under the cursor, or of a code such as R012 written there."""
    line = params.position.line
    for d in view.diagnostics.get(params.text_document.uri, []):
        r = view.range(d.span)
        if r.start.line <= line <= r.end.line and _within(params.position, r):
            return explain(d.code)
    label = view.label(params.text_document.uri)
    text = view.src.texts.line(label, line + 1) if label else None
    for found in CODE.finditer(text or ""):
        if found.start() <= params.position.character <= found.end():
            return explain(found.group())
    return None


def _within(pos: lsp.Position, r: lsp.Range) -> bool:
    after_start = (pos.line, pos.character) >= (r.start.line, r.start.character)
    return after_start and (pos.line, pos.character) <= (r.end.line, r.end.character)


KINDS = {
    "resource": lsp.CompletionItemKind.Variable,
    "table": lsp.CompletionItemKind.Class,
    "row": lsp.CompletionItemKind.EnumMember,
    "column": lsp.CompletionItemKind.Field,
    "field": lsp.CompletionItemKind.Field,
    "slots": lsp.CompletionItemKind.Struct,
    "action": lsp.CompletionItemKind.Function,
    "param": lsp.CompletionItemKind.Variable,
    "loot": lsp.CompletionItemKind.Constant,
    "leaderboard": lsp.CompletionItemKind.Constant,
}


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["."]))
def completion(ls: RulesServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    view = ls.view(params.text_document.uri)
    doc = ls.workspace.get_text_document(params.text_document.uri)
    lines = doc.lines
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    before = line[: char_col(line, params.position.character) - 1]
    index = view.index
    items: list[lsp.CompletionItem] = []
    dot = re.search(r"(\w+)(?:\[[^\]]*\])?\.\w*$", before)
    if dot:  # `crop[kind].`: the table's columns (a slot's fields); any, if it is not known
        owner = dot.group(1)
        known = any(k[1] == owner and k[0] in ("column", "field") for k in index.symbols)
        for kind, scope, name in index.symbols:
            if kind in ("column", "field") and (scope == owner or not known):
                items.append(
                    lsp.CompletionItem(label=name, kind=KINDS[kind], detail=f"{kind} of {scope}")
                )
        return lsp.CompletionList(is_incomplete=False, items=items)
    if re.search(r"\b(do|try)\s+\w*$", before):
        names = index.names_of("action")
        return lsp.CompletionList(
            is_incomplete=False, items=[_item(index, ("action", "", n)) for n in names]
        )
    action = _action_at(index, view.label(params.text_document.uri), params.position.line + 1)
    for key in index.symbols:
        if key[0] == "param" and key[1] != action:
            continue
        if key[0] in ("column", "field"):
            continue
        items.append(_item(index, key))
    items += [lsp.CompletionItem(label=k, kind=lsp.CompletionItemKind.Keyword) for k in KEYWORDS]
    return lsp.CompletionList(is_incomplete=False, items=items)


def _item(index: Index, key: Key) -> lsp.CompletionItem:
    kind, scope, name = key
    sym = index.symbols[key]
    detail = index.signature(sym) if kind in ("action", "resource", "table") else kind
    if kind == "row":
        detail = f"row of {scope}"
    return lsp.CompletionItem(label=name, kind=KINDS.get(kind), detail=detail)


def _action_at(index: Index, label: str | None, line: int) -> str | None:
    for (kind, _, name), sym in index.symbols.items():
        if (
            kind == "action"
            and sym.decl.file == label
            and sym.decl.line <= line <= sym.decl.end_line
        ):
            return name
    return None


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: RulesServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    view = ls.view(params.text_document.uri)
    key = view.key_at(params.text_document.uri, params.position)
    if key is None or key not in view.index.symbols:
        return None
    return view.location(view.index.symbols[key].span)


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def references(ls: RulesServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    view = ls.view(params.text_document.uri)
    key = view.key_at(params.text_document.uri, params.position)
    if key is None:
        return []
    spans = view.index.references(key, with_declaration=params.context.include_declaration)
    return [view.location(s) for s in spans]


@server.feature(lsp.TEXT_DOCUMENT_RENAME)
def rename(ls: RulesServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    view = ls.view(params.text_document.uri)
    key = view.key_at(params.text_document.uri, params.position)
    if key is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", params.new_name):
        return None
    changes: dict[str, list[lsp.TextEdit]] = {}
    for span in view.index.references(key):
        changes.setdefault(view.uri(span.file), []).append(
            lsp.TextEdit(range=view.range(span), new_text=params.new_name)
        )
    return lsp.WorkspaceEdit(changes=changes)


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: RulesServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    if not doc.path.endswith(".rules"):
        return []
    result = format_source(doc.source, doc.path)
    if result.text is None:
        ls.window_show_message(
            lsp.ShowMessageParams(
                type=lsp.MessageType.Warning, message=f"rulesc fmt: {result.problem}"
            )
        )
        return []
    if not result.changed:
        return []
    end = lsp.Position(line=len(doc.lines), character=0)
    return [
        lsp.TextEdit(
            range=lsp.Range(start=lsp.Position(line=0, character=0), end=end), new_text=result.text
        )
    ]


@server.feature(
    lsp.TEXT_DOCUMENT_CODE_ACTION,
    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
)
def code_action(ls: RulesServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    """ "did you mean `X`?": replace the misspelt name with X."""
    view = ls.view(params.text_document.uri)
    out = []
    for d in view.diagnostics.get(params.text_document.uri, []):
        r = view.range(d.span)
        if r.end.line < params.range.start.line or r.start.line > params.range.end.line:
            continue
        fix = did_you_mean_fix(d.message, d.hint, view.index.text_of(d.span))
        if fix is None:
            continue
        start, end, replacement = fix
        line = view.src.texts.line(d.span.file, d.span.line) or ""
        col = d.span.col + start
        edit_range = lsp.Range(
            start=lsp.Position(line=d.span.line - 1, character=utf16_col(line, col)),
            end=lsp.Position(line=d.span.line - 1, character=utf16_col(line, col + end - start)),
        )
        edit = lsp.TextEdit(range=edit_range, new_text=replacement)
        out.append(
            lsp.CodeAction(
                title=f"Replace with `{replacement}`",
                kind=lsp.CodeActionKind.QuickFix,
                diagnostics=[to_lsp(view, d)],
                edit=lsp.WorkspaceEdit(changes={params.text_document.uri: [edit]}),
                is_preferred=True,
            )
        )
    return out


def run_stdio(debounce: float = DEBOUNCE_SECONDS) -> None:
    server.debounce = debounce
    server.start_io()
