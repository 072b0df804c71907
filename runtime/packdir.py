"""The packs folder of a data directory (DATA_DIR/packs): what is kept there, and for how long.

A game folder is built into DATA_DIR/packs/GAME-VERSION (cli/packbuild.py; the version is
a hash of the rules' source, so a folder is named by its content and the same rules build
the same folder). A live server takes many swaps; without care every build stays there
for good. So:

- A build that is refused (it does not load, it is another game, an unsafe swap) is
  deleted at once: nothing needs it (the error answer carries what went wrong). A pack
  whose module does not import is the exception, a compiler fault to look into: its
  folder is moved to DATA_DIR/packs/.refused/ (the last REFUSED_KEPT of them) and the
  error names it.
- A pack that served is marked (an empty file DATA_DIR/packs/.served/GAME-VERSION, touched
  each time it is swapped in or a server starts on it). Per game, the folders of the pack
  each process here serves now and of the `keep` packs served most recently before it are
  kept, for a rollback (`POST /admin/{game}/rules` with the folder's path); older ones are
  deleted after each accepted swap and at start.

Several processes (`rulesc serve --workers`) share the folder. One deleting a folder
never breaks another: a process reads a pack's files only while it builds and imports
it (runtime/pack.py reads nothing later), and it does that holding a shared lock on
DATA_DIR/packs/.lock, which deleting takes exclusively. A folder another process still
serves may be deleted once it is older than the `keep` last (it serves on from memory;
its rules are rebuilt from the game folder when it is swapped again).

Players' states name the pack that wrote them (`_pack`, a version), and are brought to the
serving pack with the serving pack's schema and `migrate` lines alone (runtime/migrate.py,
engine.upgrade): an old pack's files are not needed to migrate anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PACKS_DIR = "packs"  # under the data directory
LOCK_FILE = ".lock"
SERVED_DIR = ".served"
REFUSED_DIR = ".refused"
TRASH_PREFIX = ".trash-"
KEEP_PACKS = 5  # old packs kept per game for a rollback, by default (--keep-packs)
REFUSED_KEPT = 3  # packs that did not import kept for a look
VERSION_LEN = 16  # hex digits of a pack version (compiler/build.py, pack_version)


def packs_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / PACKS_DIR


def managed(data_dir: Path | str, pack_dir: Path) -> bool:
    """Whether `pack_dir` is a build folder of this data directory (never one handed in
    from elsewhere: those are the operator's)."""
    try:
        return pack_dir.resolve().parent == packs_dir(data_dir).resolve()
    except OSError:
        return False


@contextlib.contextmanager
def _lock(data_dir: Path | str, kind: int) -> Iterator[None]:
    folder = packs_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_CREAT, 0o644)  # (flock needs no write)
    try:
        fcntl.flock(fd, kind)  # per open file: threads of one process exclude each other too
        yield
    finally:
        os.close(fd)  # releases the lock


def reading(data_dir: Path | str) -> contextlib.AbstractContextManager[None]:
    """Held while a pack is built and imported: no folder is deleted meanwhile."""
    return _lock(data_dir, fcntl.LOCK_SH)


def deleting(data_dir: Path | str) -> contextlib.AbstractContextManager[None]:
    return _lock(data_dir, fcntl.LOCK_EX)


def split_name(name: str) -> tuple[str, str] | None:
    """(game, version) of a build folder's name GAME-VERSION, or None."""
    game, _, version = name.rpartition("-")
    if not game or len(version) != VERSION_LEN:
        return None
    try:
        int(version, 16)
    except ValueError:
        return None
    return game, version


def folders(data_dir: Path | str, game_id: str | None = None) -> list[Path]:
    """The build folders in DATA_DIR/packs (of one game)."""
    folder = packs_dir(data_dir)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    out = []
    for p in entries:
        parts = split_name(p.name)
        if parts and (game_id is None or parts[0] == game_id) and p.is_dir():
            out.append(p)
    return sorted(out)


def count(data_dir: Path | str) -> int:
    return len(folders(data_dir))


def mark_served(data_dir: Path | str, pack_dir: Path) -> None:
    """Record that a pack served just now (its rank among the packs kept for rollback)."""
    if not managed(data_dir, pack_dir):
        return
    served = packs_dir(data_dir) / SERVED_DIR
    try:
        served.mkdir(parents=True, exist_ok=True)
        marker = served / pack_dir.name
        marker.touch()
        os.utime(marker)  # touch() leaves an existing file's time as it is on some systems
    except OSError as e:
        log.warning("cannot mark pack %s as served: %s", pack_dir, e)


