"""Typed IR to a rule pack directory: rules.py, schema.json, manifest.json, types.d.ts.

Same sources, same bytes: nothing here depends on time, paths or dict order.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2

from rulesc import __version__
from rulesc.pack_contract import (  # the contract between packs and the engine
    MANIFEST_FILE,
    MODULE_FILE,
    SCHEMA_FILE,
    build_line_map,
    format_needed,
)

from . import ir
from . import types as T
from .check import check_game
from .emit import module_parts
from .loader import GameSources, load_game
from .typescript import declarations


@dataclass
class BuildResult:
    game: ir.Game | None
    sources: GameSources
    diagnostics: list
    files: dict[str, str] | None  # file name -> text, when the game checked

    @property
    def ok(self) -> bool:
        return self.game is not None


def pack_version(game: ir.Game) -> str:
    digest = hashlib.sha256()
    for src in game.sources:
        digest.update(f"{src.path}\0{src.sha256}\n".encode())
    return digest.hexdigest()[:16]


# what a Game holds that is not the pack's meaning: its files, its tests and its bots
_NOT_MEANING = frozenset({"sources", "scenarios", "bots"})


def meaning_hash(game: ir.Game) -> str:
    """A hash of what the rules mean, not how they are written: the checked IR without its
    source locations (`loc`: file, line and the line's text, comments included), its source
    files, scenarios and bots. Comments, layout and `rulesc fmt` leave it unchanged; any
    change to a resource, table row, action or invariant changes it. `rulesc simulate`
    seeds the pack's draws with it (not with the pack version, a hash of the source text)."""
    return hashlib.sha256(repr(_meaning(game)).encode()).hexdigest()[:16]


def _meaning(value: object) -> object:
    if isinstance(value, ir.Loc):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        skip = _NOT_MEANING if isinstance(value, ir.Game) else frozenset()
        return (
            type(value).__name__,
            tuple(
                (f.name, _meaning(getattr(value, f.name)))
                for f in dataclasses.fields(value)
                if f.name not in skip
            ),
        )
    if isinstance(value, (tuple, list)):
        return tuple(_meaning(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _meaning(v)) for k, v in value.items()))
    return value


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rulesc.compiler", "templates"),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - we generate Python, not HTML
    )


def render_module(game: ir.Game) -> str:
    """rules.py: the parts emit.py writes, laid out by the template."""
    text = (
        _env()
        .get_template("pack.py.j2")
        .render(module_parts(game, pack_version(game), __version__))
    )
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def schema(game: ir.Game) -> dict:
    """The public schema: JSON Schema of every action's params, and what the state holds."""
    tables = {t.name: t for t in game.tables}

    def param_schema(p: ir.Param) -> dict:
        if p.type.kind == "enum":
            return {"type": "string", "enum": [r[0] for r in tables[p.type.name or ""].rows]}
        if p.type == T.BOOL:
            return {"type": "boolean"}
        if p.type == T.PLAYER:
            return {"type": "string", "minLength": 1, "maxLength": 128, "x-player": True}
        out = {"type": "integer", "minimum": p.lo, "maximum": p.hi}
        if p.type.kind == "slot_index":
            out["x-slots"] = p.type.name
        return out

    actions = {}
    for a in game.actions:
        actions[a.name] = {
            "params": {
                "type": "object",
                "properties": {p.name: param_schema(p) for p in a.params},
                "required": [p.name for p in a.params],
                "additionalProperties": False,
            },
            "source": f"{a.loc.file}:{a.loc.line}",
        }
    resources = {}
    for r in game.resources:
        entry: dict = {"kind": r.kind, "start": r.start}
        if r.max is not None:
            entry["max"] = r.max
        if r.key:
            entry["per"] = r.key
        if r.key2:  # two tables: `per` then `per2`, held nested ({"wheat": {"gold": 3}})
            entry["per2"] = r.key2
        if r.regen:
            entry["regen"] = {"amount": r.regen[0], "every_ms": r.regen[1]}
        if r.public:
            entry["public"] = True
        resources[r.name] = entry
    out = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "game": game.id,
        "title": game.title,
        "version": pack_version(game),
        "day_starts_ms": game.day_start_minutes * 60_000,
        "resources": resources,
        "level": {"from": game.level.stat, "thresholds": list(game.level.thresholds)}
        if game.level
        else None,
        "tables": {
            t.name: {
                "columns": {c.name: c.type.kind for c in t.columns},
                "rows": {
                    name: dict(zip([c.name for c in t.columns], values, strict=True))
                    for name, values in t.rows
                },
            }
            for t in game.tables
        },
        "slots": {
            s.name: {
                "count": s.count,
                "fields": {
                    f.name: f.type.name if f.type.kind == "enum" else f.type.kind for f in s.fields
                },
            }
            for s in game.slots
        },
        "actions": actions,
    }
    # only when the game has them, so a game without them keeps its schema
    if game.loot:
        out["loot"] = {lt.name: [_loot_entry(e) for e in lt.entries] for lt in game.loot}
    if game.constants:
        out["constants"] = {
            k.name: {
                "type": k.type.name if k.type.kind == "enum" else k.type.kind,
                "value": k.value,
            }
            for k in game.constants
        }
    if game.calendars:
        out["calendars"] = {
            k.name: {"start_ms": k.start, "every_ms": k.every, "periods": list(k.periods)}
            for k in game.calendars
        }
    if game.leaderboards:
        out["leaderboards"] = {
            lb.name: {"by": lb.stat, "resets": lb.resets} for lb in game.leaderboards
        }
    if game.migrations:
        out["migrations"] = [_migration(m) for m in game.migrations]
    if game.events:
        out["events"] = {ev.name: _event(ev) for ev in game.events}
    return out


