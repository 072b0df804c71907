"""The engine: state + action + time -> new state + result. Pure: no I/O, no clock.

The order is fixed (language design): parameters are parsed, the state is brought
to `now`, the action's checks run, costs are checked together, effects apply. An
action that is rejected leaves the state exactly as it was.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .pack import Pack, PackError
from .rt import Context, Rejected


@dataclass(slots=True)
class Outcome:
    ok: bool
    state: dict  # the new state when ok; the state as given when rejected
    now: int  # the time the action ran at (never behind the player's high-water mark)
    changes: dict[str, list] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    clamped: dict[str, int] = field(default_factory=dict)
    error: dict | None = None  # {"code", "message", "details"}

    def result(self, action_id: str) -> dict:
        """The protocol's result object."""
        if self.ok:
            out: dict[str, Any] = {"id": action_id, "status": "ok", "changes": self.changes, "events": self.events}
            if self.clamped:
                out["clamped"] = self.clamped
            return out
        return {"id": action_id, "status": "rejected", "error": self.error}


def rejected(state: dict, now: int, code: str, message: str, details: dict | None = None) -> Outcome:
    return Outcome(False, state, now, error={"code": code, "message": message, "details": details or {}})


def prepare(pack: Pack, state: dict | None, now: int) -> dict:
    """A player's state under this pack at `now`: created, upgraded to the pack, meters refilled."""
    m = pack.module
    if state is None:
        return m.new_state(now) | {"_pack": pack.version}
    if state.get("_pack") != pack.version:
        state = _upgrade(pack, state, now)
    return m.settle(state, max(now, state.get("_now", 0)))


def _upgrade(pack: Pack, state: dict, now: int) -> dict:
    """Fit a state made by an older pack: new resources at their start, new rows and slots added."""
    fresh = pack.module.new_state(now)
    out = dict(state)
    for key, value in fresh.items():
        old = out.get(key)
        if old is None or type(old) is not type(value):
            out[key] = value
        elif isinstance(value, dict) and not key.startswith("_"):
            out[key] = {k: old.get(k, v) for k, v in value.items()}
        elif isinstance(value, list):
            out[key] = (old + value)[: len(value)]
    for key in [k for k in out if k not in fresh and k != "_pack"]:
        del out[key]
    out["_pack"] = pack.version
    return out


def run(
    pack: Pack,
    state: dict | None,
    name: str,
    params: Any,
    *,
    now: int,
    player_id: str,
    action_id: str,
    pin: int | None = None,
) -> Outcome:
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
    fn, validate, copies, writes, stat = plan
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return rejected(settled, now, "bad_params", "params must be an object")
    try:
        p = validate(params)
    except ValidationError as err:
        return rejected(settled, now, "bad_params", _params_message(err), {"errors": _params_errors(err)})
    s = dict(settled)
    for key, copy in copies:  # copy only the dicts and lists this action may change
        s[key] = copy(s[key])
    ctx = Context(now, player_id, action_id, version, m.DAY_START_MS, pin)
    try:
        fn(s, p, ctx)
    except Rejected as r:
        return rejected(settled, now, r.code, r.message, r.details)
    except Exception as err:
        raise _located(pack, err) from err
    s["_now"] = now
    if writes is None:  # the pack recorded what it changed
        changes = ctx.changes
    else:  # a format 1 pack: compare the state before and after
        changes = diff(settled, s, writes)
    events = ctx.events
    if stat is not None and s[stat] != settled[stat]:
        before, after = m.level_of(settled[stat]), m.level_of(s[stat])
        if after != before:
            changes["level"] = [before, after]
        if after > before:
            events = [*events, {"name": "level_up", "data": {"from": before, "to": after}}]
    return Outcome(True, s, now, changes, events, ctx.clamped)


def _plan(pack: Pack, name: str) -> tuple | None:
    """Worked out once per pack and action: the function, its parameters' validator, which
    state entries to copy before it runs (and how), the keys to diff for a format 1 pack (None
    when the pack reports its changes), and the level stat when the action may change it."""
    spec = pack.module.ACTIONS.get(name)
    if spec is None:
        return None
    fn, model, writes = spec
    fresh = pack.module.new_state(0)
    copies = tuple((k, type(fresh[k])) for k in writes if isinstance(fresh.get(k), dict | list))
    legacy = pack.manifest.get("format", 1) < 2
    stat = pack.module.LEVEL_STAT if pack.module.LEVEL_STAT in writes else None
    # the model's core validator, as model_validate calls it, without that wrapper's overhead
    validate = model.__pydantic_validator__.validate_python
    plan = (fn, validate, copies, tuple(writes) if legacy else None, stat)
    pack.plans[name] = plan
    return plan


def diff(before: dict, after: dict, keys) -> dict[str, list]:
    """What changed, named the way the rules name it: `coins`, `seed[wheat]`, `field[0]`."""
    out: dict[str, list] = {}
    for key in keys:
        if key.startswith("_"):
            continue
        old, new = before[key], after[key]
        if old == new:
            continue
        if isinstance(new, dict):
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


def view(pack: Pack, state: dict | None, now: int) -> dict:
    """The state as clients see it (protocol shape): no internals, meters at `now`, `level` added."""
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


def _located(pack: Pack, err: Exception) -> PackError:
    """Point a fault inside generated code at the designer's `.rules` line."""
    tb = sys.exc_info()[2]
    for frame, lineno in reversed(list(traceback.walk_tb(tb))):
        if frame.f_code.co_filename == pack.module_file:
            where = pack.rules_line(lineno)
            if where is not None:
                file, line, text = where
                return PackError(f"{type(err).__name__}: {err} (in `{text}`)", file, line)
    return PackError(f"{type(err).__name__}: {err}")
