"""Packs record their own changes (pack format 2): what the engine reports without diffing."""

from __future__ import annotations

from .gamekit import Player, build_pack

GAME = """
game rec "Recorded"
currency coins start 10
table crop
  columns price: int
  wheat: 1
  corn: 2
item seed of crop start 1
slots plot 2
  crop: crop
  n: int

action swap(a: crop, b: crop)
  cost seed[a] 1, seed[b] 1
  gain coins 1

action restock(kind: crop)
  gain seed[kind] 1

action there_and_back
  gain coins 5
  set coins = coins - 5

action sow(spot: plot, kind: crop)
  require plot[spot] is empty
  fill plot[spot] with crop = kind, n = 1
  set plot[spot].n = 2

action reap(spot: plot)
  require plot[spot] is filled
  let kind = plot[spot].crop
  empty plot[spot]
  gain seed[kind] plot[spot].n
"""


def test_one_place_costed_twice_needs_both_amounts(tmp_path):
    p = Player(build_pack(tmp_path, GAME))
    out = p.do("swap", a="wheat", b="wheat")
    assert not out.ok and out.error["code"] == "insufficient"
    assert out.error["message"] == "need 2 seed[wheat], have 1"
    p.do("restock", kind="wheat")
    out = p.do("swap", a="wheat", b="wheat")
    assert out.ok and out.changes == {"seed[wheat]": [2, 0], "coins": [10, 11]}


def test_a_place_written_back_to_its_value_is_not_a_change(tmp_path):
    out = Player(build_pack(tmp_path, GAME)).do("there_and_back")
    assert out.ok and out.changes == {}


def test_slot_written_twice_reports_before_and_final(tmp_path):
    p = Player(build_pack(tmp_path, GAME))
    out = p.do("sow", spot=1, kind="corn")
    assert out.ok and out.changes == {"plot[1]": [None, {"crop": "corn", "n": 2}]}


def test_reading_an_emptied_slot_is_still_checked(tmp_path):
    # `plot[spot]` was known filled, then emptied: reading it again must check again
    p = Player(build_pack(tmp_path, GAME))
    p.do("sow", spot=0, kind="wheat")
    out = p.do("reap", spot=0)
    assert not out.ok and out.error["code"] == "precondition"
    assert p.state["plot"][0] == {"crop": "wheat", "n": 2}
