"""Run a game's scenarios on its compiled pack with a simulated clock (`rulesc test`).

A scenario plays its own player (`me`) and any others it names (`as bob do ...`,
`bob.coins`). What one player sends another (`give`, `take`) is delivered right after
the step that sent it, in the order sent, each applied in the receiver's own step, and
what a `take` took comes back the same way, before the next scenario step: as on a
server whose players are all online.
"""

from __future__ import annotations

import collections
import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field

from rulesc.compiler import ir
from rulesc.compiler.check import EMPTY
from rulesc.pack_contract import fmt_duration
from rulesc.runtime import engine, rt
from rulesc.runtime.pack import Pack, PackError

# Monday 2026-01-05 12:00:00 UTC: midday, so the first daily reset is hours away, not seconds.
SCENARIO_EPOCH_MS = 1_767_614_400_000
SCENARIO_PLAYER = "scenario-player"  # the id of `me`; another player's id is its name
MAX_DELIVERIES = 10_000  # per step: more means effects keep causing effects


@dataclass
class Failure:
    loc: ir.Loc
    problems: list[str]


@dataclass
class ScenarioResult:
    scenario: ir.Scenario
    failure: Failure | None = None
    steps: int = 0

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass
class Run:
    """One scenario being played: each player's state ("" is `me`), the clock, and the
    events each player got in the last step (its action and the deliveries it caused)."""

    pack: Pack
    title: str
    now: int = SCENARIO_EPOCH_MS
    states: dict[str, dict] = field(default_factory=dict)
    events: dict[str, list[dict]] = field(default_factory=dict)
    actions: int = 0
    sent: int = 0  # effects sent so far: their ids

    @property
    def state(self) -> dict:
        return self.states[""]

    def player(self, name: str | None) -> dict:
        """A player's state, made (a new player at the current time) when first named."""
        key = name or ""
        if key not in self.states:
            self.states[key] = engine.prepare(self.pack, None, self.now)
        return self.states[key]


def player_id(name: str | None) -> str:
    return SCENARIO_PLAYER if not name or name == "me" else name


def player_name(pid: str) -> str:
    return "" if pid == SCENARIO_PLAYER else pid


def select(scenarios: tuple[ir.Scenario, ...], pattern: str | None) -> list[ir.Scenario]:
    if not pattern:
        return list(scenarios)
    pat = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
    return [s for s in scenarios if fnmatch.fnmatchcase(s.title.lower(), pat.lower())]


def run_scenario(pack: Pack, scenario: ir.Scenario) -> ScenarioResult:
    run = Run(pack, scenario.title)
    run.player(None)
    result = ScenarioResult(scenario)
    for step in scenario.steps:
        result.steps += 1
        try:
            problems = _step(run, step)
        except PackError as err:
            problems = [f"the pack failed: {err}"]
        if problems:
            result.failure = Failure(step.loc, problems)
            break
    return result


def _step(run: Run, step: ir.Step) -> list[str]:
    if isinstance(step, ir.WaitStep) and step.until is not None:
        if step.until < run.now:
            return [f"the clock is already at {_when(run.now)}: `wait until` only goes forward"]
        run.now = step.until
        return []
    if isinstance(step, ir.WaitStep):
        run.now += step.ms
        return []
    if isinstance(step, ir.GivenStep):
        return _given(run, step)
    if isinstance(step, ir.ExpectStep):
        return _expect(run, step)
    if isinstance(step, ir.ExpectEventStep):
        events = [e["name"] for e in run.events.get(step.player or "", [])]
        if step.event not in events:
            who = f"{step.player} got" if step.player else "the last action raised"
            return [f"expected event `{step.event}`, {who} {_list(events) or 'none'}"]
        return []
    if isinstance(step, ir.DoStep):
        return _do(run, step)
    raise AssertionError(f"unknown step {step!r}")


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _given(run: Run, step: ir.GivenStep) -> list[str]:
    problems: list[str] = []
    for name in dict.fromkeys(path.player or "" for path, _ in step.values):
        values = [(p, v) for p, v in step.values if (p.player or "") == name]
        run.states[name] = _give(run, run.player(name), values, problems)
    return problems


def _give(run: Run, state: dict, values: list, problems: list[str]) -> dict:
    return give(run.pack, state, run.now, values, problems)


