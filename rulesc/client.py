"""An async Python client of the rulesc game server (tests, bots and benchmarks use it).

    client = await Client.guest("http://127.0.0.1:8000", "harvest", "device-0001")
    await client.connect()                       # the live channel: pushes, urgent acts
    result = await client.act("daily_gift")      # sent at once over the WebSocket
    f1 = client.queue("buy_seed", {"kind": "wheat", "qty": 3})   # batched ...
    f2 = client.queue("plant", {"slot": 0, "kind": "wheat"})     # ... over `window` s
    print(await f1, await f2)
    await client.close()

Exactly-once from the client's side: every action gets an id when it is queued, and a
batch is resent with the same ids in the same order until the server answers it (lost
answers, dropped connections, 503 (`unavailable`, and `outcome_unknown`: the store lost
its answer to a write), 429 and `busy` are retried; the server answers a retry from memory). Batches go one at a time, so they apply in the order they were queued.
The WebSocket reconnects by itself with exponential backoff and sends `resume` after
the last event seen, so missed events are replayed (or `on_resync` is called).
`client.events` holds the scheduled events of the last `events` frame (one comes right
after each `welcome`, and one whenever an event starts or ends); `on_events` hears them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

log = logging.getLogger(__name__)

Push = Callable[[dict], Any]

# Error frames answered by sending the same frame again (the same ids), after a while:
# `outcome_unknown` above all: the action may have been applied, and only a resend with
# the same id can tell (it answers the stored result); a new id could apply it twice.
RETRIED_FRAME_ERRORS = ("unavailable", "outcome_unknown", "rate_limited")


class ClientError(Exception):
    """The server refused a request for good (4xx other than 429): resending won't help."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class _Retry(Exception):
    """Try the same request again after `after` seconds (None: the usual backoff)."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


@dataclass
class _Batch:
    actions: list[dict]
    futures: list[asyncio.Future[dict]]


class Client:
    def __init__(
        self,
        url: str,
        game: str,
        *,
        token: str | None = None,
        window: float = 0.05,
        channel: str = "http",
        max_batch: int = 100,
        timeout: float = 10.0,
        backoff: float = 0.05,
        max_backoff: float = 5.0,
        ping_interval: float = 10.0,
        on_state: Push | None = None,
        on_event: Push | None = None,
        on_resync: Callable[[], Any] | None = None,
        on_events: Push | None = None,
    ) -> None:
        """`window`: seconds queued actions wait to be sent together. `channel`: "http" or
        "ws", how queued batches go (urgent `act`s always take the WebSocket)."""
        if channel not in ("http", "ws"):
            raise ValueError("channel must be 'http' or 'ws'")
        self.url = url.rstrip("/")
        self.game = game
        self.token = token
        self.player_id: str | None = None
        self.window, self.channel, self.max_batch = window, channel, max_batch
        self.timeout, self.backoff, self.max_backoff = timeout, backoff, max_backoff
        self.ping_interval = ping_interval
        self.on_state, self.on_event, self.on_resync = on_state, on_event, on_resync
        self.on_events = on_events
        # the scheduled events of the last `events` frame: {"active": [...], "next": ...}
        self.events: dict | None = None
        self.last_event_id: str | None = None
        self.version = 0  # the highest state version heard of
        self._http = AsyncHTTPClient(force_instance=True)
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(6)  # ids unique across this player's devices
        self._pending: list[tuple[dict, asyncio.Future[dict]]] = []
        self._outbox: collections.deque[_Batch] = collections.deque()
        self._wake = asyncio.Event()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._sender: asyncio.Task[None] | None = None
        self._ws: WebSocketClientConnection | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[dict]] = {}
        self._refs = itertools.count(1)
        self._closing = False
        self.reconnects = 0

    # -- identity --

    @classmethod
    async def guest(cls, url: str, game: str, device_id: str, **options: Any) -> Client:
        client = cls(url, game, **options)
        await client.sign_in(device_id)
        return client

    async def sign_in(self, device_id: str) -> dict:
        session = await self._call("POST", "session", {"device_id": device_id}, auth=False)
        self.token, self.player_id = session["token"], session["player_id"]
        return session

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    # -- HTTP --

    async def _call(
        self, method: str, path: str, body: Any = None, *, auth: bool = True, retry: bool = False
    ) -> dict:
        """One call to /v1/{game}/{path}. With retry=False a retriable failure raises
        _Retry; ClientError for a refusal."""
        headers = {"Content-Type": "application/json"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = HTTPRequest(
            f"{self.url}/v1/{self.game}/{path}",
            method=method,
            headers=headers,
            body=None if body is None else orjson.dumps(body),
            request_timeout=self.timeout,
        )
        delay = self.backoff
        while True:
            try:
                return await self._fetch(request)
            except _Retry as r:
                if not retry or self._closing:
                    raise
                await asyncio.sleep(r.after if r.after is not None else self._jitter(delay))
                delay = min(delay * 2, self.max_backoff)

    async def _fetch(self, request: HTTPRequest) -> dict:
        try:
            response = await self._http.fetch(request, raise_error=False)
        except (TimeoutError, OSError, HTTPClientError) as e:
            raise _Retry(f"no answer: {e}") from e
        if response.code == 599:  # timeout or connection lost: the answer may be lost
            raise _Retry(f"no answer: {response.error}")
        try:
            body = orjson.loads(response.body) if response.body else {}
        except orjson.JSONDecodeError:
            body = {}
        if response.code == 200:
            return body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        code, message = error.get("code", "error"), error.get("message", response.reason or "")
        if response.code == 429:
            raise _Retry("rate limited", float(response.headers.get("Retry-After", "1")))
        if response.code in (502, 503, 504):  # outcome_unknown too: the same ids again
            raise _Retry(f"{response.code} {code}")
        raise ClientError(response.code, code, message)

    async def state(self) -> dict:
        answer = await self._call("GET", "state", retry=True)
        self.version = max(self.version, answer["version"])
        return answer

    async def ledger(self, after: str | None = None, limit: int = 100) -> list[dict]:
        query = f"ledger?limit={limit}" + (f"&after={quote(after)}" if after else "")
        return (await self._call("GET", query, retry=True))["entries"]

    async def rules(self) -> dict:
        return await self._call("GET", "rules", retry=True)

    async def check(self, actions: list[dict]) -> dict:
        return await self._call("POST", "actions/check", {"actions": actions}, retry=True)

    # -- the live channel --

    async def connect(self) -> None:
        """Open the WebSocket (and keep it open: it reconnects by itself until close())."""
        await self._open()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _open(self) -> None:
        url = (
            self.url.replace("http", "ws", 1)
            + f"/v1/{self.game}/ws?token={quote(self.token or '')}"
        )
        ws = await asyncio.wait_for(
            websocket_connect(
                url,
                ping_interval=self.ping_interval,  # pings both ways: half-open links show
                ping_timeout=self.ping_interval,
                max_message_size=16 << 20,
            ),
            self.timeout,
        )
        # `welcome` says the server has subscribed us: no push after it can be missed
        try:
            message = await asyncio.wait_for(ws.read_message(), self.timeout)
        except BaseException:
            ws.close()
            raise
        if message is None or orjson.loads(message).get("type") != "welcome":
            ws.close()
            raise ConnectionError("the server closed the live channel on opening")
        self._ws = ws
        self._connected.set()

    async def _read(self) -> None:
        while not self._closing:
            ws = self._ws
            message = await ws.read_message() if ws is not None else None
            if message is None:
                self._lost()
                await self._reconnect()
                continue
            try:
                frame = orjson.loads(message)
            except orjson.JSONDecodeError:
                continue
            self._dispatch(frame)

    def _lost(self) -> None:
        self._connected.clear()
        if self._ws is not None:
            self._ws.close()  # closed by the server or the network: release it on our side too
        self._ws = None
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(_Retry("connection lost"))

    async def _reconnect(self) -> None:
        delay = self.backoff
        while not self._closing:
            await asyncio.sleep(self._jitter(delay))
            try:
                await self._open()
            except Exception as e:  # refused, timed out, 503 on upgrade: try again later
                log.debug("reconnect failed: %s", e)
                delay = min(delay * 2, self.max_backoff)
                continue
            self.reconnects += 1
            if self.last_event_id is not None:
                self._send({"type": "resume", "after": self.last_event_id})
            elif self.on_resync is not None:
                self.on_resync()  # no event to resume after: what we missed is unknown
            return

    def _dispatch(self, frame: dict) -> None:
        kind = frame.get("type")
        ref = frame.get("ref")
        if isinstance(frame.get("version"), int):
            self.version = max(self.version, frame["version"])
        if kind == "event" and isinstance(frame.get("id"), str):
            self.last_event_id = frame["id"]
        if ref is not None and ref in self._waiting:
            fut = self._waiting.pop(ref)
            if not fut.done():
                fut.set_result(frame)
            return
        if kind == "state" and self.on_state is not None:
            self.on_state(frame)
        elif kind == "event" and self.on_event is not None:
            self.on_event(frame)
        elif kind == "resync" and self.on_resync is not None:
            self.on_resync()
        elif kind == "events" and isinstance(frame.get("events"), dict):
            self.events = frame["events"]
            if self.on_events is not None:
                self.on_events(frame)

    def _send(self, frame: dict) -> None:
        if self._ws is None:
            raise _Retry("not connected")
        try:
            self._ws.write_message(orjson.dumps(frame).decode())
        except WebSocketClosedError as e:
            raise _Retry("connection lost") from e

    async def _request(self, frame: dict) -> dict:
        """Send a frame and wait for the answer that echoes its ref."""
        ref = f"r{next(self._refs)}"
        fut: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = fut
        try:
            self._send({**frame, "ref": ref})
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError as e:
            raise _Retry("no answer in time") from e
        finally:
            self._waiting.pop(ref, None)

    async def act(self, name: str, params: dict | None = None, *, id: str | None = None) -> dict:
        """Apply one action now, over the WebSocket; resent with the same id until it is
        answered. Returns the result object."""
        frame = {"type": "act", "id": id or self.new_id(), "name": name, "params": params or {}}
        answer = await self._until_answered(frame)
        if answer["type"] != "result":
            raise ClientError(400, answer.get("code", "error"), answer.get("message", ""))
        return answer

    async def ping(self) -> dict:
        return await self._until_answered({"type": "ping"})

    async def _until_answered(self, frame: dict) -> dict:
        delay = self.backoff
        if self._reader is None:
            raise ClientError(0, "not_connected", "call connect() before act()")
        while True:
            if self._closing:
                raise ClientError(0, "closed", "the client is closed")
            await self._connected.wait()
            try:
                answer = await self._request(frame)
                if answer["type"] == "error" and answer.get("code") in RETRIED_FRAME_ERRORS:
                    after = answer.get("details", {}).get("retry_after_ms")
                    raise _Retry(answer["code"], after / 1000 if after else None)
                if answer["type"] == "result" and _busy([answer]):
                    raise _Retry("busy")
                return answer
            except _Retry as r:
                await asyncio.sleep(r.after if r.after is not None else self._jitter(delay))
                delay = min(delay * 2, self.max_backoff)

    # -- batching --

    def queue(
        self, name: str, params: dict | None = None, *, id: str | None = None
    ) -> asyncio.Future[dict]:
        """Queue an action for the next batch; the future gets its result."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict] = loop.create_future()
        self._pending.append(
            ({"id": id or self.new_id(), "name": name, "params": params or {}}, fut)
        )
        if len(self._pending) >= self.max_batch:
            self._seal()
        elif self._flush_timer is None:
            self._flush_timer = loop.call_later(self.window, self._seal)
        return fut

    def _seal(self) -> None:
        """Close the pending actions into a batch and hand it to the sender."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        while self._pending:
            chunk, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._outbox.append(_Batch([a for a, _ in chunk], [f for _, f in chunk]))
        self._wake.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_batches())

    async def flush(self) -> None:
        """Send what is queued now and wait until every batch so far is answered."""
        self._seal()
        futures = [f for b in self._outbox for f in b.futures]
        if futures:
            await asyncio.wait(futures)

    async def _send_batches(self) -> None:
        delay = self.backoff
        while not self._closing:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._outbox[0]  # the head is resent until answered: order holds
            try:
                results = await self._send_batch(batch.actions)
            except _Retry as r:
                await asyncio.sleep(r.after if r.after is not None else self._jitter(delay))
                delay = min(delay * 2, self.max_backoff)
                continue
            except ClientError as e:
                results = None
                for f in batch.futures:
                    if not f.done():
                        f.set_exception(e)
            self._outbox.popleft()
            delay = self.backoff
            for f, result in zip(batch.futures, results or [], strict=False):
                if not f.done():
                    f.set_result(result)

    async def _send_batch(self, actions: list[dict]) -> list[dict]:
        if self.channel == "ws" and self._connected.is_set():
            answer = await self._request({"type": "batch", "actions": actions})
            if answer["type"] == "error":
                if answer.get("code") in RETRIED_FRAME_ERRORS:
                    after = answer.get("details", {}).get("retry_after_ms")
                    raise _Retry(answer["code"], after / 1000 if after else None)
                raise ClientError(400, answer.get("code", "error"), answer.get("message", ""))
        else:
            answer = await self._call("POST", "actions", {"actions": actions})
        self.version = max(self.version, answer.get("version", 0))
        if _busy(answer["results"]):
            raise _Retry("busy")  # nothing was applied; the same batch goes again
        return answer["results"]

    async def send_batch(self, actions: list[dict]) -> dict:
        """One HTTP batch, sent now and once (no queue, no retry): for tests and tools."""
        return await self._call("POST", "actions", {"actions": actions})

    # -- the end --

    def _jitter(self, delay: float) -> float:
        return delay * (0.5 + random.random())

    async def close(self) -> None:
        self._closing = True
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self._wake.set()
        for task in (self._sender, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        self._connected.clear()
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()
        self._http.close()


def _busy(results: list[dict]) -> bool:
    return any(r.get("status") == "rejected" and r["error"]["code"] == "busy" for r in results)
