"""games/arena end to end: three heroes on real servers over Redis, talking over WebSockets
(rulesc.client), gifting and attacking each other.

What must hold: every hero sees what the others did to them pushed at once; trophies only
change hands (300 between three heroes, whatever the fights); every gift arrives exactly
once — also when the server dies between the sender's commit and the delivery, or
between the delivery and tidying the sender's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rulesc.client import Client
from rulesc.runtime import packs, social
from rulesc.runtime.gateway import Gateway

from .serverkit import Kit, Running, call

ROOT = Path(__file__).resolve().parent.parent
DAY_MS = 86_400_000
MONDAY_NOON = 1_767_614_400_000  # 2026-01-05 12:00 UTC


@pytest.fixture(scope="session")
def arena(tmp_path_factory: pytest.TempPathFactory) -> packs.Game:
    return packs.build(ROOT / "games" / "arena", tmp_path_factory.mktemp("arena-packs"))


class Clock:
    """The servers' clock, moved by the test: days pass in an instant."""

    def __init__(self) -> None:
        self.now = MONDAY_NOON

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def arena_kit(arena: packs.Game, tmp_path: Path, redis_url: str) -> AsyncIterator[Kit]:
    k = Kit("redis", arena, tmp_path, redis_url)
    yield k
    await k.close()


@dataclass
class Hero:
    name: str
    client: Client
    events: list[dict] = field(default_factory=list)

    @property
    def id(self) -> str:
        assert self.client.player_id is not None
        return self.client.player_id

    def received(self, action: str | None = None) -> list[dict]:
        return [
            e
            for e in self.events
            if e["name"] == "received" and (action is None or e["data"]["action"] == action)
        ]

    async def state(self) -> dict:
        return (await self.client.state())["state"]


async def hero(run: Running, name: str) -> Hero:
    h = Hero(name, None)  # type: ignore[arg-type]
    h.client = await Client.guest(
        run.url, "arena", f"device-{name}-arena", on_event=h.events.append
    )
    await h.client.connect()
    result = await h.client.act("train")  # a hero exists once it has played
    assert result["status"] == "ok", result
    return h


async def until(
    check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 30.0
) -> None:
    # generous: on a loaded 2-core machine deliveries can take seconds; a pass returns at once
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        done = check()
        if not isinstance(done, bool):
            done = await done
        if done:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def close_all(*heroes: Hero) -> None:
    for h in heroes:
        await h.client.close()


async def settled(kit: Kit, run: Running, heroes: list[Hero]) -> None:
    """Until nothing is on its way: no outbox holds an effect, no inbox waits."""

    async def quiet() -> bool:
        for h in heroes:
            snap = await run.store.load("arena", h.id)
            if (snap.state or {}).get(social.OUTBOX) or await run.store.inbox("arena", h.id):
                return False
        return True

    await until(quiet, "every effect is delivered and applied")


# -- three heroes, two server processes --------------------------------------------------


