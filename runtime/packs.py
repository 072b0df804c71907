"""Where packs come from: a game folder (built on the spot by a builder the CLI hands in)
or a pack directory (loaded).

Everything here blocks (compiling, file I/O, importing the pack module): callers on the
event loop run it in a thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rulesc.pack_contract import MANIFEST_FILE

from . import packdir
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
    return (path / MANIFEST_FILE).is_file()


def is_game_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.rules"))


def pack_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


# Compiles a game folder into a pack directory under the data directory and returns that
# directory; raises RulesInvalid. The CLI hands in the compiler's (cli/packbuild.py): the
# runtime never imports the compiler, and a server that only loads packs never needs it.
PackBuilder = Callable[[Path, Path], Path]


def build(source: Path | str, data_dir: Path | str, builder: PackBuilder | None = None) -> Game:
    """Load `source`: a pack directory as it is, a game folder compiled by `builder` into
    DATA_DIR/packs/GAME-VERSION first. Raises RulesInvalid or PackError.

    A build folder of the data directory is built and imported holding the packs
    folder's shared lock (runtime/packdir.py: no process deletes it meanwhile). A build
    whose module does not import is moved aside to DATA_DIR/packs/.refused/ (named in
    the error); nothing else of it stays."""
    source = Path(source)
    if is_pack_dir(source):
        if not packdir.managed(data_dir, source):
            return _load(source, source)
        with packdir.reading(data_dir):  # a rollback to a kept pack
            return _load(source, source)
    if is_game_folder(source) and builder is not None:
        with packdir.reading(data_dir):
            pack_dir = builder(source, Path(data_dir))
            try:
                return _load(source, pack_dir)
            except PackError as err:
                broken = err
        kept = packdir.keep_broken(data_dir, pack_dir)
        if kept is None:
            raise broken
        raise PackError(f"{broken} (the pack is kept for a look in {kept})") from broken
    if is_game_folder(source):
        raise PackError(
            f"{source} is a game folder, and this server loads built packs only: "
            f"build it with `rulesc build`"
        )
    raise PackError(f"{source} is neither a game folder (*.rules) nor a pack ({MANIFEST_FILE})")


def _load(source: Path, pack_dir: Path) -> Game:
    pack = load_pack(pack_dir)
    return Game(pack, source, pack_hash(pack_dir))


def discard(game: Game, data_dir: Path | str, serving: Iterable[Path] = ()) -> None:
    """A game built and then refused: its module leaves sys.modules and its build folder
    the data directory (unless it is a pack kept for a rollback, or `serving`)."""
    game.pack.release()
    if is_game_folder(game.source):  # built here: a pack directory handed in is not ours
        packdir.drop_refused(data_dir, game.pack.path, serving)


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