def _event(ev: ir.Event) -> dict:
    """An `event` as clients and tools see it: when it runs and what it sets."""
    return {
        "when": ev.when,
        "starts_ms": ev.start_ms,
        "lasts_ms": ev.length_ms,
        "every_ms": ev.every_ms,
        "sets": [o.text for o in ev.overrides],
        "source": f"{ev.loc.file}:{ev.loc.line}",
    }


def _migration(m: ir.Migration) -> dict:
    """A `migrate` line as the runtime applies it (runtime/migrate.py): its id is a hash
    of its text, so the same line keeps its id from one pack to the next and a player
    gets it once."""
    return {
        "id": hashlib.sha256(m.text.encode()).hexdigest()[:12],
        "text": m.text,
        "kind": m.kind,
        "source": [m.source, _keys(m.source_key, m.source_key2)],
        "target": None if m.target is None else [m.target, _keys(m.target_key, m.target_key2)],
        "times": m.times,
    }


def _keys(key: str | None, key2: str | None) -> str | list[str] | None:
    """A place's key in schema.json: a row, or a pair of them (`*` for every row)."""
    return key if key2 is None or key is None else [key, key2]


def pair_migrations(game: ir.Game) -> bool:
    """Whether the pack's `migrate` lines reach items of two tables, or convert a table's
    row by count (what runtimes before format 9 would skip or take for a drop)."""
    pair_tables = {t for r in game.resources if r.key2 is not None for t in (r.key, r.key2)}
    pair_items = {r.name for r in game.resources if r.key2 is not None}
    return any(
        m.kind == "pair"
        or m.source_key2 is not None
        or m.target_key2 is not None
        or (m.kind == "scale" and m.source in pair_items)
        or (m.kind == "row" and (m.source in pair_tables or m.target not in (None, m.source)))
        for m in game.migrations
    )


def _loot_entry(entry: ir.LootEntry) -> dict:
    gains = {
        (i.resource if i.key is None else f"{i.resource}[{i.key}]"): i.amount
        for i in entry.items
        if i.resource is not None
    }
    out: dict = {"weight": entry.weight, "gains": gains}
    nested = [i.loot for i in entry.items if i.loot is not None]
    if nested:
        out["loot"] = nested
    return out


def computed_draws(game: ir.Game) -> bool:
    """Whether the pack draws with computed weights (rt helpers of format 5)."""
    bodies = [a.body for a in game.actions] + [h.body for h in game.hooks]
    return any(
        isinstance(s, ir.Pick) and s.computed for body in bodies for s in ir.walk_statements(body)
    )


def uses_calendar(game: ir.Game) -> bool:
    """Whether the pack has calendars or reads `next day` (rt helpers of format 6)."""
    bodies = [a.body for a in game.actions] + [h.body for h in game.hooks]
    return bool(game.calendars) or any(
        isinstance(n, ir.CalendarRead) for body in bodies for n in ir.nodes(body)
    )


def manifest(game: ir.Game) -> dict:
    return {
        # the oldest format that runs what the pack uses (older runtimes run the rest)
        "format": format_needed(
            computed_draws=computed_draws(game),
            events=bool(game.events),
            calendars=uses_calendar(game),
            pair_items=any(r.key2 is not None for r in game.resources),
            pair_migrations=pair_migrations(game),
        ),
        "game": game.id,
        "title": game.title,
        "version": pack_version(game),
        "compiler": f"rulesc {__version__}",
        "module": MODULE_FILE,
        "sources": [{"path": s.path, "sha256": s.sha256} for s in game.sources],
    }


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def compile_game(
    root: Path | str,
    *,
    with_tests: bool = True,
    with_bots: bool | None = None,
    overrides: dict[Path, str] | None = None,
) -> BuildResult:
    """Check and compile a game folder; `overrides` as in load_game (unsaved editor texts)."""
    src = load_game(root, with_tests=with_tests, with_bots=with_bots, overrides=overrides)
    game, diags = check_game(src)
    if game is None:
        return BuildResult(None, src, diags, None)
    module = render_module(game)
    assert_compiles(module)
    files = {
        MODULE_FILE: module,
        SCHEMA_FILE: _json(schema(game)),
        MANIFEST_FILE: _json(manifest(game)),
        "types.d.ts": declarations(game, pack_version(game)),  # typed calls for TS clients
    }
    return BuildResult(game, src, diags, files)


class GeneratedCodeError(Exception):
    """rules.py as generated does not compile: a bug of rulesc, never a pack written."""


def assert_compiles(module: str) -> None:
    """Compile the generated module, so that no build writes a pack that cannot be imported.

    The checker's limits (dsl/parser.py) keep every game that checks within what Python
    compiles; this says which `.rules` line it was if one ever slips through.
    """
    try:
        compile(module, MODULE_FILE, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        line = getattr(err, "lineno", None)
        origin = build_line_map(module).get(line) if line else None
        where = f" (from {origin[0]}:{origin[1]})" if origin else ""
        raise GeneratedCodeError(
            f"the generated {MODULE_FILE} does not compile{where}: {err}"
        ) from err


def write_pack(files: dict[str, str], out: Path | str) -> Path:
    """Write a pack directory, replacing an older pack there as a whole."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, text in sorted(files.items()):
        (tmp / name).write_text(text, encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
