"""The live channel: pushes to every device (across processes), resume, resync, pings."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket

import orjson

from rulesc.client import Client
from rulesc.runtime.config import Limits

from .serverkit import ADMIN, Kit, Proxy, Socket, a, act, call, session, state


def grant_url(run, player: str) -> str:  # noqa: ANN001
    return f"{run.url}/admin/harvest/players/{player}/grant"


async def grant(run, player: str, gid: str, **changes: int) -> dict:  # noqa: ANN001
    r = await call(
        grant_url(run, player),
        "POST",
        {"id": gid, "changes": changes, "reason": "test"},
        token=ADMIN,
    )
    assert r.status == 200, r.body
    return r.body


async def test_every_connection_of_the_player_gets_state(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    _, other = await session(run, "device-of-someone-else")
    phone, tablet, stranger = [await Socket.open(run, t) for t in (token, token, other)]
    r = await act(run, token, a("p1", "buy_seed", kind="wheat", qty=2))
    for ws in (phone, tablet):
        f = await ws.of_type("state")
        assert f == {
            "type": "state",
            "version": r.body["version"],
            "changes": {"coins": [200, 190], "seed[wheat]": [0, 2]},
            "cause": {"action_id": "p1", "action": "buy_seed"},
        }
    # an `act` frame on one device: the result to it, the state to both
    phone.send({"type": "act", "id": "p2", "name": "daily_gift"})
    result = await phone.of_type("result")
    assert result["id"] == "p2" and result["status"] == "ok" and result["version"] == 2
    for ws in (phone, tablet):
        assert (await ws.of_type("state"))["cause"]["action_id"] == "p2"
    await asyncio.sleep(0.05)
    assert stranger.taken("state") == []  # never someone else's
    for ws in (phone, tablet, stranger):
        await ws.close()


async def test_pushes_cross_server_processes(redis_kit: Kit) -> None:
    one, two = await redis_kit.start(), await redis_kit.start()
    player, token = await session(one)
    on_one, on_two = await Socket.open(one, token), await Socket.open(two, token)
    await act(two, token, a("x1", "daily_gift"))  # written through process two
    for ws in (on_one, on_two):
        assert (await ws.of_type("state"))["cause"]["action_id"] == "x1"
    on_one.send(
        {"type": "act", "id": "x2", "name": "buy_seed", "params": {"kind": "wheat", "qty": 1}}
    )
    assert (await on_one.of_type("result"))["status"] == "ok"
    for ws in (on_one, on_two):
        assert (await ws.of_type("state"))["cause"]["action_id"] == "x2"
    await grant(one, player, "gx", gems=5)  # admin through process one, pushed on both
    for ws in (on_one, on_two):
        assert (await ws.of_type("event"))["name"] == "grant"
    await on_one.close()
    await on_two.close()


async def test_each_commit_is_pushed_once_in_order_and_after_its_result(redis_kit: Kit) -> None:
    """Commits of one player through two processes, by `act` frames and HTTP,
    interleaved: every connection gets each version's `state` exactly once, in version
    order (a process pushes its own commits at once and drops the store's copy of them),
    and a connection that acted gets the result before that commit's `state`."""
    one, two = await redis_kit.start(), await redis_kit.start()
    _, token = await session(one)
    phone, tablet = await Socket.open(one, token), await Socket.open(one, token)
    far = await Socket.open(two, token)
    for i in range(12):
        aid = f"o{i}"
        by = (phone, far, None)[i % 3]
        if by is None:  # over HTTP, through process two, then one
            await act((two, one)[i % 2], token, a(aid, "buy_seed", kind="wheat", qty=1))
            continue
        by.send(
            {"type": "act", "id": aid, "name": "buy_seed", "params": {"kind": "wheat", "qty": 1}}
        )
        assert (await by.wait_for(lambda f, aid=aid: f.get("id") == aid))["status"] == "ok"
    for ws in (phone, tablet, far):
        await ws.wait_for(lambda f: f["type"] == "state" and f["cause"]["action_id"] == "o11")
    await asyncio.sleep(0.3)  # a duplicate, if one were coming, is here by now
    for ws in (phone, tablet, far):
        states = [f for f in ws.log if f["type"] == "state"]
        assert [f["version"] for f in states] == list(range(1, 13))
        assert [f["cause"]["action_id"] for f in states] == [f"o{i}" for i in range(12)]
    for ws, mine in ((phone, range(0, 12, 3)), (far, range(1, 12, 3))):
        for i in mine:
            at = [
                k
                for k, f in enumerate(ws.log)
                if f.get("id") == f"o{i}"
                or (f["type"] == "state" and f["cause"]["action_id"] == f"o{i}")
            ]
            assert [ws.log[k]["type"] for k in at] == ["result", "state"]
    for ws in (phone, tablet, far):
        await ws.close()


async def test_frames_sent_without_waiting_are_answered_in_order(kit: Kit) -> None:
    """A client may send many frames before the first answer: each is decided in turn
    (past a few queued, the server stops reading until it catches up), and the answers
    come in the order sent."""
    run = await kit.start()
    _, token = await session(run)
    ws = await Socket.open(run, token)
    n = 40
    for i in range(n):
        ws.send(
            {
                "type": "act",
                "id": f"q{i}",
                "name": "buy_seed",
                "params": {"kind": "wheat", "qty": 1},
                "ref": f"r{i}",
            }
        )
    await ws.wait_for(lambda f: f.get("id") == f"q{n - 1}", timeout=10)
    results = [f for f in ws.log if f["type"] == "result"]
    assert [f["ref"] for f in results] == [f"r{i}" for i in range(n)]
    assert [f["version"] for f in results] == list(range(1, n + 1))
    assert all(f["status"] == "ok" for f in results)
    await ws.close()


async def test_frames_of_every_length_encoding_are_read_whole(kit: Kit) -> None:
    """Frame lengths in each of the header's three encodings (7 bits, 16, 64), sent back
    to back: large ones arrive over several socket reads, small ones share one; the server
    takes what its buffer holds without a read (ws._read_bytes) and must not lose or
    split a byte."""
    run = await kit.start()
    _, token = await session(run)
    ws = await Socket.open(run, token)
    pads = [0, 60, 200, 5_000, 65_600, 150_000, 10]
    for i, n in enumerate(pads):
        ws.send({"type": "ping", "ref": f"p{i}", "pad": "x" * n})
    ws.send(
        {
            "type": "act",
            "id": "after-pads",
            "name": "buy_seed",
            "params": {"kind": "wheat", "qty": 1},
            "ref": "last",
        }
    )
    await ws.wait_for(lambda f: f.get("ref") == "last", timeout=10)
    answers = [f for f in ws.log if f["type"] in ("pong", "result", "error")]
    assert [f["type"] for f in answers] == ["pong"] * len(pads) + ["result"]
    assert [f["ref"] for f in answers] == [f"p{i}" for i in range(len(pads))] + ["last"]
    assert answers[-1]["status"] == "ok"
    await ws.close()


async def test_admin_grant_is_pushed_and_in_the_ledger(kit: Kit) -> None:
    run = await kit.start()
    player, token = await session(run)
    ws = await Socket.open(run, token)
    body = await grant(run, player, "gift-1", gems=25)
    pushed = await ws.of_type("state")
    assert pushed["changes"] == {"gems": [10, 35]} and pushed["cause"]["action_id"] == "gift-1"
    event = await ws.of_type("event")
    assert event["name"] == "grant" and event["data"] == {"changes": {"gems": 25}, "reason": "test"}
    r = await call(f"{run.url}/v1/harvest/ledger", token=token)
    [entry] = r.body["entries"]
    assert entry["action"] == "admin:grant" and entry["action_id"] == "gift-1"
    assert entry["changes"] == {"gems": [10, 35]} and entry["id"] == event["id"]
    admin = await call(f"{run.url}/admin/harvest/players/{player}", token=ADMIN)
    assert admin.status == 200 and admin.body["state"]["gems"] == 35
    assert (
        admin.body["version"] == body["version"] and admin.body["ledger"][-1]["id"] == event["id"]
    )
    await ws.close()


async def test_resume_replays_missed_events(kit: Kit) -> None:
    run = await kit.start()
    player, token = await session(run)
    ws = await Socket.open(run, token)
    await grant(run, player, "e1", gems=1)
    seen = (await ws.of_type("event"))["id"]
    await ws.close()
    await grant(run, player, "e2", gems=2)  # missed while away
    await grant(run, player, "e3", xp=60)  # a grant and a level_up, one ledger entry
    ws = await Socket.open(run, token)
    ws.send({"type": "resume", "after": seen, "ref": "r"})
    resumed = await ws.of_type("resumed")
    events = ws.taken("event")
    assert [(e["name"], e["data"].get("changes")) for e in events] == [
        ("grant", {"gems": 2}),
        ("grant", {"xp": 60}),
        ("level_up", None),
    ]
    assert resumed["replayed"] == 2 and resumed["version"] == 3 and resumed["ref"] == "r"
    assert ws.taken("state") == []  # a resume replays events; the state comes from /state
    ws.send({"type": "resume", "after": events[-1]["id"]})
    assert (await ws.of_type("resumed"))["replayed"] == 0
    ws.send({"type": "resume", "after": "not an id"})
    assert (await ws.of_type("error"))["code"] == "bad_request"
    await ws.close()


async def test_resume_too_old_is_told_to_resync(kit: Kit) -> None:
    run = await kit.start(store=kit.make_store(ledger_maxlen=3))
    player, token = await session(run)
    await grant(run, player, "big", coins=10_000)
    first = (await call(f"{run.url}/v1/harvest/ledger", token=token)).body["entries"][0]["id"]
    for b in range(2):  # Redis trims streams approximately: write well past the limit
        r = await act(
            run, token, *(a(f"s{b}-{i}", "buy_seed", kind="wheat", qty=1) for i in range(100))
        )
        assert r.status == 200
    ws = await Socket.open(run, token)
    ws.send({"type": "resume", "after": first})
    await ws.of_type("resync")
    await ws.close()


async def test_client_reconnects_and_resumes(kit: Kit) -> None:
    run = await kit.start()
    proxy = await Proxy(run.port).start()
    events: list[dict] = []
    client = await Client.guest(
        proxy.url, "harvest", "device-roaming", backoff=0.02, on_event=events.append
    )
    await client.connect()
    player = client.player_id
    assert player is not None
    await grant(run, player, "r1", gems=1)
    await _until(lambda: len(events) == 1)
    proxy.down = True  # the phone goes into a tunnel
    proxy.cut()
    await grant(run, player, "r2", gems=2)
    await grant(run, player, "r3", gems=3)
    await asyncio.sleep(0.1)
    proxy.down = False
    await _until(lambda: len(events) == 3, timeout=5)
    assert [e["data"]["changes"] for e in events] == [{"gems": 1}, {"gems": 2}, {"gems": 3}]
    assert client.reconnects >= 1
    result = await client.act("daily_gift")  # and the channel works again
    assert result["status"] == "ok"
    await client.close()
    await proxy.close()


async def test_client_act_and_ws_batches(kit: Kit) -> None:
    run = await kit.start()
    states: list[dict] = []
    client = await Client.guest(
        run.url, "harvest", "device-ws", channel="ws", on_state=states.append
    )
    await client.connect()
    assert (await client.ping())["type"] == "pong"
    r = await client.act("buy_seed", {"kind": "wheat", "qty": 4})
    assert r["status"] == "ok" and r["changes"]["seed[wheat]"] == [0, 4]
    f1 = client.queue("plant", {"slot": 0, "kind": "wheat"})
    f2 = client.queue("plant", {"slot": 0, "kind": "wheat"})
    assert (await f1)["status"] == "ok" and (await f2)["error"]["code"] == "precondition"
    await _until(lambda: len(states) == 2)
    assert (await client.state())["state"]["field"][0]["crop"] == "wheat"
    await client.close()


async def test_server_closes_connections_that_do_not_answer_pings(kit: Kit) -> None:
    run = await kit.start(ws_ping_interval=0.1, ws_ping_timeout=0.1)
    _, token = await session(run)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1/harvest/ws?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    await _until(lambda: run.server.hub.players() == 1)
    # we never answer the server's pings: it gives up on us with a close frame
    opcodes = []
    while 0x8 not in opcodes:
        head = await asyncio.wait_for(reader.readexactly(2), 3)
        opcodes.append(head[0] & 0x0F)
        await reader.readexactly(head[1] & 0x7F)  # server frames are short and unmasked
    assert 0x9 in opcodes  # it did ping first
    writer.close()
    await _until(lambda: run.server.hub.players() == 0)


async def test_pushes_survive_a_new_pack(kit: Kit) -> None:
    run = await kit.start()
    _, token = await session(run)
    ws = await Socket.open(run, token)
    before = await state(run, token)
    game = await run.server.reload("harvest")  # same sources: a fresh load of the pack
    assert run.server.games.get("harvest") is game
    await act(run, token, a("n1", "daily_gift"))
    assert (await ws.of_type("state"))["version"] == before["version"] + 1
    await ws.close()


async def _until(pred, timeout: float = 3.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


# -- clients that do not read --


async def _raw_ws(run, token: str, rcvbuf: int | None = None):  # noqa: ANN001, ANN202
    """A WebSocket on a plain socket, to stop reading at will: the stream reader stops
    taking from the socket past 8 KB unread, and a small receive buffer makes the kernel
    hold little for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", run.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1/harvest/ws?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


async def _frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame (unmasked): (opcode, payload)."""
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(n)


def _client_frame(text: str) -> bytes:
    """A masked text frame, as a client sends it."""
    data, mask = text.encode(), os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (
        bytes([0x80 | n])
        if n < 126
        else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        if n < 65536
        else bytes([0x80 | 127]) + n.to_bytes(8, "big")
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def test_a_frame_that_arrives_a_byte_at_a_time_is_read_whole(kit: Kit) -> None:
    """A slow link delivers a frame in pieces: the header before its mask, the mask
    before its payload. The server takes what its buffer holds without a read only when
    all of it is there (ws._read_bytes); otherwise it waits for the rest."""
    run = await kit.start()
    _, token = await session(run)
    reader, writer = await _raw_ws(run, token)
    opcode, payload = await asyncio.wait_for(_frame(reader), 3)
    assert orjson.loads(payload)["type"] == "welcome"
    opcode, payload = await asyncio.wait_for(_frame(reader), 3)
    assert orjson.loads(payload)["type"] == "events"  # right after welcome
    frames = [
        {"type": "ping", "ref": "slow", "pad": "x" * 300},
        {
            "type": "act",
            "id": "trickled",
            "name": "buy_seed",
            "params": {"kind": "wheat", "qty": 1},
            "ref": "act",
        },
    ]
    for frame in frames:
        for byte in _client_frame(orjson.dumps(frame).decode()):
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.0005)  # each byte its own segment, mostly
    got = []
    while len(got) < 3:  # the pong, the result, its state push
        opcode, payload = await asyncio.wait_for(_frame(reader), 5)
        assert opcode == 0x1
        got.append(orjson.loads(payload))
    assert [(f["type"], f.get("ref")) for f in got] == [
        ("pong", "slow"),
        ("result", "act"),
        ("state", None),
    ]
    assert got[1]["status"] == "ok" and got[2]["cause"]["action_id"] == "trickled"
    writer.close()


async def test_a_client_that_does_not_read_is_closed_and_freed(sqlite_kit: Kit) -> None:
    limit = 256 * 1024
    run = await sqlite_kit.start(limits=Limits(ws_max_buffer=limit, rate=0))
    player, token = await session(run)
    other_device = await Socket.open(run, token)
    reader, writer = await _raw_ws(run, token, rcvbuf=4096)
    await _until(
        lambda: (
            run.server.hub.players() == 1
            and len(run.server.hub._listeners[("harvest", player)]) == 2
        )
    )
    # From here it reads nothing, and keeps asking: each frame's answer is ~12 KB (100
    # rejections, replayed after the first), and its own device's pushes come on top.
    batch = orjson.dumps(
        {"type": "batch", "actions": [{"id": f"x{i}", "name": "print_money"} for i in range(100)]}
    ).decode()
    frame = _client_frame(batch)
    asked = 0
    while not run.server.metrics.registry.get_sample_value("rulesc_ws_slow_closes_total"):
        assert asked < 2000, "the server kept buffering for a client that does not read"
        writer.write(frame)
        asked += 1
        if asked % 5 == 0:  # pushes too: the same player acts over HTTP meanwhile
            r = await act(run, token, a(f"h{asked}", "buy_seed", kind="wheat", qty=1))
            assert r.status == 200
        await asyncio.sleep(0.001)
    # freed at once: its place in the hub, the open-connection count
    await _until(lambda: len(run.server.hub._listeners.get(("harvest", player), ())) == 1)
    metrics = (await call(f"{run.url}/metrics")).body.decode()
    assert 'rulesc_open_connections{game="harvest"} 1.0' in metrics
    assert "rulesc_ws_slow_closes_total 1.0" in metrics
    # the player's other device is not held up by it
    r = await act(run, token, a("after", "daily_gift"))
    assert (
        await other_device.wait_for(
            lambda f: f["type"] == "state" and f["cause"]["action_id"] == "after"
        )
    )["version"] == r.body["version"]
    # what it was sent ends with a close frame: 1013 and why (it reads again to see it)
    opcode, payload = await asyncio.wait_for(_frame(reader), 3)
    while opcode != 0x8:
        assert opcode == 0x1  # text frames: welcome, results, state ...
        opcode, payload = await asyncio.wait_for(_frame(reader), 3)
    code, why = int.from_bytes(payload[:2], "big"), payload[2:].decode()
    assert (code, why) == (1013, f"too slow: more than {limit} bytes unread")
    # the server does not wait for ever for a close reply: it drops the socket
    with contextlib.suppress(ConnectionError):
        while await asyncio.wait_for(reader.read(65536), 8):
            pass
    writer.close()
    await other_device.close()


async def test_a_long_resume_is_paced_for_a_client_that_reads(sqlite_kit: Kit) -> None:
    limit = 16 * 1024
    run = await sqlite_kit.start(limits=Limits(ws_max_buffer=limit))
    player, token = await session(run)
    reason = "r" * 500
    for i in range(200):  # ~130 KB of events to replay: 8 times the buffer
        body = {"id": f"g{i}", "changes": {"gems": 1}, "reason": reason}
        assert (await call(grant_url(run, player), "POST", body, token=ADMIN)).status == 200
    reader, writer = await _raw_ws(run, token, rcvbuf=4096)
    await _until(lambda: run.server.hub.players() == 1)
    # a slow link: little room in the kernel on either side, so the replay backs up in the
    # server unless it waits for the client (which reads all the time, just not fast)
    [conn] = run.server.hub._listeners[("harvest", player)]
    conn.ws_connection.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer.write(_client_frame(orjson.dumps({"type": "resume", "after": "0"}).decode()))
    kinds: list[str] = []
    while not kinds or kinds[-1] != "resumed":
        opcode, payload = await asyncio.wait_for(_frame(reader), 10)
        assert opcode == 0x1, (opcode, payload)  # never a close
        kinds.append(orjson.loads(payload)["type"])
        await asyncio.sleep(0.0005)
    assert kinds.count("event") == 200
    assert run.server.metrics.registry.get_sample_value("rulesc_ws_slow_closes_total") == 0
    writer.close()


async def test_a_resume_to_a_client_that_stops_reading_ends_in_a_close(sqlite_kit: Kit) -> None:
    run = await sqlite_kit.start(
        limits=Limits(ws_max_buffer=16 * 1024), ws_ping_interval=60, ws_ping_timeout=0.3
    )
    player, token = await session(run)
    for i in range(200):
        body = {"id": f"g{i}", "changes": {"gems": 1}, "reason": "r" * 500}
        assert (await call(grant_url(run, player), "POST", body, token=ADMIN)).status == 200
    reader, writer = await _raw_ws(run, token, rcvbuf=4096)
    await _until(lambda: run.server.hub.players() == 1)
    [conn] = run.server.hub._listeners[("harvest", player)]
    conn.ws_connection.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer.write(_client_frame(orjson.dumps({"type": "resume", "after": "0"}).decode()))
    # it reads nothing: the replay waits for it no longer than the ping timeout
    await _until(lambda: run.server.hub.players() == 0, timeout=3)
    assert run.server.metrics.registry.get_sample_value("rulesc_ws_slow_closes_total") == 1
    writer.close()
