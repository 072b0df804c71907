"""Admin grants: amounts added to (or taken from) a player's resources, outside the rules.

A grant is judged like an action: the shape is checked against the pack's schema first
(`check_grant`, a 400 when wrong), then `apply_grant` runs it on the state and either
applies every amount or, when a result would leave 0..max, none of them.
"""

from __future__ import annotations

import re
from typing import Any

from .engine import Outcome, diff, prepare, rejected, runs_pack_code
from .pack import Pack
from .rt import INT64_MAX, holding, holding_row, place_label

# `gems`, `seed[wheat]`, and an item of two tables: `produce[wheat, gold]`
_PLACE = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\[(?P<key>[A-Za-z0-9_]+)(?:, *(?P<key2>[A-Za-z0-9_]+))?\])?"
)

GRANT_ACTION = "admin:grant"  # the ledger's action name; no rule identifier has a ':'
GRANT_EVENT = "grant"


class GrantError(ValueError):
    """The grant does not fit the pack's resources: nothing is applied (400)."""


# resource, key (None for a scalar, a pair of rows for an item of two tables), amount
Place = tuple[str, str | tuple[str, str] | None, int]


def check_grant(pack: Pack, changes: Any) -> list[Place]:
    """`{"gems": 50, "seed[wheat]": -2}` read against the pack's resources."""
    if not isinstance(changes, dict) or not changes:
        raise GrantError("`changes` must be a non-empty object of resource -> amount")
    resources = pack.schema["resources"]
    tables = pack.schema.get("tables", {})
    out: list[Place] = []
    for label, amount in changes.items():
        m = _PLACE.fullmatch(label)
        resource = resources.get(m["name"]) if m else None
        if m is None or resource is None:
            raise GrantError(f"`{label}` is not a resource of {pack.game_id}")
        per, key = resource.get("per"), m["key"]
        per2, key2 = resource.get("per2"), m["key2"]
        if per is not None and key is None:
            raise GrantError(f"`{label}` needs a key: {label}[...] of table {per}")
        if per is None and key is not None:
            raise GrantError(f"`{m['name']}` has no keys")
        if (per2 is None) != (key2 is None):
            want = f"[{per}, {per2}]: a row of each" if per2 else f"[...] of table {per}"
            raise GrantError(f"`{label}` takes {want}")
        if per is not None and key not in tables.get(per, {}).get("rows", {}):
            raise GrantError(f"`{key}` is not a row of table {per}")
        if per2 is not None and key2 not in tables.get(per2, {}).get("rows", {}):
            raise GrantError(f"`{key2}` is not a row of table {per2}")
        if type(amount) is not int or not -INT64_MAX <= amount <= INT64_MAX:
            raise GrantError(f"the amount of `{label}` must be a 64-bit integer")
        out.append((m["name"], key if key2 is None else (key, key2), amount))
    return out


@runs_pack_code
def apply_grant(
    pack: Pack, state: dict | None, places: list[Place], now: int, reason: str
) -> Outcome:
    """A fault inside the pack (bringing the state to `now`, the level) raises PackFault:
    the gateway rejects the grant as `pack_fault`, nothing applied."""
    settled = prepare(pack, state, now)
    now = max(now, settled.get("_now", now))
    resources = pack.schema["resources"]
    s = dict(settled)
    touched = {name for name, _, _ in places}
    for name in touched:
        if isinstance(s[name], dict):  # the inner dicts of an item of two tables too
            s[name] = {k: dict(v) if isinstance(v, dict) else v for k, v in s[name].items()}
    for name, key, amount in places:
        have = holding(s, name, key)
        top = resources[name].get("max", INT64_MAX)
        value = have + amount
        if not 0 <= value <= top:
            label = place_label(name, key)
            return rejected(
                settled,
                now,
                "overflow",
                f"{label} would be {value}: it must stay between 0 and {top}",
                {"label": label, "have": have, "amount": amount, "max": top},
            )
        if key is None:
            s[name] = value
        else:
            row, cell = holding_row(s, name, key)
            row[cell] = value
    s["_now"] = now
    changes = diff(settled, s, sorted(touched))
    grant_data = {"changes": {place_label(n, k): a for n, k, a in places}, "reason": reason}
    events = [{"name": GRANT_EVENT, "data": grant_data}]
    stat = pack.module.LEVEL_STAT
    if stat is not None and stat in touched:
        before, after = pack.module.level_of(settled[stat]), pack.module.level_of(s[stat])
        if after != before:
            changes["level"] = [before, after]
        if after > before:
            events.append({"name": "level_up", "data": {"from": before, "to": after}})
    return Outcome(True, s, now, changes, events)
