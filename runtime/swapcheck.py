"""Whether a new pack may replace the one a game runs: what players hold that it would lose.

A player's state is shaped by the pack's schema (schema.json): resources (scalars, or
counted per row of a table), slots (a count, each empty or holding typed fields, some of
them table rows) and the level read from a stat. A new pack fits an older state by
dropping what it does not know and starting what is new (engine._upgrade), so swapping
in a pack that removes or renames something deletes players' holdings at their next
commit, with no ledger entry; swapping back does not bring them back.

Such a swap is refused unless the new rules declare where what is lost goes: a `migrate`
line (runtime/migrate.py) covers a removed resource, a row gone from a table (the amounts
counted per it, the pairs of items of two tables using it and the slots holding it), a row
gone from one resource, or pairs of an item of two tables (a pair line). `losses` lists
everything the new pack would drop or reset that no migration covers, from the two schemas
alone (no player data is read, so what *a* player could hold counts: a lowered max is a loss
even if nobody is above it). What may change freely: start values (new players only), prices
and other table columns, actions, limits, cooldowns, events, new resources, rows, slots and
levels. runtime/schemadiff.py tells the whole difference (`rulesc diff`, the 409's details).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .migrate import pair_fate

if TYPE_CHECKING:
    from .pack import Pack


@dataclass(frozen=True, slots=True)
class Loss:
    place: str  # as the rules name it: `gems`, `seed[strawberry]`, `field[5]`, `field[].crop`
    problem: str  # what happens to it, in a sentence
    migration: str | None = None  # the `migrate` line that covers it (its text), if one does

    def as_dict(self) -> dict[str, str]:
        out = {"place": self.place, "problem": self.problem}
        if self.migration is not None:
            out["migration"] = self.migration
        return out


class UnsafeSwap(Exception):
    """A new pack that would drop or reset what players hold: refused, the old pack stays."""

    def __init__(
        self, old_version: str, new_version: str, losses: list[Loss], diff: dict | None = None
    ) -> None:
        self.old_version = old_version
        self.new_version = new_version
        self.losses = losses
        self.diff = diff  # runtime/schemadiff.report: the whole difference, for the answer
        listed = "; ".join(f"{loss.place}: {loss.problem}" for loss in losses)
        super().__init__(
            f"pack {new_version} would lose what players hold, so it does not replace "
            f"pack {old_version}: {listed}"
        )


def swap_losses(old: Pack, new: Pack) -> list[Loss]:
    return losses(old.schema, new.schema)


def losses(old: dict, new: dict) -> list[Loss]:
    """Everything a player can hold under `old` (a pack's schema.json) that `new` would
    drop or reset and no migration of `new` covers. Empty: the swap is safe."""
    return [loss for loss in all_losses(old, new) if loss.migration is None]


def all_losses(old: dict, new: dict) -> list[Loss]:
    """As `losses`, with the ones a migration covers too (their `migration` set)."""
    if old.get("game") != new.get("game"):
        return [Loss("game", f"the new pack is game `{new.get('game')}`, not `{old.get('game')}`")]
    found = [*_resources(old, new), *_slots(old, new), *_level(old, new)]
    covers = _covers(old, new)
    return [Loss(x.place, x.problem, x.migration or covers.get(x.place)) for x in found]


def _covers(old: dict, new: dict) -> dict[str, str]:
    """Loss place -> the text of the migration of `new` that moves what it holds."""
    out: dict[str, str] = {}
    resources = old.get("resources", {})
    for m in new.get("migrations") or ():
        name, key = m["source"]
        if m["kind"] == "row":  # every resource counted per the table, every slot field of it
            for res, spec in resources.items():
                if spec.get("per") == name and spec.get("per2") is None:  # see _pair_losses
                    out.setdefault(f"{res}[{key}]", m["text"])
            for slots, spec in (old.get("slots") or {}).items():
                for field, kind in spec["fields"].items():
                    if kind == name:
                        out.setdefault(f"{slots}[].{field} = {key}", m["text"])
        elif m["kind"] == "move" and (key is not None or _fits(old, new, name, m["target"])):
            out.setdefault(name if key is None else f"{name}[{key}]", m["text"])
    return out


def _fits(old: dict, new: dict, name: str, target: list | None) -> bool:
    """Whether a whole removed resource can land in the target of its move: one amount
    into one amount (or a row), rows into the same rows of a resource counted per a table."""
    was = old.get("resources", {}).get(name)
    if was is None or target is None:
        return True  # nothing to move, or dropped on purpose
    if was.get("per2") is not None:
        return False  # a whole item of two tables moves only to nothing (pairs: pair lines)
    spec = new.get("resources", {}).get(target[0], {})
    if was.get("per") is None:
        return (target[1] is None) == (spec.get("per") is None)
    return (
        target[1] is None
        and spec.get("per") is not None
        and set(_rows(old, was["per"])) <= set(_rows(new, spec["per"]))
    )


def _rows(schema: dict, table: str) -> dict[str, Any]:
    return schema.get("tables", {}).get(table, {}).get("rows", {})


def _resources(old: dict, new: dict) -> list[Loss]:
    out: list[Loss] = []
    before, after = old.get("resources", {}), new.get("resources", {})
    added = sorted(set(after) - set(before))
    for name, was in before.items():
        now = after.get(name)
        if now is None:
            also = (
                f" (new here: {', '.join(added)}; a rename loses the old amounts)" if added else ""
            )
            out.append(
                Loss(name, f"the resource is gone: what players hold would be deleted{also}")
            )
            continue
        per_was, per_now = was.get("per"), now.get("per")
        if (per_was is None) != (per_now is None):
            how = "counted per row of a table" if per_now else "a single amount"
            out.append(Loss(name, f"becomes {how}: what players hold would be reset to its start"))
            continue
        if was.get("per2") is not None or now.get("per2") is not None:
            out += _pair_losses(old, new, name, was, now)
        elif per_was is not None:
            gone = [row for row in _rows(old, per_was) if row not in _rows(new, per_now)]
            for row in gone:
                out.append(
                    Loss(
                        f"{name}[{row}]",
                        f"row `{row}` is gone from table `{per_now}`: "
                        "what players hold would be deleted",
                    )
                )
        cap = _lowered_max(was.get("max"), now.get("max"))
        if cap is not None:
            out.append(Loss(name, cap))
    return out


def _pair_losses(old: dict, new: dict, name: str, was: dict, now: dict) -> list[Loss]:
    """An item of two tables: a row gone from either table drops what players hold of it,
    unless the new pack's `migrate` lines send every pair of that row somewhere
    (migrate.pair_fate: the most specific line wins). One loss per gone row,
    `produce[beet, *]` or `produce[*, gold]`, while one line covers all its pairs (or
    none does); else one per pair, `produce[beet, gold]`, each with the line that covers it."""
    if (was.get("per"), was.get("per2")) != (now.get("per"), now.get("per2")):
        tables = ", ".join(t for t in (now.get("per"), now.get("per2")) if t) or "no table"
        return [Loss(name, f"becomes counted per {tables}: what players hold would be reset")]
    lines = new.get("migrations") or []
    out: list[Loss] = []
    for side, table in enumerate((was["per"], was["per2"])):
        others = list(_rows(old, was["per2"] if side == 0 else was["per"]))
        for row in [r for r in _rows(old, table) if r not in _rows(new, table)]:
            problem = (
                f"row `{row}` is gone from table `{table}`: what players hold would be deleted"
            )
            covered: dict[tuple[str, str], str | None] = {}
            for other in others:
                pair = (row, other) if side == 0 else (other, row)
                fate, line = pair_fate(new, name, pair, lines)
                covered[pair] = None if fate is None or line is None else line["text"]
            if len(set(covered.values())) <= 1:
                place = f"{name}[{row}, *]" if side == 0 else f"{name}[*, {row}]"
                out.append(Loss(place, problem, next(iter(covered.values()), None)))
                continue
            for (a, b), text in covered.items():
                out.append(Loss(f"{name}[{a}, {b}]", problem, text))
    return out


def _lowered_max(was: int | None, now: int | None) -> str | None:
    """A max that is new or lower: a player may hold more, and would be cut down to it at
    their next gain (gains past the max are clamped)."""
    if now is None or (was is not None and now >= was):
        return None
    before = "no max" if was is None else f"max {was}"
    return f"{before} becomes max {now}: amounts above it would be cut down"


def _slots(old: dict, new: dict) -> list[Loss]:
    out: list[Loss] = []
    before, after = old.get("slots") or {}, new.get("slots") or {}
    for name, was in before.items():
        now = after.get(name)
        if now is None:
            out.append(Loss(name, "the slots are gone: what players hold in them would be deleted"))
            continue
        for i in range(now["count"], was["count"]):
            out.append(
                Loss(
                    f"{name}[{i}]",
                    f"the slots shrink from {was['count']} to "
                    f"{now['count']}: what this one holds would be deleted",
                )
            )
        out += _slot_fields(old, new, name, was["fields"], now["fields"])
    return out


def _slot_fields(old: dict, new: dict, slots: str, was: dict, now: dict) -> list[Loss]:
    out: list[Loss] = []
    tables = old.get("tables", {})
    for field in [f for f in now if f not in was]:
        out.append(
            Loss(
                f"{slots}[].{field}",
                "a new field: slots filled before have no value for it and could not be used",
            )
        )
    for field, kind in was.items():
        place = f"{slots}[].{field}"
        if field not in now:
            out.append(Loss(place, "the field is gone: what filled slots hold in it would be lost"))
        elif now[field] != kind:
            out.append(
                Loss(
                    place,
                    f"the field's type changes from {kind} to {now[field]}: "
                    "filled slots could not be used",
                )
            )
        elif kind in tables:  # a row of a table: rows that are gone leave slots unusable
            for row in [r for r in _rows(old, kind) if r not in _rows(new, kind)]:
                out.append(
                    Loss(
                        f"{place} = {row}",
                        f"row `{row}` is gone from table `{kind}`: "
                        "slots holding it could not be used",
                    )
                )
    return out


def _level(old: dict, new: dict) -> list[Loss]:
    """The level is read from a stat: a player must not find it lower after the swap."""
    was, now = old.get("level"), new.get("level")
    if was is None:
        return []
    if now is None:
        return [Loss("level", "the rules no longer have levels: players would lose theirs")]
    if now["from"] != was["from"]:
        return [
            Loss(
                "level",
                f"the level is read from `{now['from']}` instead of "
                f"`{was['from']}`: players' levels would change",
            )
        ]
    old_t, new_t = was["thresholds"], now["thresholds"]
    for level, at in enumerate(old_t, start=1):
        # the old level is `level` from `at` on; the new one only rises with the stat,
        # so comparing at each old threshold is enough
        if max(bisect_right(new_t, at), 1) < level:
            return [
                Loss(
                    "level",
                    f"level {level} needs more than {at} {was['from']} now: "
                    "players who have it would lose it",
                )
            ]
    return []
