"""HTTP handlers: thin. Each reads the request, asks the gateway once, answers JSON.

Errors outside results are `{"error": {"code", "message"}}` with the protocol's status;
every handler raises ApiError (or lets StoreUnavailable / TokenError through) and
`write_error` shapes the answer. Metrics are recorded in on_finish, after the answer.

Bodies: every handler reads the request body itself, as it streams in (BodyLimit), and
tornado's own body limit is lifted for the request. Tornado's limit answers a bare
`400 Bad Request` — and could even send it on the same connection after our 413 — so it
must never be the one to answer: a body over `--max-body` always gets one JSON 413.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.http1connection
import tornado.httputil
import tornado.web

from . import leaderboards
from .auth import TokenError, bearer
from .engine import PackFault
from .events import events_at
from .gateway import GRANT_PREFIX, Intent
from .grants import GrantError, check_grant
from .history import REPORTS_DIR
from .limits import retry_after_header
from .metrics import CONTENT_TYPE
from .openapi import openapi_document
from .pack import PackError
from .packs import Game, RulesInvalid
from .store import StoreOutcomeUnknown, StoreUnavailable
from .swapcheck import UnsafeSwap
from .tornado_private import (
    chunked_body_reader,
    handler_finished,
    handler_reason,
    replace_chunked_body_reader,
)
from .wire import ACTION_ID, ApiError, bad_request, dumps, fingerprint, read_batch, read_json_object

if TYPE_CHECKING:
    from .app import Server
    from .config import Limits

log = logging.getLogger(__name__)

DEFAULT_LEDGER_LIMIT = 100
# a write went to the store and its answer was lost: it may have been applied, or not
OUTCOME_UNKNOWN = (
    "the store's answer was lost after the write was sent: it may have been "
    "applied or not; resend the same ids to learn the outcome (never new ids)"
)
ADMIN_RECENT = 20  # ledger entries the admin player view shows


def as_api_error(exc: BaseException) -> ApiError | None:
    """The protocol's answer to an exception, or None for a bug (500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, TokenError):
        return ApiError(401, "unauthorized", str(exc))
    if isinstance(exc, StoreOutcomeUnknown):  # before StoreUnavailable: it is one
        return ApiError(503, "outcome_unknown", OUTCOME_UNKNOWN, headers={"Retry-After": "1"})
    if isinstance(exc, StoreUnavailable):
        return ApiError(
            503,
            "unavailable",
            "the store cannot be reached; nothing was applied",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, PackFault):  # the rules failed on this player's state (a state read)
        return ApiError(409, "pack_fault", f"the rules failed: {exc}")
    if isinstance(exc, tornado.web.HTTPError):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return ApiError(exc.status_code, code, exc.reason or code.replace("_", " "))
    return None


class BodyLimit:
    """Reads a request's body as it streams in, within the limits (see the module doc).

    A handler that `takes_body` keeps up to `max_body` bytes of it. A body over that is
    answered 413: when its size is known up front (Content-Length), at once when it is
    past `body_discard` or the client waits for `100 Continue` to send it; else it is read
    to its end and dropped, and the handler answers 413 when it asks for the body — the
    answer comes after the request and the connection stays open. A handler that takes no
    body drops what comes and answers 413 as soon as it is past `max_body`. An answer
    written before the body was read makes tornado close the connection after it.
    """

    takes_body = False
    request: tornado.httputil.HTTPServerRequest

    def _body_start(self, limits: Limits) -> None:
        self._limits = limits
        self._chunks: list[bytes] = []
        self._size = 0
        connection = self.request.connection
        if isinstance(connection, tornado.http1connection.HTTP1Connection):
            # past our own limits the body is dropped unread: this only stops tornado
            # from answering first (see the module doc)
            connection.set_max_body_size(1 << 62)
            _answer_huge_chunks(connection, self)

    @property
    def max_body(self) -> int:
        return self._limits.max_body

    def too_large(self) -> ApiError:
        return ApiError(413, "too_large", f"the body is over {self.max_body} bytes")

    def too_large_now(self) -> ApiError | None:
        """The 413 to answer before reading the body, from its declared length."""
        length = _content_length(self.request.headers)
        if length is None or length <= self.max_body:
            return None
        expect = self.request.headers.get("Expect", "").lower() == "100-continue"
        if not self.takes_body or expect or length > self._limits.body_discard:
            return self.too_large()
        return None

    def data_received(self, chunk: bytes) -> None:
        if self._finished_writing():
            return
        self._size += len(chunk)
        if self._size <= self.max_body:
            if self.takes_body:
                self._chunks.append(chunk)
        elif not self.takes_body or self._size > self._limits.body_discard:
            self._answer_too_large()  # a body of unknown length that goes on and on

    def body(self) -> bytes:
        if self._size > self.max_body:
            raise self.too_large()
        return b"".join(self._chunks)

    def _finished_writing(self) -> bool:
        raise NotImplementedError

    def _answer_too_large(self) -> None:
        self._answer_early(self.too_large())

    def _answer_early(self, err: ApiError) -> None:
        """Answer `err` before the body is read whole (the connection closes after it)."""
        raise NotImplementedError


