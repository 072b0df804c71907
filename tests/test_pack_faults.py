"""A fault inside a pack wherever pack code runs outside an action's own statements: the
`on receive` hook of a delivery, `on season_change`, a state's migration to new rules, the
state read, an admin grant. Each is contained to its unit (the hook run, the action, the
read), names the `.rules` line when it has one, writes nothing of the faulting unit, and is
never a 500 or a player stuck on it.

The faults are real: the pack is built, a line that raises is written into its generated
module on disk (after the marker of a `.rules` line, so the fault points at that line), and
the pack is loaded from there, under a version of its own."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rulesc.cli.packbuild import compile_pack
from rulesc.pack_contract import MANIFEST_FILE
from rulesc.runtime import packs, social
from rulesc.runtime.pack import load_pack

from .serverkit import ADMIN, HARVEST, Kit, Reply, Running, a, act, call, session

ROOT = Path(__file__).resolve().parent.parent
ARENA = ROOT / "games" / "arena"
SEASONS = ROOT / "tests" / "games" / "seasons"
BUG = 'raise RuntimeError("a bug in the pack")'
DAY = 86_400_000
T0 = 1_767_700_800_000  # 2026-01-06 12:00 UTC: spring, the farm calendar's second day


def faulty(
    source: Path, data_dir: Path, after: str, tag: str, offset: int = 1, bug: str = BUG
) -> packs.Game:
    """The game at `source` built, with `bug` written into its module `offset` lines after
    the first line that ends with `after`, loaded as version VERSION-TAG."""
    built = packs.build(source, data_dir, compile_pack).pack
    manifest = json.loads((built.path / MANIFEST_FILE).read_text())
    version = manifest["version"]
    module = built.path / manifest["module"]
    lines = module.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip().endswith(after)) + offset
    before = lines[at - 1]
    indent = re.match(r"\s*", lines[at] if before.rstrip().endswith(":") else before)
    assert indent is not None and indent.group()
    lines.insert(at, indent.group() + bug)
    text = "\n".join(lines) + "\n"
    new = f"{version}-{tag}"
    module.write_text(text.replace(f'PACK_VERSION = "{version}"', f'PACK_VERSION = "{new}"'))
    (built.path / MANIFEST_FILE).write_text(json.dumps({**manifest, "version": new}))
    pack = load_pack(built.path)
    assert pack.version == new
    return packs.Game(pack, source, packs.pack_hash(built.path))


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return request.param, url


@pytest.fixture
async def kits(tmp_path: Path, store_kind: tuple[str, str | None]) -> AsyncIterator[list[Kit]]:
    made: list[Kit] = []
    yield made
    for k in made:
        await k.close()


def kit_of(kits: list[Kit], store_kind: tuple[str, str | None], game: packs.Game, tmp: Path) -> Kit:
    k = Kit(store_kind[0], game, tmp, store_kind[1])
    kits.append(k)
    return k


async def arena_player(run: Running, device: str) -> tuple[str, str]:
    r = await call(f"{run.url}/v1/arena/session", "POST", {"device_id": device})
    assert r.status == 200, r.body
    pid, token = r.body["player_id"], r.body["token"]
    r = await call(
        f"{run.url}/v1/arena/actions", "POST", {"actions": [a(f"{device}-t", "train")]}, token=token
    )
    assert r.status == 200 and r.body["results"][0]["status"] == "ok", r.body
    return pid, token


async def acts(run: Running, game: str, token: str, *actions: dict) -> Reply:
    return await call(
        f"{run.url}/v1/{game}/actions", "POST", {"actions": list(actions)}, token=token
    )


async def read(run: Running, game: str, token: str) -> dict:
    r = await call(f"{run.url}/v1/{game}/state", token=token)
    assert r.status == 200, r.body
    return r.body["state"]


async def faults_counted(run: Running, game: str) -> dict[str, float]:
    """rulesc_pack_faults_total for `game` in /metrics, by where."""
    text = (await call(f"{run.url}/metrics")).body.decode()
    found = re.findall(
        rf'^rulesc_pack_faults_total{{game="{game}",where="(\w+)"}} (\S+)$', text, re.M
    )
    return {where: float(n) for where, n in found}


# -- on receive ----------------------------------------------------------------------------


async def test_a_fault_in_on_receive_drops_the_hook_not_the_gift_nor_the_batch(
    kits: list[Kit],
    store_kind: tuple[str, str | None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the hook gains xp 1, then faults: its gain must not stay
    game = faulty(ARENA, tmp_path / "packs", "# arena.rules:139: gain xp 1", "recv", offset=2)
    game_text = (ARENA / "arena.rules").read_text().splitlines()
    assert game_text[138].strip() == "gain xp 1"  # the line the fault is told against
    run = await kit_of(kits, store_kind, game, tmp_path).start(sweep_interval=0)
    alice, a_token = await arena_player(run, "device-alice")
    bob, b_token = await arena_player(run, "device-bob")
    before = await read(run, "arena", b_token)
    r = await call(
        f"{run.url}/v1/arena/actions",
        "POST",
        {"actions": [a("g1", "send_coins", friend=bob, amount=15)]},
        token=a_token,
    )
    assert r.status == 200 and r.body["results"][0]["status"] == "ok", r.body
    assert len(await run.store.inbox("arena", bob)) == 1
    assert await faults_counted(run, "arena") == {}
    with caplog.at_level(logging.ERROR, logger="rulesc.runtime.engine"):
        # bob's batch applies the delivery first, in the same commit: its hook faults
        r = await call(
            f"{run.url}/v1/arena/actions",
            "POST",
            {"actions": [a("b1", "buy_energy"), a("b2", "spy", target=alice)]},
            token=b_token,
        )
    assert r.status == 200, r.body
    assert [x["status"] for x in r.body["results"]] == ["ok", "ok"]
    assert any("hook `on receive`" in m and "arena.rules:139" in m for m in caplog.messages)
    assert await faults_counted(run, "arena") == {"hook": 1}
    assert await run.store.inbox("arena", bob) == []  # applied once: not met again
    after = await read(run, "arena", b_token)
    # the gift and both actions applied; the hook's xp did not (its effects are dropped)
    assert after["coins"] == before["coins"] + 15 - 5
    assert after["gems"] == before["gems"] - 2
    assert after["xp"] == before["xp"]
    ledger = (await call(f"{run.url}/v1/arena/ledger", token=b_token)).body["entries"]
    assert [e["action"] for e in ledger] == ["train", social.RECEIVE_ACTION, "buy_energy", "spy"]
    received = ledger[1]
    assert received["changes"] == {"coins": [before["coins"], before["coins"] + 15]}
    [failed] = [e for e in received["events"] if e["name"] == "hook_failed"]
    assert failed["data"]["hook"] == "receive"
    message = failed["data"]["message"]
    assert "arena.rules:139" in message and "a bug in the pack" in message, message
    assert "(in `gain xp 1`)" in message
    # reading again changes nothing and faults nothing: the delivery is done
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert await read(run, "arena", b_token) == after
        assert await read(run, "arena", b_token) == after
    assert not caplog.messages
    assert (await read(run, "arena", a_token))["coins"] == before["coins"] - 15
    assert await faults_counted(run, "arena") == {"hook": 1}  # reads fault nothing


async def test_a_delivery_whose_receiver_cannot_be_prepared_waits_in_the_inbox(
    kits: list[Kit], store_kind: tuple[str, str | None], tmp_path: Path
) -> None:
    """A fault outside any hook (here: the rules cannot bring the state to now) applies
    nothing of the delivery; it stays in the inbox, the batch answers, rules that work
    apply it later, once."""
    good = packs.build(ARENA, tmp_path / "good", compile_pack)
    bad = faulty(ARENA, tmp_path / "bad", "out = state", "settle")  # settle() faults
    first = kit_of(kits, store_kind, good, tmp_path)
    run = await first.start(sweep_interval=0)
    alice, a_token = await arena_player(run, "device-alice")
    bob, b_token = await arena_player(run, "device-bob")
    coins = (await read(run, "arena", b_token))["coins"]
    await first.stop(run)
    broken = await kit_of(kits, store_kind, bad, tmp_path).start(sweep_interval=0)
    # alice's own actions fault here too; rules that work send the gift
    r = await acts(broken, "arena", a_token, a("g0", "send_coins", friend=bob, amount=15))
    assert r.status == 200 and r.body["results"][0]["error"]["code"] == "pack_fault", r.body
    await kits[-1].stop(broken)
    run = await kit_of(kits, store_kind, good, tmp_path).start(sweep_interval=0)
    r = await acts(run, "arena", a_token, a("g1", "send_coins", friend=bob, amount=15))
    assert r.body["results"][0]["status"] == "ok", r.body
    await kits[-1].stop(run)
    broken = await kit_of(kits, store_kind, bad, tmp_path).start(sweep_interval=0)
    r = await acts(broken, "arena", b_token, a("b1", "buy_energy"))
    assert r.status == 200, r.body
    error = r.body["results"][0]["error"]
    assert error["code"] == "pack_fault" and "a bug in the pack" in error["message"]
    assert len(await broken.store.inbox("arena", bob)) == 1  # kept: nothing of it applied
    for _ in range(2):  # a read answers, every time, and says why
        r = await call(f"{broken.url}/v1/arena/state", token=b_token)
        assert r.status == 409, r.body
        assert r.body["error"]["code"] == "pack_fault"
        assert "a bug in the pack" in r.body["error"]["message"]
    await kits[-1].stop(broken)
    run = await kit_of(kits, store_kind, good, tmp_path).start(sweep_interval=0)
    assert (await read(run, "arena", b_token))["coins"] == coins + 15
    assert await run.store.inbox("arena", bob) == []
    assert (await read(run, "arena", b_token))["coins"] == coins + 15


async def test_a_delivery_the_rules_fault_on_is_set_aside_once_with_a_ledger_entry(
    kits: list[Kit], store_kind: tuple[str, str | None], tmp_path: Path
) -> None:
    """Outside any hook, on a state the rules can bring to now: here the level the
    delivery's xp reaches faults. Nothing of it applies; it is recorded once, with what
    it carried, and never met again."""
    bug = f"if value == 6: {BUG}"  # bob has 5 xp; the hook of the gift brings 6
    game = faulty(ARENA, tmp_path / "packs", "def level_of(value: int) -> int:", "lvl", bug=bug)
    run = await kit_of(kits, store_kind, game, tmp_path).start(sweep_interval=0)
    alice, a_token = await arena_player(run, "device-alice")
    bob, b_token = await arena_player(run, "device-bob")
    before = await read(run, "arena", b_token)
    assert before["xp"] == 5
    r = await acts(run, "arena", a_token, a("g1", "send_coins", friend=bob, amount=15))
    assert r.body["results"][0]["status"] == "ok", r.body
    [effect] = await run.store.inbox("arena", bob)
    r = await acts(run, "arena", b_token, a("b1", "buy_energy"))
    assert r.status == 200 and r.body["results"][0]["status"] == "ok", r.body
    assert await run.store.inbox("arena", bob) == []
    after = await read(run, "arena", b_token)
    assert after["coins"] == before["coins"] and after["xp"] == 5  # none of it applied
    assert after["gems"] == before["gems"] - 2
    ledger = (await call(f"{run.url}/v1/arena/ledger", token=b_token)).body["entries"]
    assert [e["action"] for e in ledger] == ["train", social.SET_ASIDE_ACTION, "buy_energy"]
    aside = ledger[1]
    assert aside["action_id"] == effect["id"] and aside["effect"]["gains"] == [["coins", None, 15]]
    assert (
        aside["error"]["code"] == "pack_fault" and "a bug in the pack" in aside["error"]["message"]
    )
    assert aside["changes"] == {}
    for _ in range(2):  # decided once: reads and steps do not meet it again
        assert await read(run, "arena", b_token) == after
    r = await acts(run, "arena", b_token, a("b2", "buy_energy"))
    assert r.body["results"][0]["status"] == "ok", r.body
    ledger = (await call(f"{run.url}/v1/arena/ledger", token=b_token)).body["entries"]
    assert [e["action"] for e in ledger][1:] == [
        social.SET_ASIDE_ACTION,
        "buy_energy",
        "buy_energy",
    ]
    assert await faults_counted(run, "arena") == {"delivery": 1}  # set aside once


async def test_a_fault_in_on_level_up_drops_the_hook_and_the_action_stands(
    kits: list[Kit], store_kind: tuple[str, str | None], tmp_path: Path
) -> None:
    game = faulty(ARENA, tmp_path / "packs", "# arena.rules:136: gain gems 3", "lvlup", 2)
    run = await kit_of(kits, store_kind, game, tmp_path).start(sweep_interval=0)
    _, token = await arena_player(run, "device-alice")  # xp 5
    before = await read(run, "arena", token)
    r = await acts(run, "arena", token, *(a(f"t{i}", "train") for i in range(3)))
    assert [x["status"] for x in r.body["results"]] == ["ok"] * 3, r.body
    third = r.body["results"][2]
    assert third["changes"]["level"] == [1, 2]
    assert [e["name"] for e in third["events"]] == ["level_up", "hook_failed"]
    assert "arena.rules:136" in third["events"][1]["data"]["message"]
    assert third["events"][1]["data"]["fault"] is True
    assert await faults_counted(run, "arena") == {"hook": 1}
    after = await read(run, "arena", token)
    assert after["level"] == 2 and after["gems"] == before["gems"]  # not the hook's 3


# -- on season_change ----------------------------------------------------------------------


async def test_a_fault_in_on_season_change_runs_once_and_the_step_stands(
    kits: list[Kit],
    store_kind: tuple[str, str | None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the hook empties the withered field and counts it, then faults: neither may stay
    game = faulty(SEASONS, tmp_path / "packs", "# farm.rules:43: gain withered 1", "season", 2)
    assert (SEASONS / "farm.rules").read_text().splitlines()[42].strip() == "gain withered 1"
    clock = [T0]
    run = await kit_of(kits, store_kind, game, tmp_path).start(clock=lambda: clock[0])
    r = await call(f"{run.url}/v1/farm/session", "POST", {"device_id": "device-farmer"})
    token = r.body["token"]
    r = await acts(run, "farm", token, a("p1", "plant", slot=0, kind="parsnip"))
    assert r.body["results"][0]["status"] == "ok", r.body
    before = await read(run, "farm", token)
    assert before["field"][0]["crop"] == "parsnip"
    clock[0] += 28 * DAY  # summer: parsnips wither, the hook runs in the next step
    with caplog.at_level(logging.ERROR, logger="rulesc.runtime.engine"):
        r = await acts(run, "farm", token, a("m1", "market"), a("m2", "market"))
    assert r.status == 200, r.body
    first, second = r.body["results"]
    assert first["status"] == "ok" and second["status"] == "ok", r.body
    names = [e["name"] for e in first["events"]]
    assert names == ["season_change", "hook_failed"], first
    message = first["events"][1]["data"]["message"]
    assert "farm.rules:43" in message and "a bug in the pack" in message, message
    assert first["changes"] == {"coins": [before["coins"], before["coins"] + 1]}
    assert not any(e["name"] == "hook_failed" for e in second["events"])
    assert sum("hook `on season_change`" in m for m in caplog.messages) == 1
    after = await read(run, "farm", token)
    assert after["field"][0]["crop"] == "parsnip" and after["withered"] == before["withered"]
    assert after["coins"] == before["coins"] + 2
    # the next step does not run it again: the turn was seen
    r = await acts(run, "farm", token, a("p2", "plant", slot=1, kind="melon"))
    assert r.body["results"][0]["status"] == "ok", r.body
    assert [e["name"] for e in r.body["results"][0]["events"]] == []


# -- migrations, the state read, grants ----------------------------------------------------


async def test_rules_that_fault_on_every_state_answer_each_request_and_write_nothing(
    kits: list[Kit], store_kind: tuple[str, str | None], tmp_path: Path
) -> None:
    """new_state faults: a state made under other rules cannot be migrated (lazily, on
    its first read or step), a new player cannot be made. Every action is its own
    `pack_fault`, a grant too, the state read answers 409 `pack_fault`: never a 500, and
    the stored state stays as it was, ready for rules that work."""
    good = packs.build(HARVEST, tmp_path / "good", compile_pack)
    bad = faulty(HARVEST, tmp_path / "bad", "def new_state(now: int) -> dict:", "born")
    first = kit_of(kits, store_kind, good, tmp_path)
    run = await first.start()
    player, token = await session(run)
    r = await act(run, token, a("b0", "buy_seed", kind="wheat", qty=1))
    assert r.body["results"][0]["status"] == "ok", r.body
    stored = await run.store.load("harvest", player)
    await first.stop(run)
    run = await kit_of(kits, store_kind, bad, tmp_path).start()
    assert await faults_counted(run, "harvest") == {}
    for _ in range(2):
        r = await call(f"{run.url}/v1/harvest/state", token=token)
        assert r.status == 409, r.body
        assert r.body["error"]["code"] == "pack_fault"
        assert "a bug in the pack" in r.body["error"]["message"]
    r = await act(
        run,
        token,
        a("b1", "buy_seed", kind="wheat", qty=1),
        a("b2", "buy_seed", kind="wheat", qty=1),
    )
    assert r.status == 200, r.body
    assert [x["error"]["code"] for x in r.body["results"]] == ["pack_fault", "pack_fault"]
    grant = {"id": "g1", "changes": {"coins": 5}, "reason": "sorry"}
    r = await call(f"{run.url}/admin/harvest/players/{player}/grant", "POST", grant, token=ADMIN)
    assert r.status == 200, r.body
    assert r.body["result"]["error"]["code"] == "pack_fault"
    _, newcomer = await session(run, "device-newcomer")
    r = await act(run, newcomer, a("n1", "buy_seed", kind="wheat", qty=1))
    assert r.status == 200 and r.body["results"][0]["error"]["code"] == "pack_fault", r.body
    r = await call(f"{run.url}/v1/harvest/state", token=newcomer)
    assert r.status == 409 and r.body["error"]["code"] == "pack_fault", r.body
    # each read migrates first (its fault, then the read's); each step's migration faults
    # once, then each action in it, and the grant
    counted = {"migrate": 4, "read": 3, "action": 3, "grant": 1}
    assert await faults_counted(run, "harvest") == counted
    now = await run.store.load("harvest", player)
    assert now.state == stored.state  # nothing of the faulting steps was written
    await kits[-1].stop(run)
    run = await kit_of(kits, store_kind, good, tmp_path).start()
    r = await act(run, token, a("b3", "buy_seed", kind="wheat", qty=1))
    assert r.body["results"][0]["status"] == "ok", r.body
