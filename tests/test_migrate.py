"""`migrate` lines: what they cover in the swap check (runtime/swapcheck.py), how a state is
migrated (runtime/migrate.py through engine.upgrade), and `rulesc diff`."""

from __future__ import annotations

import json
import subprocess
import sys

from rulesc.runtime import engine
from rulesc.runtime.swapcheck import all_losses, losses, swap_losses

from .gamekit import Player, build_pack
from .test_swapcheck import FARM, edit

NO_BERRY = edit(FARM, ("  berry: 5, 2m, 2\n", ""))


def berry_farmer(tmp_path) -> Player:
    """Under FARM: 2 berry seeds (one planted), 10 gems."""
    player = Player(build_pack(tmp_path, FARM))
    for step in (("buy", {"kind": "berry"}),) * 3 + (("plant", {"slot": 1, "kind": "berry"}),):
        assert player.do(step[0], **step[1]).ok
    return player


def test_a_row_migration_covers_every_loss_of_the_row(tmp_path) -> None:
    old = build_pack(tmp_path, FARM)
    assert [x.place for x in swap_losses(old, build_pack(tmp_path, NO_BERRY))] == [
        "produce[berry]",
        "seed[berry]",
        "plot[].crop = berry",
    ]
    moved = build_pack(tmp_path, NO_BERRY + "\nmigrate crop[berry] -> crop[wheat]\n")
    assert swap_losses(old, moved) == []
    assert {x.place: x.migration for x in all_losses(old.schema, moved.schema)} == {
        "produce[berry]": "crop[berry] -> crop[wheat]",
        "seed[berry]": "crop[berry] -> crop[wheat]",
        "plot[].crop = berry": "crop[berry] -> crop[wheat]",
    }
    # one resource's row only: the other holdings of the row are still lost
    seeds_only = build_pack(tmp_path, NO_BERRY + "\nmigrate seed[berry] -> coins * 5\n")
    assert [x.place for x in swap_losses(old, seeds_only)] == [
        "produce[berry]",
        "plot[].crop = berry",
    ]


def test_a_rename_a_drop_and_a_whole_resource_that_does_not_fit(tmp_path) -> None:
    old = build_pack(tmp_path, FARM).schema
    renamed = FARM.replace("gems", "diamonds")
    assert [x.place for x in losses(old, build_pack(tmp_path, renamed).schema)] == ["gems"]
    assert losses(old, build_pack(tmp_path, renamed + "\nmigrate gems -> diamonds\n").schema) == []
    no_tool = edit(FARM, ("item tool\n", ""))
    assert losses(old, build_pack(tmp_path, no_tool + "\nmigrate tool -> nothing\n").schema) == []
    # produce (counted per crop) into coins (one amount): it cannot land, still a loss
    no_produce = edit(
        FARM,
        ("item produce of crop max 99\n", ""),
        ("gain produce[kind] crop[kind].yield, xp 1", "gain xp 1"),
    )
    into_coins = build_pack(tmp_path, no_produce + "\nmigrate produce -> coins\n")
    assert [x.place for x in losses(old, into_coins.schema)] == ["produce"]
    into_seeds = build_pack(tmp_path, no_produce + "\nmigrate produce -> seed\n")
    assert losses(old, into_seeds.schema) == []


def test_a_state_is_migrated_once_and_a_new_state_never(tmp_path) -> None:
    player = berry_farmer(tmp_path)
    lines = "\nmigrate crop[berry] -> crop[wheat]\nmigrate gems * 3\n"
    new = build_pack(tmp_path, NO_BERRY + lines)
    state, done = engine.upgrade(new, player.state, player.now)
    assert done.lines == ["crop[berry] -> crop[wheat]", "gems * 3"]
    assert done.changes == {
        "seed[berry]": [2, None],
        "plot[1]": [
            {"crop": "berry", "ready_at": player.state["plot"][1]["ready_at"]},
            {"crop": "wheat", "ready_at": player.state["plot"][1]["ready_at"]},
        ],
        "seed[wheat]": [0, 2],
        "gems": [10, 30],
    }
    assert state["seed"] == {"wheat": 2} and state["gems"] == 30
    assert state["plot"][1]["crop"] == "wheat" and state["_pack"] == new.version
    # read again under the same pack, or under a later pack with the same lines: nothing more
    later = build_pack(tmp_path, NO_BERRY + lines + "\naction tip2\n  gain coins 2\n")
    again, done = engine.upgrade(later, state, player.now)
    assert done.changes == {} and again["gems"] == 30 and again["seed"] == {"wheat": 2}
    fresh = engine.prepare(new, None, 0)
    assert engine.upgrade(later, fresh, 0)[1].changes == {}  # born under the lines: had them
    # and the migrated state plays on under the new pack
    player.pack, player.state = new, state
    assert player.do("harvest", slot=1).ok is False  # not ready yet (the timer came along)
    player.wait(3 * 60_000)
    out = player.do("harvest", slot=1)
    assert out.ok and out.changes["produce[wheat]"] == [0, 3]


def test_a_move_is_cut_at_the_target_max_and_says_so(tmp_path) -> None:
    player = Player(build_pack(tmp_path, FARM))
    assert player.do("tip").ok  # 101 coins
    gone = edit(FARM, ("currency coins start 100\n", "currency coins start 100 max 500\n"))
    gone = gone.replace("currency gems start 10 max 500\n", "") + "\nmigrate gems -> coins * 50\n"
    new = build_pack(tmp_path, gone)
    state, done = engine.upgrade(new, player.state, player.now)
    assert state["coins"] == 500 and done.clamped == {"coins": 101 + 500 - 500}
    assert done.changes == {"gems": [10, None], "coins": [101, 500]}


def rulesc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rulesc.cli.main", *args], capture_output=True, text=True
    )


def test_rulesc_diff_tells_changes_and_refuses_what_is_not_migrated(tmp_path) -> None:
    old = build_pack(tmp_path, FARM).path
    priced = edit(NO_BERRY, ("wheat: 2, 1m, 3", "wheat: 3, 1m, 3"), ("max 500", "max 900"))
    unsafe = build_pack(tmp_path, priced).path
    out = rulesc("diff", str(old), str(unsafe))
    assert out.returncode == 1, out.stderr
    assert "- row crop[berry]" in out.stdout and "~ crop[wheat]: price 2 -> 3" in out.stdout
    assert "~ resource gems: max 500 -> 900" in out.stdout
    assert "UNSAFE: 3 loss(es)" in out.stdout and "seed[berry]:" in out.stdout
    safe = build_pack(tmp_path, priced + "\nmigrate crop[berry] -> crop[wheat]\n").path
    out = rulesc("diff", str(old), str(safe), "--format", "json")
    assert out.returncode == 0, out.stderr
    diff = json.loads(out.stdout)
    assert diff["safe"] is True
    crop = diff["tables"]["changed"]["crop"]
    assert crop["rows_renamed"] == {"berry": "wheat"} and crop["rows_removed"] == []
    assert crop["values"] == {"wheat": {"price": [2, 3]}}
    assert diff["resources"]["changed"] == {"gems": {"max": [500, 900]}}
    assert diff["migrations"] == [
        {
            "text": "crop[berry] -> crop[wheat]",
            "kind": "row",
            "covers": ["produce[berry]", "seed[berry]", "plot[].crop = berry"],
        }
    ]
    assert rulesc("diff", str(old), str(tmp_path / "nowhere")).returncode == 2
