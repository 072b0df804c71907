"""The JavaScript client at `/client.js`, and development mode's playground and clock.

- `GET /client.js` (and `/client.d.ts`, its TypeScript declarations): always served, so a
  game's web client can import the library from the server it talks to. Revalidated with
  an ETag; `?v=<version>` (the playground's links) is cached for good, since the version
  changes with the bytes. CORS-open: a module script from another origin needs it.
- `GET /play/{game}`: the playground page (runtime/static/play/), development mode only.
- `GET|POST /v1/{game}/dev/clock`: the player's time offset; POST `{"skip_ms"}` moves it
  forward (runtime/devclock.py). Refused with 403 outside development mode.
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
from typing import Any

import tornado.web

from . import engine
from .devclock import MAX_SKIP_MS, DevClock
from .handlers import BaseHandler, JsonPostHandler
from .wire import ApiError, bad_request, read_json_object

STATIC = Path(__file__).resolve().parent / "static"
PLAY = STATIC / "play"

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",  # .d.ts: to read, not to run
    ".css": "text/css; charset=utf-8",
}


def asset_version(path: Path) -> str:
    """What `?v=` carries: changes whenever the file's bytes do."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class AssetHandler(tornado.web.StaticFileHandler):
    """A file of runtime/static/ with its real content type and cache headers."""

    def initialize(  # type: ignore[override]  # two settings of our own, by keyword
        self, path: str, dev_only: bool = False, server: Any = None
    ) -> None:
        super().initialize(path)
        self.dev_only = dev_only
        self.server = server

    def prepare(self) -> None:
        if self.dev_only and not self.server.config.dev:
            raise tornado.web.HTTPError(404)

    def get_content_type(self) -> str:
        assert self.absolute_path is not None
        return _TYPES.get(Path(self.absolute_path).suffix, "application/octet-stream")

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("X-Content-Type-Options", "nosniff")
        if "v" not in self.request.arguments:
            # no version in the URL: the bytes may change with the server; ask each time
            # (an unchanged file costs a 304 thanks to the ETag)
            self.set_header("Cache-Control", "no-cache")

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return 365 * 86400 if "v" in self.request.arguments else 0

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        code = "not_found" if status_code == 404 else "bad_request"
        self.finish({"error": {"code": code, "message": f"no file {self.request.path}"}})


class PlayHandler(BaseHandler):
    route = "play"

    def get(self, game_id: str) -> None:
        if not self.server.config.dev:
            raise ApiError(
                404,
                "not_found",
                "the playground only runs in development mode (this server runs with --production)",
            )
        game = self.find_game(game_id)
        page = (PLAY / "index.html").read_text(encoding="utf-8")
        fills = {
            "GAME": html.escape(game.id),
            "TITLE": html.escape(game.pack.title),
            "CLIENT_V": asset_version(STATIC / "client.js"),
            "PLAY_JS_V": asset_version(PLAY / "play.js"),
            "PLAY_CSS_V": asset_version(PLAY / "play.css"),
        }
        for name, value in fills.items():
            page = page.replace("{{" + name + "}}", value)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)


class DevClockHandler(JsonPostHandler):
    """The calling player's dev clock: offset, time, and each meter's last tick (so the
    playground can fill meters exactly; the state shows only their values)."""

    route = "dev_clock"

    async def prepare(self) -> None:
        if not self.server.config.dev or not isinstance(self.server.clock, DevClock):
            raise ApiError(
                403,
                "forbidden",
                "the dev clock only runs in development mode (this server runs with --production)",
            )
        self.clock: DevClock = self.server.clock
        await super().prepare()

    async def get(self, game_id: str) -> None:
        game, player = self.sign_in(game_id)
        self.answer(await self._clock(game, player))

    async def post(self, game_id: str) -> None:
        game, player = self.sign_in(game_id)
        body = read_json_object(self.body())
        skip = body.get("skip_ms")
        if type(skip) is not int or not 0 < skip <= MAX_SKIP_MS:
            raise bad_request(f"`skip_ms` must be a whole number from 1 to {MAX_SKIP_MS}")
        self.clock.skip((game.id, player), skip)
        self.server.event_push.rearm(game.id)  # the player's connections hear their events
        self.answer(await self._clock(game, player))

    async def _clock(self, game: Any, player: str) -> dict:
        clock = self.clock
        key = (game.id, player)
        snap = await self.server.gateway.store.load(game.id, player)
        now = max(clock.now_for(key), (snap.state or {}).get("_now", 0))
        settled = engine.prepare(game.pack, snap.state, now)
        meters = {
            name: {"value": settled[name], "since": since}
            for name, since in settled.get("_meters", {}).items()
        }
        return {"offset_ms": clock.offset(key), "server_time": now, "meters": meters}
