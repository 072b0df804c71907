"""`rulesc serve`: host games over HTTP and WebSocket (registered in cli/main.py).

Every flag can also come from an environment variable (RULESC_...), so a container or a
process manager configures it without a command line.

`serve_command` is the command line only: it gathers the options into a ServeOptions and
hands them to `serve`, which runs one step per function: check the options, choose the
store (runtime/stores.py), resolve the secrets, load the games, then wire the app and run
it in this process or in forked workers (cli/workers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from rulesc.runtime import packdir, packs
from rulesc.runtime.app import Server
from rulesc.runtime.auth import Auth, GuestTokens, JwtVerifier, random_secret
from rulesc.runtime.config import Limits, ServerConfig
from rulesc.runtime.history import Drainer, Sink, UnknownHistory, make_sink
from rulesc.runtime.pack import PackError
from rulesc.runtime.packdir import KEEP_PACKS
from rulesc.runtime.store import (
    DEFAULT_LEDGER_MAXLEN,
    DEFAULT_MAX_REJECTIONS,
    DEFAULT_REJECTION_TTL,
    Store,
)
from rulesc.runtime.stores import StoreKind, StoreSettings, UnknownStore, store_kind

from .packbuild import compile_pack

DEFAULT_DATA_DIR = Path(".rulesc-data")
_LIMITS = Limits()  # the defaults shown in --help
_CONFIG = ServerConfig()
# dev mode without --secret / --admin-token: the values made once and kept in the data dir
DEV_SECRET_FILE = "dev-secret"
DEV_ADMIN_TOKEN_FILE = "dev-admin-token"
MIN_RESULT_TTL_HOURS = 24.0


def serve_command(
    games: Annotated[
        list[Path],
        typer.Argument(
            metavar="GAME",
            help="Game folders (built on start) or pack directories (loaded as they are).",
            envvar="RULESC_GAMES",
            show_default=False,
        ),
    ],
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Address to listen on.", envvar="RULESC_HOST")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Port to listen on.", envvar="RULESC_PORT")
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            help="Server processes sharing the port (SO_REUSEPORT). More than one needs "
            "--redis: the embedded SQLite store serves one process.",
            envvar="RULESC_WORKERS",
        ),
    ] = 1,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            metavar="URL",
            help="Redis URL (redis://host:6379/0), or any node of a Redis Cluster (found "
            "by itself). Without it: the embedded SQLite store in the data directory.",
            envvar="RULESC_REDIS_URL",
        ),
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            help="Built packs, and the SQLite store when there is no --redis.",
            envvar="RULESC_DATA_DIR",
        ),
    ] = DEFAULT_DATA_DIR,
    keep_packs: Annotated[
        int,
        typer.Option(
            "--keep-packs",
            metavar="N",
            min=0,
            help="Old pack folders kept per game in DATA_DIR/packs for a rollback (the "
            "most recently served); older ones, and refused builds, are deleted.",
            envvar="RULESC_KEEP_PACKS",
        ),
    ] = KEEP_PACKS,
    secret: Annotated[
        str | None,
        typer.Option(
            metavar="SECRET",
            help="Signs guest tokens. Dev mode without it: a random one made once and kept in "
            "DATA_DIR/dev-secret (mode 0600), so tokens outlive a restart.",
            envvar="RULESC_SECRET",
        ),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            metavar="TOKEN",
            help="Bearer token of /admin calls. Dev mode without it: a random one kept in "
            "DATA_DIR/dev-admin-token (mode 0600), printed.",
            envvar="RULESC_ADMIN_TOKEN",
        ),
    ] = None,
    production: Annotated[
        bool,
        typer.Option(
            "--production",
            help="Refuse to start without --secret and --admin-token.",
            envvar="RULESC_PRODUCTION",
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Rebuild a game folder when its files change (once they are steady) and "
            "swap the pack in, unless it would lose what players hold.",
            envvar="RULESC_WATCH",
        ),
    ] = False,
    jwt_hs256_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="Also accept the game's own JWTs signed HS256 with this key (player = sub).",
            envvar="RULESC_JWT_HS256_KEY",
        ),
    ] = None,
    jwt_rs256_public_key: Annotated[
        Path | None,
        typer.Option(
            metavar="PEM_FILE",
            help="Also accept the game's own JWTs signed RS256; PEM public key file.",
            envvar="RULESC_JWT_RS256_PUBLIC_KEY",
        ),
    ] = None,
    jwt_audience: Annotated[
        str | None,
        typer.Option(
            metavar="AUDIENCE",
            help="The `aud` the game's JWTs must carry.",
            envvar="RULESC_JWT_AUDIENCE",
        ),
    ] = None,
    jwt_issuer: Annotated[
        str | None,
        typer.Option(
            metavar="ISSUER",
            help="The `iss` the game's JWTs must carry.",
            envvar="RULESC_JWT_ISSUER",
        ),
    ] = None,
    guest_sessions: Annotated[
        bool,
        typer.Option(
            "--guest-sessions/--no-guest-sessions",
            help="Allow POST /v1/{game}/session.",
            envvar="RULESC_GUEST_SESSIONS",
        ),
    ] = True,
    max_body: Annotated[
        int,
        typer.Option(
            metavar="BYTES", help="Largest HTTP body, bytes (413 above).", envvar="RULESC_MAX_BODY"
        ),
    ] = _LIMITS.max_body,
    max_frame: Annotated[
        int,
        typer.Option(
            metavar="BYTES", help="Largest WebSocket frame, bytes.", envvar="RULESC_MAX_FRAME"
        ),
    ] = _LIMITS.max_frame,
    max_batch: Annotated[
        int, typer.Option(metavar="N", help="Most actions in one batch.", envvar="RULESC_MAX_BATCH")
    ] = _LIMITS.max_batch,
    rate: Annotated[
        float,
        typer.Option(
            metavar="PER_SECOND",
            help="Requests a second per player (0: no limit).",
            envvar="RULESC_RATE",
        ),
    ] = _LIMITS.rate,
    burst: Annotated[
        float,
        typer.Option(
            metavar="N", help="Requests a player may make at once.", envvar="RULESC_BURST"
        ),
    ] = _LIMITS.burst,
    auth_fail_rate: Annotated[
        float,
        typer.Option(
            metavar="PER_SECOND",
            help="Bad tokens a second one address may present once its burst is spent; past "
            "that, its calls are 429 (0: no limit).",
            envvar="RULESC_AUTH_FAIL_RATE",
        ),
    ] = _LIMITS.auth_fail_rate,
    auth_fail_burst: Annotated[
        float,
        typer.Option(
            metavar="N",
            help="Bad tokens one address may present at once.",
            envvar="RULESC_AUTH_FAIL_BURST",
        ),
    ] = _LIMITS.auth_fail_burst,
    ws_ping_interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Seconds between server pings.",
            envvar="RULESC_WS_PING_INTERVAL",
        ),
    ] = 15.0,
    ws_ping_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Close a WebSocket with no pong within this.",
            envvar="RULESC_WS_PING_TIMEOUT",
        ),
    ] = 10.0,
    ws_max_buffer: Annotated[
        int,
        typer.Option(
            metavar="BYTES",
            help="Bytes waiting to be sent to one WebSocket client before it is closed as "
            "too slow (1013).",
            envvar="RULESC_WS_MAX_BUFFER",
        ),
    ] = _LIMITS.ws_max_buffer,
    header_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            help="Seconds a new connection has to send a whole request head (a WebSocket's "
            "upgrade too); then it is closed.",
            envvar="RULESC_HEADER_TIMEOUT",
        ),
    ] = _CONFIG.header_timeout,
    body_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            help="Seconds a request has to send its body; then it is closed.",
            envvar="RULESC_BODY_TIMEOUT",
        ),
    ] = _CONFIG.body_timeout,
    idle_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            help="Seconds a kept-alive connection may wait for its next request; keep it "
            "above a proxy's upstream keepalive_timeout (nginx: 60).",
            envvar="RULESC_IDLE_TIMEOUT",
        ),
    ] = _CONFIG.idle_timeout,
    max_connections: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0,
            help="Connections one process holds (HTTP and WebSocket); more are answered "
            "503 and closed. 0: the open-file limit less an eighth.",
            envvar="RULESC_MAX_CONNECTIONS",
        ),
    ] = _LIMITS.max_connections,
    max_connections_per_address: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0,
            help="Connections one process holds from one peer address (0: no cap). Not "
            "applied with --trust-proxy: every peer is the proxy then.",
            envvar="RULESC_MAX_CONNECTIONS_PER_ADDRESS",
        ),
    ] = _LIMITS.max_connections_per_address,
    result_ttl: Annotated[
        float,
        typer.Option(
            metavar="HOURS",
            help="Hours an action id is remembered (at least 24).",
            envvar="RULESC_RESULT_TTL_HOURS",
        ),
    ] = 24.0,
    rejection_ttl: Annotated[
        float,
        typer.Option(
            metavar="MINUTES",
            help="Minutes the id of a rejected action is remembered (at most the result TTL).",
            envvar="RULESC_REJECTION_TTL_MINUTES",
            min=1,
        ),
    ] = DEFAULT_REJECTION_TTL / 60,
    max_rejections: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Rejected action ids remembered per player (the newest).",
            envvar="RULESC_MAX_REJECTIONS",
            min=1,
        ),
    ] = DEFAULT_MAX_REJECTIONS,
    ledger_maxlen: Annotated[
        int,
        typer.Option(
            metavar="N", help="Ledger entries kept per player.", envvar="RULESC_LEDGER_MAXLEN"
        ),
    ] = DEFAULT_LEDGER_MAXLEN,
    history: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Copy every committed ledger entry (and every rejection, counted) to a SQL "
            "database off the hot path, for `rulesc report`: postgresql://USER@HOST/DB "
            "(needs the `history` extra), sqlite:///PATH, or sqlite (history.sqlite3 in the "
            "data directory). Off by default (docs/operations.md).",
            envvar="RULESC_HISTORY",
        ),
    ] = None,
    history_drainer: Annotated[
        bool,
        typer.Option(
            help="With --history: run the history drainer beside the server (the default). "
            "--no-history-drainer only appends to the feed, for when another `serve "
            "--history` on the same Redis drains it (one drainer per store is enough).",
            envvar="RULESC_HISTORY_DRAINER",
        ),
    ] = True,
    redis_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Seconds to wait for a Redis reply. A commit whose reply does not come "
            "in time is answered 503 outcome_unknown.",
            envvar="RULESC_REDIS_TIMEOUT",
            min=0.01,
        ),
    ] = 5.0,
    trust_proxy: Annotated[
        bool,
        typer.Option(
            "--trust-proxy",
            help="Take the client's address (for per-address limits) from X-Real-Ip / "
            "X-Forwarded-For. Only behind a proxy that sets them: exposed directly, a caller "
            "could name any address.",
            envvar="RULESC_TRUST_PROXY",
        ),
    ] = False,
    sharded_pubsub: Annotated[
        bool,
        typer.Option(
            "--sharded-pubsub",
            help="SPUBLISH pushes on a single Redis too (a cluster always uses sharded "
            "pub/sub: found by itself).",
            envvar="RULESC_SHARDED_PUBSUB",
        ),
    ] = False,
) -> None:
    """Serve games over HTTP and WebSocket (the protocol is in docs/protocol.md)."""
    serve(ServeOptions(**locals()))  # every parameter by name: one field each in ServeOptions


@dataclass(frozen=True)
class ServeOptions:
    """The options of `rulesc serve`, as given (units as on the command line)."""

    games: list[Path]
    host: str
    port: int
    workers: int
    redis: str | None
    data_dir: Path
    keep_packs: int
    secret: str | None
    admin_token: str | None
    production: bool
    watch: bool
    jwt_hs256_key: str | None
    jwt_rs256_public_key: Path | None
    jwt_audience: str | None
    jwt_issuer: str | None
    guest_sessions: bool
    max_body: int
    max_frame: int
    max_batch: int
    rate: float
    burst: float
    auth_fail_rate: float
    auth_fail_burst: float
    ws_ping_interval: float
    ws_ping_timeout: float
    ws_max_buffer: int
    header_timeout: float
    body_timeout: float
    idle_timeout: float
    max_connections: int
    max_connections_per_address: int
    result_ttl: float  # hours
    rejection_ttl: float  # minutes
    max_rejections: int
    ledger_maxlen: int
    history: str | None
    history_drainer: bool
    redis_timeout: float
    trust_proxy: bool
    sharded_pubsub: bool

    def server_config(self) -> ServerConfig:
        return ServerConfig(
            limits=Limits(
                max_body=self.max_body,
                max_frame=self.max_frame,
                max_batch=self.max_batch,
                rate=self.rate,
                burst=self.burst,
                auth_fail_rate=self.auth_fail_rate,
                auth_fail_burst=self.auth_fail_burst,
                ws_max_buffer=self.ws_max_buffer,
                max_connections=self.max_connections,
                max_connections_per_address=self.max_connections_per_address,
            ),
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            idle_timeout=self.idle_timeout,
            ws_ping_interval=self.ws_ping_interval,
            ws_ping_timeout=self.ws_ping_timeout,
            data_dir=str(self.data_dir),
            keep_packs=self.keep_packs,
            dev=not self.production,  # the playground and the dev clock
            trust_proxy=self.trust_proxy,
        )

    def store_settings(self) -> StoreSettings:
        return StoreSettings(
            data_dir=self.data_dir,
            result_ttl=max(self.result_ttl, MIN_RESULT_TTL_HOURS) * 3600,
            rejection_ttl=self.rejection_ttl * 60,
            max_rejections=self.max_rejections,
            ledger_maxlen=self.ledger_maxlen,
            sharded_pubsub=self.sharded_pubsub,
            timeout=self.redis_timeout,
            history=bool(self.history),
        )


@dataclass(frozen=True)
class ServerParts:
    """What each server process is made of. The store is made by the process that serves
    with it (a worker: after the fork), so no connection is shared between processes."""

    games: list[packs.Game]
    auth: Auth
    config: ServerConfig
    make_store: Callable[[], Store]
    make_sink: Callable[[], Sink] | None = None  # --history: made by the drainer process
    history: bool = False  # the store feeds the history (watched in /metrics)


def serve(options: ServeOptions) -> None:
    """Check, resolve and load everything, then serve until stopped. Wrong use exits 2
    before anything is written; rules that do not check exit 1."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _check_usage(options)
    kind = _choose_store(options)
    auth = _resolve_auth(options)
    games = _load_games(options.games, options.data_dir)
    for game in games:  # its pack is kept; what a long run before left past --keep-packs is not
        packdir.settle(options.data_dir, game.id, game.pack.path, options.keep_packs)
    settings = options.store_settings()

    def make_store() -> Store:
        typer.echo(f"store: {kind.describe(options.redis, settings)}")
        return kind.make(options.redis, settings)

    make_sink = _history_sink(options)  # checked even when not used here
    if not options.history_drainer:
        make_sink = None
    parts = ServerParts(
        games, auth, options.server_config(), make_store, make_sink, bool(options.history)
    )
    watched = {g.id: g.source for g in games if packs.is_game_folder(g.source)}
    watched = watched if options.watch else {}
    if options.workers == 1 and make_sink is None:
        _serve_here(parts, options.host, options.port, watched)
    else:  # --history: the drainer runs in a process of its own, beside the server's
        _serve_workers(parts, options.host, options.port, options.workers, watched)


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _check_usage(options: ServeOptions) -> None:
    """The options that cannot go together."""
    if not options.games:
        raise typer.BadParameter("give at least one game folder or pack directory")
    if options.workers > 1 and options.watch:
        raise _usage_error("--watch is for development: serve one worker")
    if options.production and (not options.secret or not options.admin_token):
        raise _usage_error(
            "--production needs --secret and --admin-token "
            "(or RULESC_SECRET and RULESC_ADMIN_TOKEN)"
        )


