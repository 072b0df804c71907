"""`rulesc lsp` driven by a real LSP client over stdio (pytest-lsp): a copy of the harvest
game is opened, edited, and asked for hover, completion, definition, references, rename,
formatting and quick fixes."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parent.parent

SERVER = [sys.executable, "-m", "rulesc.cli.main", "lsp", "--debounce-ms", "0"]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    params = lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def game(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "games" / "harvest", tmp_path / "harvest"))


def uri(path: Path) -> str:
    return path.resolve().as_uri()


def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    doc = lsp.TextDocumentItem(
        uri=uri(path),
        language_id="rules",
        version=1,
        text=path.read_text() if text is None else text,
    )
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=doc))
    return doc.uri


def change(client: LanguageClient, doc_uri: str, text: str, version: int = 2) -> None:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=doc_uri, version=version),
            [lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def diagnostics(client: LanguageClient, doc_uri: str, want) -> list[lsp.Diagnostic]:
    """Wait until the published diagnostics of doc_uri satisfy `want` (a hang guard only)."""

    async def wait() -> list[lsp.Diagnostic]:
        while doc_uri not in client.diagnostics or not want(client.diagnostics[doc_uri]):
            await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return list(client.diagnostics[doc_uri])

    return await asyncio.wait_for(wait(), 60)


def position(text: str, needle: str, offset: int = 0) -> lsp.Position:
    """The position of `needle` (plus offset characters) in text."""
    at = text.index(needle) + offset
    line = text.count("\n", 0, at)
    return lsp.Position(line=line, character=at - (text.rfind("\n", 0, at) + 1))


async def test_diagnostics_appear_on_change_and_clear_when_fixed(client, game) -> None:
    rules = game / "harvest.rules"
    text = rules.read_text()
    doc = open_doc(client, rules)
    assert await diagnostics(client, doc, lambda d: True) == []
    broken = text.replace("gain coins crop[kind].sell * qty", "gain coinz crop[kind].sell * qty")
    change(client, doc, broken)
    found = await diagnostics(client, doc, bool)
    assert [(d.code, d.severity) for d in found] == [("R010", lsp.DiagnosticSeverity.Error)]
    assert "unknown resource `coinz`" in found[0].message
    assert "did you mean `coins`?" in found[0].message  # the hint, as `rulesc check` gives it
    start = position(broken, "coinz crop[kind].sell")
    assert found[0].range == lsp.Range(
        start=start, end=lsp.Position(line=start.line, character=start.character + 5)
    )
    change(client, doc, text, 3)
    assert await diagnostics(client, doc, lambda d: not d) == []


async def test_an_unsaved_rule_change_reports_in_the_scenarios_and_csv_files(client, game) -> None:
    """The whole folder is checked with the buffer's text: a renamed action breaks the
    scenarios under tests/ that call it; a bad CSV cell is reported in the CSV."""
    rules = game / "harvest.rules"
    (game / "crops.csv").write_text((game / "crops.csv").read_text().replace("corn,12", "corn,x"))
    doc = open_doc(client, rules, rules.read_text().replace("action plant(", "action sow("))
    farming = uri(game / "tests" / "farming.rules")
    found = await diagnostics(client, farming, bool)
    assert {d.code for d in found} == {"R034"}
    assert "unknown action `plant`" in found[0].message
    csv_found = await diagnostics(client, uri(game / "crops.csv"), bool)
    assert [(d.code, d.range.start.line) for d in csv_found] == [("R016", 2)]
    assert doc in client.diagnostics


async def test_columns_count_utf16_units(client, game) -> None:
    """LSP columns count UTF-16 units: an astral character before a mistake counts two."""
    rules = game / "harvest.rules"
    text = rules.read_text().replace(
        "  gain coins crop[kind].sell * qty",
        "  emit sold(note: 1) \n  gain coins crop[kind].sell * qty",
    )
    text = text.replace("action sell(kind: crop", "# 🌾🌾\naction sell(kind: crop")
    text = text.replace(
        "gain coins crop[kind].sell * qty", "gain coins crop[kind].sell * qty  # 🌾"
    )
    text = text.replace("cost produce[kind] qty", 'require qty > 0 else "🌾🌾 {coinz}"')
    doc = open_doc(client, rules, text)
    found = await diagnostics(client, doc, bool)
    (coinz,) = [d for d in found if "coinz" in d.message]
    line = text.split("\n")[coinz.range.start.line]
    units = line.encode("utf-16-le")
    start, end = coinz.range.start.character, coinz.range.end.character
    assert units[2 * start : 2 * end].decode("utf-16-le") == "coinz"
    assert line.index("coinz") != start  # in characters it would be 2 less


async def test_hover_names_a_resource_a_row_an_action_and_a_code(client, game) -> None:
    rules = game / "harvest.rules"
    text = rules.read_text()
    doc = open_doc(client, rules)
    await diagnostics(client, doc, lambda d: True)

    async def hover(pos: lsp.Position) -> str:
        got = await client.text_document_hover_async(
            lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=doc), position=pos)
        )
        assert got is not None
        return got.contents.value  # type: ignore[union-attr]

    energy = await hover(position(text, "cost energy 1", 6))
    assert "currency" not in energy and "meter energy start 30 max 30 regen 1 every 3m" in energy
    assert "start 30, max 30, regen 1 every 3m" in energy
    action = await hover(position(text, "action plant(", 8))
    assert "action plant(slot: field, kind: crop)" in action
    farming = game / "tests" / "farming.rules"
    ftext = farming.read_text()
    fdoc = open_doc(client, farming)
    row = await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=fdoc),
            position=position(ftext, "seed[wheat]", 6),
        )
    )
    assert row is not None and "seed_cost = 5, grow = 2m" in row.contents.value  # type: ignore[union-attr]
    change(client, doc, text.replace("cost energy 1,", "cost energi 1,"))
    await diagnostics(client, doc, bool)
    explained = await hover(position(text, "cost energy 1", 6))
    assert explained.startswith("R010 (error)")


async def test_completion_definition_references_and_rename(client, game) -> None:
    rules = game / "harvest.rules"
    text = rules.read_text()
    doc = open_doc(client, rules)
    await diagnostics(client, doc, lambda d: True)
    ident = lsp.TextDocumentIdentifier(uri=doc)

    where = position(text, "gain seed[kind] qty", 5)
    done = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=ident, position=where)
    )
    labels = {i.label for i in (done.items if isinstance(done, lsp.CompletionList) else done or [])}
    assert {"coins", "energy", "crop", "wheat", "plant", "kind", "qty", "require"} <= labels
    assert "slot" not in labels  # a parameter of other actions only
    dot = position(text, "crop[kind].seed_cost", 11)
    done = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=ident, position=dot)
    )
    items = done.items if isinstance(done, lsp.CompletionList) else done or []
    assert {"seed_cost", "grow", "sell"} <= {i.label for i in items}
    assert "ready_at" not in {i.label for i in items}  # a field of the slots, not of `crop`

    use = position(text, "cost energy 1", 6)
    found = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=ident, position=use)
    )
    assert isinstance(found, lsp.Location)
    assert found.range.start == position(text, "meter energy", 6)

    refs = await client.text_document_references_async(
        lsp.ReferenceParams(
            text_document=ident,
            position=use,
            context=lsp.ReferenceContext(include_declaration=True),
        )
    )
    files = {Path(r.uri).name for r in refs or []}
    assert files == {"harvest.rules", "economy.rules", "farming.rules", "timers.rules"}

    edit = await client.text_document_rename_async(
        lsp.RenameParams(text_document=ident, position=use, new_name="stamina")
    )
    assert edit is not None and edit.changes is not None
    in_rules = edit.changes[doc]
    code_lines = [line.partition("#")[0] for line in text.split("\n")]
    uses = [n for n, line in enumerate(code_lines) for _ in re.finditer(r"\benergy\b", line)]
    assert sorted(e.range.start.line for e in in_rules) == uses  # not `buy_energy`, nor comments
    assert all(e.new_text == "stamina" for edits in edit.changes.values() for e in edits)
    assert uri(game / "tests" / "farming.rules") in edit.changes  # `energy 29` in a scenario


async def test_formatting_is_rulesc_fmt(client, game) -> None:
    rules = game / "harvest.rules"
    text = rules.read_text().replace("currency coins start 200", "currency   coins  start 200")
    doc = open_doc(client, rules, text)
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=lsp.TextDocumentIdentifier(uri=doc),
            options=lsp.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    assert edits and len(edits) == 1
    assert edits[0].new_text == rules.read_text()


async def test_quick_fix_replaces_the_misspelt_name(client, game) -> None:
    farming = game / "tests" / "farming.rules"
    text = farming.read_text().replace(
        "  do plant(slot: 0, kind: wheat)\n  expect seed[wheat] 0",
        "  do plnt(slot: 0, kind: wheat)\n  expect seed[wheat] 0",
    )
    doc = open_doc(client, farming, text)
    found = await diagnostics(client, doc, bool)
    assert [d.code for d in found] == ["R034"]
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=doc),
            range=found[0].range,
            context=lsp.CodeActionContext(diagnostics=found),
        )
    )
    assert actions and isinstance(actions[0], lsp.CodeAction)
    fix = actions[0]
    assert fix.title == "Replace with `plant`" and fix.edit and fix.edit.changes
    (edit,) = fix.edit.changes[doc]
    lines = text.split("\n")
    line = lines[edit.range.start.line]
    fixed = line[: edit.range.start.character] + edit.new_text + line[edit.range.end.character :]
    lines[edit.range.start.line] = fixed
    change(client, doc, "\n".join(lines))
    assert await diagnostics(client, doc, lambda d: not d) == []


async def test_a_csv_outside_a_game_gets_no_diagnostics(client, game, tmp_path) -> None:
    """Editors send every CSV: a folder without rules is not checked (no "no .rules
    files" for it); the game opened after it still is."""
    lone = tmp_path / "elsewhere" / "data.csv"
    lone.parent.mkdir()
    lone.write_text("a,b\n1,2\n")
    open_doc(client, lone)
    rules = game / "harvest.rules"
    doc = open_doc(client, rules, rules.read_text().replace("cost energy 1,", "cost energi 1,"))
    assert [d.code for d in await diagnostics(client, doc, bool)] == ["R010"]
    assert uri(lone.parent) not in client.diagnostics  # R050 was said of the folder
    assert uri(lone) not in client.diagnostics


async def test_renaming_a_csv_row_edits_the_csv_the_rules_and_the_scenarios(client, game) -> None:
    farming = game / "tests" / "farming.rules"
    text = farming.read_text()
    doc = open_doc(client, farming)
    await diagnostics(client, doc, lambda d: True)
    where = position(text, "seed[wheat]", 5)
    hover = await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=doc), position=where)
    )
    assert hover is not None and "**row** `wheat` of table `crop`" in hover.contents.value  # type: ignore[union-attr]
    edit = await client.text_document_rename_async(
        lsp.RenameParams(
            text_document=lsp.TextDocumentIdentifier(uri=doc), position=where, new_name="rye"
        )
    )
    assert edit is not None and edit.changes is not None
    (in_csv,) = edit.changes[uri(game / "crops.csv")]
    assert in_csv.range == lsp.Range(
        start=lsp.Position(line=1, character=0), end=lsp.Position(line=1, character=5)
    )
    code = re.sub(r'"[^"]*"', '""', text)  # not in scenario titles
    assert len(edit.changes[doc]) == len(re.findall(r"\bwheat\b", code))
    assert uri(game / "bots" / "players.rules") not in edit.changes  # no wheat there
