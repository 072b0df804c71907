"""Actions through a real server: exactly once under retries, in order, one writer."""

from __future__ import annotations

import asyncio

from rulesc.client import Client

from .serverkit import ADMIN, Kit, Proxy, Socket, a, act, call, session, state


async def test_batch_applies_in_order_and_answers_each(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    r = await act(
        run,
        token,
        a("b1", "buy_seed", kind="wheat", qty=3),
        a("b2", "plant", slot=0, kind="wheat"),
        a("b3", "plant", slot=0, kind="wheat"),  # the plot is busy now
        a("b4", "plant", slot=1, kind="wheat"),
    )  # judged after b3: still applies
    assert r.status == 200
    assert [x["status"] for x in r.body["results"]] == ["ok", "ok", "rejected", "ok"]
    assert r.body["results"][0]["changes"] == {"coins": [200, 185], "seed[wheat]": [0, 3]}
    assert r.body["results"][2]["error"]["code"] == "precondition"
    assert r.body["version"] == 1  # one commit for the batch
    s = await state(run, token)
    assert s["version"] == 1 and s["state"]["seed"]["wheat"] == 1
    assert s["rules"]["version"] == kit.game.pack.version and s["rules"]["hash"]


async def test_retry_of_a_batch_is_answered_from_memory(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    batch = [a("r1", "buy_seed", kind="wheat", qty=39), a("r2", "buy_seed", kind="wheat", qty=99)]
    first = await act(run, token, *batch)
    again = await act(run, token, *batch)
    assert [x["status"] for x in first.body["results"]] == ["ok", "rejected"]
    # identical answers, marked replayed; nothing applied twice (39 seeds cost 195 of 200)
    assert again.body["results"] == [{**x, "replayed": True} for x in first.body["results"]]
    s = await state(run, token)
    assert s["state"]["coins"] == 5 and s["state"]["seed"]["wheat"] == 39
    assert s["version"] == first.body["version"] == again.body["version"]


async def test_retry_with_more_actions_replays_the_known_and_applies_the_new(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    await act(run, token, a("m1", "daily_gift"))
    r = await act(run, token, a("m1", "daily_gift"), a("m2", "buy_seed", kind="carrot", qty=1))
    assert r.body["results"][0]["replayed"] is True
    assert r.body["results"][1]["status"] == "ok" and "replayed" not in r.body["results"][1]
    assert (await state(run, token))["state"]["coins"] == 250 - 8


async def test_same_id_other_params_is_id_reused(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    await act(run, token, a("x1", "buy_seed", kind="wheat", qty=1))
    r = await act(run, token, a("x1", "buy_seed", kind="wheat", qty=2))
    assert r.body["results"][0]["error"]["code"] == "id_reused"
    # the same id twice in one batch: the second is a replay of the first
    r = await act(
        run, token, a("x2", "daily_gift"), a("x2", "daily_gift"), a("x2", "clear", slot=0)
    )
    codes = [x.get("replayed") or x.get("error", {}).get("code") for x in r.body["results"]]
    assert r.body["results"][0]["status"] == "ok" and codes[1:] == [True, "id_reused"]


async def test_a_lost_answer_is_resent_by_the_client_and_applies_once(kit: Kit) -> None:
    run = await kit.start()
    proxy = await Proxy(run.port).start()
    try:
        client = await Client.guest(proxy.url, "harvest", "device-lost-1", backoff=0.01, timeout=2)
        proxy.drop_answers = (
            2  # the first two tries reach the server; their answers do not come back
        )
        futures = [
            client.queue("buy_seed", {"kind": "wheat", "qty": 2}),
            client.queue("buy_seed", {"kind": "carrot", "qty": 1}),
        ]
        results = await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert [r["status"] for r in results] == ["ok", "ok"]
        assert all(r.get("replayed") for r in results)  # answered from memory
        s = await client.state()
        assert s["state"]["coins"] == 200 - 10 - 8 and s["version"] == 1
        await client.close()
    finally:
        await proxy.close()


async def test_order_across_batches_from_the_client(kit: Kit) -> None:
    run = await kit.start()
    client = await Client.guest(run.url, "harvest", "device-order", window=0.005, max_batch=4)
    futures = [client.queue("buy_seed", {"kind": "wheat", "qty": q}) for q in range(1, 9)]
    futures.append(client.queue("buy_seed", {"kind": "wheat", "qty": 99}))  # rejected: too dear
    results = await asyncio.gather(*futures)
    assert [r["status"] for r in results] == ["ok"] * 8 + ["rejected"]
    ledger = await client.ledger(limit=100)
    assert [e["params"]["qty"] for e in ledger] == list(range(1, 9))
    assert [e["action_id"] for e in ledger] == [r["id"] for r in results[:8]]
    await client.close()


async def test_concurrent_batches_of_one_player_serialise(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    # 20 requests at once, each buying 1 seed: every one applies, none is lost
    replies = await asyncio.gather(
        *(act(run, token, a(f"c{i}", "buy_seed", kind="wheat", qty=1)) for i in range(20))
    )
    assert all(r.body["results"][0]["status"] == "ok" for r in replies)
    assert sorted(r.body["version"] for r in replies) == list(range(1, 21))
    s = await state(run, token)
    assert s["state"]["seed"]["wheat"] == 20 and s["state"]["coins"] == 200 - 20 * 5


async def test_two_processes_on_one_redis_take_turns(redis_kit: Kit) -> None:
    one, two = await redis_kit.start(), await redis_kit.start()
    _, token = await session(one)
    # both warm their cache, then write alternately: each write makes the other's stale
    for i in range(6):
        run = one if i % 2 == 0 else two
        r = await act(run, token, a(f"t{i}", "buy_seed", kind="wheat", qty=1))
        assert r.body["results"][0]["status"] == "ok", r.body
    replies = await asyncio.gather(
        *(
            act(one if i % 2 else two, token, a(f"u{i}", "buy_seed", kind="wheat", qty=1))
            for i in range(10)
        )
    )
    assert all(r.body["results"][0]["status"] == "ok" for r in replies)
    s = await state(two, token)
    assert s["state"]["seed"]["wheat"] == 16 and s["version"] == 16


async def test_check_changes_nothing(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    await act(run, token, a("k1", "daily_gift"))
    body = {"actions": [a("k1", "daily_gift"), a("k2", "buy_seed", kind="wheat", qty=2)]}
    r = await call(f"{run.url}/v1/harvest/actions/check", "POST", body, token=token)
    assert r.status == 200
    assert r.body["results"][0]["replayed"] is True
    assert r.body["results"][1]["changes"] == {"coins": [250, 240], "seed[wheat]": [0, 2]}
    s = await state(run, token)
    assert s["version"] == 1 and s["state"]["coins"] == 250
    again = await act(run, token, a("k2", "buy_seed", kind="wheat", qty=2))
    assert "replayed" not in again.body["results"][0]  # check did not remember k2


async def test_one_store_round_trip_per_batch_when_warm(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    calls = run.server.gateway.calls
    await act(run, token, a("w0", "daily_gift"))  # cold: load + commit
    assert calls["load"] == 1 and calls["commit"] == 1
    before = sum(calls.values())
    for i in range(1, 6):
        await act(
            run,
            token,
            a(f"w{i}", "buy_seed", kind="wheat", qty=1),
            a(f"w{i}b", "buy_seed", kind="carrot", qty=1),
        )
    assert sum(calls.values()) - before == 5  # one commit each, no load, no lookup
    # all rejected: one round trip that remembers the rejection (state, version unchanged)
    await act(run, token, a("w9", "buy_seed", kind="wheat", qty=99))
    assert sum(calls.values()) - before == 6 and calls["remember"] == 1
    await act(run, token, a("w9", "buy_seed", kind="wheat", qty=99))  # a retry: one more
    assert sum(calls.values()) - before == 7 and calls["remember"] == 2


async def test_grant_validation_and_exactly_once(kit: Kit) -> None:
    run = await kit.start()
    player, token = await session(run)
    url = f"{run.url}/admin/harvest/players/{player}/grant"
    grant = {"id": "g-1", "changes": {"gems": 50, "seed[corn]": 2}, "reason": "support ticket 7"}
    r1 = await call(url, "POST", grant, token="test-admin-token")
    r2 = await call(url, "POST", grant, token="test-admin-token")
    assert r1.status == 200 and r1.body["result"]["changes"] == {
        "gems": [10, 60],
        "seed[corn]": [0, 2],
    }
    assert r2.body["result"] == {**r1.body["result"], "replayed": True}
    s = await state(run, token)
    assert s["state"]["gems"] == 60 and s["version"] == 1
    # an xp grant levels the player up, told as an event
    r = await call(url, "POST", {"id": "g-2", "changes": {"xp": 60}}, token="test-admin-token")
    assert r.body["result"]["changes"]["level"] == [1, 2]
    assert {"name": "level_up", "data": {"from": 1, "to": 2}} in r.body["result"]["events"]
    # an action id and a grant id never collide
    r = await act(run, token, a("g-1", "daily_gift"))
    assert r.body["results"][0]["status"] == "ok" and "replayed" not in r.body["results"][0]


# -- rejections are decisions too: remembered, replayed identical, never judged anew --


async def test_a_rejection_is_replayed_identical_after_the_state_changed(kit: Kit) -> None:
    run = await kit.start()
    player, token = await session(run)
    await act(run, token, a("d1", "daily_gift"))  # version 1, 250 coins
    big = a("big", "buy_seed", kind="wheat", qty=99)  # 495 coins: too dear now
    first = await act(run, token, big)
    [rejection] = first.body["results"]
    assert rejection["status"] == "rejected" and rejection["error"]["code"] == "insufficient"
    assert "replayed" not in rejection
    assert first.body["version"] == 1  # nothing applied: the version did not move
    assert (await state(run, token))["version"] == 1

    grant = {"id": "rich", "changes": {"coins": 1000}}  # now the purchase would apply ...
    r = await call(f"{run.url}/admin/harvest/players/{player}/grant", "POST", grant, token=ADMIN)
    assert r.status == 200 and r.body["version"] == 2
    again = await act(run, token, big)  # ... but its id was decided: the same answer
    assert again.body["results"] == [{**rejection, "replayed": True}]
    assert again.body["version"] == 2
    s = await state(run, token)
    assert s["version"] == 2 and s["state"]["coins"] == 1250 and s["state"]["seed"]["wheat"] == 0
    # the same id with other params is id_reused; over the WebSocket the same replay
    r = await act(run, token, a("big", "buy_seed", kind="wheat", qty=98))
    assert r.body["results"][0]["error"]["code"] == "id_reused"
    ws = await Socket.open(run, token)
    ws.send(
        {"type": "act", "id": "big", "name": "buy_seed", "params": {"kind": "wheat", "qty": 99}}
    )
    assert await ws.of_type("result") == {
        "type": "result",
        **rejection,
        "replayed": True,
        "version": 2,
    }
    await ws.close()
    check = await call(
        f"{run.url}/v1/harvest/actions/check", "POST", {"actions": [big]}, token=token
    )
    assert check.body["results"] == [{**rejection, "replayed": True}]
    ledger = await call(f"{run.url}/v1/harvest/ledger", token=token)
    assert [e["action_id"] for e in ledger.body["entries"]] == ["d1", "rich"]  # no rejection


async def test_a_batch_of_rejections_and_replays_is_one_decision_each(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    first = await act(
        run,
        token,
        a("o1", "buy_seed", kind="wheat", qty=2),
        a("o2", "buy_seed", kind="wheat", qty=99),
    )
    assert [x["status"] for x in first.body["results"]] == ["ok", "rejected"]
    # a retry with a new rejected action: the known ids replayed, the new one decided once
    batch = [
        a("o1", "buy_seed", kind="wheat", qty=2),
        a("o2", "buy_seed", kind="wheat", qty=99),
        a("o3", "plant", slot=9, kind="wheat"),
    ]
    second = await act(run, token, *batch)
    assert second.body["results"][:2] == [{**x, "replayed": True} for x in first.body["results"]]
    assert second.body["results"][2]["error"]["code"] == "bad_params"
    assert "replayed" not in second.body["results"][2]
    assert second.body["version"] == first.body["version"] == 1
    third = await act(run, token, *batch)
    assert third.body["results"] == [{**x, "replayed": True} for x in first.body["results"]] + [
        {**second.body["results"][2], "replayed": True}
    ]
    assert (await state(run, token))["version"] == 1


async def test_a_lost_answer_to_a_rejection_is_replayed(kit: Kit) -> None:
    run = await kit.start()
    proxy = await Proxy(run.port).start()
    try:
        client = await Client.guest(proxy.url, "harvest", "device-lost-2", backoff=0.01, timeout=2)
        proxy.drop_answers = 1  # the rejection is decided, its answer is lost on the way
        rejected = client.queue("buy_seed", {"kind": "wheat", "qty": 99})
        result = await asyncio.wait_for(rejected, 10)
        assert result["status"] == "rejected" and result["error"]["code"] == "insufficient"
        assert result["replayed"] is True  # the resent batch was answered from memory
        assert (await client.state())["version"] == 0
        await client.close()
    finally:
        await proxy.close()


async def test_a_rejection_judged_on_a_stale_cache_is_judged_again(redis_kit: Kit) -> None:
    one, two = await redis_kit.start(), await redis_kit.start()
    player, token = await session(one)
    await act(two, token, a("s0", "buy_seed", kind="wheat", qty=1))  # two caches 195 coins
    grant = {"id": "rich", "changes": {"coins": 1000}}
    r = await call(f"{one.url}/admin/harvest/players/{player}/grant", "POST", grant, token=ADMIN)
    assert r.status == 200  # through one: two's cached state is stale now
    # on two's stale state 99 seeds are too dear; the store's version check says otherwise
    r = await act(two, token, a("s1", "buy_seed", kind="wheat", qty=99))
    assert r.body["results"][0]["status"] == "ok", r.body
    assert r.body["version"] == 3
    # and a rejection decided through one is replayed by two, whatever happened since
    await act(one, token, a("s1b", "buy_seed", kind="wheat", qty=99))  # 205 coins left
    r1 = await act(one, token, a("s2", "buy_seed", kind="wheat", qty=99))
    assert r1.body["results"][0]["error"]["code"] == "insufficient"
    r = await call(
        f"{two.url}/admin/harvest/players/{player}/grant",
        "POST",
        {"id": "rich2", "changes": {"coins": 1000}},
        token=ADMIN,
    )
    r2 = await act(two, token, a("s2", "buy_seed", kind="wheat", qty=99))
    assert r2.body["results"] == [{**r1.body["results"][0], "replayed": True}]


async def test_one_rejected_id_sent_at_once_to_two_processes(redis_kit: Kit) -> None:
    one, two = await redis_kit.start(), await redis_kit.start()
    _, token = await session(one)
    await act(one, token, a("w", "daily_gift"))
    await act(two, token, a("w", "daily_gift"))  # both warm
    for i in range(5):
        same = a(f"q{i}", "buy_seed", kind="wheat", qty=99)
        r1, r2 = await asyncio.gather(act(one, token, same), act(two, token, same))
        x1, x2 = r1.body["results"][0], r2.body["results"][0]
        # decided once: one answer is the decision, the other its replay
        assert sorted([bool(x1.get("replayed")), bool(x2.get("replayed"))]) == [False, True]
        assert {k: v for k, v in x1.items() if k != "replayed"} == {
            k: v for k, v in x2.items() if k != "replayed"
        }
    assert (await state(one, token))["version"] == 1


async def test_a_refused_grant_is_remembered_like_a_rejection(kit: Kit) -> None:
    run = await kit.start()
    player, token = await session(run)
    url = f"{run.url}/admin/harvest/players/{player}/grant"
    take = {"id": "fine-1", "changes": {"coins": -1000}, "reason": "fine"}
    first = await call(url, "POST", take, token=ADMIN)
    assert first.body["result"]["error"]["code"] == "overflow" and first.body["version"] == 0
    await call(url, "POST", {"id": "g-1", "changes": {"coins": 5000}}, token=ADMIN)
    again = await call(url, "POST", take, token=ADMIN)  # it would fit now: still the refusal
    assert again.body["result"] == {**first.body["result"], "replayed": True}
    assert (await state(run, token))["state"]["coins"] == 5200