def _choose_store(options: ServeOptions) -> StoreKind:
    """The kind of store --redis names (runtime/stores.py), fit for the workers asked."""
    try:
        kind = store_kind(options.redis)
    except UnknownStore as e:
        raise _usage_error(f"--redis: {e}") from e
    if options.workers > 1 and not kind.many_processes:
        raise _usage_error(
            "--workers needs --redis: the embedded SQLite store is a single-process "
            "store (its pushes and its writer live in one process)"
        )
    if options.history and not options.history_drainer and not kind.many_processes:
        raise _usage_error(
            "--no-history-drainer needs --redis: no other server drains the embedded "
            "SQLite store's feed"
        )
    return kind


def _history_sink(options: ServeOptions) -> Callable[[], Sink] | None:
    """--history: the sink it names (made once here to check it, then once per process)."""
    url = options.history
    if not url:
        return None
    try:
        make_sink(url, options.data_dir)
    except UnknownHistory as e:
        raise _usage_error(f"--history: {e}") from e

    def make() -> Sink:
        sink = make_sink(url, options.data_dir)
        typer.echo(f"history: {sink.describe}")
        return sink

    return make


def _resolve_auth(options: ServeOptions) -> Auth:
    """Guest tokens, admin token and the game's own JWTs. Dev mode without --secret /
    --admin-token: the values kept in the data dir (made on the first start)."""
    secret = options.secret
    if not secret:
        secret, path, made = _dev_value(options.data_dir, DEV_SECRET_FILE)
        typer.echo(
            f"warning: no --secret: guest tokens are signed with the dev secret "
            f"{'just made and ' if made else ''}kept in {path} (dev mode; never use it in "
            "production)",
            err=True,
        )
    admin_token = options.admin_token
    if not admin_token:
        admin_token, path, _ = _dev_value(options.data_dir, DEV_ADMIN_TOKEN_FILE)
        typer.echo(
            f"warning: no --admin-token: admin calls take the dev one kept in {path}: "
            f"{admin_token}",
            err=True,
        )
    return Auth(GuestTokens(secret), _jwt_verifier(options), admin_token, options.guest_sessions)


