"""The engine: state + action + time -> new state + result. Pure: no I/O, no clock.

The order is fixed (language design): parameters are parsed, the state is brought
to `now`, the action's checks run, costs are checked together, effects apply. An
action that is rejected leaves the state exactly as it was.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from pydantic import ValidationError

from . import migrate, rt
from .pack import Pack, PackError
from .rt import Context, Rejected, holding, place_label

log = logging.getLogger(__name__)

# top-level state keys the runtime owns (not the pack): kept when a new pack upgrades a
# state. `_outbox`: effects sent, not yet known delivered; `_received`: per sender, the
# last delivery applied (runtime/social.py)
# `_migrated`: the ids of the `migrate` lines the state has had (runtime/migrate.py)
RUNTIME_KEYS = ("_pack", "_outbox", "_received", migrate.MIGRATED)


@dataclass(slots=True)
class Outcome:
    ok: bool
    state: dict  # the new state when ok; the state as given when rejected
    now: int  # the time the action ran at (never behind the player's high-water mark)
    changes: dict[str, list] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    clamped: dict[str, int] = field(default_factory=dict)
    error: dict | None = None  # {"code", "message", "details"}
    # effects on other players, to deliver once the step is committed (see rt.Context.outbox),
    # each with "from" and "action" added
    outbox: list[dict] = field(default_factory=list)

    def result(self, action_id: str) -> dict:
        """The protocol's result object."""
        if self.ok:
            out: dict[str, Any] = {
                "id": action_id,
                "status": "ok",
                "changes": self.changes,
                "events": self.events,
            }
            if self.clamped:
                out["clamped"] = self.clamped
            if self.outbox:
                out["sent"] = [sent(e) for e in self.outbox]
            return out
        return {"id": action_id, "status": "rejected", "error": self.error}


def sent(effect: dict) -> dict:
    """An effect as the sender's result shows it: to whom, what kind, which amounts (for a
    `take`, the most that may be taken)."""
    items = effect["gains"] if "gains" in effect else [effect["take"]]
    return {
        "to": effect["to"],
        "kind": effect["kind"],
        "amounts": {place_label(n, k): a for n, k, a in items},
    }


def rejected(
    state: dict, now: int, code: str, message: str, details: dict | None = None
) -> Outcome:
    return Outcome(
        False, state, now, error={"code": code, "message": message, "details": details or {}}
    )


class PackFault(PackError):
    """A fault inside the pack's code while it ran (a bug in the rules or the compiler),
    told against the `.rules` line when the fault is in generated code. Every entry point
    here that runs pack code raises this, never the raw exception: callers contain it to
    the smallest unit (an action, a delivery, a state read), and a hook's fault never
    leaves the hook (run_hook)."""


P = ParamSpec("P")
T = TypeVar("T")


