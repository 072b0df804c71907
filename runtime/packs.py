"""Where packs come from: a game folder (built on the spot) or a pack directory (loaded).

Everything here blocks (compiling, file I/O, importing the pack module): callers on the
event loop run it in a thread.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .pack import Pack, PackError, load_pack


class RulesInvalid(Exception):
    """The game's rules do not check; the message is the rendered diagnostics."""


@dataclass(frozen=True, slots=True)
class Game:
    pack: Pack
    source: Path  # the game folder or pack directory it came from (rebuilt from there)
    rules_hash: str  # sha256 of the pack's files: tells two builds apart
    id: str = field(init=False)  # the pack's game id (a field: read several times per action)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", self.pack.game_id)


def is_pack_dir(path: Path) -> bool:
    return (path / "manifest.json").is_file()


def is_game_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.rules"))


def pack_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def build(source: Path | str, data_dir: Path | str) -> Game:
    """Load `source`: a pack directory as it is, a game folder compiled into
    DATA_DIR/packs/GAME-VERSION first. Raises RulesInvalid or PackError."""
    source = Path(source)
    if is_pack_dir(source):
        pack_dir = source
    elif is_game_folder(source):
        pack_dir = _compile(source, Path(data_dir))
    else:
        raise PackError(f"{source} is neither a game folder (*.rules) nor a pack (manifest.json)")
    pack = load_pack(pack_dir)
    return Game(pack, source, pack_hash(pack_dir))


def _compile(folder: Path, data_dir: Path) -> Path:
    # The compiler is imported here: a server that only loads packs never needs it.
    from rulesc.compiler.build import compile_game, write_pack
    from rulesc.dsl.diagnostics import render_all

    result = compile_game(folder, with_tests=False)  # scenarios do not change the pack
    if not result.ok or result.files is None:
        raise RulesInvalid(render_all(result.diagnostics, result.sources.texts))
    manifest = json.loads(result.files["manifest.json"])
    # One directory per version: a pack being served keeps its files while a new one lands.
    out = data_dir / "packs" / f"{manifest['game']}-{manifest['version']}"
    if not (out.is_dir() and pack_hash(out) == _files_hash(result.files)):
        write_pack(result.files, out)
    return out


def _files_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode())
    return digest.hexdigest()


def source_stamp(source: Path) -> tuple[tuple[str, int, int], ...]:
    """What `--watch` compares: every file under the source with its mtime and size."""
    out = []
    for f in sorted(source.rglob("*")):
        if f.is_file() and not f.name.startswith("."):
            try:
                st = f.stat()
            except OSError:  # removed while we looked
                continue
            out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)
