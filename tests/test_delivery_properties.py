"""Exactly-once delivery as a property (hypothesis): three arena heroes gift, send coins
and attack each other while a hostile schedule delivers what they send — late, twice,
interleaved across senders, with outboxes tidied at random moments and inboxes read at
random moments — through the same steps the server takes (runtime/social.py). However
it goes, once everything has arrived: every effect was applied exactly once, trophies
were only moved, and coins add up to what the rules made and moved.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulesc.runtime import engine, packs, social
from rulesc.runtime.pack import Pack

from .gamekit import T0

ROOT = Path(__file__).resolve().parent.parent
HEROES = ("a", "b", "c")


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Pack:
    return packs.build(ROOT / "games" / "arena", tmp_path_factory.mktemp("arena-prop")).pack


class World:
    """Each hero's committed state and version, each hero's inbox (a store's, with its
    no-op for an id already there), and what was applied."""

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.states = {h: engine.prepare(pack, None, T0) | {"power": 20} for h in HEROES}
        self.versions = dict.fromkeys(HEROES, 1)
        self.inboxes: dict[str, dict[str, dict]] = {h: {} for h in HEROES}
        self.delivered: dict[str, set[str]] = {h: set() for h in HEROES}  # the deliverer's _sent
        self.applied: list[str] = []
        self.gifts = 0
        self.now = T0

    def commit(self, hero: str, state: dict) -> None:
        self.states[hero] = state
        self.versions[hero] += 1

    def act(self, hero: str, name: str, other: str, pin: int) -> None:
        params = {"friend": other} if name != "attack" else {"target": other}
        if name == "send_coins":
            params["amount"] = 7
        out = engine.run(
            self.pack,
            self.states[hero],
            name,
            params,
            now=self.now,
            player_id=hero,
            action_id=f"{hero}{self.versions[hero]}",
            pin=pin,
            peers=dict(self.states),
        )
        if out.ok:
            numbering = social.Numbering(hero, self.versions[hero] + 1)
            self.gifts += name == "gift"
            self.commit(hero, social.send(out.state, out.outbox, numbering))

    def deliver(self, hero: str, upto: int) -> None:
        """A deliverer of `hero`'s outbox: each receiver's effects in order, the first
        `upto` of them (then it "dies"), whether delivered before or not."""
        for effects in social.by_receiver(self.states[hero].get(social.OUTBOX, [])).values():
            for effect in effects[:upto]:
                self.inboxes[effect["to"]].setdefault(effect["id"], effect)
                self.delivered[hero].add(effect["id"])

    def tidy(self, hero: str) -> None:
        stripped = social.without(self.states[hero], self.delivered[hero])
        if stripped is not self.states[hero]:
            self.commit(hero, stripped)

    def receive(self, hero: str) -> None:
        numbering = social.Numbering(hero, self.versions[hero] + 1)
        state, decided, done = social.receive_all(
            self.pack,
            hero,
            self.states[hero],
            list(self.inboxes[hero].values()),
            self.now,
            numbering,
        )
        if decided or state is not self.states[hero]:
            self.commit(hero, state)
            self.applied += [d.action_id for d in decided]
        for effect_id in done:  # after the commit: forgotten from the inbox
            self.inboxes[hero].pop(effect_id, None)

    def settle(self) -> None:
        for _ in range(10):  # returns of takes travel once more
            for h in HEROES:
                self.deliver(h, 10_000)
            for h in HEROES:
                self.receive(h)
            for h in HEROES:
                self.tidy(h)


act = st.tuples(
    st.just("act"),
    st.sampled_from(HEROES),
    st.sampled_from(["gift", "send_coins", "attack"]),
    st.sampled_from(HEROES),
    st.integers(1, 3),
)
deliver = st.tuples(st.just("deliver"), st.sampled_from(HEROES), st.integers(0, 3))
receive = st.tuples(st.just("receive"), st.sampled_from(HEROES))
# deliveries and receptions come often, so that a redelivery after an application is common
step = st.one_of(
    act,
    deliver,
    deliver,
    receive,
    receive,
    st.tuples(st.just("tidy"), st.sampled_from(HEROES)),
    st.tuples(st.just("day")),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=10, max_size=60))
def test_every_effect_is_applied_exactly_once(pack: Pack, steps: list[tuple]) -> None:
    world = World(pack)
    sent: set[str] = set()
    for s in steps:
        if s[0] == "act" and s[1] != s[3]:
            world.act(s[1], s[2], s[3], s[4])
        elif s[0] == "deliver":
            world.deliver(s[1], s[2])
        elif s[0] == "tidy":
            world.tidy(s[1])
        elif s[0] == "receive":
            world.receive(s[1])
        elif s[0] == "day":
            world.now += 86_400_000
        for h in HEROES:
            sent |= {e["id"] for e in world.states[h].get(social.OUTBOX, [])}
    world.settle()
    assert all(not world.states[h].get(social.OUTBOX) and not world.inboxes[h] for h in HEROES)
    applied = [a.removeprefix(social.INBOX_PREFIX) for a in world.applied]
    assert sorted(applied) == sorted(set(applied)), "an effect was applied twice"
    assert set(applied) >= sent, "an effect was lost"
    assert sum(world.states[h]["trophies"] for h in HEROES) == 300
    # coins: 100 each, 20 per gift made; sending only moves them (no max on coins)
    assert sum(world.states[h]["coins"] for h in HEROES) == 300 + 20 * world.gifts
