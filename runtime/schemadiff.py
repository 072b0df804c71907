"""What changes for live players between two packs, from their schemas (schema.json):
`rulesc diff OLD NEW` prints it, and a refused swap answers it (409 `unsafe_swap`).

Resources, table rows and slots added or removed (a removed row that a `migrate` line
sends to another row of its table is "renamed"), changed bounds (start, max), changed table values
(prices, timings: every cell), levels, the migrations with what each covers, and the
losses (runtime/swapcheck.py): `safe` is false while a loss is not covered.
"""

from __future__ import annotations

from typing import Any

from .swapcheck import all_losses

BOUNDS = ("kind", "start", "max", "per", "regen")


def report(old: dict, new: dict) -> dict[str, Any]:
    found = all_losses(old, new)
    return {
        "game": new.get("game"),
        "from": old.get("version"),
        "to": new.get("version"),
        "resources": _resources(old, new),
        "tables": _tables(old, new),
        "slots": _slots(old, new),
        "level": _level(old, new),
        "events": _events(old, new),
        "migrations": _migrations(new, found),
        "losses": [loss.as_dict() for loss in found],
        "safe": all(loss.migration is not None for loss in found),
    }


def _keys(before: dict, after: dict) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, kept), each sorted."""
    return (
        sorted(set(after) - set(before)),
        sorted(set(before) - set(after)),
        sorted(set(before) & set(after)),
    )


def _resources(old: dict, new: dict) -> dict[str, Any]:
    before, after = old.get("resources", {}), new.get("resources", {})
    added, removed, kept = _keys(before, after)
    changed = {}
    for name in kept:
        fields = {
            f: [before[name].get(f), after[name].get(f)]
            for f in BOUNDS
            if before[name].get(f) != after[name].get(f)
        }
        if fields:
            changed[name] = fields
    return {"added": added, "removed": removed, "changed": changed}


def _events(old: dict, new: dict) -> dict[str, Any]:
    """Scheduled events: nothing a player holds, so never a loss; listed for the designer."""
    before, after = old.get("events", {}), new.get("events", {})
    added, removed, kept = _keys(before, after)
    changed = {}
    for name in kept:
        fields = {
            f: [before[name][f], after[name][f]]
            for f in ("when", "sets")
            if before[name][f] != after[name][f]
        }
        if fields:
            changed[name] = fields
    return {
        "added": {n: after[n]["when"] for n in added},
        "removed": {n: before[n]["when"] for n in removed},
        "changed": changed,
    }


def _tables(old: dict, new: dict) -> dict[str, Any]:
    before, after = old.get("tables", {}), new.get("tables", {})
    added, removed, kept = _keys(before, after)
    renames = {
        tuple(m["source"]): m["target"][1]
        for m in new.get("migrations") or ()
        if m["kind"] == "row" and m["target"] is not None and m["target"][0] == m["source"][0]
    }
    out: dict[str, Any] = {"added": added, "removed": removed, "changed": {}}
    for name in kept:
        was, now = before[name], after[name]
        rows_added, rows_removed, rows_kept = _keys(was["rows"], now["rows"])
        cols_added, cols_removed, _ = _keys(was["columns"], now["columns"])
        values: dict[str, dict[str, list]] = {}
        for row in rows_kept:
            cells = {
                col: [was["rows"][row].get(col), v]
                for col, v in now["rows"][row].items()
                if col in was["columns"] and was["rows"][row].get(col) != v
            }
            if cells:
                values[row] = cells
        renamed = {r: renames[(name, r)] for r in rows_removed if (name, r) in renames}
        entry = {
            "rows_added": rows_added,
            "rows_removed": [r for r in rows_removed if r not in renamed],
            "rows_renamed": renamed,
            "columns_added": cols_added,
            "columns_removed": cols_removed,
            "values": values,
        }
        if any(entry.values()):
            out["changed"][name] = entry
    return out


def _slots(old: dict, new: dict) -> dict[str, Any]:
    before, after = old.get("slots") or {}, new.get("slots") or {}
    added, removed, kept = _keys(before, after)
    changed = {}
    for name in kept:
        entry: dict[str, Any] = {}
        if before[name]["count"] != after[name]["count"]:
            entry["count"] = [before[name]["count"], after[name]["count"]]
        if before[name]["fields"] != after[name]["fields"]:
            entry["fields"] = [before[name]["fields"], after[name]["fields"]]
        if entry:
            changed[name] = entry
    return {"added": added, "removed": removed, "changed": changed}


def _level(old: dict, new: dict) -> list | None:
    was, now = old.get("level"), new.get("level")
    return None if was == now else [was, now]


def _migrations(new: dict, found: list) -> list[dict]:
    out = []
    for m in new.get("migrations") or ():
        covers = [loss.place for loss in found if loss.migration == m["text"]]
        out.append({"text": m["text"], "kind": m["kind"], "covers": covers})
    return out


def render(diff: dict[str, Any]) -> str:
    """The report for a person, one change a line."""
    lines = [f"game {diff['game']}: pack {diff['from']} -> {diff['to']}"]
    res = diff["resources"]
    lines += [f"  + resource {n}" for n in res["added"]]
    lines += [f"  - resource {n}" for n in res["removed"]]
    for name, fields in res["changed"].items():
        told = ", ".join(f"{f} {_v(a)} -> {_v(b)}" for f, (a, b) in fields.items())
        lines.append(f"  ~ resource {name}: {told}")
    tables = diff["tables"]
    lines += [f"  + table {n}" for n in tables["added"]]
    lines += [f"  - table {n}" for n in tables["removed"]]
    for name, t in tables["changed"].items():
        lines += [f"  + row {name}[{r}]" for r in t["rows_added"]]
        lines += [f"  - row {name}[{r}]" for r in t["rows_removed"]]
        lines += [f"  > row {name}[{a}] moved to {name}[{b}]" for a, b in t["rows_renamed"].items()]
        lines += [f"  + column {name}.{c}" for c in t["columns_added"]]
        lines += [f"  - column {name}.{c}" for c in t["columns_removed"]]
        for row, cells in t["values"].items():
            told = ", ".join(f"{c} {_v(a)} -> {_v(b)}" for c, (a, b) in cells.items())
            lines.append(f"  ~ {name}[{row}]: {told}")
    slots = diff["slots"]
    lines += [f"  + slots {n}" for n in slots["added"]]
    lines += [f"  - slots {n}" for n in slots["removed"]]
    for name, entry in slots["changed"].items():
        if "count" in entry:
            lines.append(f"  ~ slots {name}: {entry['count'][0]} -> {entry['count'][1]}")
        if "fields" in entry:
            lines.append(f"  ~ slots {name}: fields {entry['fields'][0]} -> {entry['fields'][1]}")
    if diff["level"] is not None:
        was, now = diff["level"]
        lines.append(f"  ~ level: {_level_text(was)} -> {_level_text(now)}")
    events = diff["events"]
    lines += [f"  + event {n} ({when})" for n, when in events["added"].items()]
    lines += [f"  - event {n} ({when})" for n, when in events["removed"].items()]
    for name, fields in events["changed"].items():
        told = "; ".join(f"{f} {_v(a)} -> {_v(b)}" for f, (a, b) in fields.items())
        lines.append(f"  ~ event {name}: {told}")
    for m in diff["migrations"]:
        if m["kind"] == "scale":
            told = "multiplies what players hold, once each"
        else:
            told = "covers " + (", ".join(m["covers"]) or "nothing the old pack held")
        lines.append(f"  migrate {m['text']} ({told})")
    lost = [x for x in diff["losses"] if "migration" not in x]
    if len(lines) == 1:
        lines.append("  no changes for players")
    if lost:
        lines.append(f"UNSAFE: {len(lost)} loss(es) no migration covers:")
        lines += [f"  {x['place']}: {x['problem']}" for x in lost]
    else:
        lines.append("safe: nothing players hold is lost")
    return "\n".join(lines) + "\n"


def _v(value: Any) -> str:
    return "none" if value is None else str(value)


def _level_text(level: dict | None) -> str:
    if level is None:
        return "none"
    return f"from {level['from']} at {', '.join(str(t) for t in level['thresholds'])}"
