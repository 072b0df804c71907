"""What the fault tests share: the bank game, loads of spends that are resent until
decided, the books they must balance, and a TCP proxy that goes silent (half-open)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from rulesc.client import Client

BANK = Path(__file__).resolve().parent / "games" / "bank"
START = 300  # coins a bank player starts with (bank.rules)
LOAD_TIMEOUT = 90.0  # seconds any one load may take, faults included


async def post_until_decided(http: AsyncHTTPClient, url: str, token: str, action_id: str) -> dict:
    """POST one `spend` with this id until it is decided (resent on busy, 429, 503, a lost
    answer: the same id every time, as a client must). Its result."""
    body = orjson.dumps({"actions": [{"id": action_id, "name": "spend", "params": {}}]})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(500):  # bounded: a result that never comes fails the test
        request = HTTPRequest(f"{url}/v1/bank/actions", "POST", headers, body, request_timeout=10)
        response = await http.fetch(request, raise_error=False)
        if response.code == 200:
            result = orjson.loads(response.body)["results"][0]
            if result.get("error", {}).get("code") != "busy":
                return result
        elif response.code not in (429, 503, 599, 502):
            raise AssertionError(f"{response.code}: {response.body!r}")
        await asyncio.sleep(random.uniform(0.005, 0.05))
    raise AssertionError(f"{action_id} was never decided")


@dataclass
class Player:
    client: Client
    ids: list[str] = field(default_factory=list)  # every spend sent, in order
    results: dict[str, dict] = field(default_factory=dict)  # id -> the answer it got


async def run_load(
    url: str, tag: str, players: int, spends: int, acknowledged: list[int] | None = None
) -> list[Player]:
    """`players` clients (rulesc.client: half batch over HTTP, half over the WebSocket with
    every third spend an urgent `act`), each sending `spends` spends a little apart, each
    resent until answered. `acknowledged[0]` counts answers as they come."""
    counter = acknowledged if acknowledged is not None else [0]
    made: list[Player] = []
    try:
        for n in range(players):
            channel = "ws" if n % 2 else "http"
            client = await Client.guest(
                url,
                "bank",
                f"device-{tag}-{n:04}",
                channel=channel,
                window=0.02,
                backoff=0.05,
                max_backoff=0.5,
                timeout=5,
                ping_interval=2,
            )
            made.append(Player(client))
            if channel == "ws":
                await client.connect()

        async def one(p: Player, n: int) -> None:
            waiting = []
            for i in range(spends):
                aid = f"{tag}-{n}-{i}"
                p.ids.append(aid)
                if p.client.channel == "ws" and i % 3 == 0:
                    waiting.append(_settle(p, aid, p.client.act("spend", id=aid), counter))
                else:
                    waiting.append(_settle(p, aid, p.client.queue("spend", id=aid), counter))
                await asyncio.sleep(random.uniform(0.005, 0.02))
            await asyncio.gather(*waiting)

        await asyncio.wait_for(
            asyncio.gather(*(one(p, n) for n, p in enumerate(made))), LOAD_TIMEOUT
        )
        return made
    except BaseException:
        await close_all(made)
        raise


async def _settle(p: Player, aid: str, pending, counter: list[int]) -> None:  # noqa: ANN001
    result = await pending
    p.results[aid] = result
    counter[0] += 1


async def close_all(players: list[Player]) -> None:
    for p in players:
        with contextlib.suppress(Exception):
            await p.client.close()


async def check_books(url: str, player: Player, applied: list[str]) -> None:
    """The player's ledger holds each of `applied` exactly once and nothing else, and the
    coins went down one by one from START, never below 0."""
    reader = Client(url, "bank", token=player.client.token, timeout=10, max_backoff=0.5)
    try:
        entries = await reader.ledger(limit=500)
        state = (await reader.state())["state"]
    finally:
        await reader.close()
    ids = [e["action_id"] for e in entries]
    assert len(ids) == len(set(ids)), "an action applied twice"
    assert sorted(ids) == sorted(applied), "the ledger and the acknowledged actions differ"
    coins = [e["changes"]["coins"] for e in entries]
    assert all(after == before - 1 >= 0 for before, after in coins), coins
    assert [c[0] for c in coins] == list(range(START, START - len(coins), -1))
    assert state["coins"] == START - len(applied)


class SilentProxy:
    """A TCP proxy that can go silent: it stops passing bytes either way and never closes
    anything, as a phone that loses its network does (no FIN, no RST)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.silent = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> SilentProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_w]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if self.silent:
                        await asyncio.Event().wait()  # hold everything, forever
                    dst.write(data)
                    await dst.drain()

        loop = asyncio.get_running_loop()
        pipes = {loop.create_task(pipe(reader, up_w)), loop.create_task(pipe(up_r, writer))}
        self._pipes |= pipes
        await asyncio.gather(*pipes, return_exceptions=True)

    async def close(self) -> None:
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
