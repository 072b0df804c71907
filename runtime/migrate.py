"""A player's state made under older rules, brought to the pack that serves it by the
pack's `migrate` lines (schema.json "migrations"; docs/language.md "Migrations").

An item of two tables (`"per"` and `"per2"`) is moved pair by pair: a pair with a row gone
from either table goes where the most specific pending line sends it (`pair_fate`: a pair
line naming both rows, then one with a `*`, then the row lines of its tables).

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

from rulesc.pack_contract import ANY_ROW

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
    # (a key: a row, or a pair of rows as a tuple)
    deposits: list[tuple[str, Any, Any]] = field(default_factory=list)
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
    pending = [line for line in declared(schema) if line["id"] not in had]
    for line in pending:
        out.ids.append(line["id"])
        out.lines.append(line["text"])
        if line["kind"] == "scale":
            out.scales.append(line)
        elif line["kind"] == "row":
            _row(schema, s, line, out)
        elif line["kind"] == "move":
            _move(s, line, out)
    _pairs(schema, s, pending, out)
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
        if spec.get("per2") is not None:
            keys: list = [
                (a, b)
                for a, inner in s[name].items()
                for b in inner
                if key is None or all(k in (ANY, x) for k, x in zip(key, (a, b), strict=True))
            ]
        else:
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
            if isinstance(n, dict):  # a whole item of two tables, pair by pair
                for row2, m in n.items():
                    if m:
                        out.changes[place_label(name, (row, row2))] = [m, None]
            elif n:
                out.changes[place_label(name, row)] = [n, None]
    elif value:
        out.changes[place_label(name, key)] = [value, None]
    target = line["target"]
    if target is not None:
        times = line["times"]
        amount = (
            {k: v * times for k, v in value.items()} if isinstance(value, dict) else value * times
        )
        out.deposits.append((target[0], _key(target[1]), amount))


def _row(schema: dict, s: dict, line: dict, out: Migration) -> None:
    """A table's row renamed (or dropped, or converted by count into another resource):
    every one-key resource counted per it, every slot of it (emptied unless renamed).
    Items of two tables are moved by `_pairs`."""
    table, row = line["source"]
    target = line["target"]
    to = target[1] if target is not None and target[0] == table else None
    for name, spec in schema["resources"].items():
        held = s.get(name)
        if spec.get("per") != table or not isinstance(held, dict) or row not in held:
            continue
        if spec.get("per2") is not None:
            continue  # an item of two tables: `_pairs`
        s[name] = {k: v for k, v in held.items() if k != row}
        if held[row]:
            out.changes[place_label(name, row)] = [held[row], None]
        if to is not None:
            out.deposits.append((name, to, held[row]))
        elif target is not None and held[row]:  # converted: `crop[beet] -> coins * 3`
            out.deposits.append((target[0], _key(target[1]), held[row] * line["times"]))
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


# ---- items of two tables ------------------------------------------------------------------

ANY = ANY_ROW  # in a pair line: every row of that key (in its target: the source's row)

# A pair's fate: ("pair", row, row2, times) moved there; ("place", name, key, times)
# converted into another resource; ("drop",); None: no line takes it.
Fate = tuple


def _key(key: Any) -> Any:
    """A key from schema.json: a row, or a pair (a tuple, as the rt helpers take it)."""
    return tuple(key) if isinstance(key, list) else key


def pair_fate(
    schema: dict, item: str, pair: tuple[str, str], lines: list[dict]
) -> tuple[Fate | None, dict | None]:
    """Where one pair of an item of two tables goes under `lines` (a pack's migrations), and
    the line that decided it (for the swap check: which line covers it). The most specific
    line wins: a pair line naming both rows, then a pair line with one `*` (the first key's
    before the second's: the checker refuses both), then the row lines of its tables, which
    compose (each renames its own key; one that drops or converts decides). A `*` in a pair
    line's target keeps the source's row; if that row is gone too, its table's row line
    takes it on from there."""
    a, b = pair
    exact: dict | None = None
    first: dict | None = None
    second: dict | None = None
    for line in lines:
        if line["kind"] != "pair" or line["source"][0] != item:
            continue
        k1, k2 = line["source"][1]
        if (k1, k2) == (a, b):
            exact = line
        elif k1 == a and k2 == ANY:
            first = line
        elif k1 == ANY and k2 == b:
            second = line
    decided = exact or first or second
    if decided is None:
        return _by_rows(schema, item, pair, lines, 1), _row_line(schema, item, pair, lines)
    target = decided["target"]
    if target is None:
        return ("drop",), decided
    name, key = target
    if isinstance(key, list) and schema["resources"].get(name, {}).get("per2") is not None:
        moved = (a if key[0] == ANY else key[0], b if key[1] == ANY else key[1])
        return _by_rows(schema, name, moved, lines, decided["times"]), decided
    return ("place", name, _key(key), decided["times"]), decided


def _row_lines(schema: dict, item: str, pair: tuple[str, str], lines: list[dict]) -> list:
    """For each key of the pair: None when its row is still there, else its table's row
    line (False when there is none)."""
    spec = schema["resources"].get(item, {})
    out: list = []
    for table, row in zip((spec.get("per"), spec.get("per2")), pair, strict=True):
        if row in _table_rows(schema, table):
            out.append(None)
            continue
        found = [x for x in lines if x["kind"] == "row" and x["source"] == [table, row]]
        out.append(found[0] if found else False)
    return out


def _row_line(schema: dict, item: str, pair: tuple[str, str], lines: list[dict]) -> dict | None:
    """The row line that decides a pair moved by row lines (one that drops or converts
    before one that renames), for the swap check to name."""
    found = [x for x in _row_lines(schema, item, pair, lines) if x]
    deciding = [x for x in found if not _renames(x)]
    return (deciding or found or [None])[0]


def _renames(line: dict) -> bool:
    return line["target"] is not None and line["target"][0] == line["source"][0]


def _by_rows(
    schema: dict, item: str, pair: tuple[str, str], lines: list[dict], times: int
) -> Fate | None:
    """A pair of `item`, its gone rows taken on by their tables' row lines."""
    found = _row_lines(schema, item, pair, lines)
    if False in found:
        return None  # a row gone that no line takes on
    moved = list(pair)
    for i, line in enumerate(found):
        if line is None:
            continue
        if not _renames(line):
            if line["target"] is None:
                return ("drop",)
            name, key = line["target"]
            return ("place", name, _key(key), times * line["times"])
        moved[i] = line["target"][1]
    return ("pair", moved[0], moved[1], times)


def _table_rows(schema: dict, table: str | None) -> dict:
    return schema.get("tables", {}).get(table, {}).get("rows", {}) if table else {}


def _pairs(schema: dict, s: dict, lines: list[dict], out: Migration) -> None:
    """Every pair of an item of two tables with a row gone, taken where the pending lines
    send it; a pair no line takes is left for the upgrade to drop (the swap check refuses
    such a pack)."""
    if not any(line["kind"] in ("pair", "row") for line in lines):
        return
    for name, spec in schema["resources"].items():
        held = s.get(name)
        if spec.get("per2") is None or not isinstance(held, dict):
            continue
        rows, rows2 = _table_rows(schema, spec["per"]), _table_rows(schema, spec["per2"])
        kept = {a: dict(inner) for a, inner in held.items() if isinstance(inner, dict)}
        moved = False
        for a, inner in held.items():
            if not isinstance(inner, dict):
                continue
            for b, n in inner.items():
                if a in rows and b in rows2:
                    continue
                fate, _ = pair_fate(schema, name, (a, b), lines)
                if fate is None:
                    continue
                moved = True
                del kept[a][b]
                if n:
                    out.changes[place_label(name, (a, b))] = [n, None]
                if fate[0] == "pair" and n:
                    out.deposits.append((name, (fate[1], fate[2]), n * fate[3]))
                elif fate[0] == "place" and n:
                    out.deposits.append((fate[1], fate[2], n * fate[3]))
        if moved:
            s[name] = kept


def _get(s: dict, name: str, key: Any) -> Any:
    if isinstance(key, tuple):
        return (s[name].get(key[0]) or {}).get(key[1])
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
    elif isinstance(key, tuple):
        s[name] = {**s[name], key[0]: {**s[name][key[0]], key[1]: value}}
    else:
        s[name] = {**s[name], key: value}
    first = done.changes.get(label, [have])[0]
    done.changes[label] = [first, value]
