"""Players meeting players on a real server, over SQLite, Redis and a Redis Cluster:
deliveries to players who are away, the leaderboard route, checks that read other players."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rulesc.runtime import packs, social

from .serverkit import Kit, Running, call

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def arena_game(tmp_path_factory: pytest.TempPathFactory) -> packs.Game:
    return packs.build(ROOT / "games" / "arena", tmp_path_factory.mktemp("arena-server"))


@pytest.fixture(params=["sqlite", "redis", "cluster"])
async def akit(
    request: pytest.FixtureRequest, arena_game: packs.Game, tmp_path: Path
) -> AsyncIterator[Kit]:
    """Servers over SQLite, one Redis, and the test Redis Cluster (where the players of a
    delivery live on different slots, and each step must touch one)."""
    url = None
    if request.param != "sqlite":
        url = request.getfixturevalue("redis_url" if request.param == "redis" else "cluster_url")
    k = Kit("sqlite" if request.param == "sqlite" else "redis", arena_game, tmp_path, url)
    yield k
    await k.close()


async def player(run: Running, device: str) -> tuple[str, str]:
    r = await call(f"{run.url}/v1/arena/session", "POST", {"device_id": device})
    assert r.status == 200, r.body
    pid, token = r.body["player_id"], r.body["token"]
    await acts(run, token, (f"{device}-train", "train", {}))  # a player exists once it played
    return pid, token


async def acts(
    run: Running, token: str, *actions: tuple[str, str, dict], path: str = "actions"
) -> dict:
    body = {"actions": [{"id": i, "name": n, "params": p} for i, n, p in actions]}
    r = await call(f"{run.url}/v1/arena/{path}", "POST", body, token=token)
    assert r.status == 200, r.body
    return r.body


async def state(run: Running, token: str) -> dict:
    r = await call(f"{run.url}/v1/arena/state", token=token)
    assert r.status == 200, r.body
    return r.body["state"]


async def test_a_gift_waits_for_a_player_who_is_away(akit: Kit) -> None:
    run = await akit.start(sweep_interval=0)
    alice, a_token = await player(run, "device-alice")
    bob, b_token = await player(run, "device-bob")
    sent = await acts(run, a_token, ("g1", "gift", {"friend": bob}))
    assert sent["results"][0]["sent"] == [{"to": bob, "kind": "give", "amounts": {"coins": 20}}]
    assert [e["id"] for e in await run.store.inbox("arena", bob)] == [
        f"{alice}:{sent['version']}:0"
    ]
    # bob's next action applies it first, in the same commit
    answer = await acts(run, b_token, ("b2", "spy", {"target": alice}))
    assert answer["results"][0]["status"] == "ok"
    assert await run.store.inbox("arena", bob) == []
    assert (await state(run, b_token))["coins"] == 90 + 20 - 5
    ledger = (await call(f"{run.url}/v1/arena/ledger", token=b_token)).body["entries"]
    assert [e["action"] for e in ledger] == ["train", social.RECEIVE_ACTION, "spy"]
    assert ledger[1]["params"] == {"from": alice, "action": "gift", "kind": "give"}
    assert [e["name"] for e in ledger[1]["events"]] == ["received"]


async def test_state_shows_what_waits_in_the_inbox(akit: Kit) -> None:
    run = await akit.start(sweep_interval=0)
    _, a_token = await player(run, "device-alice")
    bob, b_token = await player(run, "device-bob")
    await acts(run, a_token, ("g1", "send_coins", {"friend": bob, "amount": 15}))
    assert (await state(run, b_token))["coins"] == 90 + 15
    assert (await state(run, a_token))["coins"] == 90 - 15


async def test_players_named_must_exist_and_be_others(akit: Kit) -> None:
    run = await akit.start(sweep_interval=0)
    alice, a_token = await player(run, "device-alice")
    r = await call(f"{run.url}/v1/arena/session", "POST", {"device_id": "device-newcomer"})
    newcomer = r.body["player_id"]  # signed in, never played: no state yet
    answer = await acts(
        run,
        a_token,
        ("g1", "gift", {"friend": alice}),
        ("g2", "gift", {"friend": newcomer}),
        ("g3", "gift", {"friend": "x" * 129}),
        ("g4", "gift", {"friend": 7}),
    )
    codes = [r["error"]["code"] for r in answer["results"]]
    assert codes == ["bad_params"] * 4
    assert "that is you" in answer["results"][0]["error"]["message"]
    assert "no player" in answer["results"][1]["error"]["message"]


async def test_a_check_reads_the_other_player_too(akit: Kit) -> None:
    run = await akit.start(sweep_interval=0)
    alice, a_token = await player(run, "device-alice")
    _, b_token = await player(run, "device-bob")
    answer = await acts(run, b_token, ("c1", "spy", {"target": alice}), path="actions/check")
    result = answer["results"][0]
    assert result["status"] == "ok" and result["events"][0]["data"]["power"] == 11
    assert (await state(run, b_token))["coins"] == 90  # a check writes nothing


async def test_the_leaderboard_route(akit: Kit) -> None:
    run = await akit.start(sweep_interval=0)
    players = [await player(run, f"device-hero-{i}") for i in range(5)]
    for i, (_, token) in enumerate(players):  # train a little more each: powers 11..15
        for n in range(i):
            await acts(run, token, (f"more-{n}", "train", {}))
    url = f"{run.url}/v1/arena/leaderboards/strongest"
    token = players[0][1]
    top = (await call(f"{url}?limit=2", token=token)).body
    assert [e["score"] for e in top["entries"]] == [15, 14] and top["total"] == 5
    assert (top["period"], top["ends_at"], top["resets"], top["by"]) == (
        "all",
        None,
        "never",
        "power",
    )
    assert top["me"] == {"rank": 5, "score": 11}
    around = (await call(f"{url}?around=me&limit=3", token=token)).body
    assert [(e["rank"], e["score"]) for e in around["entries"]] == [(4, 12), (5, 11)]
    assert [e["player_id"] for e in around["entries"]][-1] == players[0][0]
    weekly = (await call(f"{run.url}/v1/arena/leaderboards/weekly_trophies", token=token)).body
    assert weekly["period"].count("-W") == 1 and weekly["ends_at"] > 0 and weekly["total"] == 5
    previous = (
        await call(f"{run.url}/v1/arena/leaderboards/weekly_trophies?period=previous", token=token)
    ).body
    assert (
        previous["total"] == 0 and previous["period"] != weekly["period"] and previous["me"] is None
    )
    for query, status in [
        ("", 404),
        ("?limit=0", 400),
        ("?limit=101", 400),
        ("?around=you", 400),
        ("?period=next", 400),
    ]:
        board = "nope" if status == 404 else "strongest"
        r = await call(f"{run.url}/v1/arena/leaderboards/{board}{query}", token=token)
        assert r.status == status, (query, r.body)
    assert (await call(url)).status == 401
