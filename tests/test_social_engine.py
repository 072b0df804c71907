"""Players meeting players in the engine and its helpers: snapshots, effects sent and
received, loot, hooks, and the exactly-once bookkeeping of runtime/social.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulesc.runtime import engine, social
from rulesc.runtime.pack import Pack

from .gamekit import T0, build_pack

RULES = """
    game duel "Duel"
    currency coins start 100
    currency trophies start 10 max 12 public
    stat power start 5 public
    stat xp
    level from xp at 0, 10, 20
    item key

    loot box
      3: coins 5
      1: key 1, loot bonus
    loot bonus
      1: coins 100

    action gift(friend: player, qty: int 1..50)
      cost coins qty
      give friend coins qty

    action raid(target: player)
      require target.power < power else "They are too strong"
      take target trophies up to 4

    action hand_over(friend: player)
      give friend loot box

    action open
      gain loot box

    action train
      gain xp 10

    on level_up
      gain coins 1_000

    on receive
      when sender != sender
        gain coins 1
      otherwise
        gain xp 1
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Pack:
    return build_pack(tmp_path_factory.mktemp("duel"), RULES)


def new(pack: Pack) -> dict:
    return engine.prepare(pack, None, T0)


def run(
    pack: Pack, state: dict, name: str, peers: dict | None = None, pin=None, **params
) -> engine.Outcome:  # noqa: ANN001
    return engine.run(
        pack, state, name, params, now=T0, player_id="me", action_id="a1", pin=pin, peers=peers
    )


def test_an_action_names_an_existing_other_player(pack: Pack) -> None:
    me = new(pack)
    out = run(pack, me, "gift", {}, friend="me", qty=5)
    assert out.error["code"] == "bad_params" and "that is you" in out.error["message"]
    out = run(pack, me, "gift", {"bob": None}, friend="bob", qty=5)
    assert out.error["code"] == "bad_params" and "no player 'bob'" in out.error["message"]
    out = run(pack, me, "gift", {"bob": new(pack)}, friend="", qty=5)
    assert out.error["code"] == "bad_params"  # an empty id is not a player
    out = run(pack, me, "gift", {"bob": new(pack)}, friend="bob", qty=5)
    assert out.ok and out.changes == {"coins": [100, 95]}
    assert out.outbox == [
        {"from": "me", "action": "gift", "to": "bob", "kind": "give", "gains": [["coins", None, 5]]}
    ]
    assert out.result("a1")["sent"] == [{"to": "bob", "kind": "give", "amounts": {"coins": 5}}]


def test_public_reads_come_from_the_snapshot(pack: Pack) -> None:
    strong = {**new(pack), "power": 9}
    out = run(pack, new(pack), "raid", {"bob": strong}, target="bob")
    assert (out.ok, out.error["message"]) == (False, "They are too strong")
    out = run(pack, new(pack), "raid", {"bob": new(pack) | {"power": 1}}, target="bob")
    assert out.ok and out.outbox[0]["take"] == ["trophies", None, 4]


def test_a_take_takes_what_there_is_and_sends_it_back(pack: Pack) -> None:
    effect = {
        "id": "me:2:0",
        "seq": [2, 0],
        "from": "me",
        "action": "raid",
        "kind": "take",
        "take": ["trophies", None, 4],
    }
    poor = {**new(pack), "trophies": 3}
    out = engine.receive(pack, poor, effect, now=T0, player_id="bob")
    assert out.state["trophies"] == 0
    assert out.outbox == [
        {
            "from": "bob",
            "action": "raid",
            "to": "me",
            "kind": "return",
            "gains": [["trophies", None, 3]],
        }
    ]
    received = next(e for e in out.events if e["name"] == "received")
    assert received["data"] == {
        "from": "me",
        "action": "raid",
        "kind": "take",
        "amounts": {"trophies": 3},
    }
    # the return: a gain, clamped at the max as any gain
    back = engine.receive(
        pack, new(pack), {**out.outbox[0], "id": "bob:1:0", "seq": [1, 0]}, now=T0, player_id="me"
    )
    assert back.state["trophies"] == 12 and back.clamped == {"trophies": 1}
    assert next(e for e in back.events if e["name"] == "received")["data"]["amounts"] == {
        "trophies": 2
    }