def _jwt_verifier(options: ServeOptions) -> JwtVerifier | None:
    if not (options.jwt_hs256_key or options.jwt_rs256_public_key):
        return None
    try:
        key_file = options.jwt_rs256_public_key
        return JwtVerifier(
            hs256_key=options.jwt_hs256_key,
            rs256_public_key=key_file.read_text() if key_file else None,
            audience=options.jwt_audience,
            issuer=options.jwt_issuer,
        )
    except (OSError, ValueError) as e:
        raise _usage_error(f"JWT verifier: {e}") from e


def _load_games(sources: list[Path], data_dir: Path) -> list[packs.Game]:
    """Each source built (a game folder) or loaded (a pack directory), in order."""
    loaded: list[packs.Game] = []
    for source in sources:
        try:
            game = packs.build(source, data_dir, compile_pack)
        except packs.RulesInvalid as e:
            typer.echo(f"{e}\n\nerror: {source}: the rules do not check", err=True)
            raise typer.Exit(1) from e
        except PackError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from e
        if any(g.id == game.id for g in loaded):
            raise _usage_error(f"two sources are game `{game.id}`")
        loaded.append(game)
        typer.echo(f"game {game.id}: pack {game.pack.version} from {source}")
    return loaded


def _serve_here(parts: ServerParts, host: str, port: int, watched: dict[str, Path]) -> None:
    """Serve in this process (one worker)."""
    asyncio.run(_run(parts, host, port, watched))


