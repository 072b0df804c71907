"""`rulesc graph`: the economy as DOT. The harvest graph is a committed golden file.

Refresh it after an intended change to the graph or to harvest's rules:

    RULESC_UPDATE_GOLDEN=1 python -m pytest tests/test_graph.py

and review the diff of tests/golden/graph/ like code.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.compiler.build import compile_game
from rulesc.tools import graph as graphing
from rulesc.tools.explore import confirmed_loops

from .systemkit import need

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"
FOUNDRY = ROOT / "tests" / "exploits" / "foundry"
GOLDEN = ROOT / "tests" / "golden" / "graph" / "harvest.dot"
RANCH = ROOT / "tests" / "games" / "ranch"  # a table of 50 rows, a draw of 25 branches
RANCH_GOLDEN = ROOT / "tests" / "golden" / "graph" / "ranch.dot"
FESTIVAL = ROOT / "tests" / "exploits" / "festival"  # a loop that pays only during an event
FESTIVAL_GOLDEN = ROOT / "tests" / "golden" / "graph" / "festival.dot"
RED = graphing.LOOP_COLOR
runner = CliRunner()


def dot_for(game: Path) -> str:
    result = compile_game(game, with_tests=False)
    assert result.ok and result.game is not None
    return graphing.to_dot(result.game, confirmed_loops(result))


def line(dot: str, start: str) -> str:
    found = [ln.strip() for ln in dot.splitlines() if ln.strip().startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


@pytest.mark.parametrize(
    ("game", "golden"), [(HARVEST, GOLDEN), (RANCH, RANCH_GOLDEN), (FESTIVAL, FESTIVAL_GOLDEN)]
)
def test_graph_matches_the_golden_file(game, golden):
    dot = runner.invoke(app, ["graph", str(game)])
    assert dot.exit_code == 0, dot.output
    if os.environ.get("RULESC_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(dot.output, encoding="utf-8")
    assert dot.output == golden.read_text(encoding="utf-8"), (
        "RULESC_UPDATE_GOLDEN=1 refreshes the golden graph"
    )


def test_parallel_edges_are_merged_and_zero_branches_dropped():
    dot = dot_for(RANCH)
    # 25 branches, one gaining nothing: one edge, the range of the 24 others
    assert line(dot, '"act:comb" -> "res:wool"') == (
        '"act:comb" -> "res:wool" [label="1..24\\n(in 24 branches)", style=dashed];'
    )
    weekly = line(dot_for(HARVEST), '"act:weekly_bonus" -> "res:gems"')  # when / otherwise
    assert 'label="2..5\\n(in 2 branches)"' in weekly


def test_a_table_is_one_node_listing_its_rows_unless_rows_is_asked_for():
    dot = dot_for(RANCH)
    table = line(dot, '"table:breed" [')
    assert "breed: 50 rows" in table and "breed00, breed01" in table and "breed49" in table
    assert line(dot, '"table:breed" -> "act:buy"').endswith("[style=dotted, arrowhead=none];")
    assert '"table:breed:' not in dot
    rows = runner.invoke(app, ["graph", str(RANCH), "--rows"])
    assert rows.exit_code == 0, rows.output
    nodes = [ln for ln in rows.output.splitlines() if "[shape=note" in ln]
    assert len(nodes) == 50 and "price 13, wool 2, unlock 2" in nodes[1]
    assert '"table:breed:breed49" -> "act:buy"' in rows.output
    assert '"table:breed" [' not in rows.output


def test_a_fifty_row_game_draws_a_picture_of_a_readable_size(tmp_path):
    need("dot")
    png = tmp_path / "ranch.png"
    result = runner.invoke(app, ["graph", str(RANCH), "-f", "png", "-o", str(png)])
    assert result.exit_code == 0, result.output
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    # one table node and merged edges: under 1000 px wide (it was 3537 with 25 edges)
    assert width <= 1000 and height <= 1400, (width, height)


def test_harvest_graph_shows_pools_converters_limits_and_meters():
    dot = dot_for(HARVEST)
    assert RED not in dot  # harvest as designed has no loop
    assert 'peripheries=2, label="energy\\nmeter, start 30, max 30\\nrefills 1 every 3m"' in dot
    assert line(dot, '"time" -> "res:energy"').endswith('[label="+1 every 3m", style=dashed];')
    assert 'label="market_order(kind)\\nlimit 3 per day per kind"' in dot
    assert 'label="water(slot)\\ncooldown 30m per slot"' in dot
    assert (
        line(dot, '"res:coins" -> "act:buy_seed"')
        == '"res:coins" -> "act:buy_seed" [label="crop[kind].seed_cost * qty"];'
    )
    assert (
        line(dot, '"act:buy_seed" -> "res:seed"')
        == '"act:buy_seed" -> "res:seed" [label="seed[kind] qty"];'
    )
    assert line(dot, '"res:gems" -> "act:speed_up"').startswith(
        '"res:gems" -> "act:speed_up" [label="ceil((field[slot].ready_at - now) / 10m)"'
    )
    assert '"act:open_crate" -> "res:gems" [label="20\\n(draw 5 in 100)", style=dashed];' in dot
    assert '"act:plant" -> "slots:field" [label="fill"];' in dot


def test_loops_found_by_explore_are_red():
    dot = dot_for(FOUNDRY)
    assert (
        "loops found by rulesc explore (red): buy_ore -> smelt -> sell_ingot (+1 coins a turn)"
        in dot
    )
    for node in ("act:buy_ore", "act:smelt", "act:sell_ingot", "res:ore", "res:ingot", "res:coins"):
        assert RED in line(dot, f'"{node}" ['), node
    for node in ("act:mine", "res:energy"):
        assert RED not in line(dot, f'"{node}" ['), node
    assert RED in line(dot, '"res:ore" -> "act:smelt"')
    assert RED in line(dot, '"act:sell_ingot" -> "res:coins"')
    assert RED not in line(dot, '"act:mine" -> "res:ore"')  # mining is no part of the loop


def test_expressions_are_written_as_the_rules_write_them():
    from rulesc.compiler import ir, irtext
    from rulesc.compiler import types as T

    def num(v):
        return ir.Const(v, T.INT)

    def op(o, a, b):
        return ir.Arith(o, a, b, T.INT)

    a, b, c = (ir.ParamRef(n, T.INT) for n in "abc")
    assert irtext.text(op("-", a, op("-", b, c))) == "a - (b - c)"
    assert irtext.text(op("*", op("+", a, b), c)) == "(a + b) * c"
    assert irtext.text(op("+", a, op("*", b, num(10_000)))) == "a + b * 10_000"
    assert (
        irtext.text(ir.CeilDiv(op("-", a, b), ir.Const(600_000, T.DURATION), T.INT))
        == "ceil((a - b) / 10m)"
    )


def test_graph_is_deterministic_and_writes_a_file(tmp_path):
    out = tmp_path / "foundry.dot"
    result = runner.invoke(app, ["graph", str(FOUNDRY), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == dot_for(FOUNDRY) == dot_for(FOUNDRY)


def test_png_without_graphviz_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(graphing.shutil, "which", lambda name: None)
    result = runner.invoke(
        app, ["graph", str(HARVEST), "--format", "png", "-o", str(tmp_path / "h.png")]
    )
    assert result.exit_code == 2
    assert (
        "needs Graphviz's `dot` program" in result.output
        and "apt-get install graphviz" in result.output
    )


def test_png_and_svg_with_graphviz(tmp_path):
    need("dot")
    png = tmp_path / "harvest.png"
    assert runner.invoke(app, ["graph", str(HARVEST), "-f", "png", "-o", str(png)]).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = runner.invoke(app, ["graph", str(HARVEST), "-f", "svg"])
    assert svg.exit_code == 0 and "<svg" in svg.output


def test_rules_errors_exit_1(tmp_path):
    (tmp_path / "game.rules").write_text('game broken "Broken"\naction a\n  gain nothing 1\n')
    assert runner.invoke(app, ["graph", str(tmp_path)]).exit_code == 1


def test_what_events_change_is_noted_where_it_acts():
    dot = runner.invoke(app, ["graph", str(HARVEST)]).output
    note = "harvest_festival: crop[wheat].sell 4 -> 8"
    assert line(dot, '"act:sell" -> "res:coins"').startswith(
        f'"act:sell" -> "res:coins" [label="crop[kind].sell * qty\\n{note}"'
    )
    # through a `let paid = ...`, and on the table's note
    assert note in line(dot, '"act:market_order" -> "res:coins"')
    assert note in line(dot, '"table:crop" [')
    assert "harvest_festival" not in line(dot, '"res:coins" -> "act:buy_seed"')
    # a limit's count, on the action
    assert line(dot, '"act:daily_gift" [').endswith(
        'label="daily_gift\\nlimit 1 per day\\nharvest_festival: limit daily_gift 1 -> 2 per day"];'
    )
    rows = runner.invoke(app, ["graph", str(HARVEST), "--rows"]).output
    assert note in line(rows, '"table:crop:wheat" [')
    assert "harvest_festival" not in line(rows, '"table:crop:corn" [')


def test_a_loop_that_pays_only_during_an_event_is_red_and_named():
    dot = runner.invoke(app, ["graph", str(FESTIVAL)]).output
    assert (
        "loops found by rulesc explore (red): buy_seed -> grow -> sell "
        "(+1 coins a turn, only while harvest_festival runs)"
    ) in dot
    assert f'color="{RED}"' in line(dot, '"res:coins" -> "act:buy_seed"')
    assert RED not in dot_for(FESTIVAL)  # the loops of the game as declared: none
