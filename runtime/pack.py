"""Load a rule pack directory and make it callable: the engine's view of a game."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

# What generated code and the engine agree on. Format 2: actions report the places they
# write (Context.changes) instead of the engine diffing the state. Format 3: the pack may
# also use players meeting players (`player` params, give/take, loot, hooks, leaderboards);
# a pack without them is still written as format 2. Formats 1 and 2 still run.
PACK_FORMAT = 3
PACK_FORMAT_SOLO = 2

_MARKER = re.compile(r"^\s*# (?P<file>[^:\s]+\.rules):(?P<line>\d+): (?P<text>.*)$")


class PackError(Exception):
    """A pack that cannot be loaded, or a fault inside one, told against the designer's line."""

    def __init__(
        self, message: str, rules_file: str | None = None, rules_line: int | None = None
    ) -> None:
        where = f"{rules_file}:{rules_line}: " if rules_file else ""
        super().__init__(where + message)
        self.rules_file = rules_file
        self.rules_line = rules_line


@dataclass
class Pack:
    path: Path
    manifest: dict
    schema: dict
    module: ModuleType
    line_map: dict[int, tuple[str, int, str]] = field(repr=False)
    # action name -> what engine.run needs to run it, worked out on first use (see engine._plan)
    plans: dict[str, tuple] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def game_id(self) -> str:
        return self.manifest["game"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def title(self) -> str:
        return self.manifest["title"]

    @property
    def actions(self) -> dict:
        return self.module.ACTIONS

    @property
    def module_file(self) -> str:
        return str(self.module.__file__)

    def rules_line(self, generated_line: int) -> tuple[str, int, str] | None:
        return self.line_map.get(generated_line)


def build_line_map(source: str) -> dict[int, tuple[str, int, str]]:
    """Generated line -> the `.rules` line it came from, read from the marker comments."""
    out: dict[int, tuple[str, int, str]] = {}
    current: tuple[str, int, str] | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        m = _MARKER.match(line)
        if m:
            current = (m["file"], int(m["line"]), m["text"])
        elif line and not line[0].isspace():
            current = None  # a new top-level definition
        if current is not None:
            out[number] = current
    return out


def load_pack(path: Path | str) -> Pack:
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        schema = json.loads((path / "schema.json").read_text(encoding="utf-8"))
        module_path = path / manifest["module"]
        source = module_path.read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError) as err:
        raise PackError(f"not a rule pack: {path} ({err})") from err
    if not isinstance(manifest.get("format"), int) or manifest["format"] > PACK_FORMAT:
        raise PackError(
            f"the pack at {path} has format {manifest.get('format')!r}; this runtime runs "
            f"formats up to {PACK_FORMAT}: rebuild it with this version's `rulesc build`"
        )
    # a unique module name per game and version, so a new pack can load beside the old one
    name = f"rulesc_pack_{manifest['game']}_{manifest['version']}"
    spec = importlib.util.spec_from_file_location(name, module_path)
    if spec is None or spec.loader is None:
        raise PackError(f"cannot import {module_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the models' annotations through it
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(name, None)
        raise PackError(f"the pack at {path} does not load: {err}") from err
    if getattr(module, "PACK_VERSION", None) != manifest["version"]:
        raise PackError(f"{module_path} does not match its manifest")
    return Pack(path, manifest, schema, module, build_line_map(source))
