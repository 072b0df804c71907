"""Leaderboards: a sorted set per board and period, scored from committed state only.

After a commit changes a board's stat, the gateway puts the committed value with the
commit's version: putting it twice, or late after a newer one, changes nothing
(store_social.leaderboard_put). It is written outside the player's commit (another slot
on Redis Cluster), so a crash between the two can leave a board behind by one change,
until the player's next change of that stat. No client ever sends a score.

Periods: `never` is one board ("all"); `daily` starts at the game's `day starts` and is
named by that day's date ("2026-01-05"); `weekly` starts on Mondays at `day starts` and
is named by its ISO week ("2026-W02"). A period's board is kept for a while after it
ends, so `?period=previous` can show the last one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from . import rt
from .pack import Pack
from .store_social import SocialStore

log = logging.getLogger(__name__)

# how long a period's board is kept after its last write
KEEP_MS = {"daily": 8 * rt.DAY_MS, "weekly": 5 * rt.WEEK_MS}
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Board:
    name: str
    stat: str
    resets: str  # daily, weekly, never


def kept(pack: Pack) -> bool:
    """Whether the pack declares any leaderboard (see social.names_players)."""
    return bool(pack.module.__dict__.get("LEADERBOARDS"))


def boards(pack: Pack) -> dict[str, Board]:
    spec = getattr(pack.module, "LEADERBOARDS", {})
    return {name: Board(name, stat, resets) for name, (stat, resets) in spec.items()}


def period(board: Board, now: int, day_start_ms: int) -> tuple[str, int | None]:
    """The period `now` falls in: (its name, when it ends in ms, None for never)."""
    if board.resets == "never":
        return "all", None
    unit = "day" if board.resets == "daily" else "week"
    start = rt.window_start(unit, 0, now, day_start_ms)
    date = dt.datetime.fromtimestamp((start - day_start_ms) / 1000, tz=dt.UTC).date()
    if unit == "day":
        return date.isoformat(), start + rt.DAY_MS
    year, week, _ = date.isocalendar()
    return f"{year}-W{week:02d}", start + rt.WEEK_MS


def previous(board: Board, now: int, day_start_ms: int) -> tuple[str, int | None]:
    """The period before the one `now` falls in."""
    if board.resets == "never":
        return "all", None
    length = rt.DAY_MS if board.resets == "daily" else rt.WEEK_MS
    return period(board, now - length, day_start_ms)


async def update(
    store: SocialStore,
    pack: Pack,
    game: str,
    player: str,
    before: dict | None,
    after: dict,
    version: int,
    now: int,
) -> None:
    """Put the committed score on every board whose stat this commit changed (a new
    player: on every board). Never raises: the commit stands whatever happens here."""
    for board in boards(pack).values():
        if before is not None and before.get(board.stat) == after.get(board.stat):
            continue
        name, _ = period(board, now, pack.module.DAY_START_MS)
        try:
            await store.leaderboard_put(
                game,
                board.name,
                name,
                player,
                after[board.stat],
                version,
                KEEP_MS.get(board.resets),
            )
        except Exception:  # the store is down: the next change of the stat puts it again
            log.warning(
                "leaderboard %s/%s not updated for %s", game, board.name, player, exc_info=True
            )


async def page(
    store: SocialStore,
    pack: Pack,
    game: str,
    board: Board,
    player: str,
    *,
    around_me: bool,
    limit: int,
    last: bool,
    now: int,
) -> dict:
    """The protocol's answer: the top `limit`, or `limit` around the caller's rank."""
    day_start = pack.module.DAY_START_MS
    name, ends = (previous if last else period)(board, now, day_start)
    me = await store.leaderboard_rank(game, board.name, name, player)
    start = 0
    if around_me and me is not None:
        start = max(0, me[0] - limit // 2)
    rows = await store.leaderboard_top(game, board.name, name, start, limit)
    total = await store.leaderboard_size(game, board.name, name)
    return {
        "leaderboard": board.name,
        "by": board.stat,
        "resets": board.resets,
        "period": name,
        "ends_at": ends,
        "total": total,
        "entries": [
            {"rank": start + i + 1, "player_id": p, "score": s} for i, (p, s) in enumerate(rows)
        ],
        "me": None if me is None else {"rank": me[0] + 1, "score": me[1]},
    }
