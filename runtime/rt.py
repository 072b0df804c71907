"""The small helper module every rule pack imports, and the only one.

Generated action code stays readable by calling these for the parts with rules
of their own: checked 64-bit arithmetic, costs checked together, clamped gains,
limit windows, cooldowns, seeded draws and message formatting. Nothing here does
I/O; the engine (engine.py) drives a pack with state and time.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from bisect import bisect_right as bisect_right  # re-exported: packs' level_of uses it
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from rulesc.pack_contract import DAY_MS, fmt_duration  # packs call rt.fmt_duration
from rulesc.pack_contract import event_runs as event_runs  # re-exported: packs with events

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday: weeks start on Monday, 4 days later.
MONDAY_OFFSET_MS = 4 * DAY_MS

# Parameters come from clients: no coercion ("3" is not 3, 3.0 is not 3), nothing extra.
PARAMS_CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True)


class Rejected(Exception):
    """An action that does not apply: the code and message go back to the client."""

    def __init__(self, code: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


def overflow(what: str) -> Rejected:
    return Rejected("overflow", f"{what} is out of range", {})


# ---- checked arithmetic: never wraps, never leaves 64 bits ------------------------


def _fit(value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise Rejected("overflow", "a number went past 64 bits", {"value": str(value)})


# add, sub and mul test the range themselves rather than call _fit: they run on every
# action, and a second call per operation was a measurable share of an action's time


def add(a: int, b: int) -> int:
    v = a + b
    if INT64_MIN <= v <= INT64_MAX:
        return v
    return _fit(v)


def sub(a: int, b: int) -> int:
    v = a - b
    if INT64_MIN <= v <= INT64_MAX:
        return v
    return _fit(v)


def add_sub(ops: str, first: int, *terms: int) -> int:
    """`a + b - c + ...` as add and sub would compute it, step by step, in one call: packs
    use it for a run of three terms or more, which nested calls would nest too deep."""
    v = first
    for op, term in zip(ops, terms, strict=True):
        v = v + term if op == "+" else v - term
        if not INT64_MIN <= v <= INT64_MAX:
            _fit(v)
    return v


def mul(a: int, b: int) -> int:
    v = a * b
    if INT64_MIN <= v <= INT64_MAX:
        return v
    return _fit(v)


def div(a: int, b: int) -> int:
    """Floor division, as the rules define `/`."""
    if b == 0:
        raise Rejected("overflow", "division by zero", {})
    return _fit(a // b)


def mod(a: int, b: int) -> int:
    if b == 0:
        raise Rejected("overflow", "division by zero", {})
    return a % b


def ceil_div(a: int, b: int) -> int:
    if b == 0:
        raise Rejected("overflow", "division by zero", {})
    return _fit(-(-a // b))


def neg(a: int) -> int:
    return _fit(-a)


# ---- formatting for messages ----------------------------------------------------------


def fmt_time(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


# ---- windows ------------------------------------------------------------------------------


def window_start(period: str, period_ms: int, now: int, day_start_ms: int, origin: int = 0) -> int:
    """The start of the limit window `now` falls in. Days and weeks start at `day starts`;
    spans are aligned to `origin` (the Unix epoch, or a calendar's start for `per season`)."""
    if period == "day":
        return (now - day_start_ms) // DAY_MS * DAY_MS + day_start_ms
    if period == "week":
        offset = day_start_ms + MONDAY_OFFSET_MS
        return (now - offset) // WEEK_MS * WEEK_MS + offset
    return (now - origin) // period_ms * period_ms + origin


def window_length(period: str, period_ms: int) -> int:
    return DAY_MS if period == "day" else WEEK_MS if period == "week" else period_ms


def limit_slot(key: str, per: Any) -> str:
    """Where a limit or a cooldown keeps its count: one place per value of its `per` parameter."""
    return key if per is None else f"{key}:{per}"


def limit_reached(
    s: dict,
    key: str,
    count: int,
    period: str,
    period_ms: int,
    per: Any,
    now: int,
    day_start_ms: int,
    origin: int = 0,
) -> bool:
    """Whether `Context.limit` would reject now, counting nothing (for bots that look ahead)."""
    used = s["_limits"].get(limit_slot(key, per))
    return (
        used is not None
        and used[0] == window_start(period, period_ms, now, day_start_ms, origin)
        and used[1] >= count
    )


# ---- calendars: `calendar season every 28d from 2026-03-01: spring, summer, ...` -----------
# A calendar is (start ms, period ms, its periods' names): the same for every player. Packs
# of format 6 call these.


def period_number(now: int, calendar: tuple) -> int:
    """How many periods began since the calendar's start (negative before it)."""
    start, every, _ = calendar
    return (now - start) // every


def period_of(now: int, calendar: tuple) -> str:
    """`season`: the name of the period `now` falls in (the periods go round)."""
    names = calendar[2]
    return names[period_number(now, calendar) % len(names)]


def day_of_period(now: int, calendar: tuple) -> int:
    """`day of season`: 1 on the period's first day (a day starts at `day starts`)."""
    start, every, _ = calendar
    return (now - start) % every // DAY_MS + 1


def next_period(now: int, calendar: tuple) -> int:
    """`next season`: the time the next period starts."""
    start, every, _ = calendar
    return (period_number(now, calendar) + 1) * every + start


def next_day(now: int, day_start_ms: int) -> int:
    """`next day`: the next `day starts` after `now` (overnight)."""
    return window_start("day", DAY_MS, now, day_start_ms) + DAY_MS


def cooling_down(s: dict, key: str, per: Any, now: int) -> bool:
    """Whether `Context.cooldown` would reject now, starting nothing."""
    ready = s["_cooldowns"].get(limit_slot(key, per))
    return ready is not None and now < ready


# ---- meters ----------------------------------------------------------------------------------


def regenerate(
    value: int, since: int, now: int, maximum: int, amount: int, every: int
) -> tuple[int, int]:
    """A meter's value and tick time at `now`. A full meter does not bank time."""
    if value >= maximum:
        return value, now
    ticks = (now - since) // every
    if ticks <= 0:
        return value, since
    value = min(maximum, value + ticks * amount)
    return value, (now if value >= maximum else since + ticks * every)


# ---- the context of one action -----------------------------------------------------------


@dataclass(slots=True, init=False)
class Context:
    now: int
    player_id: str
    action_id: str
    pack_version: str
    day_start_ms: int
    # a scenario's `draws N`: take branch N (1-based) of every pick; `draws 3, 1`: the
    # first draw takes branch 3, the second branch 1, later ones are drawn as usual
    pin: int | tuple[int, ...] | None
    events: list[dict]
    clamped: dict[str, int]
    draws: int
    # the places this action changed, as the rules name them: [before the action, now].
    # The engine reports it as it is, so it never has to diff the whole state.
    changes: dict[str, list]
    # other players this action names (`player` params): id -> their state, read before it
    peers: dict[str, dict]
    # what this step sends to other players, delivered through their inboxes once it is
    # committed: {"to", "kind": "give" | "take" | "return", "gains" | "take"}
    outbox: list[dict]

    # written out rather than generated by @dataclass: one is made per action, and the
    # generated __init__ calls a factory for each list and dict
    def __init__(
        self,
        now: int,
        player_id: str,
        action_id: str,
        pack_version: str,
        day_start_ms: int,
        pin: int | tuple[int, ...] | None = None,
    ) -> None:
        self.now = now
        self.player_id = player_id
        self.action_id = action_id
        self.pack_version = pack_version
        self.day_start_ms = day_start_ms
        self.pin = pin
        self.events = []
        self.clamped = {}
        self.draws = 0
        self.changes = {}
        self.peers = {}
        self.outbox = []

    # Every write records itself in `changes`, which ends up holding exactly the places whose
    # value differs from before the action: [before, after]. Written out in each method rather
    # than called, because these run several times per action and the call cost more:
    #
    #     seen = changes.get(label)
    #     if seen is None:  first write here: before is the value just replaced
    #         if value != before: changes[label] = [before, value]
    #     elif value == seen[0]: del changes[label]   (back to where it was)
    #     else: seen[1] = value

    def cost(self, s: dict, amounts: tuple) -> None:
        """Costs are all checked, every shortfall named, then all spent."""
        short: dict[str, dict[str, int]] = {}
        needs: dict[str, int] = {}  # per place: `cost seed[a] 1, seed[b] 1` may name one twice
        for name, key, amount in amounts:
            label = place_label(name, key)
            if amount < 0:
                raise Rejected("overflow", f"a cost of {amount} {label} is negative", {})
            need = needs[label] = needs.get(label, 0) + amount
            have = s[name] if key is None else holding(s, name, key)
            if have < need:
                short[label] = {"need": need, "have": have}
        if short:
            message = "; ".join(f"need {v['need']} {k}, have {v['have']}" for k, v in short.items())
            raise Rejected("insufficient", message, short)
        changes = self.changes
        for name, key, amount in amounts:
            if key is None:
                have = s[name]
                s[name] = value = have - amount
                label = name
            elif key.__class__ is str:
                row = s[name]
                have = row[key]
                row[key] = value = have - amount
                label = f"{name}[{key}]"
            else:  # an item of two tables: a pair of rows, held nested
                row = s[name][key[0]]
                have = row[key[1]]
                row[key[1]] = value = have - amount
                label = place_label(name, key)
            seen = changes.get(label)
            if seen is None:
                if value != have:
                    changes[label] = [have, value]
            elif value == seen[0]:
                del changes[label]
            else:
                seen[1] = value

    # Packs of format 4 pass the optional arguments by name, `ctx.gain(s, "seed", 3, key=kind,
    # maximum=99)`; older packs run with LegacyContext, which takes them in place.

    def cost_one(self, s: dict, name: str, amount: int, key: str | None = None) -> None:
        """A cost of one resource: `cost` for the common case, without building a tuple."""
        if key is None:
            have = s[name]
            label = name
        elif key.__class__ is str:
            row = s[name]
            have = row[key]
            label = f"{name}[{key}]"
        else:  # an item of two tables: a pair of rows, held nested
            label = place_label(name, key)
            row = s[name][key[0]]
            key = key[1]
            have = row[key]
        if amount < 0:
            raise Rejected("overflow", f"a cost of {amount} {label} is negative", {})
        if have < amount:
            raise Rejected(
                "insufficient",
                f"need {amount} {label}, have {have}",
                {label: {"need": amount, "have": have}},
            )
        value = have - amount
        if key is None:
            s[name] = value
        else:
            row[key] = value
        changes = self.changes
        seen = changes.get(label)
        if seen is None:
            if value != have:
                changes[label] = [have, value]
        elif value == seen[0]:
            del changes[label]
        else:
            seen[1] = value

    def gain(
        self, s: dict, name: str, amount: int, key: str | None = None, maximum: int | None = None
    ) -> None:
        if key is None:
            have = s[name]
            label = name
        elif key.__class__ is str:
            row = s[name]
            have = row[key]
            label = f"{name}[{key}]"
        else:  # an item of two tables: a pair of rows, held nested
            label = place_label(name, key)
            row = s[name][key[0]]
            key = key[1]
            have = row[key]
        if amount < 0:
            raise Rejected("overflow", f"a gain of {amount} {label} is negative", {})
        value = have + amount
        if maximum is not None and value > maximum:
            self.clamped[label] = self.clamped.get(label, 0) + value - maximum
            value = maximum
        elif value > INT64_MAX:
            raise Rejected("overflow", f"{label} would go past {INT64_MAX}", {"label": label})
        if key is None:
            s[name] = value
        else:
            row[key] = value
        changes = self.changes
        seen = changes.get(label)
        if seen is None:
            if value != have:
                changes[label] = [have, value]
        elif value == seen[0]:
            del changes[label]
        else:
            seen[1] = value

    def set_amount(
        self, s: dict, name: str, value: int, key: str | None = None, maximum: int | None = None
    ) -> None:
        label = place_label(name, key)
        top = INT64_MAX if maximum is None else maximum
        if not 0 <= value <= top:
            raise Rejected(
                "overflow",
                f"{label} cannot be {value}: it must stay between 0 and {top}",
                {"label": label},
            )
        if key is None:
            have = s[name]
            s[name] = value
        else:
            row, cell = holding_row(s, name, key)
            have = row[cell]
            row[cell] = value
        self._put(label, have, value)

    # slots: a filled slot is a dict of its fields, never changed in place (it may be shared
    # with the state from before the action)
    def fill_slot(self, s: dict, slots: str, index: int, value: dict) -> None:
        """`fill`: only into an empty slot. A filled one refuses the action (`slot_busy`):
        overwriting it would drop what it holds, its timer and what was spent on it."""
        row = s[slots]
        if row[index] is not None:
            label = place_label(slots, index)
            raise Rejected("slot_busy", f"slot {label} is busy", {"slot": label})
        self._put(f"{slots}[{index}]", None, value)
        row[index] = value

    def replace_slot(self, s: dict, slots: str, index: int, value: dict) -> None:
        """`replace`: fill the slot whatever it holds."""
        row = s[slots]
        self._put(f"{slots}[{index}]", row[index], value)
        row[index] = value

    # packs built before `fill` refused a filled slot call this: it keeps their meaning
    fill = replace_slot

    def empty(self, s: dict, slots: str, index: int) -> None:
        row = s[slots]
        self._put(f"{slots}[{index}]", row[index], None)
        row[index] = None

    def set_field(self, s: dict, slots: str, index: int, name: str, value: Any) -> None:
        row = s[slots]
        slot = row[index]
        if slot is None:
            raise Rejected("precondition", f"{place_label(slots, index)} is empty", {})
        after = {**slot, name: value}
        self._put(f"{slots}[{index}]", slot, after)
        row[index] = after

    def _put(self, label: str, before: Any, after: Any) -> None:
        """Record one write (the recipe above), for the writes that run less often."""
        changes = self.changes
        seen = changes.get(label)
        if seen is None:
            if after != before:
                changes[label] = [before, after]
        elif after == seen[0]:
            del changes[label]
        else:
            seen[1] = after

    def limit(
        self,
        s: dict,
        key: str,
        count: int,
        period: str,
        period_ms: int,
        per: Any = None,
        origin: int = 0,
        label: str | None = None,
    ) -> None:
        """`label`: the calendar of `per season` (its windows start at `origin`)."""
        slot = limit_slot(key, per)
        start = window_start(period, period_ms, self.now, self.day_start_ms, origin)
        length = window_length(period, period_ms)
        limits = s["_limits"]
        used = limits.get(slot)
        n = used[1] if used is not None and used[0] == start else 0
        if n >= count:
            retry_at = start + length
            what = (
                label
                if label is not None
                else "day"
                if period == "day"
                else "week"
                if period == "week"
                else fmt_duration(period_ms)
            )
            raise Rejected(
                "limit",
                f"limit of {count} per {what} reached, try again in {fmt_duration(retry_at - self.now)}",
                {"retry_at": retry_at, "limit": count},
            )
        # forget this limit's windows that are over, so the state does not grow (only this
        # limit's: another limit's window has its own length, a week is not over after a day)
        mine = key + ":"
        for k in [
            k
            for k, v in limits.items()
            if (k == key or k.startswith(mine)) and v[0] != start and v[0] + length <= self.now
        ]:
            del limits[k]
        limits[slot] = [start, n + 1]

    def cooldown(self, s: dict, key: str, ms: int, per: Any = None) -> None:
        slot = limit_slot(key, per)
        cooldowns = s["_cooldowns"]
        ready = cooldowns.get(slot)
        if ready is not None and self.now < ready:
            raise Rejected(
                "cooldown",
                f"not ready yet, try again in {fmt_duration(ready - self.now)}",
                {"retry_at": ready},
            )
        for k in [k for k, v in cooldowns.items() if v <= self.now]:
            del cooldowns[k]
        cooldowns[slot] = self.now + ms

    def draw(self, weights: tuple[int, ...]) -> int:
        """The 0-based branch of a weighted pick, seeded by player, action id and pack."""
        self.draws += 1
        pin = self.pin
        if isinstance(pin, tuple):
            pin = pin[self.draws - 1] if self.draws <= len(pin) else None
        if pin is not None:
            if not 1 <= pin <= len(weights):
                raise Rejected(
                    "bad_params",
                    f"draw {pin} does not exist: there are {len(weights)} branches",
                    {},
                )
            return pin - 1
        seed = (
            f"{self.player_id}\x00{self.action_id}\x00{self.pack_version}\x00{self.draws}".encode()
        )
        roll = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big") % sum(weights)
        for i, w in enumerate(weights):
            if roll < w:
                return i
            roll -= w
        raise AssertionError("unreachable: roll below the total weight")

    def draw_weights(self, weights: tuple[int, ...]) -> int:
        """A draw whose weights were computed (`crop[kind].weight: ...`): each at least 0,
        some above 0. A pinned draw must name a branch that can be drawn."""
        for w in weights:
            if w < 0:
                raise Rejected("overflow", f"a draw weight of {w} is negative", {})
        if not any(weights):
            raise Rejected("overflow", "every weight of the draw is 0: nothing can be drawn", {})
        branch = self.draw(weights)
        if weights[branch] == 0:
            raise Rejected("bad_params", f"draw {branch + 1} cannot happen: its weight is 0", {})
        return branch

    def chance(self, amount: int, out_of: int) -> int:
        """`chance P %` (out_of 100) or `per mille` (1000): 0 when it happens, else 1.

        A draw of the two weights (P, out_of - P): a roll r uniform in [0, out_of) from the
        seeded generator, and it happens when r < P. So 0 never happens, out_of always."""
        if not 0 <= amount <= out_of:
            unit = "%" if out_of == 100 else " per mille"
            raise Rejected(
                "overflow", f"a chance of {amount}{unit} is outside 0 to {out_of}{unit}", {}
            )
        return self.draw_weights((amount, out_of - amount))

    def emit(self, name: str, data: dict) -> None:
        self.events.append({"name": name, "data": data})

    # ---- other players ------------------------------------------------------------------

    def peer(self, player: str) -> dict:
        """The snapshot of another player the runtime read before this action (the engine
        refuses the action first when the player does not exist)."""
        return self.peers[player]

    def give(self, player: str, amounts: tuple | list) -> None:
        """Gains for another player: sent once this step is committed, applied in theirs."""
        gains = []
        for name, key, amount in amounts:
            if amount < 0:
                raise Rejected(
                    "overflow", f"a gift of {amount} {place_label(name, key)} is negative", {}
                )
            if amount:
                gains.append([name, key, amount])
        if gains:
            self.outbox.append({"to": player, "kind": "give", "gains": gains})

    def take(self, player: str, name: str, amount: int, key: str | None = None) -> None:
        """At most `amount` of what another player has: how much is decided in their step,
        and comes back to this player's inbox as a `return`."""
        if amount < 0:
            raise Rejected("overflow", f"taking {amount} {place_label(name, key)} is negative", {})
        if amount:
            self.outbox.append({"to": player, "kind": "take", "take": [name, key, amount]})

    # ---- loot tables ----------------------------------------------------------------------

    def draw_loot(self, tables: dict, name: str) -> list[tuple]:
        """What one draw from a loot table gives, nested tables drawn in turn (the checker
        refused tables that draw from themselves)."""
        entries = tables[name]
        _, gains, nested = entries[self.draw(tuple(e[0] for e in entries))]
        out = list(gains)
        for inner in nested:
            out += self.draw_loot(tables, inner)
        return out

    def gain_loot(self, s: dict, tables: dict, name: str, resources: dict) -> None:
        for resource, key, amount in self.draw_loot(tables, name):
            Context.gain(
                self, s, resource, amount, key, resources[resource][2]
            )  # not LegacyContext's


class LegacyContext(Context):
    """The context of packs of format 3 and older, which pass a resource's row (and its
    maximum) in place, before the amount: `ctx.gain(s, "seed", kind, 3, None)`."""

    __slots__ = ()

    def cost_one(self, s: dict, name: str, key: str | None, amount: int) -> None:  # type: ignore[override]
        Context.cost_one(self, s, name, amount, key)

    def gain(self, s: dict, name: str, key: str | None, amount: int, maximum: int | None) -> None:  # type: ignore[override]
        Context.gain(self, s, name, amount, key, maximum)

    def set_amount(  # type: ignore[override]
        self, s: dict, name: str, key: str | None, value: int, maximum: int | None
    ) -> None:
        Context.set_amount(self, s, name, value, key, maximum)

    def take(self, player: str, name: str, key: str | None, amount: int) -> None:  # type: ignore[override]
        Context.take(self, player, name, amount, key)


def place_label(name: str, key: Any) -> str:
    """How the rules name a place: `coins`, `seed[wheat]`, `field[2]`, and an item of two
    tables: `produce[wheat, gold]` (its key a pair: a tuple, or a list once sent as JSON)."""
    if key is None:
        return name
    if isinstance(key, tuple | list):
        return f"{name}[{key[0]}, {key[1]}]"
    return f"{name}[{key}]"


def holding_row(s: dict, name: str, key: Any) -> tuple[dict, Any]:
    """The dict that holds a keyed item's count, and its key there: `s["seed"]`, "wheat";
    for an item of two tables, the inner one: `s["produce"]["wheat"]`, "gold"."""
    if isinstance(key, tuple | list):
        return s[name][key[0]], key[1]
    return s[name], key


def holding(s: dict, name: str, key: Any) -> Any:
    """What the state holds at a place: `coins`, `seed[wheat]`, `produce[wheat, gold]`."""
    if key is None:
        return s[name]
    row, cell = holding_row(s, name, key)
    return row[cell]


def parse_place_label(label: str) -> tuple[str, str | tuple[str, str] | None]:
    """`coins` -> ("coins", None), `seed[wheat]` -> ("seed", "wheat"), `produce[wheat, gold]`
    -> ("produce", ("wheat", "gold")): place_label read back. ValueError when it is none."""
    name, bracket, rest = label.partition("[")
    if not bracket:
        return label, None
    if not rest.endswith("]"):
        raise ValueError(f"`{label}` is not a place")
    parts = [p.strip() for p in rest[:-1].split(",")]
    if len(parts) == 1:
        return name, parts[0]
    if len(parts) == 2:
        return name, (parts[0], parts[1])
    raise ValueError(f"`{label}` is not a place")


def slot_field(s: dict, slots: str, index: int, name: str) -> Any:
    slot = s[slots][index]
    if slot is None:
        raise Rejected("precondition", f"{place_label(slots, index)} is empty", {})
    return slot[name]


def set_slot_field(s: dict, slots: str, index: int, name: str, value: Any) -> None:
    """Packs of format 1 call this; format 2 calls Context.set_field, which reports the change."""
    slot = s[slots][index]
    if slot is None:
        raise Rejected("precondition", f"{place_label(slots, index)} is empty", {})
    slot = dict(slot)
    slot[name] = value
    s[slots][index] = slot


def check_index(index: int, count: int, label: str) -> int:
    if not 0 <= index < count:
        raise Rejected("bad_params", f"{label} {index} does not exist: there are {count}", {})
    return index