def _answer_huge_chunks(
    connection: tornado.http1connection.HTTP1Connection, body: BodyLimit
) -> None:
    """A chunked body whose chunk sizes add up past `body_discard` is answered 413 at once,
    as a declared Content-Length is, and a malformed one 400: both in JSON. Tornado checks
    each chunk's size against its body limit before reading the chunk and, past it or on
    a malformed chunk, answers a bare 400. So, for this request's body only, its limit is
    ours and its error becomes our answer (the connection closes after it)."""
    read_chunked = chunked_body_reader(connection)

    async def read_chunked_within_limits(delegate: tornado.httputil.HTTPMessageDelegate) -> None:
        connection.set_max_body_size(body._limits.body_discard)
        try:
            await read_chunked(delegate)
        except tornado.httputil.HTTPInputError as e:
            if body._finished_writing():
                connection.close()  # answered already: no second answer
            elif "too large" in str(e):
                body._answer_too_large()
            else:
                body._answer_early(bad_request(f"the chunked body is malformed: {e}"))

    replace_chunked_body_reader(connection, read_chunked_within_limits)


def _content_length(headers: tornado.httputil.HTTPHeaders) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    value = value.split(",")[0].strip()  # tornado refuses differing repeats itself
    return int(value) if value.isdigit() else None


@tornado.web.stream_request_body
class BaseHandler(BodyLimit, tornado.web.RequestHandler):
    route = "other"  # the metrics label; each handler names its route

    def initialize(self, server: Server) -> None:
        self.server = server
        self.started = time.perf_counter()
        self.game: Game | None = None
        self.player: str | None = None
        self._body_start(server.config.limits)

    async def prepare(self) -> None:
        err = self.too_large_now()
        if err is not None:
            self._closing_early = True
            raise err

    def _finished_writing(self) -> bool:
        return handler_finished(self)

    def _answer_early(self, err: ApiError) -> None:
        self._closing_early = True
        self.send_error(err.status, exc_info=(type(err), err, None))

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def answer(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        err = as_api_error(exc) if exc is not None else None
        if err is None:
            if status_code >= 500 or exc is not None:
                message = str(exc) if isinstance(exc, PackError) else "internal error"
                err = ApiError(500, "internal", message)
            else:
                err = ApiError(status_code, "bad_request", handler_reason(self))
        if isinstance(exc, StoreUnavailable):
            self.server.metrics.store_errors.inc()
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json")
        if getattr(self, "_closing_early", False):
            self.set_header("Connection", "close")  # the rest of the body is not read
        for name, value in err.headers.items():
            self.set_header(name, value)
        self.finish(dumps(err.body()))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, StoreUnavailable):
            log.warning("%s %s: %s", self.request.method, self.request.path, value)
        elif isinstance(value, PackFault):
            log.error(
                "%s %s failed inside a pack: %s", self.request.method, self.request.path, value
            )
        elif as_api_error(value) is None:
            super().log_exception(typ, value, tb)

    def on_finish(self) -> None:
        elapsed = time.perf_counter() - self.started
        self.server.metrics.request_seconds(self.route, str(self.get_status()), elapsed)

    # -- the checks most calls start with --

    def find_game(self, game_id: str) -> Game:
        game = self.server.games.get(game_id)
        if game is None:
            raise ApiError(404, "not_found", f"there is no game `{game_id}` here")
        return game

    def sign_in(self, game_id: str) -> tuple[Game, str]:
        """The game and the calling player; 404, 401 or 429 otherwise."""
        self.game = game = self.find_game(game_id)
        token = bearer(self.request.headers.get("Authorization"))
        self.player = player = player_of(self.server, self.request.remote_ip, token, game.id)
        self.limit(f"p:{game.id}:{player}", self.server.limiter)
        return game, player

    def limit(self, key: str, limiter: Any) -> None:
        wait = limiter.take(key)
        if wait > 0:
            raise rate_limited(wait, "too many requests")

    def require_admin(self) -> None:
        token = bearer(self.request.headers.get("Authorization"))
        refuse_if_guessing(self.server, self.request.remote_ip)
        if not self.server.auth.is_admin(token):
            if token:
                bad_token_from(self.server, self.request.remote_ip)
            raise ApiError(403, "forbidden", "admin calls need the admin token")


