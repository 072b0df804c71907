"""Run a game's scenarios on its compiled pack with a simulated clock (`rulesc test`)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from rulesc.runtime import engine
from rulesc.runtime.pack import Pack, PackError

from . import ir
from .check import EMPTY

# Monday 2026-01-05 12:00:00 UTC: midday, so the first daily reset is hours away, not seconds.
SCENARIO_EPOCH_MS = 1_767_614_400_000
SCENARIO_PLAYER = "scenario-player"


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
    """One scenario being played: the player's state, the clock and the last action's outcome."""

    pack: Pack
    title: str
    now: int = SCENARIO_EPOCH_MS
    state: dict = field(default_factory=dict)
    last: engine.Outcome | None = None
    actions: int = 0


def select(scenarios: tuple[ir.Scenario, ...], pattern: str | None) -> list[ir.Scenario]:
    if not pattern:
        return list(scenarios)
    pat = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
    return [s for s in scenarios if fnmatch.fnmatchcase(s.title.lower(), pat.lower())]


def run_scenario(pack: Pack, scenario: ir.Scenario) -> ScenarioResult:
    run = Run(pack, scenario.title)
    run.state = engine.prepare(pack, None, run.now)
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
    if isinstance(step, ir.WaitStep):
        run.now += step.ms
        return []
    if isinstance(step, ir.GivenStep):
        return _given(run, step)
    if isinstance(step, ir.ExpectStep):
        return _expect(run, step)
    if isinstance(step, ir.ExpectEventStep):
        events = [e["name"] for e in (run.last.events if run.last and run.last.ok else [])]
        if step.event not in events:
            return [f"expected event `{step.event}`, the last action raised {_list(events) or 'none'}"]
        return []
    if isinstance(step, ir.DoStep):
        return _do(run, step)
    raise AssertionError(f"unknown step {step!r}")


def _given(run: Run, step: ir.GivenStep) -> list[str]:
    state = engine.prepare(run.pack, run.state, run.now)
    state = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in state.items()}
    resources = run.pack.module.RESOURCES
    problems = []
    for path, value in step.values:
        if path.name in resources:
            _kind, _start, maximum = resources[path.name]
            if not isinstance(value, int) or value < 0 or (maximum is not None and value > maximum):
                problems.append(f"{path.label} cannot be {value}: it stays between 0 and {maximum if maximum is not None else 'the 64-bit limit'}")
                continue
            if path.key is None:
                state[path.name] = value
            else:
                state[path.name][path.key] = value
            if path.name in state["_meters"]:
                state["_meters"][path.name] = run.now  # a given meter refills from now on
        elif value is EMPTY and isinstance(path.key, int):
            state[path.name][path.key] = None
        else:
            problems.append(f"{path.label} can only be given as `empty`; fill slots with actions")
    run.state = state
    return problems


def _actual(view: dict, path: ir.StatePath):
    value = view.get(path.name)
    if path.key is not None:
        value = value[path.key] if value is not None else None
    if path.field is not None:
        value = value.get(path.field) if isinstance(value, dict) else None
    return value


def _show(value) -> str:
    if value is None or value is EMPTY:
        return "empty"
    if value is True or value is False:
        return str(value).lower()
    return str(value)


def _expect(run: Run, step: ir.ExpectStep) -> list[str]:
    view = engine.view(run.pack, run.state, run.now)
    problems = []
    for path, expected in step.values:
        actual = _actual(view, path)
        if expected is EMPTY:
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
    outcome = engine.run(
        run.pack,
        run.state,
        step.action,
        dict(step.params),
        now=run.now,
        player_id=SCENARIO_PLAYER,
        action_id=f"{run.title}#{run.actions}",
        pin=step.draw,
    )
    run.last = outcome
    run.now = outcome.now
    if outcome.ok:
        if step.fails:
            changed = ", ".join(f"{k} {_show(v[0])} -> {_show(v[1])}" for k, v in outcome.changes.items())
            return [f"expected `{step.action}` to fail, but it succeeded ({changed or 'no change'})"]
        broken = engine.check_invariants(run.pack, outcome.state)
        run.state = outcome.state
        return [f"invariant broken: {b}" for b in broken]
    error = outcome.error or {}
    if not step.fails:
        return [f"`{step.action}` was rejected: {error.get('code')}: {error.get('message')}"]
    want = step.fail_text
    if want is not None and want not in (error.get("code"), error.get("message")):
        return [f'expected the failure "{want}", got {error.get("code")}: "{error.get("message")}"']
    return []


def _list(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def render_failure(result: ScenarioResult, game_label: str) -> str:
    assert result.failure is not None
    loc = result.failure.loc
    prefix = f"{game_label}/" if game_label not in ("", ".") else ""
    lines = [f"FAIL  {result.scenario.title}", f"  {prefix}{loc.file}:{loc.line}: {loc.text}"]
    lines += [f"    {p}" for p in result.failure.problems]
    return "\n".join(lines)
