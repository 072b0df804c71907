"""Properties checked on many generated inputs (hypothesis).

- Random action sequences from random reachable-looking states never make a resource
  negative or push it past its max, never break an invariant, and a rejected action
  never changes anything.
- The parser and checker turn any mutation of a real rules file into diagnostics,
  never an exception.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulesc.compiler.check import check_game
from rulesc.compiler.loader import GameSources
from rulesc.dsl.diagnostics import render_all
from rulesc.dsl.parser import parse_source
from rulesc.runtime import engine

from .gamekit import MINUTE, T0

ROOT = Path(__file__).resolve().parent.parent
HARVEST_RULES = (ROOT / "games" / "harvest" / "harvest.rules").read_text()
GOLDEN_PACK = ROOT / "tests" / "golden" / "harvest_pack"


def _pack():
    from rulesc.runtime.pack import load_pack

    return load_pack(GOLDEN_PACK)


PACK = _pack()
SCHEMA = json.loads((GOLDEN_PACK / "schema.json").read_text())
RESOURCES = PACK.module.RESOURCES


def param_strategy(spec: dict) -> st.SearchStrategy:
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    if spec["type"] == "boolean":
        return st.booleans()
    return st.integers(spec["minimum"], spec["maximum"])


ACTION_CALLS = st.one_of(
    *[
        st.tuples(
            st.just(name),
            st.fixed_dictionaries(
                {k: param_strategy(v) for k, v in a["params"]["properties"].items()}
            ),
        )
        for name, a in sorted(SCHEMA["actions"].items())
    ]
)


@st.composite
def states(draw) -> dict:
    state = engine.prepare(PACK, None, T0)
    for name, (_kind, _start, maximum) in RESOURCES.items():
        top = maximum if maximum is not None else 1_000_000
        if isinstance(state[name], dict):
            state[name] = {k: draw(st.integers(0, top)) for k in state[name]}
        else:
            state[name] = draw(st.integers(0, top))
    crops = list(PACK.module.CROP)
    state["field"] = [
        draw(
            st.none()
            | st.builds(
                lambda c, t: {"crop": c, "ready_at": T0 + t},
                st.sampled_from(crops),
                st.integers(-3600_000, 3600_000),
            )
        )
        for _ in state["field"]
    ]
    return state


def assert_within_bounds(state: dict) -> None:
    for name, (_kind, _start, maximum) in RESOURCES.items():
        values = state[name].values() if isinstance(state[name], dict) else [state[name]]
        for v in values:
            assert v >= 0, f"{name} went negative: {v}"
            assert maximum is None or v <= maximum, f"{name} went past its max: {v}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=states(),
    steps=st.lists(st.tuples(ACTION_CALLS, st.integers(0, 90 * MINUTE)), max_size=25),
)
def test_random_play_keeps_resources_in_bounds_and_invariants(start, steps):
    state, now = start, T0
    for i, ((name, params), wait) in enumerate(steps):
        now += wait
        out = engine.run(PACK, state, name, params, now=now, player_id="prop", action_id=f"a{i}")
        if out.ok:
            state = out.state
            assert engine.check_invariants(PACK, state) == []
        else:
            assert out.state == engine.prepare(PACK, state, now), (
                "a rejected action changed the state"
            )
        assert_within_bounds(engine.prepare(PACK, state, now))


NOISE = st.sampled_from(
    list("()[]{}:,.=<>\"'#\t\n -+*/%_")
    + ["action", "cost", "gain", "pick one", "when", "  ", "0", "9" * 30, "é", "\r\n"]
)


@st.composite
def mutated(draw) -> str:
    text = HARVEST_RULES
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 40)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "dupline"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(NOISE) + text[i:]
        elif op == "replace":
            text = text[:i] + draw(NOISE) + text[j:]
        else:
            lines = text.splitlines(keepends=True)
            k = draw(st.integers(0, len(lines) - 1))
            lines.insert(k, lines[k])
            text = "".join(lines)
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_any_mutated_input_gives_diagnostics_not_exceptions(text):
    src = GameSources(root=ROOT / "games" / "harvest", label="games/harvest")
    module, diags = parse_source("games/harvest/harvest.rules", text)
    src.rules.append(module)
    src.texts.texts["games/harvest/harvest.rules"] = text
    src.diagnostics.extend(diags)
    game, all_diags = check_game(src)
    rendered = render_all(all_diags, src.texts)  # rendering must not fail either
    assert (game is None) == any(d.is_error for d in all_diags)
    for d in all_diags:
        assert d.span.line >= 1 and d.span.col >= 1 and d.code.startswith("R")
    assert isinstance(rendered, str)