# -- token guessing -----------------------------------------------------------------------
# An address that presents bad tokens (to any route, the WebSocket included) uses up its
# bucket of failures (`--auth-fail-burst`, refilled at `--auth-fail-rate` a second); then
# its calls are answered 429 until it may try again — before its token is looked at, so
# a right guess does not get through either. A missing token guesses nothing: not counted.


def player_of(server: Server, address: str | None, token: str | None, game: str) -> str:
    """The player a bearer token stands for in `game` (Auth.player), throttled by address:
    429 while the address may not try, 401 for a bad token (counted)."""
    refuse_if_guessing(server, address)
    try:
        return server.auth.player(token, game, server.clock())
    except TokenError:
        if token:
            bad_token_from(server, address)
        raise


def refuse_if_guessing(server: Server, address: str | None) -> None:
    wait = server.auth_fail_limiter.wait(f"f:{address}")
    if wait > 0:
        raise rate_limited(wait, "too many bad tokens from this address")


def bad_token_from(server: Server, address: str | None) -> None:
    server.auth_fail_limiter.take(f"f:{address}")


def rate_limited(wait: float, why: str) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"{why}; retry in {wait:.2f}s",
        details={"retry_after_ms": int(wait * 1000) + 1},
        headers={"Retry-After": retry_after_header(wait)},
    )


class JsonPostHandler(BaseHandler):
    """A handler whose body is JSON: `body()` gives it, or raises the 413 (BodyLimit)."""

    takes_body = True


# -- players ------------------------------------------------------------------------------


class SessionHandler(JsonPostHandler):
    route = "session"

    async def post(self, game_id: str) -> None:
        game = self.find_game(game_id)
        self.limit(f"a:{self.request.remote_ip}", self.server.session_limiter)
        if not self.server.auth.guest_sessions:
            raise ApiError(403, "forbidden", f"{game.id} signs players in with its own tokens")
        body = read_json_object(self.body())
        device = body.get("device_id")
        if not isinstance(device, str) or not 8 <= len(device) <= 128:
            raise bad_request("`device_id` must be a string of 8-128 characters")
        player = await self.server.gateway.store.player_for_device(game.id, device)
        token, expires = self.server.auth.guests.issue(player, game.id, self.server.clock())
        self.answer({"player_id": player, "token": token, "expires_at": expires})


class ActionsHandler(JsonPostHandler):
    route = "actions"
    check_only = False

    async def post(self, game_id: str) -> None:
        game, player = self.sign_in(game_id)
        actions = read_batch(read_json_object(self.body()), self.server.config.limits.max_batch)
        intents = [Intent.of(a) for a in actions]
        gateway = self.server.gateway
        if self.check_only:
            answer = await gateway.check(game, player, intents)
        else:
            answer = await gateway.apply(game, player, intents)
        # counted in on_finish, which runs inside answer(): after the bytes are written
        self._counted = (game, [a.name for a in actions], answer.results)
        self.answer(
            {
                "results": answer.results,
                "version": answer.version,
                "server_time": answer.server_time,
            }
        )

    def on_finish(self) -> None:
        super().on_finish()
        counted = getattr(self, "_counted", None)
        if counted is not None and not self.check_only:
            game, names, results = counted
            self.server.metrics.count_results(game.id, game.pack.actions, names, results)


class CheckHandler(ActionsHandler):
    route = "actions_check"
    check_only = True


class StateHandler(BaseHandler):
    route = "state"

    async def get(self, game_id: str) -> None:
        game, player = self.sign_in(game_id)
        version, state, now = await self.server.gateway.state(game, player)
        answer = player_view(game, player, version, state, now)
        answer["events"] = events_at(game.pack, now)  # the server's clock decides
        self.answer(answer)