def test_a_delivery_runs_on_receive_and_level_up_once(pack: Pack) -> None:
    effect = {
        "id": "x:1:0",
        "seq": [1, 0],
        "from": "x",
        "action": "gift",
        "kind": "give",
        "gains": [["coins", None, 5], ["gone", None, 9]],
    }
    nearly = {**new(pack), "xp": 9}
    out = engine.receive(pack, nearly, effect, now=T0, player_id="bob")
    assert [e["name"] for e in out.events] == ["received", "level_up"]
    assert (
        out.state["xp"] == 10 and out.state["coins"] == 100 + 5 + 1_000
    )  # the unknown resource skipped
    assert out.changes["level"] == [1, 2]


def test_loot_is_drawn_by_the_draw_and_nested_tables_too(pack: Pack) -> None:
    assert run(pack, new(pack), "open", pin=1).changes == {"coins": [100, 105]}
    assert run(pack, new(pack), "open", pin=(2, 1)).changes == {"key": [0, 1], "coins": [100, 200]}
    out = run(pack, new(pack), "hand_over", {"bob": new(pack)}, pin=(2, 1), friend="bob")
    assert out.changes == {} and out.outbox[0]["gains"] == [["key", None, 1], ["coins", None, 100]]


def test_a_failing_hook_is_dropped_and_said(tmp_path: Path) -> None:
    pack = build_pack(
        tmp_path,
        """
        game climb "Climb"
        stat xp
        currency gems start 0 max 10
        level from xp at 0, 10
        action train
          gain xp 10
        on level_up
          set gems = 20
    """,
    )
    out = engine.run(pack, None, "train", {}, now=T0, player_id="p", action_id="a")
    assert out.ok and out.state["xp"] == 10 and out.state["gems"] == 0
    assert [e["name"] for e in out.events] == ["level_up", "hook_failed"]
    assert out.events[1]["data"]["hook"] == "level_up"


def test_a_new_pack_keeps_the_runtime_keys(pack: Pack, tmp_path: Path) -> None:
    state = {
        **new(pack),
        social.OUTBOX: [{"id": "me:1:0"}],
        social.RECEIVED: {"x": [1, 0]},
        "_pack": "old",
    }
    upgraded = engine.prepare(pack, state, T0)
    assert upgraded[social.OUTBOX] == [{"id": "me:1:0"}] and upgraded[social.RECEIVED] == {
        "x": [1, 0]
    }


def test_receiving_skips_what_was_applied_before(pack: Pack) -> None:
    gift = {"from": "x", "action": "gift", "kind": "give", "gains": [["coins", None, 5]]}
    inbox = [
        {**gift, "id": "x:2:0", "seq": [2, 0]},
        {**gift, "id": "x:1:0", "seq": [1, 0]},
        {**gift, "id": "y:1:0", "seq": [1, 0], "from": "y"},
    ]
    numbering = social.Numbering("bob", 7)
    state, decided, done = social.receive_all(pack, "bob", new(pack), inbox, T0, numbering)
    assert [d.action_id for d in decided] == [
        "@inbox:x:1:0",
        "@inbox:x:2:0",
        "@inbox:y:1:0",
    ]  # seq order
    assert state["coins"] == 115 and state[social.RECEIVED] == {"x": [2, 0], "y": [1, 0]}
    assert sorted(done) == ["x:1:0", "x:2:0", "y:1:0"]
    # the same deliveries again (a deliverer that died before tidying): nothing applies
    again, decided, done = social.receive_all(pack, "bob", state, inbox, T0, numbering)
    assert (again["coins"], decided, sorted(done)) == (115, [], ["x:1:0", "x:2:0", "y:1:0"])
    assert decided == [] and numbering.n == 0


def test_effects_are_numbered_by_the_version_their_commit_makes(pack: Pack) -> None:
    numbering = social.Numbering("me", 8)
    state = social.send(new(pack), [{"to": "a"}, {"to": "b"}], numbering)
    state = social.send(state, [{"to": "a"}], numbering)
    assert [(e["id"], e["seq"]) for e in state[social.OUTBOX]] == [
        ("me:8:0", [8, 0]),
        ("me:8:1", [8, 1]),
        ("me:8:2", [8, 2]),
    ]
    assert [e["id"] for e in social.by_receiver(state[social.OUTBOX])["a"]] == ["me:8:0", "me:8:2"]
    left = social.without(state, {"me:8:0", "me:8:1"})
    assert [e["id"] for e in left[social.OUTBOX]] == ["me:8:2"]
    assert social.OUTBOX not in social.without(left, {"me:8:2"})
    assert social.without(left, {"nope"}) is left