async def test_three_heroes_gift_and_fight_and_the_books_balance(arena_kit: Kit) -> None:
    clock = Clock()
    one = await arena_kit.start(clock=clock)
    two = await arena_kit.start(clock=clock)  # another process on the same Redis
    alice = await hero(one, "alice")
    bob, carol = await hero(two, "bob"), await hero(two, "carol")
    heroes = [alice, bob, carol]
    try:
        # every hero gifts the two others: each gift pushed to its receiver at once
        await asyncio.gather(
            *(h.client.act("gift", {"friend": f.id}) for h in heroes for f in heroes if f is not h)
        )
        for h in heroes:
            await until(lambda h=h: len(h.received("gift")) == 2, f"{h.name} got both gifts pushed")
            assert {e["data"]["from"] for e in h.received("gift")} == {
                f.id for f in heroes if f is not h
            }
            assert all(e["data"]["amounts"] == {"coins": 20} for e in h.received("gift"))
        await settled(arena_kit, one, heroes)
        for h in heroes:
            assert (await h.state())["coins"] == 90 + 40  # trained once (-10), two gifts

        # four days of fights, all heroes at once, across both processes
        for day in range(4):
            attacks = [
                h.client.act("attack", {"target": t.id})
                for h in heroes
                for t in heroes
                if t is not h
                for _ in range(2)
            ]
            results = await asyncio.gather(*attacks)
            # draws are seeded by the clients' random action ids, so a hero may be out of
            # trophies by the time it is attacked: the rules' own refusal, nothing else
            for r in results:
                assert (
                    r["status"] == "ok" or r["error"]["message"] == "They have no trophies to win"
                ), r
            await settled(arena_kit, one, heroes)
            states = [await h.state() for h in heroes]
            assert sum(s["trophies"] for s in states) == 300, f"day {day}: trophies made or lost"
            clock.now += DAY_MS  # a new day: limits and energy start afresh

        # every attack reached its defender, pushed: a win as a `take`, a loss as the
        # attacker's payment (`give`, none when the attacker had no trophies left); what a
        # win took came back to its attacker, pushed too (`return`)
        kinds = [e["data"]["kind"] for h in heroes for e in h.received("attack")]
        assert {"take", "give", "return"} <= set(kinds), kinds
        assert kinds.count("take") + kinds.count("give") <= 4 * 12
        taken = sum(
            sum(e["data"]["amounts"].values())
            for h in heroes
            for e in h.received("attack")
            if e["data"]["kind"] == "take"
        )
        returned = sum(
            sum(e["data"]["amounts"].values())
            for h in heroes
            for e in h.received("attack")
            if e["data"]["kind"] == "return"
        )
        assert taken == returned
        for h in heroes:
            assert {e["data"]["from"] for e in h.received("attack")} <= {
                f.id for f in heroes if f is not h
            }

        # the books: each hero's trophies are 100 plus the trophy changes of its ledger
        for h in heroes:
            ledger = await h.client.ledger(limit=500)
            moved = sum(
                e["changes"].get("trophies", [0, 0])[1] - e["changes"].get("trophies", [0, 0])[0]
                for e in ledger
            )
            assert 100 + moved == (await h.state())["trophies"]
            gifts = [
                e
                for e in ledger
                if e["action"] == social.RECEIVE_ACTION and e["params"]["action"] == "gift"
            ]
            assert len(gifts) == len({e["action_id"] for e in gifts}) == 2  # each gift applied once

        # the leaderboard ranks what the server holds
        r = await call(
            f"{one.url}/v1/arena/leaderboards/weekly_trophies?around=me&limit=10",
            token=alice.client.token,
        )
        assert r.status == 200, r.body
        board = {e["player_id"]: e["score"] for e in r.body["entries"]}
        assert board == {h.id: (await h.state())["trophies"] for h in heroes}
        assert r.body["me"]["score"] == (await alice.state())["trophies"]
    finally:
        await close_all(*heroes)


# -- a server dies between the sender's commit and the delivery ---------------------------


