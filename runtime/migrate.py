"""A player's state made under older rules, brought to the pack that serves it by the
pack's `migrate` lines (schema.json "migrations"; docs/language.md "Migrations").

Each line applies once per player: the state keeps the ids of the lines it has had
(`_migrated`), and a new state is born with every id of its pack (nothing from before to
migrate). So a line left in the rules for the packs after it is not applied again, and a
player away across several swaps gets every line still declared when they come back.

The engine calls `take` on the old state (what the lines move is taken out before the
pack's upgrade drops what it does not know), upgrades it, then `put` (the amounts land,
scales apply). Nothing here touches a store: the gateway commits the migrated state with
one ledger entry, in the same commit (runtime/gateway.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rt import INT64_MAX, place_label

MIGRATED = "_migrated"  # the ids of the lines a state has had


@dataclass(slots=True)
class Migration:
    """What migrating one state did: the lines applied, the changes named the way the
    rules name places (a place that is gone: [amount, None]), amounts cut at a max."""

    lines: list[str] = field(default_factory=list)
    changes: dict[str, list] = field(default_factory=dict)
    clamped: dict[str, int] = field(default_factory=dict)
    # (resource, key, amount) to add once the state is upgraded; scales to apply then
    deposits: list[tuple[str, str | None, Any]] = field(default_factory=list)
    scales: list[dict] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def declared(schema: dict) -> list[dict]:
    return schema.get("migrations") or []


def born(schema: dict) -> dict:
    """What a new state carries: every line of its pack counts as had."""
    lines = declared(schema)
    return {MIGRATED: [m["id"] for m in lines]} if lines else {}


def take(schema: dict, state: dict) -> tuple[dict, Migration]:
    """The state with what the pending lines move taken out (a shallow copy: what it
    changes is copied first), and what to do once it is upgraded."""
    had = set(state.get(MIGRATED) or ())
    out = Migration()
    s = dict(state)
    for line in declared(schema):
        if line["id"] in had:
            continue
        out.ids.append(line["id"])
        out.lines.append(line["text"])
        if line["kind"] == "scale":
            out.scales.append(line)
        elif line["kind"] == "row":
            _row(schema, s, line, out)
        else:
            _move(s, line, out)
    return s, out


def put(schema: dict, state: dict, done: Migration) -> dict:
    """Land the amounts taken out and apply the scales, on the upgraded state."""
    resources = schema["resources"]
    s = dict(state)
    for name, key, amount in done.deposits:
        spec = resources.get(name)
        if spec is None:
            continue
        if isinstance(amount, dict):  # a whole resource, row by row
            for row, n in amount.items():
                if isinstance(s[name], dict) and row in s[name]:
                    _add(s, spec, name, row, n, done)
            continue
        if (key is None) == (spec.get("per") is None):
            _add(s, spec, name, key, amount, done)
    for line in done.scales:
        name, key = line["source"]
        spec = resources.get(name)
        if spec is None:
            continue
        keys = [key] if key is not None or spec.get("per") is None else list(s[name])
        for k in keys:
            have = _get(s, name, k)
            if isinstance(have, int) and have:
                _add(s, spec, name, k, have * (line["times"] - 1), done)
    if done.ids:
        s[MIGRATED] = [*(state.get(MIGRATED) or ()), *done.ids]
    return s


def _move(s: dict, line: dict, out: Migration) -> None:
    name, key = line["source"]
    value = s.get(name) if key is None else (s.get(name) or {}).get(key)
    if not isinstance(value, int | dict):
        return  # nothing held there
    if key is None:
        s.pop(name)
    else:
        s[name] = {k: v for k, v in s[name].items() if k != key}
    if isinstance(value, dict):
        for row, n in value.items():
            if n:
                out.changes[place_label(name, row)] = [n, None]
    elif value:
        out.changes[place_label(name, key)] = [value, None]
    target = line["target"]
    if target is not None:
        times = line["times"]
        amount = (
            {k: v * times for k, v in value.items()} if isinstance(value, dict) else value * times
        )
        out.deposits.append((target[0], target[1], amount))


def _row(schema: dict, s: dict, line: dict, out: Migration) -> None:
    """A table's row renamed (or dropped): every resource counted per it, every slot of it."""
    table, row = line["source"]
    to = None if line["target"] is None else line["target"][1]
    for name, spec in schema["resources"].items():
        held = s.get(name)
        if spec.get("per") != table or not isinstance(held, dict) or row not in held:
            continue
        if spec.get("per2") is not None:
            continue  # an item of two tables is not moved (the swap check refuses the loss)
        s[name] = {k: v for k, v in held.items() if k != row}
        if held[row]:
            out.changes[place_label(name, row)] = [held[row], None]
        if to is not None:
            out.deposits.append((name, to, held[row]))
    for slots, spec in (schema.get("slots") or {}).items():
        fields = [f for f, kind in spec["fields"].items() if kind == table]
        held = s.get(slots)
        if not fields or not isinstance(held, list):
            continue
        new = list(held)
        for i, slot in enumerate(held):
            if not isinstance(slot, dict) or not any(slot.get(f) == row for f in fields):
                continue
            new[i] = (
                None
                if to is None
                else {k: to if k in fields and v == row else v for k, v in slot.items()}
            )
            out.changes[place_label(slots, i)] = [slot, new[i]]
        s[slots] = new


def _get(s: dict, name: str, key: str | None) -> Any:
    return s[name] if key is None else s[name].get(key)


def _add(s: dict, spec: dict, name: str, key: str | None, amount: int, done: Migration) -> None:
    """Add to a place, cut at its max (what is cut is told in `clamped`)."""
    have = _get(s, name, key)
    if not isinstance(have, int) or not amount:
        return
    top = min(spec.get("max", INT64_MAX), INT64_MAX)
    value = have + amount
    label = place_label(name, key)
    if value > top:
        done.clamped[label] = done.clamped.get(label, 0) + value - top
        value = top
    if key is None:
        s[name] = value
    else:
        s[name] = {**s[name], key: value}
    first = done.changes.get(label, [have])[0]
    done.changes[label] = [first, value]