class LedgerHandler(BaseHandler):
    route = "ledger"

    async def get(self, game_id: str) -> None:
        game, player = self.sign_in(game_id)
        self.answer({"entries": await ledger_page(self, game, player)})


class RulesHandler(BaseHandler):
    route = "rules"

    async def get(self, game_id: str) -> None:
        game, _ = self.sign_in(game_id)
        self.answer(game.pack.schema | {"rules": rules_info(game)})


def rules_info(game: Game) -> dict:
    return {"version": game.pack.version, "hash": game.rules_hash}


def player_view(game: Game, player: str, version: int, state: dict, now: int) -> dict:
    """A player's state as the state answer and the admin player view both show it."""
    return {
        "player_id": player,
        "version": version,
        "server_time": now,
        "rules": rules_info(game),
        "state": state,
    }


class LeaderboardHandler(BaseHandler):
    """`GET /v1/{game}/leaderboards/{name}?around=me&limit=&period=current|previous`."""

    route = "leaderboard"

    async def get(self, game_id: str, name: str) -> None:
        game, player = self.sign_in(game_id)
        board = leaderboards.boards(game.pack).get(name)
        if board is None:
            raise ApiError(404, "not_found", f"{game.id} has no leaderboard `{name}`")
        limit = query_int(self, "limit", 10, 1, leaderboards.MAX_LIMIT)
        around = self.get_query_argument("around", None)
        if around not in (None, "me"):
            raise bad_request("`around` can only be `me`")
        period = self.get_query_argument("period", "current")
        if period not in ("current", "previous"):
            raise bad_request("`period` is `current` or `previous`")
        self.answer(
            await leaderboards.page(
                self.server.store,
                game.pack,
                game.id,
                board,
                player,
                around_me=around == "me",
                limit=limit,
                last=period == "previous",
                now=self.server.clock(),
            )
        )


async def ledger_page(handler: BaseHandler, game: Game, player: str) -> list[dict]:
    after = handler.get_query_argument("after", None, strip=False) or None
    limit = query_int(
        handler, "limit", DEFAULT_LEDGER_LIMIT, 1, handler.server.config.limits.ledger_limit
    )
    try:
        return await handler.server.gateway.store.ledger(game.id, player, after=after, limit=limit)
    except ValueError as e:  # (the store's own reading of its event ids)
        raise bad_request(f"`after` is not an event id: {after!r}") from e


