"""Which rule swaps would lose what players hold (runtime/swapcheck.py), and what the engine
answers when a state holds something its pack no longer knows."""

from __future__ import annotations

import json
import subprocess
import sys

from rulesc.runtime import engine
from rulesc.runtime.swapcheck import losses, swap_losses

from .gamekit import HOUR, Player, build_pack

FARM = """
game farm "Farm"
currency coins start 100
currency gems start 10 max 500
stat xp
level from xp at 0, 10, 30
table crop
  columns price: int, grow: duration, yield: int
  wheat: 2, 1m, 3
  berry: 5, 2m, 2
item seed of crop
item produce of crop max 99
item tool
slots plot 4
  crop: crop
  ready_at: time

action buy(kind: crop)
  cost coins crop[kind].price
  gain seed[kind] 1

action plant(slot: plot, kind: crop)
  require plot[slot] is empty
  cost seed[kind] 1
  fill plot[slot] with crop = kind, ready_at = now + crop[kind].grow

action harvest(slot: plot)
  require plot[slot] is filled
  require now >= plot[slot].ready_at
  let kind = plot[slot].crop
  gain produce[kind] crop[kind].yield, xp 1
  empty plot[slot]

action clear(slot: plot)
  require plot[slot] is filled
  empty plot[slot]

action tip
  gain coins 1
"""


def places(tmp_path, old: str, new: str) -> list[str]:
    return [
        loss.place for loss in swap_losses(build_pack(tmp_path, old), build_pack(tmp_path, new))
    ]


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for before, after in pairs:
        assert before in text, before
        text = text.replace(before, after)
    return text


def test_safe_changes_lose_nothing(tmp_path) -> None:
    new = edit(
        FARM,
        ("wheat: 2, 1m, 3", "wheat: 3, 2m, 4"),  # prices and timings
        ("currency coins start 100", "currency coins start 150"),  # new players only
        ("  berry: 5, 2m, 2\n", "  berry: 5, 2m, 2\n  corn: 7, 3m, 2\n"),  # a new row
        ("item tool\n", "item tool\nitem lamp\n"),  # a new resource
        ("slots plot 4", "slots plot 6"),  # more slots
        ("max 500", "max 900"),  # a higher max
        ("at 0, 10, 30", "at 0, 8, 30, 60"),  # levels come sooner, one more
        ("action tip\n  gain coins 1\n", "action tip\n  gain coins 2\n"),
    )
    assert places(tmp_path, FARM, new) == []


def test_a_removed_row_loses_the_items_and_the_slots_of_it(tmp_path) -> None:
    found = swap_losses(
        build_pack(tmp_path, FARM), build_pack(tmp_path, edit(FARM, ("  berry: 5, 2m, 2\n", "")))
    )
    assert [loss.place for loss in found] == [
        "produce[berry]",
        "seed[berry]",
        "plot[].crop = berry",
    ]
    assert "row `berry` is gone from table `crop`" in found[0].problem


def test_a_renamed_resource_is_a_removal(tmp_path) -> None:
    found = swap_losses(
        build_pack(tmp_path, FARM), build_pack(tmp_path, FARM.replace("gems", "diamonds"))
    )
    assert [loss.place for loss in found] == ["gems"]
    assert "deleted" in found[0].problem and "diamonds" in found[0].problem


def test_shrunk_or_removed_slots_and_changed_fields(tmp_path) -> None:
    assert places(tmp_path, FARM, edit(FARM, ("slots plot 4", "slots plot 2"))) == [
        "plot[2]",
        "plot[3]",
    ]
    no_slots = edit(FARM, ("slots plot 4\n  crop: crop\n  ready_at: time\n", ""))
    no_slots = "\n\n".join(part for part in no_slots.split("\n\n") if "plot" not in part)
    assert places(tmp_path, FARM, no_slots) == ["plot"]
    wet = edit(
        FARM,
        ("  ready_at: time\n", "  ready_at: time\n  wet: bool\n"),
        ("ready_at = now + crop[kind].grow", "ready_at = now + crop[kind].grow, wet = false"),
    )
    assert places(tmp_path, FARM, wet) == ["plot[].wet"]
    assert places(tmp_path, wet, FARM) == ["plot[].wet"]  # and the other way: a field gone


def test_a_removed_item_kind(tmp_path) -> None:
    assert places(tmp_path, FARM, edit(FARM, ("item tool\n", ""))) == ["tool"]
    # an item counted per row that becomes one amount: reset
    single = edit(
        FARM,
        ("item produce of crop max 99", "item produce max 99"),
        ("gain produce[kind] crop[kind].yield", "gain produce crop[kind].yield"),
    )
    assert places(tmp_path, FARM, single) == ["produce"]


def test_tightened_bounds_and_lower_levels(tmp_path) -> None:
    lowered = swap_losses(
        build_pack(tmp_path, FARM), build_pack(tmp_path, edit(FARM, ("max 500", "max 400")))
    )
    assert [(x.place, "cut down" in x.problem) for x in lowered] == [("gems", True)]
    assert places(tmp_path, FARM, edit(FARM, ("item tool", "item tool max 5"))) == ["tool"]
    assert places(tmp_path, FARM, edit(FARM, ("at 0, 10, 30", "at 0, 10, 40"))) == ["level"]
    assert places(tmp_path, FARM, edit(FARM, ("at 0, 10, 30", "at 0, 10"))) == ["level"]
    assert places(tmp_path, FARM, edit(FARM, ("level from xp at 0, 10, 30\n", ""))) == ["level"]


def test_it_reads_schemas_alone_and_wants_the_same_game(tmp_path) -> None:
    old = json.loads((build_pack(tmp_path, FARM).path / "schema.json").read_text())
    new = json.loads(
        (build_pack(tmp_path, edit(FARM, ("item tool\n", ""))).path / "schema.json").read_text()
    )
    assert [x.place for x in losses(old, new)] == ["tool"]
    assert [x.place for x in losses(old, old | {"game": "other"})] == ["game"]
    # the runtime side only: the check never loads the compiler
    code = (
        "import sys, rulesc.runtime.swapcheck; "
        "sys.exit(any(m.startswith('rulesc.compiler') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_slot_holding_a_row_the_pack_no_longer_knows_is_a_rejection(tmp_path) -> None:
    before = build_pack(tmp_path, FARM)
    after = build_pack(tmp_path, edit(FARM, ("  berry: 5, 2m, 2\n", "")))
    player = Player(before)
    assert player.do("buy", kind="berry").ok and player.do("plant", slot=1, kind="berry").ok
    player.pack = after  # however it got there: a restart on other rules, an older process
    player.wait(HOUR)
    out = player.do("harvest", slot=1)
    assert not out.ok and out.error is not None
    assert out.error["code"] == "unknown_row"
    assert out.error["details"] == {"places": {"plot[1].crop": "berry"}}
    assert out.state["plot"][1]["crop"] == "berry"  # nothing changed
    assert player.do("tip").ok  # other actions work
    cleared = player.do("clear", slot=1)  # and the slot can be freed
    assert cleared.ok and cleared.state["plot"][1] is None
    assert engine.unknown_holdings(after, cleared.state) == {}