async def test_a_gift_abandoned_after_its_commit_arrives_once(
    arena_kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    doomed = await arena_kit.start(clock=clock, sweep_interval=0)
    sender = await hero(doomed, "alice")
    receiver = await hero(doomed, "bob")
    await receiver.client.close()  # bob is away: nothing applies his inbox meanwhile
    committed, killed = asyncio.Event(), asyncio.Event()

    async def die_before_delivering(store, game, outbox):  # noqa: ANN001
        committed.set()
        await killed.wait()  # the process hangs here; once killed, nothing after it runs
        raise RuntimeError("killed")

    monkeypatch.setattr(social, "deliver", die_before_delivering)
    gift = asyncio.get_running_loop().create_task(
        call(
            f"{doomed.url}/v1/arena/actions",
            "POST",
            {"actions": [{"id": "gift-1", "name": "gift", "params": {"friend": receiver.id}}]},
            token=sender.client.token,
        )
    )
    await asyncio.wait_for(committed.wait(), 5)
    await arena_kit.stop(doomed)  # killed: the commit is in, the delivery is not
    killed.set()
    gift.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await gift
    await sender.client.close()
    monkeypatch.undo()
    clock.now += 1000  # the sweep looks at outboxes marked before now

    store = arena_kit.make_store()
    try:
        snap = await store.load("arena", sender.id)
        assert [e["id"] for e in snap.state[social.OUTBOX]] == [f"{sender.id}:{snap.version}:0"]
        assert await store.inbox("arena", receiver.id) == []
        assert await store.outbox_mark("arena", sender.id) is not None  # the sweep will find it
    finally:
        await store.close()

    # a new server: its sweep delivers what the dead one left; bob, back, sees it pushed
    revived = await arena_kit.start(clock=clock, sweep_interval=0.05, sweep_grace_ms=0)
    bob = Hero("bob", await Client.guest(revived.url, "arena", "device-bob-arena"))
    bob.client.on_event = bob.events.append
    await bob.client.connect()
    try:
        await until(lambda: len(bob.received("gift")) == 1, "bob got the gift pushed")
        # alice's client resends the gift it never heard back about: answered from memory
        again = await call(
            f"{revived.url}/v1/arena/actions",
            "POST",
            {"actions": [{"id": "gift-1", "name": "gift", "params": {"friend": receiver.id}}]},
            token=sender.client.token,
        )
        assert again.body["results"][0]["replayed"] is True
        await until(lambda: _tidy(revived, sender.id), "alice's outbox is tidied and unmarked")
        await asyncio.sleep(0.3)  # more sweeps: nothing more arrives
        assert len(bob.received("gift")) == 1
        assert (await bob.state())["coins"] == 90 + 20
    finally:
        await bob.client.close()


# -- a server dies between the delivery and tidying the sender's outbox -------------------


async def test_a_gift_delivered_twice_is_applied_once(
    arena_kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    doomed = await arena_kit.start(clock=clock, sweep_interval=0)
    sender, receiver = await hero(doomed, "alice"), await hero(doomed, "bob")
    await receiver.client.close()

    async def die_before_tidying(self, game, player):  # noqa: ANN001
        return None  # the process dies right after delivering: the outbox still holds it

    monkeypatch.setattr(Gateway, "_tidy", die_before_tidying)
    result = await sender.client.act("gift", {"friend": receiver.id})
    assert result["status"] == "ok" and result["sent"][0]["to"] == receiver.id
    await arena_kit.stop(doomed)
    await sender.client.close()
    monkeypatch.undo()

    revived = await arena_kit.start(clock=clock, sweep_interval=0)
    bob = Hero("bob", await Client.guest(revived.url, "arena", "device-bob-arena"))
    try:
        assert (await bob.state())["coins"] == 90 + 20  # /state applies what waits first
        # the outbox still holds the gift: delivering it again puts it in bob's inbox again
        await revived.server.gateway.flush_outbox(arena_kit.game, sender.id)
        await revived.server.gateway.idle()
        assert await _tidy(revived, sender.id)
        # ... where it is known as applied: skipped and forgotten, never applied twice
        assert (await bob.state())["coins"] == 90 + 20
        assert await revived.store.inbox("arena", bob.id) == []
        gifts = [e for e in await bob.client.ledger() if e["action"] == social.RECEIVE_ACTION]
        assert len(gifts) == 1
    finally:
        await bob.client.close()


async def _tidy(run: Running, player: str) -> bool:
    """Whether the player's outbox is empty and off the outbox index."""
    snap = await run.store.load("arena", player)
    return (
        not (snap.state or {}).get(social.OUTBOX)
        and await run.store.outbox_mark("arena", player) is None
    )
