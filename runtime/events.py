"""Scheduled events as players see them: which run now and which starts next, on the
server's clock (the pack decides what they set; see pack_contract.event_occurrence)."""

from __future__ import annotations

from rulesc.pack_contract import event_occurrence

from .pack import Pack


def _schedule(entry: dict) -> tuple[int, int, int | None]:
    return (entry["starts_ms"], entry["lasts_ms"], entry["every_ms"])


def _shown(name: str, entry: dict, run: tuple[int, int]) -> dict:
    return {
        "name": name,
        "when": entry["when"],
        "sets": entry["sets"],
        "starts_at": run[0],
        "ends_at": run[1],
    }


def events_at(pack: Pack, now: int) -> dict:
    """`{"active": [...], "next": {...} or None}`: the events running at `now` (by name), and
    the run that starts first after `now` (of any event, a running one's next run too)."""
    active: list[dict] = []
    upcoming: list[tuple[int, str, dict]] = []
    for name, entry in sorted(pack.schema.get("events", {}).items()):
        run = event_occurrence(_schedule(entry), now)
        if run is None:
            continue
        if run[0] <= now:
            active.append(_shown(name, entry, run))
            run = event_occurrence(_schedule(entry), run[1])  # its next run, if any
            if run is None or run[0] <= now:
                continue  # runs for good (lasts as long as it repeats)
        upcoming.append((run[0], name, _shown(name, entry, run)))
    return {"active": active, "next": min(upcoming)[2] if upcoming else None}


def next_change(pack: Pack, now: int) -> int | None:
    """The first time after `now` at which `events_at` answers otherwise: the nearest start
    or end of a run of any event; None when no event will start or end again."""
    best: int | None = None
    for entry in pack.schema.get("events", {}).values():
        run = event_occurrence(_schedule(entry), now)
        if run is None:
            continue
        t = run[0] if run[0] > now else run[1]
        if best is None or t < best:
            best = t
    return best
