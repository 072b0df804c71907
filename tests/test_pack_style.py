"""Generated packs read as if a careful person wrote them: the project's formatter and linter
find nothing to change, literals are valid Python whatever the text, negations have no `not`
where a comparison can flip, and the runtime still runs packs of the older calling convention.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulesc.compiler.build import compile_game, write_pack
from rulesc.compiler.pysrc import WIDTH, Group, Pre, call, layout, py_literal
from rulesc.runtime import engine, rt
from rulesc.runtime.pack import load_pack

ROOT = Path(__file__).resolve().parent.parent

# what the examples do not show: quotes and backslashes in texts, `not` around `and`/`or`,
# a condition too long for one line, a comparison of booleans
STRESS = r"""game stress "Say \"hi\" \\ it's"

currency coins start 200
currency gems start 10 max 9_999
meter energy start 30 max 30 regen 1 every 3m
stat xp
level from xp at 0, 50, 150

table crop
  columns price: int, grow: duration, rare: bool
  wheat: 5, 2m, false
  corn: 12, 10m, true

item seed of crop

slots field 3
  crop: crop
  ready_at: time

action mixed(slot: field, kind: crop, fast: bool)
  require not fast or coins >= 10 and gems >= 1 else "She said \"no\" {coins} \\ é"
  require not (crop[kind].rare and level < 2) else "It's \"{kind}\" \"rare\": {crop[kind].grow}"
  require (coins > 1 or gems > 1) and (xp >= 0 or energy > 0)
  require not fast
  require field[slot] is filled and now < field[slot].ready_at and field[slot].crop == kind and coins + gems + xp >= 3
  when fast == (coins > 5)
    gain coins 1
  gain seed[kind] crop[kind].price * 2 + coins - gems, gems 1
  set energy = 3

action lucky(kind: crop)
  chance crop[kind].price * 2 %
    gain coins 1
  otherwise
    nothing
  chance 3 per mille
    gain gems 1
  pick one
    crop[kind].price: gain coins 2
    1: nothing

action graded(fast: bool)
  when fast and coins > 100
    gain coins 2
  otherwise when fast
    nothing
  otherwise when coins > 5
    gain gems 1
  otherwise
    nothing

