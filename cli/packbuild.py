"""The compiler as the server's pack builder: `rulesc serve GAME_FOLDER`, `--watch` and the
reload endpoint build a game folder through this (runtime/packs.py, PackBuilder).

It lives in the CLI because it joins the two sides: the runtime never imports the compiler.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import uuid
from pathlib import Path

from rulesc.compiler.build import compile_game, write_pack
from rulesc.dsl.diagnostics import render_all
from rulesc.pack_contract import MANIFEST_FILE
from rulesc.runtime.packdir import TRASH_PREFIX, packs_dir
from rulesc.runtime.packs import RulesInvalid, pack_hash


def compile_pack(folder: Path, data_dir: Path) -> Path:
    """Compile `folder` into DATA_DIR/packs/GAME-VERSION and return that directory.
    Raises RulesInvalid with the rendered diagnostics."""
    result = compile_game(folder, with_tests=False)  # scenarios do not change the pack
    if not result.ok or result.files is None:
        raise RulesInvalid(render_all(result.diagnostics, result.sources.texts))
    manifest = json.loads(result.files[MANIFEST_FILE])
    # One directory per version (a hash of the rules' text): a pack being served keeps its
    # files while a new one lands, and the same rules land on the same folder
    out = packs_dir(data_dir) / f"{manifest['game']}-{manifest['version']}"
    want = _files_hash(result.files)
    if not (out.is_dir() and pack_hash(out) == want):
        _put(result.files, out, want)
    return out


def _put(files: dict[str, str], out: Path, want: str) -> None:
    """Write the pack beside `out` under a name of this build's own, then rename it into
    place: several processes (`--workers`) may build the same rules at once."""
    tmp = out.with_name(f"{out.name}.tmp-{uuid.uuid4().hex[:12]}")
    write_pack(files, tmp)
    if out.is_dir():  # the same version built otherwise (another compiler): replaced
        with contextlib.suppress(FileNotFoundError):
            out.rename(out.with_name(f"{TRASH_PREFIX}{out.name}-{uuid.uuid4().hex[:8]}"))
    try:
        tmp.rename(out)
    except OSError:  # another build of it landed first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (out.is_dir() and pack_hash(out) == want):
            raise
    for trash in out.parent.glob(f"{TRASH_PREFIX}{out.name}-*"):
        shutil.rmtree(trash, ignore_errors=True)


def _files_hash(files: dict[str, str]) -> str:
    """pack_hash of the files as they would be written."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode())
    return digest.hexdigest()