def query_int(
    handler: tornado.web.RequestHandler, name: str, default: int, low: int, high: int
) -> int:
    """A whole-number query argument from `low` to `high`: ASCII digits only (str.isdigit
    also takes `²`, which int() refuses), else a 400 that says what it takes."""
    raw = handler.get_query_argument(name, None, strip=False)
    if raw is None:
        return default
    if not (0 < len(raw) <= 19 and raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise bad_request(f"`{name}` must be a whole number from {low} to {high}")
    return int(raw)


# -- admin --------------------------------------------------------------------------------


class AdminPlayerHandler(BaseHandler):
    route = "admin_player"

    async def get(self, game_id: str, player: str) -> None:
        self.require_admin()
        game = self.find_game(game_id)
        store = self.server.gateway.store
        version, state, now = await self.server.gateway.state(game, player)
        if self.get_query_argument("after", None) is not None:
            ledger = await ledger_page(self, game, player)
        else:
            ledger = await store.ledger_recent(game.id, player, limit=ADMIN_RECENT)
        self.answer({**player_view(game, player, version, state, now), "ledger": ledger})


class AdminReportHandler(BaseHandler):
    """The economy report `rulesc report` wrote into the data directory (REPORTS_DIR): the
    server only shows it (drawing it needs the designer tools and matplotlib)."""

    route = "admin_report"

    async def get(self, game_id: str) -> None:
        self.require_admin()
        game = self.find_game(game_id)
        path = Path(self.server.config.data_dir) / REPORTS_DIR / f"{game.id}.html"
        try:
            page = path.read_bytes()
        except FileNotFoundError:
            raise ApiError(
                404,
                "not_found",
                f"no report for {game.id} yet: run `rulesc report {game.id} --history URL "
                f"--data-dir {self.server.config.data_dir}`",
            ) from None
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(page)


class AdminGrantHandler(JsonPostHandler):
    route = "admin_grant"

    async def prepare(self) -> None:
        self.require_admin()  # before reading a body from someone who may not send one
        await super().prepare()

    async def post(self, game_id: str, player: str) -> None:
        game = self.find_game(game_id)
        body = read_json_object(self.body())
        grant_id, reason = body.get("id"), body.get("reason", "")
        if not isinstance(grant_id, str) or not ACTION_ID.fullmatch(grant_id):
            raise bad_request("`id` must be 1-64 characters of A-Z a-z 0-9 . _ : -")
        if not isinstance(reason, str) or len(reason) > 500:
            raise bad_request("`reason` must be a string of at most 500 characters")
        try:
            places = check_grant(game.pack, body.get("changes"))
        except GrantError as e:
            raise bad_request(str(e)) from e
        params = {"changes": body["changes"], "reason": reason}
        intent = Intent(
            GRANT_PREFIX + grant_id,
            grant_id,
            "admin:grant",
            params,
            fingerprint("admin:grant", params),
            places,
            reason,
        )
        answer = await self.server.gateway.apply(game, player, [intent])
        self.answer(
            {
                "result": answer.results[0],
                "version": answer.version,
                "server_time": answer.server_time,
            }
        )


class AdminRulesHandler(JsonPostHandler):
    route = "admin_rules"

    async def prepare(self) -> None:
        self.require_admin()
        await super().prepare()

    async def post(self, game_id: str) -> None:
        body = read_json_object(self.body() or b"{}")
        path = body.get("path")
        if path is not None and not isinstance(path, str):
            raise bad_request("`path` must be a string: a game folder or a pack directory")
        current = self.server.games.get(game_id)
        if path is None and current is None:
            raise ApiError(404, "not_found", f"there is no game `{game_id}` here; give a `path`")
        try:
            game = await self.server.reload(game_id, path)
        except RulesInvalid as e:
            raise ApiError(422, "rules_invalid", str(e)) from e
        except PackError as e:
            raise ApiError(422, "pack_invalid", str(e)) from e
        except UnsafeSwap as e:  # the rules say where it goes with `migrate` lines
            raise ApiError(
                409,
                "unsafe_swap",
                str(e),
                details={
                    "version": e.new_version,
                    "serving": e.old_version,
                    "losses": [loss.as_dict() for loss in e.losses],
                    "diff": e.diff,
                },
            ) from e
        old = current.pack.version if current else None
        self.answer(
            {
                "game": game.id,
                "version": game.pack.version,
                "hash": game.rules_hash,
                "previous": old,
            }
        )


# -- operations ---------------------------------------------------------------------------


class HealthHandler(BaseHandler):
    route = "healthz"

    def get(self) -> None:
        self.answer({"ok": True})


class ReadyHandler(BaseHandler):
    route = "readyz"

    async def get(self) -> None:
        """Anyone may ask whether it is ready; what is wrong (store addresses, error text)
        is told only to the admin token."""
        problems = []
        if not len(self.server.games):
            problems.append("no game loaded")
        try:
            await asyncio.wait_for(self.server.gateway.store.ping(), 2.0)
        except (StoreUnavailable, TimeoutError) as e:
            problems.append(f"store unreachable: {e or 'timeout'}")
        body: dict[str, Any] = {"ok": not problems, "games": self.server.games.ids()}
        if self._is_admin():
            body["problems"] = problems
        self.answer(body, 503 if problems else 200)

    def _is_admin(self) -> bool:
        """Whether the admin token came (a wrong one counts as a bad token, as on every
        route; probes send none and are never held up)."""
        token = bearer(self.request.headers.get("Authorization"))
        if not token:
            return False
        refuse_if_guessing(self.server, self.request.remote_ip)
        if self.server.auth.is_admin(token):
            return True
        bad_token_from(self.server, self.request.remote_ip)
        return False


class MetricsHandler(BaseHandler):
    route = "metrics"

    async def get(self) -> None:
        await self.server.metrics.refresh()
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.server.metrics.render())


class OpenApiHandler(BaseHandler):
    route = "openapi"

    def get(self) -> None:
        self.answer(openapi_document(self.server.games.ids()))


class NotFoundHandler(BaseHandler):
    async def prepare(self) -> None:
        raise ApiError(404, "not_found", f"no route {self.request.method} {self.request.path}")