invariant not (coins < 0 or gems < 0) else "negative: {coins}"
"""


def built_module(game: Path) -> str:
    result = compile_game(game, with_tests=False)
    assert result.ok and result.files is not None, result.diagnostics
    return result.files["rules.py"]


@pytest.fixture(scope="module")
def stress_module(tmp_path_factory: pytest.TempPathFactory) -> str:
    game = tmp_path_factory.mktemp("stress")
    (game / "stress.rules").write_text(STRESS, encoding="utf-8")
    return built_module(game)


def ruff(*args: str) -> subprocess.CompletedProcess:
    config = str(ROOT / "pyproject.toml")  # line length 100, the project's rules
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--config", config, "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("game", ["harvest", "arena", "tycoon", "stress"])
def test_generated_pack_is_clean_for_ruff(game: str, stress_module: str, tmp_path: Path) -> None:
    module = stress_module if game == "stress" else built_module(ROOT / "games" / game)
    path = tmp_path / "rules.py"
    path.write_text(module, encoding="utf-8")
    lint = ruff("check", str(path))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    form = ruff("format", "--check", "--diff", str(path))
    assert form.returncode == 0, form.stdout + form.stderr


@pytest.mark.parametrize("game", ["harvest", "arena", "tycoon"])
def test_code_lines_fit_the_line_limit(game: str) -> None:
    """Only the comments that quote a `.rules` line verbatim (the line map) may be longer."""
    module = built_module(ROOT / "games" / game)
    long = [
        ln for ln in module.splitlines() if len(ln) > WIDTH and not ln.lstrip().startswith("# ")
    ]
    assert not long


def test_negations_read_as_a_person_would_write_them(stress_module: str) -> None:
    lines = {ln.strip() for ln in stress_module.splitlines()}
    # `not (not fast or (a and b))`: De Morgan, comparisons flipped
    assert 'if fast and (s["coins"] < 10 or s["gems"] < 1):' in lines
    assert 'if CROP[kind]["rare"] and level_of(s["xp"]) < 2:' in lines
    assert 'if (s["coins"] <= 1 and s["gems"] <= 1) or (s["xp"] < 0 and s["energy"] <= 0):' in lines
    assert "if fast:" in lines  # require not fast
    assert 'if s["coins"] < 0 or s["gems"] < 0:' in lines  # the invariant
    # after `field[slot] is None or`, the slot is filled: its field is read directly
    assert 'or ctx.now >= s["field"][slot]["ready_at"]' in lines
    assert 'if fast == (s["coins"] > 5):' in lines  # a comparison inside one is bracketed
    assert "not ((" not in stress_module and "not (not" not in stress_module


def test_optional_arguments_are_named(stress_module: str) -> None:
    lines = {ln.strip() for ln in stress_module.splitlines()}
    assert 'ctx.gain(s, "gems", 1, maximum=9999)' in lines
    assert 'ctx.set_amount(s, "energy", 3, maximum=30)' in lines
    assert "key=kind," in lines  # the long gain of seed[kind], one argument per line


def test_messages_keep_their_text(tmp_path: Path) -> None:
    """Quotes, a backslash and an accent in a message come out as the designer wrote them."""
    game = tmp_path / "stress"
    game.mkdir()
    (game / "stress.rules").write_text(STRESS, encoding="utf-8")
    result = compile_game(game, with_tests=False)
    assert result.files is not None
    pack = load_pack(write_pack(result.files, tmp_path / "pack"))
    try:
        state = {**pack.module.new_state(0), "coins": 7}
        params = {"slot": 0, "kind": "corn", "fast": True}
        out = engine.run(pack, state, "mixed", params, now=0, player_id="p", action_id="a")
        assert out.error is not None and out.error["message"] == 'She said "no" 7 \\ é'
    finally:
        sys.modules.pop(pack.module.__name__, None)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_py_literal_is_python_for_every_value(value: object) -> None:
    text = py_literal(value)  # type: ignore[arg-type]
    assert ast.literal_eval(text) == value
    assert text.isprintable()  # one line, no control character a reader cannot see


def test_layout_splits_a_long_call_one_argument_per_line() -> None:
    doc = call("ctx.gain", "s", '"produce"', "x" * 60, key="kind", maximum="999")
    assert layout(doc, 1) == [
        "    ctx.gain(",
        "        s,",
        '        "produce",',
        "        " + "x" * 60 + ",",
        "        key=kind,",
        "        maximum=999,",
        "    )",
    ]
    assert layout(call("ctx.gain", "s", '"coins"', "5", key=None), 1) == [
        '    ctx.gain(s, "coins", 5)'
    ]
    # a table of one entry stays a tuple: split, with its comma (a loot table of one entry)
    one = Pre('"box": ', Group("(", ("(1, (), ())",), ")", one_tuple=True, explode=True))
    assert layout(one, 1, suffix=",") == ['    "box": (', "        (1, (), ()),", "    ),"]


def test_the_runtime_still_takes_the_older_packs_positional_calls() -> None:
    """Packs of format 3 and older pass (key, amount, maximum) in place: same effect."""

    def state() -> dict:
        return {"coins": 10, "seed": {"wheat": 2}, "_limits": {}, "_cooldowns": {}}

    old, new = state(), state()
    ctx_old, ctx_new = rt.LegacyContext(0, "p", "a", "v", 0), rt.Context(0, "p", "a", "v", 0)
    ctx_old.gain(old, "seed", "wheat", 5, 6)
    ctx_new.gain(new, "seed", 5, key="wheat", maximum=6)
    ctx_old.cost_one(old, "coins", None, 3)
    ctx_new.cost_one(new, "coins", 3)
    ctx_old.set_amount(old, "seed", "wheat", 4, 6)
    ctx_new.set_amount(new, "seed", 4, key="wheat", maximum=6)
    ctx_old.limit(old, "daily.1", 1, "day", 86_400_000, None)
    ctx_new.limit(new, "daily.1", 1, "day", 86_400_000)
    ctx_old.cooldown(old, "water.1", 1000, "wheat")
    ctx_new.cooldown(new, "water.1", 1000, per="wheat")
    ctx_old.take("bob", "seed", "wheat", 2)
    ctx_new.take("bob", "seed", 2, key="wheat")
    assert old == new and ctx_old.changes == ctx_new.changes and ctx_old.clamped == ctx_new.clamped
    assert (
        ctx_old.outbox
        == ctx_new.outbox
        == [{"to": "bob", "kind": "take", "take": ["seed", "wheat", 2]}]
    )


def test_a_pack_built_before_format_4_runs_as_before(tmp_path: Path) -> None:
    """The harvest pack as rulesc wrote it before (format 2, positional helper calls) and as
    it writes it now give the same outcomes, step by step."""
    old = load_pack(ROOT / "tests" / "golden" / "harvest_pack_format2")
    sys.modules.pop(old.module.__name__, None)  # the same game and version as the new one
    assert old.manifest["format"] == 2 and old.context is rt.LegacyContext
    # harvest as it was then: without its scheduled event (which makes a pack format 5)
    game = tmp_path / "harvest"
    shutil.copytree(ROOT / "games" / "harvest", game)
    rules = (game / "harvest.rules").read_text(encoding="utf-8")
    (game / "harvest.rules").write_text(rules.split("\n# ---- events")[0], encoding="utf-8")
    result = compile_game(game, with_tests=False)
    assert result.files is not None
    new = load_pack(write_pack(result.files, tmp_path / "pack"))
    sys.modules.pop(new.module.__name__, None)
    assert new.manifest["format"] == 4 and new.context is rt.Context
    t0 = 1_767_614_400_000
    steps = [
        ("buy_seed", {"kind": "corn", "qty": 2}),
        ("buy_seed", {"kind": "pumpkin", "qty": 1}),
        ("plant", {"slot": 0, "kind": "wheat"}),
        ("plant", {"slot": 0, "kind": "wheat"}),
        ("speed_up", {"slot": 0}),
        ("harvest", {"slot": 0}),
        ("sell", {"kind": "wheat", "qty": 3}),
        ("sell", {"kind": "wheat", "qty": 99}),
        ("water", {"slot": 1}),
        ("buy_energy", {}),
        ("daily_gift", {}),
        ("daily_gift", {}),
        ("market_order", {"kind": "wheat"}),
        ("weekly_bonus", {}),
        ("open_crate", {}),
        ("open_crate", {}),
        ("clear", {"slot": 0}),
    ]
    states = {"old": None, "new": None}
    for i, (name, params) in enumerate(steps):
        outs = {}
        for side, pack in (("old", old), ("new", new)):
            out = engine.run(
                pack,
                states[side],
                name,
                params,
                now=t0 + i * 60_000,
                player_id="p",
                action_id=f"a{i}",
            )
            states[side] = out.state
            outs[side] = (out.ok, out.state, out.changes, out.events, out.clamped, out.error)
        assert outs["old"] == outs["new"], name
