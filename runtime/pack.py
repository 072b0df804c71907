"""Load a rule pack directory and make it callable: the engine's view of a game."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from rulesc.pack_contract import (  # what packs and the engine agree on
    MANIFEST_FILE,
    PACK_FORMAT,
    SCHEMA_FILE,
    build_line_map,
)

from . import rt

MODULE_PREFIX = "rulesc_pack_"  # every pack module's name in sys.modules starts so
_loads = itertools.count(1)


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
    # the helpers' calling convention the pack was written for (its format)
    context: type[rt.Context] = field(default=rt.Context, repr=False)
    # action name -> what engine.run needs to run it, worked out on first use (see engine._plan)
    plans: dict[str, tuple] = field(default_factory=dict, init=False, repr=False, compare=False)
    # takes the module out of sys.modules: run when the pack is collected (nothing serves
    # it, no request holds it), or at once by release()
    _forget: weakref.finalize = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._forget = weakref.finalize(self, _forget_module, self.module.__name__, self.module)

    def release(self) -> None:
        """Drop the pack's module from sys.modules now (a pack refused: nothing runs it).
        Whoever still holds the pack may go on using it."""
        self._forget()

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


def load_pack(path: Path | str) -> Pack:
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
        schema = json.loads((path / SCHEMA_FILE).read_text(encoding="utf-8"))
        module_path = path / manifest["module"]
        source = module_path.read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError) as err:
        raise PackError(f"not a rule pack: {path} ({err})") from err
    if not isinstance(manifest.get("format"), int) or manifest["format"] > PACK_FORMAT:
        raise PackError(
            f"the pack at {path} has format {manifest.get('format')!r}; this runtime runs "
            f"formats up to {PACK_FORMAT}: rebuild it with this version's `rulesc build`"
        )
    # a module name of its own, so a new pack loads beside the old one (also the same
    # version loaded again), and dropping one never takes another's
    name = f"{MODULE_PREFIX}{manifest['game']}_{manifest['version']}"
    if name in sys.modules:
        name = f"{name}_{next(_loads)}"
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
        sys.modules.pop(name, None)
        raise PackError(f"{module_path} does not match its manifest")
    context = rt.Context if manifest["format"] >= 4 else rt.LegacyContext
    return Pack(path, manifest, schema, module, build_line_map(source), context)


def _forget_module(name: str, module: ModuleType) -> None:
    if sys.modules.get(name) is module:
        del sys.modules[name]


def loaded() -> int:
    """The pack modules this process holds in sys.modules (/metrics: rulesc_packs_loaded)."""
    return sum(1 for name in list(sys.modules) if name.startswith(MODULE_PREFIX))
