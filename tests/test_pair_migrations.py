"""`migrate` lines that reach items of two tables (issue 15): a row line of either table
moves every pair using the row, pair lines name pairs (`*` for every row of a key), and the
most specific line wins. What the swap check and `rulesc diff` count as covered, how a
state is migrated (engine.upgrade), the pack format, and `rulesc fmt`. The server tests
(both stores, lazily on first read, the ledger entry) are in tests/test_server_swap.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rulesc.compiler.build import compile_game
from rulesc.dsl.fmt import format_source
from rulesc.runtime import engine
from rulesc.runtime.swapcheck import all_losses, swap_losses

from .gamekit import Player, build_pack
from .test_swapcheck import edit

MARKET = """
game market
currency coins start 100

table crop
  columns price: int
  wheat: 5
  carrot: 7
  beet: 4

table quality
  columns bonus: int
  silver: 1
  gold: 3
  bronze: 1

item seed of crop
item produce of crop, quality max 50

action harvest(kind: crop, q: quality, qty: int 1..50)
  gain produce[kind, q] qty, seed[kind] 1
"""

NO_BEET = edit(MARKET, ("  beet: 4\n", ""))
NO_BEET_NO_BRONZE = edit(NO_BEET, ("  bronze: 1\n", ""))


def beet_farmer(tmp_path) -> Player:
    """Under MARKET: produce[beet, gold] 4, [beet, silver] 2, [beet, bronze] 1,
    [carrot, gold] 3, [wheat, bronze] 5; seed[beet] 3, seed[carrot] 1, seed[wheat] 1."""
    player = Player(build_pack(tmp_path, MARKET))
    for kind, q, qty in [
        ("beet", "gold", 4),
        ("beet", "silver", 2),
        ("beet", "bronze", 1),
        ("carrot", "gold", 3),
        ("wheat", "bronze", 5),
    ]:
        assert player.do("harvest", kind=kind, q=q, qty=qty).ok
    return player


def migrated(tmp_path, rules: str) -> tuple[dict, dict, engine.migrate.Migration]:
    player = beet_farmer(tmp_path)
    new = build_pack(tmp_path, rules)
    state, done = engine.upgrade(new, player.state, player.now)
    return player.state, state, done


def test_a_row_line_moves_every_pair_of_the_row_and_merges_counts(tmp_path) -> None:
    _, state, done = migrated(tmp_path, NO_BEET + "\nmigrate crop[beet] -> crop[carrot]\n")
    assert state["produce"]["carrot"] == {"silver": 2, "gold": 3 + 4, "bronze": 1}
    assert "beet" not in state["produce"] and state["seed"]["carrot"] == 1 + 3
    assert done.lines == ["crop[beet] -> crop[carrot]"]
    assert done.changes["produce[beet, gold]"] == [4, None]
    assert done.changes["produce[carrot, gold]"] == [3, 7]
    assert done.changes["produce[carrot, bronze]"] == [0, 1]


def test_a_row_line_drops_or_converts_by_count(tmp_path) -> None:
    _, state, done = migrated(tmp_path, NO_BEET + "\nmigrate crop[beet] -> nothing\n")
    assert "beet" not in state["produce"] and state["produce"]["carrot"]["gold"] == 3
    assert done.changes["produce[beet, gold]"] == [4, None] and "coins" not in done.changes
    _, state, done = migrated(tmp_path, NO_BEET + "\nmigrate crop[beet] -> coins * 3\n")
    # 3 seeds and 4 + 2 + 1 produce, 3 coins each
    assert state["coins"] == 100 + (3 + 7) * 3 and done.changes["coins"] == [100, 130]


def test_the_most_specific_line_wins(tmp_path) -> None:
    lines = (
        "\nmigrate crop[beet] -> crop[carrot]\n"
        "migrate produce[beet, *] -> produce[wheat, *]\n"
        "migrate produce[beet, gold] -> coins * 10\n"
    )
    _, state, done = migrated(tmp_path, NO_BEET + lines)
    assert state["coins"] == 100 + 4 * 10  # the pair line naming both rows
    assert state["produce"]["wheat"] == {"silver": 2, "gold": 0, "bronze": 5 + 1}  # the `*` line
    assert state["produce"]["carrot"] == {"silver": 0, "gold": 3, "bronze": 0}  # not the row line
    assert state["seed"]["carrot"] == 1 + 3  # the row line still moves the one-key item
    assert len(done.lines) == 3


def test_row_renames_compose_and_a_star_target_keeps_the_row(tmp_path) -> None:
    renames = "\nmigrate crop[beet] -> crop[carrot]\nmigrate quality[bronze] -> quality[silver]\n"
    _, state, _ = migrated(tmp_path, NO_BEET_NO_BRONZE + renames)
    assert state["produce"]["carrot"] == {"silver": 2 + 1, "gold": 3 + 4}
    assert state["produce"]["wheat"] == {"silver": 5, "gold": 0}
    # a `*` target keeps bronze, gone too: the quality row line takes it on from there
    pair = "\nmigrate produce[beet, *] -> produce[wheat, *]\nmigrate quality[bronze] -> coins\n"
    _, state, _ = migrated(tmp_path, NO_BEET_NO_BRONZE + pair)
    assert state["produce"]["wheat"] == {"silver": 2, "gold": 4}
    assert state["coins"] == 100 + 1 + 5  # [beet, bronze] and [wheat, bronze]


def test_a_pair_is_migrated_once(tmp_path) -> None:
    rules = (
        NO_BEET
        + "\nmigrate produce[beet, *] -> produce[carrot, *]\nmigrate seed[beet] -> nothing\n"
    )
    _, state, done = migrated(tmp_path, rules)
    assert state["produce"]["carrot"]["gold"] == 7 and done.changes
    later = build_pack(tmp_path, rules + "\naction tip\n  gain coins 1\n")
    again, done = engine.upgrade(later, state, 0)
    assert done.changes == {} and again["produce"]["carrot"]["gold"] == 7


def test_the_swap_check_counts_pairs_covered_and_names_the_ones_that_are_not(tmp_path) -> None:
    old = build_pack(tmp_path, MARKET)
    assert [x.place for x in swap_losses(old, build_pack(tmp_path, NO_BEET))] == [
        "produce[beet, *]",
        "seed[beet]",
    ]
    row = build_pack(tmp_path, NO_BEET + "\nmigrate crop[beet] -> crop[carrot]\n")
    assert swap_losses(old, row) == []
    # one pair line: it covers its pair, the others of the row are still lost
    one = build_pack(
        tmp_path,
        NO_BEET
        + "\nmigrate produce[beet, gold] -> produce[carrot, gold]\nmigrate seed[beet] -> nothing\n",
    )
    assert {x.place: x.migration for x in all_losses(old.schema, one.schema)} == {
        "produce[beet, bronze]": None,
        "produce[beet, gold]": "produce[beet, gold] -> produce[carrot, gold]",
        "produce[beet, silver]": None,
        "seed[beet]": "seed[beet] -> nothing",
    }
    assert [x.place for x in swap_losses(old, one)] == [
        "produce[beet, bronze]",
        "produce[beet, silver]",
    ]
    # a `*` target whose row is gone too, with no line for that row: that pair is still lost
    star = build_pack(
        tmp_path,
        NO_BEET_NO_BRONZE
        + "\nmigrate produce[beet, *] -> produce[carrot, *]\nmigrate seed[beet] -> nothing\n",
    )
    assert [x.place for x in swap_losses(old, star)] == [
        "produce[beet, bronze]",
        "produce[*, bronze]",
    ]


def test_the_pack_format_is_9_only_for_pair_migrations(tmp_path) -> None:
    def fmt(rules: str) -> int:
        (tmp_path / "market.rules").write_text(rules, encoding="utf-8")
        result = compile_game(tmp_path, with_tests=False)
        assert result.ok and result.files is not None, [d.message for d in result.diagnostics]
        return json.loads(result.files["manifest.json"])["format"]

    assert fmt(NO_BEET + "\nmigrate seed[beet] -> seed[carrot]\n") == 8  # one key: as before
    assert fmt(NO_BEET + "\nmigrate crop[beet] -> crop[carrot]\n") == 9  # reaches the pairs
    assert fmt(NO_BEET + "\nmigrate produce[beet, *] -> nothing\n") == 9
    without_pairs = edit(
        NO_BEET, ("item produce of crop, quality max 50\n", ""), (", seed", " seed")
    )
    without_pairs = edit(
        without_pairs, ("gain produce[kind, q] qty seed[kind] 1", "gain seed[kind] 1")
    )
    assert fmt(without_pairs + "\nmigrate crop[beet] -> crop[carrot]\n") == 4
    assert fmt(without_pairs + "\nmigrate crop[beet] -> coins * 2\n") == 9  # a conversion


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        ("migrate produce[beet] -> nothing", "R086", "name a pair"),
        ("migrate seed[beet, gold] -> nothing", "R086", "`seed` is counted per crop: one key"),
        ("migrate crop[beet, gold] -> nothing", "R086", "`crop` is a table: one row"),
        ("migrate produce[beet, gold] -> produce[carrot]", "R086", "name a row of each"),
        ("migrate produce[beet, gold] -> produce[melon, gold]", "R090", "`melon` is not a row"),
        ("migrate produce[wheat, gold] -> nothing", "R090", "still a pair"),
        ("migrate produce[*, *] -> nothing", "R090", "names every pair"),
        ("migrate seed[*] -> nothing", "R090", "`*` only stands for a key of a pair"),
        ("migrate produce[beet, gold] -> produce[carrot, *]", "R090", "keeps the source's row"),
    ],
)
def test_pair_lines_with_mistakes(tmp_path, line, code, message) -> None:
    (tmp_path / "market.rules").write_text(NO_BEET + f"\n{line}\n", encoding="utf-8")
    result = compile_game(tmp_path, with_tests=False)
    errors = [d for d in result.diagnostics if d.is_error]
    assert [d.code for d in errors] == [code], [d.message for d in errors]
    assert message in errors[0].message and errors[0].hint
    assert errors[0].span.line == NO_BEET.count("\n") + 2


def test_equally_specific_lines_that_disagree_and_what_settles_them(tmp_path) -> None:
    def errors(lines: str) -> list[str]:
        (tmp_path / "market.rules").write_text(NO_BEET_NO_BRONZE + lines, encoding="utf-8")
        result = compile_game(tmp_path, with_tests=False)
        return [d.code for d in result.diagnostics if d.is_error]

    stars = (
        "\nmigrate produce[beet, *] -> produce[carrot, *]\nmigrate produce[*, bronze] -> nothing\n"
    )
    assert errors(stars) == ["R096"]
    assert errors(stars + "migrate produce[beet, bronze] -> coins\n") == []
    both_drop = "\nmigrate produce[beet, *] -> nothing\nmigrate produce[*, bronze] -> nothing\n"
    assert errors(both_drop) == []
    rows = "\nmigrate crop[beet] -> nothing\nmigrate quality[bronze] -> coins\n"
    assert errors(rows) == ["R096"]
    assert errors(rows + "migrate produce[beet, *] -> nothing\n") == []
    # renames compose, and two drops agree
    assert errors("\nmigrate crop[beet] -> crop[wheat]\nmigrate quality[bronze] -> coins\n") == []
    assert errors("\nmigrate crop[beet] -> nothing\nmigrate quality[bronze] -> nothing\n") == []
    alike = "\nmigrate crop[beet] -> coins * 2\nmigrate quality[bronze] -> coins * 2\n"
    assert errors(alike) == []
    assert errors(alike.replace("coins * 2\n", "coins\n", 1)) == ["R096"]
    assert errors("\nmigrate produce[beet, *] -> nothing\nmigrate produce[beet, *] -> coins\n") == [
        "R090"
    ]


def test_fmt_keeps_the_new_forms_stable() -> None:
    messy = (
        "migrate produce[ beet,* ] -> produce[carrot ,*]*2\n"
        "migrate produce[*,gold] -> nothing   # gone\n"
        "migrate  crop[beet] -> coins*3\n"
        "migrate produce[beet,silver] -> produce[wheat,gold]\n"
        "migrate produce[wheat, *]*2\n"
    )
    result = format_source(NO_BEET + messy, "market.rules")
    assert result.problem is None and result.text is not None
    assert result.text.endswith(
        "migrate produce[beet, *] -> produce[carrot, *] * 2\n"
        "migrate produce[*, gold] -> nothing  # gone\n"
        "migrate crop[beet] -> coins * 3\n"
        "migrate produce[beet, silver] -> produce[wheat, gold]\n"
        "migrate produce[wheat, *] * 2\n"
    )
    assert format_source(result.text, "market.rules").changed is False


def rulesc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rulesc.cli.main", *args], capture_output=True, text=True
    )


def test_rulesc_diff_names_uncovered_pairs_and_what_each_line_covers(tmp_path) -> None:
    old = build_pack(tmp_path, MARKET).path
    partial = (
        NO_BEET
        + "\nmigrate produce[beet, gold] -> produce[carrot, gold]\nmigrate seed[beet] -> nothing\n"
    )
    out = rulesc("diff", str(old), str(build_pack(tmp_path, partial).path))
    assert out.returncode == 1, out.stderr
    assert "UNSAFE: 2 loss(es)" in out.stdout
    assert "  produce[beet, silver]: row `beet` is gone from table `crop`" in out.stdout
    assert "migrate produce[beet, gold] -> produce[carrot, gold] (covers produce[beet, gold])" in (
        out.stdout
    )
    full = partial + "migrate crop[beet] -> crop[wheat]\n"
    out = rulesc("diff", str(old), str(build_pack(tmp_path, full).path), "--format", "json")
    assert out.returncode == 0, out.stderr
    diff = json.loads(out.stdout)
    assert diff["safe"] is True
    covers = {m["text"]: m["covers"] for m in diff["migrations"]}
    assert covers["produce[beet, gold] -> produce[carrot, gold]"] == ["produce[beet, gold]"]
    assert covers["crop[beet] -> crop[wheat]"] == ["produce[beet, bronze]", "produce[beet, silver]"]


def test_a_scale_multiplies_pairs(tmp_path) -> None:
    _, state, done = migrated(tmp_path, MARKET + "\nmigrate produce[*, gold] * 2\n")
    assert state["produce"]["beet"] == {"silver": 2, "gold": 8, "bronze": 1}
    assert state["produce"]["carrot"]["gold"] == 6 and done.changes["produce[beet, gold]"] == [4, 8]
    _, state, _ = migrated(tmp_path, MARKET + "\nmigrate produce * 3\n")
    assert state["produce"]["wheat"] == {"silver": 0, "gold": 0, "bronze": 15}


def test_an_item_of_two_tables_removed_whole_is_dropped_pair_by_pair(tmp_path) -> None:
    old = build_pack(tmp_path, MARKET)
    gone = edit(
        MARKET,
        ("item produce of crop, quality max 50\n", "item juice of crop\n"),
        ("gain produce[kind, q] qty, seed[kind] 1", "gain juice[kind] qty, seed[kind] 1"),
    )
    # its pairs cannot land in an item of one table: still a loss
    into_juice = build_pack(tmp_path, gone + "\nmigrate produce -> juice\n")
    assert [x.place for x in swap_losses(old, into_juice)] == ["produce"]
    dropped = build_pack(tmp_path, gone + "\nmigrate produce -> nothing\n")
    assert swap_losses(old, dropped) == []
    player = beet_farmer(tmp_path)
    state, done = engine.upgrade(dropped, player.state, player.now)
    assert "produce" not in state and done.changes["produce[beet, gold]"] == [4, None]
