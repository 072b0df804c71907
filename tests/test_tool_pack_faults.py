"""`rulesc test` and `rulesc simulate` do not hide a fault of the pack's code in a hook: the
engine contains it (a `hook_failed` event with `"fault": true`, the step stands), and the
scenario fails on it with the `.rules` line, the simulation counts and reports it. A
designed `hook_failed` (a number out of range) stays an event a scenario may expect.

The fault is real: the pack is built and a line that raises is written into its generated
module after the marker of a `.rules` line, as tests/test_pack_faults.py does."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from rulesc.compiler.build import compile_game, write_pack
from rulesc.pack_contract import MANIFEST_FILE
from rulesc.runtime.pack import Pack, load_pack
from rulesc.tools import simsummary
from rulesc.tools.scenarios import render_failure, run_scenario
from rulesc.tools.simulate import Options, simulate

RULES = """
    game climb "Climb"
    stat xp
    currency gems start 0 max 10
    level from xp at 0, 10, 20, 30
    action train
      gain xp 10
    on level_up
      {hook}
"""
SCENARIOS = """
    scenario "training levels up"
      do train
      expect level 2, xp 10
      expect event level_up
"""
BOT = 'bot trainer "Trains"\n  sessions 1 per day\n  actions 2 per session\n  try train\n'
GAIN, OVER = "gain gems 1", "set gems = 20"
BUG = 'raise RuntimeError("a bug in the pack")'


def built(tmp_path: Path, hook: str, scenarios: str = SCENARIOS, bug: bool = False):
    game = tmp_path / "climb"
    (game / "tests").mkdir(parents=True)
    (game / "bots").mkdir()
    rules = textwrap.dedent(RULES.format(hook=hook)).lstrip()
    (game / "game.rules").write_text(rules, encoding="utf-8")
    (game / "tests" / "s.rules").write_text(textwrap.dedent(scenarios).lstrip(), encoding="utf-8")
    (game / "bots" / "b.rules").write_text(BOT, encoding="utf-8")
    result = compile_game(game, with_bots=True)
    assert result.ok and result.files is not None and result.game is not None
    path = write_pack(result.files, tmp_path / "pack")
    if bug:  # after the hook's line (game.rules:8): the fault is told against it
        manifest = json.loads((path / MANIFEST_FILE).read_text())
        module = path / manifest["module"]
        lines = module.read_text().splitlines()
        at = next(i for i, s in enumerate(lines) if s.rstrip().endswith(hook))
        indent = re.match(r"\s*", lines[at + 1])
        assert indent is not None and indent.group()
        lines.insert(at + 2, indent.group() + BUG)
        module.write_text("\n".join(lines) + "\n")
    return load_pack(path), result.game


def scenario_results(pack: Pack, game) -> list[str]:
    out = []
    for s in game.scenarios:
        r = run_scenario(pack, s)
        out.append("ok" if r.passed else render_failure(r, "climb"))
    return out


def test_a_scenario_fails_on_a_hook_that_faults_with_the_rules_line(tmp_path: Path) -> None:
    pack, game = built(tmp_path, GAIN, bug=True)
    [failed] = scenario_results(pack, game)
    assert failed.startswith("FAIL  training levels up"), failed
    assert "tests/s.rules:2: do train" in failed, failed
    assert "hook `on level_up` faulted: the rules failed: game.rules:8:" in failed, failed
    assert "RuntimeError: a bug in the pack" in failed, failed
    # the same scenario passes on the pack without the bug
    ok, game = built(tmp_path / "ok", GAIN)
    assert scenario_results(ok, game) == ["ok"]


def test_a_designed_hook_failed_a_scenario_expects_still_passes(tmp_path: Path) -> None:
    # `set gems = 20` is past gems' max 10: the hook fails by design, not a fault
    expects = SCENARIOS + "      expect event hook_failed\n      expect gems 0\n"
    pack, game = built(tmp_path, OVER, expects)
    assert scenario_results(pack, game) == ["ok"]


def test_simulate_counts_and_reports_hook_faults(tmp_path: Path) -> None:
    pack, game = built(tmp_path, GAIN, bug=True)
    [result] = simulate(pack, game, list(game.bots), Options(days=2, runs=2, seed=1), jobs=1)
    # each run: 4 trains, 3 level-ups (to 2, 3, 4), each hook faults
    assert [run.faults for run in result.runs] == [3, 3]
    assert all(len(run.hook_faults) == 1 for run in result.runs)
    text = simsummary.render(game, result, None)
    assert "the rules faulted 6 times in a hook, in 2 of 2 runs" in text, text
    assert "hook `on level_up`: the rules failed: game.rules:8:" in text, text
    # an overflow is no fault: nothing counted
    fine, game = built(tmp_path / "fine", OVER)
    [result] = simulate(fine, game, list(game.bots), Options(days=2, runs=2, seed=1), jobs=1)
    assert [run.faults for run in result.runs] == [0, 0]
    assert "faulted" not in simsummary.render(game, result, None)


def test_the_games_types_say_which_hook_failed_is_a_fault(tmp_path: Path) -> None:
    game = tmp_path / "climb"
    game.mkdir()
    (game / "game.rules").write_text(textwrap.dedent(RULES.format(hook=GAIN)).lstrip())
    result = compile_game(game)
    assert result.ok and result.files is not None
    types = result.files["types.d.ts"]
    assert "  hook_failed: { hook: string; message: string; fault?: true; };" in types, types
