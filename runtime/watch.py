"""`rulesc serve --watch`: rebuild a game when its files change and swap the pack in.

Polls each game folder's files (mtime and size) every `interval` seconds; the walk runs in
a thread, so the loop keeps serving. A change is built only once the files are steady:
the same mtimes and sizes at `looks` more looks `steady` seconds apart, so a file caught
half-written (a CSV cut at a line end still checks) is not served. Rules that do not
check, and a pack that would drop or reset what players hold (runtime/swapcheck.py), are
reported and the old pack stays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .pack import PackError
from .packs import RulesInvalid, source_stamp
from .swapcheck import UnsafeSwap

if TYPE_CHECKING:
    from .app import Server

Stamp = tuple[tuple[str, int, int], ...]


async def watch(
    server: Server,
    sources: dict[str, Path],
    *,
    interval: float = 0.5,
    steady: float = 0.2,
    looks: int = 2,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,  # tests step it
) -> None:
    loop = asyncio.get_running_loop()

    async def stamp_of(src: Path) -> Stamp:
        return await loop.run_in_executor(None, source_stamp, src)

    stamps = {gid: await stamp_of(src) for gid, src in sources.items()}
    while True:
        await sleep(interval)
        for gid, src in sources.items():
            stamp = await stamp_of(src)
            if stamp == stamps[gid]:
                continue
            stamp = await _steady(src, stamp, stamp_of, sleep, steady, looks)
            if stamp == stamps[gid]:  # written and put back while we waited
                continue
            stamps[gid] = stamp
            await _swap(server, gid, src, report)


async def _steady(
    src: Path,
    stamp: Stamp,
    stamp_of: Callable[[Path], Awaitable[Stamp]],
    sleep: Callable[[float], Awaitable[object]],
    steady: float,
    looks: int,
) -> Stamp:
    """Wait until `src` looks the same `looks` times in a row, `steady` seconds apart."""
    same = 0
    while same < looks:
        await sleep(steady)
        again = await stamp_of(src)
        same = same + 1 if again == stamp else 0
        stamp = again
    return stamp


async def _swap(server: Server, gid: str, src: Path, report: Callable[[str], None]) -> None:
    current = server.games.get(gid)
    old = current.pack.version if current else "nothing"
    try:
        game = await server.reload(gid, str(src))
    except RulesInvalid as e:
        report(f"{src}: the rules do not check; still serving pack {old}\n\n{e}\n")
    except PackError as e:
        report(f"{src}: {e}; still serving pack {old}")
    except UnsafeSwap as e:
        lost = "".join(f"\n  {loss.place}: {loss.problem}" for loss in e.losses)
        report(
            f"{src}: refused: the new rules would lose what players hold; still serving "
            f"pack {old}. Put back what is listed, or say where it goes with a `migrate` "
            f"line (docs/language.md, Migrations):{lost}\n"
        )
    else:
        report(f"{src}: rebuilt; {gid} now serves pack {game.pack.version} (was {old})")
