"""The compiler as the server's pack builder: `rulesc serve GAME_FOLDER`, `--watch` and the
reload endpoint build a game folder through this (runtime/packs.py, PackBuilder).

It lives in the CLI because it joins the two sides: the runtime never imports the compiler.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rulesc.compiler.build import compile_game, write_pack
from rulesc.dsl.diagnostics import render_all
from rulesc.pack_contract import MANIFEST_FILE
from rulesc.runtime.packs import RulesInvalid, pack_hash


def compile_pack(folder: Path, data_dir: Path) -> Path:
    """Compile `folder` into DATA_DIR/packs/GAME-VERSION and return that directory.
    Raises RulesInvalid with the rendered diagnostics."""
    result = compile_game(folder, with_tests=False)  # scenarios do not change the pack
    if not result.ok or result.files is None:
        raise RulesInvalid(render_all(result.diagnostics, result.sources.texts))
    manifest = json.loads(result.files[MANIFEST_FILE])
    # One directory per version: a pack being served keeps its files while a new one lands.
    out = data_dir / "packs" / f"{manifest['game']}-{manifest['version']}"
    if not (out.is_dir() and pack_hash(out) == _files_hash(result.files)):
        write_pack(result.files, out)
    return out


def _files_hash(files: dict[str, str]) -> str:
    """pack_hash of the files as they would be written."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode())
    return digest.hexdigest()
