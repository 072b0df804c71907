"""`rulesc serve --watch`: rebuild a game when its files change and swap the pack in.

Polls each game folder's files (mtime and size) every `interval` seconds; the walk runs in
a thread, so the loop keeps serving. Rules that do not check are reported and the old
pack stays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .pack import PackError
from .packs import RulesInvalid, source_stamp

if TYPE_CHECKING:
    from .app import Server


async def watch(
    server: Server,
    sources: dict[str, Path],
    *,
    interval: float = 0.5,
    report: Callable[[str], None] = print,
) -> None:
    loop = asyncio.get_running_loop()
    stamps = {
        gid: await loop.run_in_executor(None, source_stamp, src) for gid, src in sources.items()
    }
    while True:
        await asyncio.sleep(interval)
        for gid, src in sources.items():
            stamp = await loop.run_in_executor(None, source_stamp, src)
            if stamp == stamps[gid]:
                continue
            stamps[gid] = stamp
            current = server.games.get(gid)
            old = current.pack.version if current else "nothing"
            try:
                game = await server.reload(gid, str(src))
            except RulesInvalid as e:
                report(f"{src}: the rules do not check; still serving pack {old}\n\n{e}\n")
            except PackError as e:
                report(f"{src}: {e}; still serving pack {old}")
            else:
                report(f"{src}: rebuilt; {gid} now serves pack {game.pack.version} (was {old})")
