"""Server settings, all in one place (the CLI fills them from flags and env vars)."""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_body: int = 256 * KiB  # bytes of an HTTP body; above: 413
    max_frame: int = 256 * KiB  # bytes of a WebSocket frame; above: an error frame
    max_batch: int = 100  # actions in one batch (HTTP or WS); above: 413 / error frame
    rate: float = 50.0  # requests (HTTP calls, act/batch frames) a second per player
    burst: float = 100.0  # requests a player may make at once before `rate` applies
    session_rate: float = 5.0  # sign-ins a second per address (before there is a player)
    session_burst: float = 20.0
    # bad tokens (and wrong admin tokens) an address may present: `auth_fail_burst` at
    # once, then `auth_fail_rate` a second; past that its calls are 429 until it may again
    auth_fail_rate: float = 1.0
    auth_fail_burst: float = 20.0
    flood_errors: int = 20  # unreadable frames a connection may send in `flood_window`...
    flood_window: float = 10.0  # ... seconds; one more and it is closed (1008)
    ledger_limit: int = 500  # most ledger entries one call answers
    # bytes waiting to be sent to one WebSocket client (written, not yet taken by its
    # socket) before it counts as not reading: closed with 1013 and its resources freed
    ws_max_buffer: int = 1024 * KiB
    # connections one process holds (0: the open-file limit less an eighth, see
    # runtime/connections.py), and from one peer address (0: no cap; not applied with
    # trust_proxy, where every peer is the proxy). Over either: 503 too_many_connections
    max_connections: int = 0
    max_connections_per_address: int = 256

    @property
    def body_discard(self) -> int:
        """Bytes of a body over `max_body` read and dropped, so the 413 comes after the
        request and the connection stays open; a body past this is answered at once and
        the connection closed."""
        return max(4 * self.max_body, 1024 * KiB)

    @property
    def ws_max_message(self) -> int:
        """Frames over this are closed by the WebSocket layer (1009); frames between
        `max_frame` and it get an error frame."""
        return max(4 * self.max_frame, 1024 * KiB)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    limits: Limits = Limits()
    ws_ping_interval: float = 15.0  # seconds between server pings on a WebSocket
    ws_ping_timeout: float = 10.0  # no pong within this: the connection is closed
    # seconds a new connection has to send a whole request head; a request has to send its
    # body; a kept-alive connection may wait for its next request. Past them: closed
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 75.0  # above nginx's upstream keepalive_timeout (60 s)
    retries: int = 5  # store conflicts per batch before `busy`
    cache_size: int = 100_000  # players whose state stays warm in the process
    token_ttl: float = 30 * 24 * 3600.0  # seconds a guest token is good for
    data_dir: str = ".rulesc-data"  # where game folders are built into packs
    # old pack folders kept per game in DATA_DIR/packs for a rollback (runtime/packdir.py)
    keep_packs: int = 5  # (packdir.KEEP_PACKS)
    # development mode (serve without --production): the playground at /play/{game} and the
    # per-player dev clock; off by default so nothing dev-only is reachable by accident
    dev: bool = False
    # take the client's address from X-Real-Ip / X-Forwarded-For (per-address limits): only
    # behind a proxy that sets them, else any caller could name any address
    trust_proxy: bool = False
    # players meeting players: every `sweep_interval` seconds (0: never), outboxes marked
    # more than `sweep_grace_ms` ago are delivered again (what a crash left undelivered)
    sweep_interval: float = 5.0
    sweep_grace_ms: int = 10_000
