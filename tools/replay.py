"""Play a plan on the compiled pack, and write it as a scenario that reproduces it.

Everything the explorer reports goes through here twice: once played on the engine
exactly as `rulesc test` plays a scenario (same start time, player id and action
ids), to learn the slot numbers that work and the values to expect; then written
as scenario text, compiled with the game and run by the scenario runner itself, so
a reported scenario is known to parse and to behave as the report says.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rulesc.compiler.build import compile_game, write_pack
from rulesc.compiler.irtext import value_text
from rulesc.runtime import engine, rt
from rulesc.runtime.pack import Pack, load_pack

from .scenarios import SCENARIO_EPOCH_MS, SCENARIO_PLAYER, ScenarioResult, run_scenario

SCENARIO_FILE = "explore.rules"


@dataclass(frozen=True)
class Do:
    action: str
    params: tuple[tuple[str, int | bool | str], ...] = ()
    free_slots: tuple[str, ...] = ()  # slot-number params: the first slot that works is used
    pin: int | None = None
    order: tuple[str, ...] = ()  # the parameters as declared, for writing the call

    def arranged(self, params: dict) -> dict:
        rank = {k: i for i, k in enumerate(self.order)}
        return dict(sorted(params.items(), key=lambda kv: rank.get(kv[0], len(rank))))


@dataclass(frozen=True)
class Wait:
    ms: int


Step = Do | Wait


@dataclass
class Played:
    ok: bool
    lines: list[str] = field(default_factory=list)  # the scenario's steps, as written
    start: dict = field(default_factory=dict)  # the view after `given`
    end: dict = field(default_factory=dict)  # the view after the last step
    problem: str | None = None
    marks: list[dict] = field(default_factory=list)  # the view after each step


def pool_value(view: dict, pool: str) -> int:
    """`coins`, `seed[wheat]` or `produce[wheat, gold]` read from a view."""
    name, key = rt.parse_place_label(pool)
    value = view.get(name)
    for part in () if key is None else key if isinstance(key, tuple) else (key,):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, int) else 0


def set_pool(state: dict, pool: str, value: int, now: int) -> None:
    name, key = rt.parse_place_label(pool)
    if isinstance(key, tuple):  # an item of two tables: a copy of the inner dict too
        state[name] = {**state[name], key[0]: {**state[name][key[0]], key[1]: value}}
    elif key is not None:
        state[name] = {**state[name], key: value}
    else:
        state[name] = value
    if name in state["_meters"]:
        state["_meters"] = {**state["_meters"], name: now}  # as `given` does: refills from now on


def call_text(action: str, params: dict | tuple, pin: int | None = None) -> str:
    items = params.items() if isinstance(params, dict) else params
    args = ", ".join(f"{k}: {value_text(v)}" for k, v in items)
    out = f"{action}({args})" if args else action
    return out + (f" draws {pin}" if pin is not None else "")


def wait_text(ms: int) -> str:
    return "wait " + value_text(ms, "duration")


class Player:
    """One scenario's player on the engine: the runner's start, ids and invariant check."""

    def __init__(self, pack: Pack, title: str, start: int | None = None) -> None:
        self.pack = pack
        self.title = title
        self.now = SCENARIO_EPOCH_MS
        self.state = engine.prepare(pack, None, self.now)
        self.actions = 0
        if start is not None:  # a scenario's `wait until` first (a scheduled event's run)
            self.now = start

    def give(self, given: dict[str, int]) -> None:
        state = dict(engine.prepare(self.pack, self.state, self.now))
        state["_meters"] = dict(state["_meters"])
        for pool, value in given.items():
            set_pool(state, pool, value, self.now)
        self.state = state

    def view(self) -> dict:
        return engine.view(self.pack, self.state, self.now)

    def wait(self, ms: int) -> None:
        self.now += ms

    def do(self, step: Do) -> tuple[engine.Outcome, dict]:
        """Run a step; a free slot number takes the first value that works."""
        n = self.actions + 1
        props = (
            self.pack.schema["actions"].get(step.action, {}).get("params", {}).get("properties", {})
        )
        choices: list[dict] = [dict(step.params)]
        for name in step.free_slots:
            count = props[name]["maximum"] + 1
            choices = [{**c, name: i} for c in choices for i in range(count)]
        outcome = None
        for params in choices:
            outcome = engine.run(
                self.pack,
                self.state,
                step.action,
                params,
                now=self.now,
                player_id=SCENARIO_PLAYER,
                action_id=f"{self.title}#{n}",
                pin=step.pin,
            )
            if outcome.ok:
                self.actions = n
                self.state = outcome.state
                self.now = outcome.now
                return outcome, step.arranged(params)
        assert outcome is not None
        return outcome, step.arranged(choices[0])


def play(
    pack: Pack, title: str, given: dict[str, int], steps: list[Step], start: int | None = None
) -> Played:
    """Play steps from a new player holding `given` (at `start`, when given: the clock moved
    there first); stop at the first rejection or broken invariant."""
    player = Player(pack, title, start)
    player.give(given)
    played = Played(ok=True, start=player.view())
    for step in steps:
        if isinstance(step, Wait):
            player.wait(step.ms)
            played.lines.append(wait_text(step.ms))
            played.marks.append(player.view())
            continue
        outcome, params = player.do(step)
        if not outcome.ok:
            error = outcome.error or {}
            played.ok = False
            played.problem = (
                f"`{call_text(step.action, params)}` was rejected: {error.get('message')}"
            )
            break
        played.lines.append("do " + call_text(step.action, params, step.pin))
        played.marks.append(player.view())
        broken = engine.check_invariants(pack, outcome.state)
        if broken:
            played.ok = False
            played.problem = f"invariant broken: {broken[0]}"
            break
    played.end = player.view()
    return played


def scenario_text(
    title: str,
    comments: list[str],
    given: dict[str, int],
    lines: list[str],
    expect: dict[str, int],
    first: tuple[str, ...] = (),
) -> str:
    """A scenario; `first` are lines before `given` (`wait until 2026-10-25`, into an event)."""
    out = [f'scenario "{title}"']
    out += [f"  # {c}" for c in comments]
    out += [f"  {line}" for line in first]
    if given:
        out.append("  given " + ", ".join(f"{k} {value_text(v)}" for k, v in given.items()))
    out += [f"  {line}" for line in lines]
    if expect:
        out.append("  expect " + ", ".join(f"{k} {value_text(v)}" for k, v in expect.items()))
    return "\n".join(out) + "\n"


def confirm(game_root: Path, texts: list[str]) -> tuple[dict[str, ScenarioResult], str | None]:
    """Compile the game with these scenarios as its only tests, and run each one.

    Returns each scenario's result by title, or an error when they do not compile.
    """
    if not texts:
        return {}, None
    with tempfile.TemporaryDirectory(prefix="rulesc-explore-") as tmp:
        copy = Path(tmp) / "game"
        shutil.copytree(
            game_root, copy, ignore=lambda d, names: ["tests"] if Path(d) == game_root else []
        )
        (copy / "tests").mkdir()
        (copy / "tests" / SCENARIO_FILE).write_text("\n".join(texts), encoding="utf-8")
        result = compile_game(copy)
        if not result.ok or result.game is None or result.files is None:
            problems = "; ".join(d.message for d in result.diagnostics if d.is_error)
            return {}, f"the scenarios do not compile: {problems}"
        pack = load_pack(write_pack(result.files, Path(tmp) / "pack"))
        return {s.title: run_scenario(pack, s) for s in result.game.scenarios}, None