def runs_pack_code(fn: Callable[Concatenate[Pack, P], T]) -> Callable[Concatenate[Pack, P], T]:
    """`fn(pack, ...)` runs the pack's code: a fault inside it raises PackFault, told
    against the `.rules` line (located), never the raw exception."""

    @functools.wraps(fn)
    def contained(pack: Pack, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(pack, *args, **kwargs)
        except PackFault:
            raise
        except Exception as err:
            raise located(pack, err) from err

    return contained


@runs_pack_code
def prepare(pack: Pack, state: dict | None, now: int) -> dict:
    """A player's state under this pack at `now`: created, upgraded to the pack, meters refilled."""
    m = pack.module
    if state is None:
        return m.new_state(now) | {"_pack": pack.version} | migrate.born(pack.schema)
    if state.get("_pack") != pack.version:
        state, _ = upgrade(pack, state, now)
    return m.settle(state, max(now, state.get("_now", 0)))


def _nested(value: Any) -> bool:
    """Whether a state entry is an item of two tables: {"wheat": {"gold": 3, ...}, ...}."""
    return isinstance(value, dict) and isinstance(next(iter(value.values()), None), dict)


def _copy_nested(value: Any) -> dict:
    """A copy of an item of two tables an action may change: the inner dicts too (rt writes
    into them), so the state from before the action stays as it was."""
    return {k: dict(v) for k, v in value.items()}


def _fit_row(old: Any, fresh: dict) -> dict:
    """One row of an item of two tables, fitted: the second table's new rows at their start."""
    if not isinstance(old, dict):
        return fresh
    return {k: old.get(k, v) for k, v in fresh.items()}


@runs_pack_code
def upgrade(pack: Pack, state: dict, now: int) -> tuple[dict, migrate.Migration]:
    """A state made by an older pack, under this one: its `migrate` lines not yet applied
    to it applied, then fitted (_fit). With what the migration did (for the ledger)."""
    taken, done = migrate.take(pack.schema, state)
    return migrate.put(pack.schema, _fit(pack, taken, now), done), done


def _fit(pack: Pack, state: dict, now: int) -> dict:
    """Fit a state made by an older pack: new resources at their start, new rows and slots added."""
    fresh = pack.module.new_state(now)
    out = dict(state)
    for key, value in fresh.items():
        old = out.get(key)
        if old is None or type(old) is not type(value):
            out[key] = value
        elif _nested(value) and not key.startswith("_"):  # an item of two tables
            out[key] = {k: _fit_row(old.get(k), v) for k, v in value.items()}
        elif isinstance(value, dict) and not key.startswith("_"):
            out[key] = {k: old.get(k, v) for k, v in value.items()}
        elif isinstance(value, list):
            out[key] = (old + value)[: len(value)]
    for key in [k for k in out if k not in fresh and k not in RUNTIME_KEYS]:
        del out[key]
    out["_pack"] = pack.version
    return out


@runs_pack_code
def run(
    pack: Pack,
    state: dict | None,
    name: str,
    params: Any,
    *,
    now: int,
    player_id: str,
    action_id: str,
    pin: int | tuple[int, ...] | None = None,
    peers: dict[str, dict | None] | None = None,
    draw_key: str | None = None,
) -> Outcome:
    """Run one action. `peers`: the states of the players its `player` parameters name, as
    read before it runs (None for a player that does not exist). `draw_key`: what seeds the
    draws besides player and action id; the pack version unless given (the simulator gives
    a hash of the rules' meaning, so comments and layout do not change its games).
    A fault inside the pack raises PackFault (the caller rejects this action only)."""
    m = pack.module
    version = pack.version
    if state is not None and state.get("_pack") == version:  # prepare(), the common case inline
        settled = m.settle(state, max(now, state.get("_now", 0)))
    else:
        settled = prepare(pack, state, now)
    now = max(now, settled["_now"])
    plan = pack.plans.get(name) or _plan(pack, name)
    if plan is None:
        return rejected(settled, now, "unknown_action", f"there is no action `{name}`")
    fn, validate, copies, writes, stat, players = plan
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return rejected(settled, now, "bad_params", "params must be an object")
    try:
        p = validate(params)
    except ValidationError as err:
        return rejected(
            settled, now, "bad_params", _params_message(err), {"errors": _params_errors(err)}
        )
    s = dict(settled)
    for key, copy in copies:  # copy only the dicts and lists this action may change
        s[key] = copy(s[key])
    ctx = pack.context(now, player_id, action_id, draw_key or version, m.DAY_START_MS, pin)
    if players:
        refused = _meet(pack, ctx, p, players, peers or {})
        if refused is not None:
            return rejected(settled, now, "bad_params", refused)
    if "_calendar" in s:  # the game has an `on season_change` hook
        s = turn_calendars(pack, s, ctx)
    try:
        fn(s, p, ctx)
    except Rejected as r:
        return rejected(settled, now, r.code, r.message, r.details)
    except Exception as err:
        unknown = unknown_holdings(pack, settled)
        if unknown:  # not a fault of the pack: the state holds what it does not know
            return rejected(
                settled, now, "unknown_row", _unknown_message(unknown), {"places": unknown}
            )
        raise located(pack, err) from err
    s["_now"] = now
    if writes is not None:  # a format 1 pack: compare the state before and after
        changes = diff(settled, s, writes)
        if stat is not None and s[stat] != settled[stat]:
            before, after = m.level_of(settled[stat]), m.level_of(s[stat])
            if after != before:
                changes["level"] = [before, after]
            if after > before:
                ctx.events.append({"name": "level_up", "data": {"from": before, "to": after}})
        return Outcome(True, s, now, changes, ctx.events, ctx.clamped)
    if stat is not None and s[stat] != settled[stat]:
        s = _level_up(pack, settled, s, ctx)
    outbox = [{"from": player_id, "action": name, **e} for e in ctx.outbox] if ctx.outbox else []
    return Outcome(True, s, now, ctx.changes, ctx.events, ctx.clamped, outbox=outbox)


def _meet(pack: Pack, ctx: Context, p: Any, players: tuple[str, ...], peers: dict) -> str | None:
    """Check the players an action names and give it their snapshots; why not, if not."""
    for name in players:
        other = getattr(p, name)
        if other == ctx.player_id:
            return f"{name}: that is you; name another player"
        state = peers.get(other)
        if state is None:
            return f"{name}: there is no player {other!r} in this game"
        ctx.peers[other] = prepare(pack, state, ctx.now)  # meters as of now
    return None


def _level_up(pack: Pack, before: dict, s: dict, ctx: Context) -> dict:
    """After a step changed the level's stat: `level` in the changes, and when it rose the
    `level_up` event and the `on level_up` hook (once per step, even if the hook raises
    the level again)."""
    m = pack.module
    stat = m.LEVEL_STAT
    old = m.level_of(before[stat])
    new = m.level_of(s[stat])
    if new > old:
        event: dict[str, Any] = {"name": "level_up", "data": {"from": old, "to": new}}
        ctx.events.append(event)
        s = run_hook(pack, "level_up", s, ctx)
        new = event["data"]["to"] = max(new, m.level_of(s[stat]))
    if new != old:
        ctx.changes["level"] = [old, new]
    return s


def run_hook(pack: Pack, event: str, s: dict, ctx: Context, *args: Any) -> dict:
    """The pack's `on EVENT` hook on `s`, in the same step: the state after it. A hook
    cannot refuse what triggered it: when it fails (a number out of range), or faults (a
    bug in the rules: the message names the `.rules` line, and the server logs it), its
    effects are dropped, the step stands, and a `hook_failed` event says why (with
    `"fault": true` when it is a fault, so tools and /metrics tell the two apart). So a fault
    in `on receive` costs the receiver the hook's effects, never the gift, and a faulting
    `on season_change` runs once (the turn is seen), not again in every step."""
    spec = getattr(pack.module, "HOOKS", {}).get(event)
    if spec is None:
        return s
    fn, writes = spec
    h = dict(s)
    for key in writes:
        value = h[key]
        if isinstance(value, dict | list):
            h[key] = _copy_nested(value) if _nested(value) else type(value)(value)
    saved = (
        {k: list(v) for k, v in ctx.changes.items()},
        list(ctx.events),
        dict(ctx.clamped),
        len(ctx.outbox),
    )
    try:
        fn(h, ctx, *args)
    except Exception as err:
        data: dict[str, Any] = {"hook": event}
        if isinstance(err, Rejected):
            data["message"] = err.message
        else:
            fault = located(pack, err)
            data["message"] = f"the rules failed: {fault}"
            data["fault"] = True  # a bug in the rules, not a designed failure (tools fail on it)
            log.error(
                "player %s: hook `on %s` (step %s) failed inside pack %s: %s",
                ctx.player_id,
                event,
                ctx.action_id,
                pack.version,
                fault,
            )
        ctx.changes, ctx.events, ctx.clamped = saved[0], saved[1], saved[2]
        del ctx.outbox[saved[3] :]
        ctx.events.append({"name": "hook_failed", "data": data})
        return s
    return h


def turn_calendars(pack: Pack, s: dict, ctx: Context) -> dict:
    """`on season_change`: run lazily, in the player's first step after a calendar moved to
    another period (once, however many periods passed), before the step itself; with a
    `season_change` event (`from` and `to`: the periods). The state remembers the period
    it last saw (`_calendar`: the number of periods since the calendar's start); a step that
    is rejected keeps none of it, so the hook runs again in the next step."""
    m = pack.module
    seen = s["_calendar"]
    for name, last in seen.items():
        calendar = m.CALENDARS[name]
        number = rt.period_number(ctx.now, calendar)
        if number == last:
            continue
        s = {**s, "_calendar": {**s["_calendar"], name: number}}
        periods = calendar[2]
        turn = {"calendar": name, "from": periods[last % len(periods)]}
        turn["to"] = periods[number % len(periods)]
        ctx.events.append({"name": f"{name}_change", "data": turn})
        s = run_hook(pack, f"{name}_change", s, ctx)
    return s


def _plan(pack: Pack, name: str) -> tuple | None:
    """Worked out once per pack and action: the function, its parameters' validator, which
    state entries to copy before it runs (and how), the keys to diff for a format 1 pack (None
    when the pack reports its changes), and the level stat when the action may change it."""
    spec = pack.module.ACTIONS.get(name)
    if spec is None:
        return None
    fn, model, writes = spec
    fresh = pack.module.new_state(0)
    copies = tuple(
        (k, _copy_nested if _nested(fresh[k]) else type(fresh[k]))
        for k in writes
        if isinstance(fresh.get(k), dict | list)
    )
    legacy = pack.manifest.get("format", 1) < 2
    stat = pack.module.LEVEL_STAT if pack.module.LEVEL_STAT in writes else None
    # the model's core validator, as model_validate calls it, without that wrapper's overhead
    validate = model.__pydantic_validator__.validate_python
    players = player_params(pack, name)
    plan = (fn, validate, copies, tuple(writes) if legacy else None, stat, players)
    pack.plans[name] = plan
    return plan


def player_params(pack: Pack, name: str) -> tuple[str, ...]:
    """The `player` parameters of an action: the players whose states it needs (peers)."""
    return getattr(pack.module, "PLAYER_PARAMS", {}).get(name, ())


@runs_pack_code
def receive(pack: Pack, state: dict | None, effect: dict, *, now: int, player_id: str) -> Outcome:
    """Apply one delivery from another player (`effect`, with its "id", "from", "action"
    and "kind") in this player's own step: a gain (`give`, or the `return` of a take),
    or a `take` of at most an amount, whose taking goes back to the taker. Then the
    `received` event, the `on receive` hook and, when the level rose, `level_up`.
    Never rejected: what no longer fits the pack (a resource gone) is skipped. A fault in
    a hook stays in the hook (run_hook); one outside raises PackFault, and nothing of the
    delivery applies (social.receive_all decides what becomes of it)."""
    m = pack.module
    settled = prepare(pack, state, now)
    now = max(now, settled["_now"])
    s: dict[str, Any] = {
        k: ((_copy_nested(v) if _nested(v) else type(v)(v)) if isinstance(v, dict | list) else v)
        for k, v in settled.items()
    }
    ctx = pack.context(now, player_id, effect["id"], pack.version, m.DAY_START_MS)
    if "_calendar" in s:
        s = turn_calendars(pack, s, ctx)
    kind, sender = effect["kind"], effect["from"]
    moved: dict[str, int] = {}
    if kind == "take":
        name, key, amount = effect["take"]
        if _fits(pack, name, key):
            have = holding(s, name, key)
            taken = min(have, max(amount, 0))
            if taken:
                Context.cost_one(ctx, s, name, taken, key)  # whichever context the pack has
                moved[place_label(name, key)] = taken
                ctx.outbox.append({"to": sender, "kind": "return", "gains": [[name, key, taken]]})
    else:
        for name, key, amount in effect["gains"]:
            if not _fits(pack, name, key) or amount <= 0:
                continue
            have = holding(s, name, key)
            try:
                Context.gain(ctx, s, name, amount, key, m.RESOURCES[name][2])
            except Rejected:  # past 64 bits with no max: that amount cannot be applied
                continue
            moved[place_label(name, key)] = holding(s, name, key) - have
    ctx.events.append(
        {
            "name": "received",
            "data": {"from": sender, "action": effect["action"], "kind": kind, "amounts": moved},
        }
    )
    s = run_hook(pack, "receive", s, ctx, sender)
    s["_now"] = now
    if m.LEVEL_STAT is not None and s[m.LEVEL_STAT] != settled[m.LEVEL_STAT]:
        s = _level_up(pack, settled, s, ctx)
    outbox = [{"from": player_id, "action": effect["action"], **e} for e in ctx.outbox]
    return Outcome(True, s, now, ctx.changes, ctx.events, ctx.clamped, outbox=outbox)


def unknown_holdings(pack: Pack, state: dict) -> dict[str, Any]:
    """What the state's slots hold that this pack does not know (they were filled under
    another pack: a row since removed, a field since added): place -> the value held
    (None for a missing field). Looked at only when an action fails: never on the way of
    one that works."""
    tables = pack.schema.get("tables", {})
    out: dict[str, Any] = {}
    for name, spec in (pack.schema.get("slots") or {}).items():
        for i, slot in enumerate(state.get(name) or ()):
            if not isinstance(slot, dict):
                continue
            for part, kind in spec["fields"].items():
                place = f"{name}[{i}].{part}"
                if part not in slot:
                    out[place] = None
                elif kind in tables and slot[part] not in tables[kind]["rows"]:
                    out[place] = slot[part]
    return out


def _unknown_message(unknown: dict[str, Any]) -> str:
    held = ", ".join(
        f"{place} = {value}" if value is not None else f"{place} (missing)"
        for place, value in unknown.items()
    )
    return f"this slot holds something the rules no longer know: {held}"


def _fits(pack: Pack, name: str, key: Any) -> bool:
    """Whether a place a delivery names (maybe made under an older pack) exists in this one."""
    resource = pack.schema["resources"].get(name)
    if resource is None:
        return False
    per, per2 = resource.get("per"), resource.get("per2")
    tables = pack.schema["tables"]
    if per is None:
        return key is None
    if per2 is not None:  # a pair of rows (a list: it came through JSON)
        return (
            isinstance(key, list | tuple)
            and len(key) == 2
            and key[0] in tables.get(per, {}).get("rows", {})
            and key[1] in tables.get(per2, {}).get("rows", {})
        )
    return isinstance(key, str) and key in tables.get(per, {}).get("rows", {})


def diff(before: dict, after: dict, keys) -> dict[str, list]:
    """What changed, named the way the rules name it: `coins`, `seed[wheat]`, `field[0]`."""
    out: dict[str, list] = {}
    for key in keys:
        if key.startswith("_"):
            continue
        old, new = before[key], after[key]
        if old == new:
            continue
        if _nested(new):  # an item of two tables: `produce[wheat, gold]`
            for k, row in new.items():
                for k2, v in row.items():
                    was = (old.get(k) or {}).get(k2)
                    if was != v:
                        out[f"{key}[{k}, {k2}]"] = [was, v]
        elif isinstance(new, dict):
            for k, v in new.items():
                if old.get(k) != v:
                    out[f"{key}[{k}]"] = [old.get(k), v]
        elif isinstance(new, list):
            for i, v in enumerate(new):
                if old[i] != v:
                    out[f"{key}[{i}]"] = [old[i], v]
        else:
            out[key] = [old, new]
    return out


@runs_pack_code
def view(pack: Pack, state: dict | None, now: int) -> dict:
    """The state as clients see it (protocol shape): no internals, meters at `now`, `level`
    added. Raises PackFault when the pack faults on it."""
    settled = prepare(pack, state, now)
    out = {k: v for k, v in settled.items() if not k.startswith("_")}
    stat = pack.module.LEVEL_STAT
    if stat is not None:
        out["level"] = pack.module.level_of(settled[stat])
    return out


def check_invariants(pack: Pack, state: dict) -> list[str]:
    return pack.module.invariants(state)


def _params_errors(err: ValidationError) -> list[dict]:
    return [
        {"param": ".".join(str(x) for x in e["loc"]) or "params", "problem": e["msg"]}
        for e in err.errors(include_url=False, include_context=False, include_input=False)
    ]


def _params_message(err: ValidationError) -> str:
    return "; ".join(f"{e['param']}: {e['problem']}" for e in _params_errors(err))


def hook_faults(events: list[dict]) -> list[dict]:
    """The `hook_failed` events among `events` that are faults of the pack's code (not a
    designed failure such as a number out of range)."""
    return [e for e in events if e["name"] == "hook_failed" and e["data"].get("fault")]


def located(pack: Pack, err: Exception) -> PackFault:
    """Point a fault inside generated code at the designer's `.rules` line."""
    tb = sys.exc_info()[2]
    for frame, lineno in reversed(list(traceback.walk_tb(tb))):
        if frame.f_code.co_filename == pack.module_file:
            where = pack.rules_line(lineno)
            if where is not None:
                file, line, text = where
                return PackFault(f"{type(err).__name__}: {err} (in `{text}`)", file, line)
    return PackFault(f"{type(err).__name__}: {err}")