def give(pack: Pack, state: dict | None, now: int, values: list, problems: list[str]) -> dict:
    """`state` (a new player's when None) with the `given` values set, at `now`: a
    scenario's `given` and a bot's starting state (`rulesc simulate`) alike."""
    state = engine.prepare(pack, state, now)
    state = {
        k: (_copy(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
        for k, v in state.items()
    }
    resources = pack.module.RESOURCES
    for path, value in values:
        if path.name in resources:
            _kind, _start, maximum = resources[path.name]
            if not isinstance(value, int) or value < 0 or (maximum is not None and value > maximum):
                problems.append(
                    f"{path.label} cannot be {value}: it stays between 0 and {maximum if maximum is not None else 'the 64-bit limit'}"
                )
                continue
            if path.key is None:
                state[path.name] = value
            else:  # `seed[corn]`, or a pair: `produce[wheat, gold]`
                row, cell = rt.holding_row(state, path.name, path.key)
                row[cell] = value
            if path.name in state["_meters"]:
                state["_meters"][path.name] = now  # a given meter refills from now on
        elif value is EMPTY and isinstance(path.key, int):
            state[path.name][path.key] = None
        else:
            problems.append(f"{path.label} can only be given as `empty`; fill slots with actions")
    return state


def _copy(value: dict) -> dict:
    """A state entry's dict, copied before `given` writes in it (the inner dicts too)."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}


def _actual(view: dict, path: ir.StatePath):
    value = view.get(path.name)
    if isinstance(path.key, tuple):  # an item of two tables, held nested
        value = value[path.key[0]][path.key[1]] if value is not None else None
    elif path.key is not None:
        value = value[path.key] if value is not None else None
    if path.field is not None:
        value = value.get(path.field) if isinstance(value, dict) else None
    return value


def _show(value) -> str:
    if value is None or value is EMPTY:
        return "empty"
    if isinstance(value, ir.AfterStart):
        return after_start(SCENARIO_EPOCH_MS + value.ms)
    if value is True or value is False:
        return str(value).lower()
    return str(value)


def after_start(ms: int) -> str:
    """A time as a scenario writes it: `2d 3h` after the scenario's start (`0s`: at it)."""
    delta = ms - SCENARIO_EPOCH_MS
    if delta < 0:
        return f"{fmt_duration(-delta)} before start"
    parts = re.findall(r"[0-9]+[a-z]+", fmt_duration(delta))
    return " ".join(parts) + (" after start" if delta else "")


def _expect(run: Run, step: ir.ExpectStep) -> list[str]:
    problems = []
    for path, expected in step.values:
        view = engine.view(run.pack, run.player(path.player), run.now)
        actual = _actual(view, path)
        if isinstance(expected, ir.AfterStart):
            ok = actual == SCENARIO_EPOCH_MS + expected.ms
            if not ok and isinstance(actual, int) and not isinstance(actual, bool):
                actual = after_start(actual)
        elif expected is EMPTY:
            ok = actual is None
        elif isinstance(actual, dict):
            ok = False
            actual = "filled"
        else:
            ok = actual == expected and type(actual) is type(expected)
        if not ok:
            problems.append(f"{path.label}: expected {_show(expected)}, got {_show(actual)}")
    return problems


def _do(run: Run, step: ir.DoStep) -> list[str]:
    run.actions += 1
    who = step.player or ""
    params = dict(step.params)
    for name in engine.player_params(run.pack, step.action):
        named = params.get(name)
        if isinstance(named, str):  # a player of the scenario, by name
            run.player(player_name(player_id(named)))
            params[name] = player_id(named)
    state = run.player(who)
    # `draws 2` pins every draw (as it always has); `draws 3, 1` pins them one by one
    pin = step.draws if len(step.draws) > 1 else step.draw
    outcome = engine.run(
        run.pack,
        state,
        step.action,
        params,
        now=run.now,
        player_id=player_id(who),
        action_id=f"{run.title}#{run.actions}",
        pin=pin,
        peers={player_id(n): s for n, s in run.states.items()},
    )
    run.events = {who: outcome.events if outcome.ok else []}
    run.now = outcome.now
    if outcome.ok:
        faulted = hook_faults(outcome.events)
        if faulted:
            return faulted
        if step.fails:
            changed = ", ".join(
                f"{k} {_show(v[0])} -> {_show(v[1])}" for k, v in outcome.changes.items()
            )
            return [
                f"expected `{step.action}` to fail, but it succeeded ({changed or 'no change'})"
            ]
        broken = engine.check_invariants(run.pack, outcome.state)
        run.states[who] = outcome.state
        return [f"invariant broken: {b}" for b in broken] or _deliver(run, outcome.outbox)
    error = outcome.error or {}
    if not step.fails:
        return [f"`{step.action}` was rejected: {error.get('code')}: {error.get('message')}"]
    want = step.fail_text
    if want is not None and want not in (error.get("code"), error.get("message")):
        return [f'expected the failure "{want}", got {error.get("code")}: "{error.get("message")}"']
    return []


def _deliver(run: Run, outbox: list[dict]) -> list[str]:
    """Apply what was sent, in the order sent, each in its receiver's own step; what those
    steps send (a take's return) joins the end of the line."""
    line = collections.deque(outbox)
    done = 0
    while line:
        done += 1
        if done > MAX_DELIVERIES:
            return [f"more than {MAX_DELIVERIES} deliveries in one step"]
        effect = line.popleft()
        run.sent += 1
        effect = {**effect, "id": f"{effect['from']}:{run.sent}"}
        name = player_name(effect["to"])
        out = engine.receive(
            run.pack, run.player(name), effect, now=run.now, player_id=effect["to"]
        )
        run.states[name] = out.state
        run.events.setdefault(name, []).extend(out.events)
        faulted = hook_faults(out.events, name or "me")
        if faulted:
            return faulted
        broken = engine.check_invariants(run.pack, out.state)
        if broken:
            return [f"invariant broken for {name or 'me'}: {b}" for b in broken]
        line.extend(out.outbox)
    return []


def hook_faults(events: list[dict], who: str | None = None) -> list[str]:
    """A hook that faulted (a bug in the rules: its message names the `.rules` line) is a
    failure of the scenario, whatever it expects; a designed `hook_failed` (a number out of
    range) is an event like any other."""
    whose = f" (for {who})" if who else ""
    return [
        f"hook `on {e['data']['hook']}` faulted{whose}: {e['data']['message']}"
        for e in engine.hook_faults(events)
    ]


def _list(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def render_failure(result: ScenarioResult, game_label: str) -> str:
    assert result.failure is not None
    loc = result.failure.loc
    prefix = f"{game_label}/" if game_label not in ("", ".") else ""
    lines = [f"FAIL  {result.scenario.title}", f"  {prefix}{loc.file}:{loc.line}: {loc.text}"]
    lines += [f"    {p}" for p in result.failure.problems]
    return "\n".join(lines)