def _serve_workers(
    parts: ServerParts, host: str, port: int, workers: int, watched: dict[str, Path]
) -> None:
    """Serve in `workers` forked processes sharing the port (cli/workers.py), and with
    --history the history drainer in one more."""
    from .workers import serve_forked

    def run_worker(bound: int, ready_fd: int) -> None:
        asyncio.run(_run(parts, host, bound, watched, ready_fd=ready_fd))

    def announce(bound: int) -> None:
        _announce(parts.games, host, bound, parts.config.dev, workers)

    def run_drainer() -> None:
        asyncio.run(_drain(parts))

    helper = run_drainer if parts.make_sink is not None else None
    raise typer.Exit(serve_forked(workers, host, port, run_worker, announce, _say, helper))


def _dev_value(data_dir: Path, name: str) -> tuple[str, Path, bool]:
    try:
        value, made = kept_secret(data_dir / name)
    except (OSError, ValueError) as e:
        typer.echo(f"error: dev mode keeps its secrets in {data_dir}: {e}", err=True)
        raise typer.Exit(2) from e
    return value, data_dir / name, made


def kept_secret(path: Path) -> tuple[str, bool]:
    """The secret kept in `path`, made (random) and written there when it is missing:
    (secret, made now). The file is readable by its owner only (0600; a looser mode is
    tightened). Two servers starting at once on one data dir agree on one secret: the file
    appears whole or not at all (written aside, then hard-linked into place), so an empty
    one was emptied by hand (ValueError: delete it to have a new secret made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            pass
        else:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                os.close(fd)
                raise ValueError(f"{path} is not a regular file")
            with os.fdopen(fd) as f:
                if info.st_mode & 0o077 and hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), 0o600)  # someone loosened it: only the owner reads
                value = f.read().strip()
            if not value:
                raise ValueError(f"{path} is empty; delete it to have a new secret made")
            return value, False
        value = random_secret()
        aside = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(value + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(aside, path)  # fails if another process put its own there first
            except FileExistsError:
                continue  # read theirs
            return value, True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(aside)
    raise ValueError(f"could not read or make {path}")


def _announce(games: list[packs.Game], host: str, port: int, dev: bool, workers: int) -> None:
    procs = f", {workers} workers" if workers > 1 else ""
    typer.echo(
        f"serving {', '.join(g.id for g in games)} on http://{host}:{port}  "
        f"(try GET /readyz, /v1/openapi.json{procs})"
    )
    if dev:
        for g in games:
            typer.echo(f"playground: http://{host}:{port}/play/{g.id}  (development mode)")


# Objects made between two young collections of the garbage collector (Python's default
# is 700). An action makes a few hundred, and the requests in flight survive into the
# older generations, so at 700 the collector ran several times per action: 10,000 took
# about a fifth off the server's CPU per `act` in bench/bench_server.py (700: 99-105 µs,
# 10,000: 84, the collector off: 81-88), for a few MB more between collections.
YOUNG_COLLECTION_EVERY = 10_000


def _freeze_heap() -> None:
    """Take what is loaded by now (modules, packs, the app: it lives as long as the
    process) out of the garbage collector's sight, so its collections scan only what
    serving makes, and collect the young less often. Left in, the full collections of that
    heap cost about a quarter of the server's CPU per action under load, and their pauses
    the p99 (bench/bench_server.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


async def _run(
    parts: ServerParts, host: str, port: int, watched: dict[str, Path], ready_fd: int | None = None
) -> None:
    """Make the store and the app, serve until SIGTERM / SIGINT. A worker (`ready_fd`
    given) shares the port with the others and tells the supervisor through `ready_fd`
    that it listens."""
    store = parts.make_store()
    server = Server(store, parts.auth, parts.config, games=parts.games, builder=compile_pack)
    _freeze_heap()
    if ready_fd is None:
        _announce(parts.games, host, server.listen(port, host), parts.config.dev, 1)
    else:
        server.listen(port, host, reuse_port=True)
        os.write(ready_fd, b"1")
    stop = _stop_on_signals()
    watcher = _start_watching(server, watched)
    if parts.history:  # drained by the drainer process (_drain): watched here
        server.metrics.watch_history(store.history_feed())
    try:
        await stop.wait()
    finally:
        typer.echo("stopping")
        if watcher is not None:
            watcher.cancel()
        await server.close()
        await store.close()


# The drainer's scheduling priority below the serving processes' (nice 0): on a machine
# whose cores are all busy the players' requests go first and the history falls behind
# (rulesc_history_behind_seconds), to catch up when there is room. 10 gives it about a
# tenth of a core's share against one busy serving process, not nothing.
DRAINER_NICENESS = 10


async def _drain(parts: ServerParts) -> None:
    """The history drainer's process (--history): moves the store's feed into the history
    database until SIGTERM / SIGINT. Apart from the serving processes, so they pay only the
    feed's append per commit; what it has not written when it stops stays in the feed."""
    assert parts.make_sink is not None
    os.nice(DRAINER_NICENESS)
    store = parts.make_store()
    drainer = Drainer(store.history_feed(), parts.make_sink())
    _say(f"history drainer: pid {os.getpid()}")
    stop = _stop_on_signals()
    drainer.start()
    try:
        await stop.wait()
    finally:
        await drainer.close()
        await store.close()


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT / SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    return stop


def _start_watching(server: Server, watched: dict[str, Path]) -> asyncio.Task[None] | None:
    """--watch: rebuild and swap in a game folder's pack when its files change."""
    if not watched:
        return None
    from rulesc.runtime.watch import watch

    typer.echo(f"watching {', '.join(str(p) for p in watched.values())} for changes")
    return asyncio.get_running_loop().create_task(watch(server, watched, report=_say))


def _say(message: str) -> None:
    """A line for the operator (stderr)."""
    typer.echo(message, err=True)
