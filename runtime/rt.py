"""The small helper module every rule pack imports, and the only one.

Generated action code stays readable by calling these for the parts with rules
of their own: checked 64-bit arithmetic, costs checked together, clamped gains,
limit windows, cooldowns, seeded draws and message formatting. Nothing here does
I/O; the engine (engine.py) drives a pack with state and time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
DAY_MS = 86_400_000
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


def add(a: int, b: int) -> int:
    return _fit(a + b)


def sub(a: int, b: int) -> int:
    return _fit(a - b)


def mul(a: int, b: int) -> int:
    return _fit(a * b)


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

_UNITS = (("d", DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def fmt_duration(ms: int) -> str:
    """Compact, rounded up to whole seconds: 90_000 -> `1m30s`, 0 -> `0s`."""
    if ms < 0:
        return "-" + fmt_duration(-ms)
    seconds = -(-ms // 1000)
    if seconds == 0:
        return "0s"
    out = []
    rest = seconds * 1000
    for unit, size in _UNITS:
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


def fmt_time(ms: int) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


# ---- windows ------------------------------------------------------------------------------


def window_start(period: str, period_ms: int, now: int, day_start_ms: int) -> int:
    """The start of the limit window `now` falls in. Days and weeks start at `day starts`."""
    if period == "day":
        return (now - day_start_ms) // DAY_MS * DAY_MS + day_start_ms
    if period == "week":
        offset = day_start_ms + MONDAY_OFFSET_MS
        return (now - offset) // WEEK_MS * WEEK_MS + offset
    return now // period_ms * period_ms


def window_length(period: str, period_ms: int) -> int:
    return DAY_MS if period == "day" else WEEK_MS if period == "week" else period_ms


# ---- meters ----------------------------------------------------------------------------------


def regenerate(value: int, since: int, now: int, maximum: int, amount: int, every: int) -> tuple[int, int]:
    """A meter's value and tick time at `now`. A full meter does not bank time."""
    if value >= maximum:
        return value, now
    ticks = (now - since) // every
    if ticks <= 0:
        return value, since
    value = min(maximum, value + ticks * amount)
    return value, (now if value >= maximum else since + ticks * every)


# ---- the context of one action -----------------------------------------------------------


@dataclass(slots=True)
class Context:
    now: int
    player_id: str
    action_id: str
    pack_version: str
    day_start_ms: int
    pin: int | None = None  # a scenario's `draws N`: take branch N (1-based) of every pick
    events: list[dict] = field(default_factory=list)
    clamped: dict[str, int] = field(default_factory=dict)
    draws: int = 0

    # costs: all checked, every shortfall named, then all spent
    def cost(self, s: dict, amounts: tuple) -> None:
        short: dict[str, dict[str, int]] = {}
        for name, key, amount in amounts:
            label = place_label(name, key)
            if amount < 0:
                raise Rejected("overflow", f"a cost of {amount} {label} is negative", {})
            have = s[name] if key is None else s[name][key]
            if have < amount:
                short[label] = {"need": amount, "have": have}
        if short:
            message = "; ".join(f"need {v['need']} {k}, have {v['have']}" for k, v in short.items())
            raise Rejected("insufficient", message, short)
        for name, key, amount in amounts:
            if key is None:
                s[name] -= amount
            else:
                s[name][key] -= amount

    def gain(self, s: dict, name: str, key: str | None, amount: int, maximum: int | None) -> None:
        label = place_label(name, key)
        if amount < 0:
            raise Rejected("overflow", f"a gain of {amount} {label} is negative", {})
        have = s[name] if key is None else s[name][key]
        value = have + amount
        if maximum is not None and value > maximum:
            self.clamped[label] = self.clamped.get(label, 0) + value - maximum
            value = maximum
        elif value > INT64_MAX:
            raise Rejected("overflow", f"{label} would go past {INT64_MAX}", {"label": label})
        if key is None:
            s[name] = value
        else:
            s[name][key] = value

    def set_amount(self, s: dict, name: str, key: str | None, value: int, maximum: int | None) -> None:
        label = place_label(name, key)
        top = INT64_MAX if maximum is None else maximum
        if not 0 <= value <= top:
            raise Rejected("overflow", f"{label} cannot be {value}: it must stay between 0 and {top}", {"label": label})
        if key is None:
            s[name] = value
        else:
            s[name][key] = value

    def limit(self, s: dict, key: str, count: int, period: str, period_ms: int, per: Any) -> None:
        slot = key if per is None else f"{key}:{per}"
        start = window_start(period, period_ms, self.now, self.day_start_ms)
        length = window_length(period, period_ms)
        limits = s["_limits"]
        used = limits.get(slot)
        n = used[1] if used is not None and used[0] == start else 0
        if n >= count:
            retry_at = start + length
            what = "day" if period == "day" else "week" if period == "week" else fmt_duration(period_ms)
            raise Rejected(
                "limit",
                f"limit of {count} per {what} reached, try again in {fmt_duration(retry_at - self.now)}",
                {"retry_at": retry_at, "limit": count},
            )
        # forget windows that are over, so the state does not grow
        for k in [k for k, v in limits.items() if v[0] != start and v[0] + length <= self.now]:
            del limits[k]
        limits[slot] = [start, n + 1]

    def cooldown(self, s: dict, key: str, ms: int, per: Any) -> None:
        slot = key if per is None else f"{key}:{per}"
        cooldowns = s["_cooldowns"]
        ready = cooldowns.get(slot)
        if ready is not None and self.now < ready:
            raise Rejected(
                "cooldown", f"not ready yet, try again in {fmt_duration(ready - self.now)}", {"retry_at": ready}
            )
        for k in [k for k, v in cooldowns.items() if v <= self.now]:
            del cooldowns[k]
        cooldowns[slot] = self.now + ms

    def draw(self, weights: tuple[int, ...]) -> int:
        """The 0-based branch of a weighted pick, seeded by player, action id and pack."""
        self.draws += 1
        if self.pin is not None:
            if not 1 <= self.pin <= len(weights):
                raise Rejected("bad_params", f"draw {self.pin} does not exist: there are {len(weights)} branches", {})
            return self.pin - 1
        seed = f"{self.player_id}\x00{self.action_id}\x00{self.pack_version}\x00{self.draws}".encode()
        roll = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big") % sum(weights)
        for i, w in enumerate(weights):
            if roll < w:
                return i
            roll -= w
        raise AssertionError("unreachable: roll below the total weight")

    def emit(self, name: str, data: dict) -> None:
        self.events.append({"name": name, "data": data})


def place_label(name: str, key: Any) -> str:
    """How the rules name a place: `coins`, `seed[wheat]`, `field[2]`."""
    return name if key is None else f"{name}[{key}]"


def slot_field(s: dict, slots: str, index: int, name: str) -> Any:
    slot = s[slots][index]
    if slot is None:
        raise Rejected("precondition", f"{place_label(slots, index)} is empty", {})
    return slot[name]


def set_slot_field(s: dict, slots: str, index: int, name: str, value: Any) -> None:
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
