"""Harvest Valley's plant / harvest / sell, written by hand: the baseline the compiled pack races.

What a careful engineer would write for a server without the rules language, with the
same meaning and the same result shape as `engine.run` on the compiled pack:

- parameters validated by strict pydantic models (no coercion, nothing extra, bounds);
- the player's state brought to `now` (energy refills 1 every 3m, lazily), and `now`
  never runs backwards for a player;
- copy-on-write: the caller's state is never touched, a rejection returns it as it was;
- checks in order, costs checked together with every shortfall named, then applied;
- 64-bit arithmetic that never wraps, gains clamped at a max and reported;
- the result lists changes as [before, after], `level` and a `level_up` event.

It knows which places each action touches, so it builds `changes` directly rather than
diffing, and calls no helpers for arithmetic: the fast, honest version. It imports
nothing from rulesc. bench_compiler.py checks that both give the same results before
timing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

INT64_MAX = 2**63 - 1
ENERGY_MAX, ENERGY_EVERY = 30, 180_000  # meter energy start 30 max 30 regen 1 every 3m
PRODUCE_MAX = 999
LEVELS = (0, 50, 150, 400, 1000)

Crop = Literal["wheat", "corn", "pumpkin", "carrot", "strawberry"]
# (grow, regrow, yield, sell, xp): the columns these three actions read, from crops.csv
CROPS = {
    "wheat": (120_000, 0, 3, 4, 1),
    "corn": (600_000, 300_000, 2, 15, 3),
    "pumpkin": (3_600_000, 0, 1, 90, 10),
    "carrot": (300_000, 0, 2, 9, 2),
    "strawberry": (1_800_000, 600_000, 4, 14, 5),
}

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class PlantParams(BaseModel):
    model_config = _STRICT
    slot: Annotated[int, Field(ge=0, le=5)]
    kind: Crop


class HarvestParams(BaseModel):
    model_config = _STRICT
    slot: Annotated[int, Field(ge=0, le=5)]


class SellParams(BaseModel):
    model_config = _STRICT
    kind: Crop
    qty: Annotated[int, Field(ge=1, le=999)]


@dataclass(slots=True)
class Outcome:
    ok: bool
    state: dict
    now: int
    changes: dict[str, list] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    clamped: dict[str, int] = field(default_factory=dict)
    error: dict | None = None


class Rejected(Exception):
    def __init__(self, code: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details or {}


def level_of(xp: int) -> int:
    level = 0
    for threshold in LEVELS:
        if xp < threshold:
            break
        level += 1
    return max(level, 1)


def fmt_duration(ms: int) -> str:
    """`1m30s`, rounded up to whole seconds."""
    if ms < 0:
        return "-" + fmt_duration(-ms)
    rest = -(-ms // 1000) * 1000
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"


def settle(state: dict, now: int) -> dict:
    """Energy refilled to `now`; the same dict when nothing moved. A full meter banks no time."""
    energy, since = state["energy"], state["_meters"]["energy"]
    if energy >= ENERGY_MAX:
        new_energy, new_since = energy, now
    else:
        ticks = (now - since) // ENERGY_EVERY
        if ticks <= 0:
            return state
        new_energy = min(ENERGY_MAX, energy + ticks)
        new_since = now if new_energy >= ENERGY_MAX else since + ticks * ENERGY_EVERY
    if new_energy == energy and new_since == since:
        return state
    return {**state, "energy": new_energy, "_meters": {**state["_meters"], "energy": new_since}}


# ---- the actions: each takes a settled copy `s` to change, and fills `changes` ---------------


def plant(s: dict, p: PlantParams, now: int, changes: dict) -> None:
    slot, kind = p.slot, p.kind
    field_ = s["field"]
    if field_[slot] is not None:
        raise Rejected("precondition", "That plot is busy")
    energy, seeds = s["energy"], s["seed"][kind]
    short = {}
    if energy < 1:
        short["energy"] = {"need": 1, "have": energy}
    if seeds < 1:
        short[f"seed[{kind}]"] = {"need": 1, "have": seeds}
    if short:
        raise Rejected(
            "insufficient",
            "; ".join(f"need {v['need']} {k}, have {v['have']}" for k, v in short.items()),
            short,
        )
    ready_at = now + CROPS[kind][0]
    if ready_at > INT64_MAX:
        raise Rejected("overflow", "a number went past 64 bits", {"value": str(ready_at)})
    s["energy"] = energy - 1
    s["seed"] = {**s["seed"], kind: seeds - 1}
    filled = {"crop": kind, "ready_at": ready_at}
    s["field"] = [*field_[:slot], filled, *field_[slot + 1 :]]
    changes["energy"] = [energy, energy - 1]
    changes[f"field[{slot}]"] = [None, filled]
    changes[f"seed[{kind}]"] = [seeds, seeds - 1]


def harvest(s: dict, p: HarvestParams, now: int, changes: dict, clamped: dict) -> None:
    slot = p.slot
    plot = s["field"][slot]
    if plot is None:
        raise Rejected("precondition", "Nothing is planted there")
    if now < plot["ready_at"]:
        raise Rejected("precondition", f"Ready in {fmt_duration(plot['ready_at'] - now)}")
    kind = plot["crop"]
    _grow, regrow, yield_, _sell, xp_gain = CROPS[kind]
    have = s["produce"][kind]
    produce = have + yield_
    if produce > PRODUCE_MAX:
        label = f"produce[{kind}]"
        clamped[label] = clamped.get(label, 0) + produce - PRODUCE_MAX
        produce = PRODUCE_MAX
    xp = s["xp"] + xp_gain
    if xp > INT64_MAX:
        raise Rejected("overflow", f"xp would go past {INT64_MAX}", {"label": "xp"})
    if regrow > 0:
        ready_at = now + regrow
        if ready_at > INT64_MAX:
            raise Rejected("overflow", "a number went past 64 bits", {"value": str(ready_at)})
        after = {**plot, "ready_at": ready_at}
    else:
        after = None
    field_ = s["field"]
    s["field"] = [*field_[:slot], after, *field_[slot + 1 :]]
    if after != plot:
        changes[f"field[{slot}]"] = [plot, after]
    if produce != have:
        s["produce"] = {**s["produce"], kind: produce}
        changes[f"produce[{kind}]"] = [have, produce]
    changes["xp"] = [s["xp"], xp]
    s["xp"] = xp


def sell(s: dict, p: SellParams, now: int, changes: dict) -> None:
    kind, qty = p.kind, p.qty
    have = s["produce"][kind]
    if have < qty:
        label = f"produce[{kind}]"
        raise Rejected(
            "insufficient", f"need {qty} {label}, have {have}", {label: {"need": qty, "have": have}}
        )
    paid = CROPS[kind][3] * qty
    coins = s["coins"] + paid
    if paid > INT64_MAX or coins > INT64_MAX:
        raise Rejected("overflow", f"coins would go past {INT64_MAX}", {"label": "coins"})
    changes["coins"] = [s["coins"], coins]
    s["coins"] = coins
    s["produce"] = {**s["produce"], kind: have - qty}
    changes[f"produce[{kind}]"] = [have, have - qty]


ACTIONS: dict[str, tuple[Any, type[BaseModel]]] = {
    "plant": (plant, PlantParams),
    "harvest": (harvest, HarvestParams),
    "sell": (sell, SellParams),
}


def _rejected(
    state: dict, now: int, code: str, message: str, details: dict | None = None
) -> Outcome:
    return Outcome(
        False, state, now, error={"code": code, "message": message, "details": details or {}}
    )


def _bad_params(err: ValidationError) -> tuple[str, dict]:
    errors = [
        {"param": ".".join(str(x) for x in e["loc"]) or "params", "problem": e["msg"]}
        for e in err.errors(include_url=False, include_context=False, include_input=False)
    ]
    return "; ".join(f"{e['param']}: {e['problem']}" for e in errors), {"errors": errors}


def run(state: dict, name: str, params: Any, *, now: int) -> Outcome:
    """One action for one player at server time `now` (ms). The given state is never changed."""
    settled = settle(state, max(now, state["_now"]))
    now = max(now, settled["_now"])
    spec = ACTIONS.get(name)
    if spec is None:
        return _rejected(settled, now, "unknown_action", f"there is no action `{name}`")
    fn, model = spec
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return _rejected(settled, now, "bad_params", "params must be an object")
    try:
        p = model.model_validate(params)
    except ValidationError as err:
        message, details = _bad_params(err)
        return _rejected(settled, now, "bad_params", message, details)
    s = dict(settled)  # shallow: each action replaces the dicts and lists it changes
    changes: dict[str, list] = {}
    clamped: dict[str, int] = {}
    try:
        if fn is harvest:
            harvest(s, p, now, changes, clamped)
        else:
            fn(s, p, now, changes)
    except Rejected as r:
        return _rejected(settled, now, r.code, r.message, r.details)
    s["_now"] = now
    events: list[dict] = []
    if "xp" in changes:
        before, after = level_of(settled["xp"]), level_of(s["xp"])
        if after != before:
            changes["level"] = [before, after]
        if after > before:
            events.append({"name": "level_up", "data": {"from": before, "to": after}})
    return Outcome(True, s, now, changes, events, clamped)