def _served_at(data_dir: Path | str, pack_dir: Path) -> float | None:
    try:
        return (packs_dir(data_dir) / SERVED_DIR / pack_dir.name).stat().st_mtime
    except OSError:
        return None


def _remove(pack_dir: Path) -> None:
    """Take the folder out of sight in one rename (a half-deleted folder never looks like a
    pack), then delete it."""
    trash = pack_dir.with_name(f"{TRASH_PREFIX}{pack_dir.name}-{uuid.uuid4().hex[:8]}")
    try:
        pack_dir.rename(trash)
    except FileNotFoundError:
        return  # another process took it
    shutil.rmtree(trash, ignore_errors=True)


def drop_refused(data_dir: Path | str, pack_dir: Path, serving: Iterable[Path] = ()) -> bool:
    """Delete a build that was refused, unless it is a pack that served (kept for a
    rollback: marked) or one this process serves. True when deleted."""
    if not managed(data_dir, pack_dir):
        return False
    protected = {p.resolve() for p in serving}
    with deleting(data_dir):
        if pack_dir.resolve() in protected or _served_at(data_dir, pack_dir) is not None:
            return False
        _remove(pack_dir)
    return True


def keep_broken(data_dir: Path | str, pack_dir: Path) -> Path | None:
    """A build whose module does not import: moved to DATA_DIR/packs/.refused/ (only the
    last REFUSED_KEPT stay) and where it went returned; None if it could not be."""
    if not managed(data_dir, pack_dir):
        return None
    refused = packs_dir(data_dir) / REFUSED_DIR
    with deleting(data_dir):
        if _served_at(data_dir, pack_dir) is not None:
            return None  # a pack that served once: left where it is
        try:
            refused.mkdir(parents=True, exist_ok=True)
            target = refused / pack_dir.name
            if target.exists():
                shutil.rmtree(target)
            pack_dir.rename(target)
            os.utime(target)
        except OSError as e:
            log.warning("cannot move the refused pack %s aside: %s", pack_dir, e)
            return None
        kept = sorted(refused.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[REFUSED_KEPT:]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def prune(
    data_dir: Path | str, game_id: str, keep: int, serving: Iterable[Path] = ()
) -> list[Path]:
    """Delete the game's build folders but those of `serving` (the packs this process
    serves) and the `keep` most recently served others; returns what was deleted.
    Folders never marked (built before the marks existed) rank by their own time."""
    protected = {p.resolve() for p in serving}
    gone = []
    with deleting(data_dir):
        ranked = []
        for folder in folders(data_dir, game_id):
            if folder.resolve() in protected:
                continue
            at = _served_at(data_dir, folder)
            if at is None:
                try:
                    at = folder.stat().st_mtime
                except OSError:
                    continue
            ranked.append((at, folder))
        ranked.sort(reverse=True)
        for _, folder in ranked[max(keep, 0) :]:
            _remove(folder)
            with contextlib.suppress(OSError):
                (packs_dir(data_dir) / SERVED_DIR / folder.name).unlink()
            gone.append(folder)
        _sweep_trash(data_dir)
    if gone:
        log.info("deleted %d old pack folder(s) of %s (keeping %d)", len(gone), game_id, keep)
    return gone


def settle(
    data_dir: Path | str, game_id: str, pack_dir: Path, keep: int, serving: Iterable[Path] = ()
) -> None:
    """A pack swapped in (or served at start): marked, and the game's older folders past
    `keep` deleted. Never raises: a swap that landed is not undone by a full disk."""
    if not packs_dir(data_dir).is_dir():
        return  # nothing was ever built here
    try:
        mark_served(data_dir, pack_dir)
        prune(data_dir, game_id, keep, [pack_dir, *serving])
    except OSError as e:
        log.warning("cannot prune the old packs of %s in %s: %s", game_id, data_dir, e)


def _sweep_trash(data_dir: Path | str, older_than: float = 60.0) -> None:
    """Folders left half-deleted (a process killed while deleting), and temporary build
    folders a crashed build left, once they are old enough not to be anyone's work."""
    now = time.time()
    for p in packs_dir(data_dir).iterdir():
        if not (p.name.startswith(TRASH_PREFIX) or ".tmp" in p.name):  # (cli/packbuild.py)
            continue
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > older_than:
                shutil.rmtree(p, ignore_errors=True)
