"""Who is calling: guest tokens signed by the server, optional JWTs, the admin token.

Guest token: `g1.<payload>.<signature>`, the payload base64url JSON {"p": player id,
"g": game id, "e": expiry in ms}, the signature HMAC-SHA256 of "g1.<payload>" with the
server's secret. A token is good for one game only. A game with its own accounts may
configure a JWT verifier instead (HS256 with a shared key, or RS256 with a public key).

A JWT is good for one game too: its `aud` must name the game (`JwtVerifier.audience_for`).
Its player is `j:<sub>`: guest ids (store.new_player_id) never hold a `:`, so no subject
can name a guest, whose ids are public on leaderboards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

import jwt
import orjson

GUEST_PREFIX = "g1"
DEFAULT_TOKEN_TTL = 30 * 24 * 3600.0  # seconds
PLAYER_ID_MAX = 128  # the protocol's longest player id (a `player` parameter's too)
JWT_PLAYER_PREFIX = "j:"  # a JWT's player id is this and its `sub`
SUBJECT_MAX = PLAYER_ID_MAX - len(JWT_PLAYER_PREFIX)
TOKEN_MAX = 8192  # longer than any token we or a game's account server make
# no control, format (bidi overrides, zero-width), surrogate or line/paragraph separators
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


class TokenError(Exception):
    """Missing, malformed, forged, expired or foreign token: 401."""


def random_secret() -> str:
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class GuestTokens:
    def __init__(self, secret: str, ttl: float = DEFAULT_TOKEN_TTL) -> None:
        if not secret:
            raise ValueError("the token secret must not be empty")
        self._key = secret.encode()
        self._ttl_ms = int(ttl * 1000)

    def _sign(self, signed: str) -> str:
        return _b64(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())

    def issue(self, player: str, game: str, now: int) -> tuple[str, int]:
        """(token, expires_at in ms)."""
        expires = now + self._ttl_ms
        payload = _b64(orjson.dumps({"p": player, "g": game, "e": expires}))
        signed = f"{GUEST_PREFIX}.{payload}"
        return f"{signed}.{self._sign(signed)}", expires

    def verify(self, token: str, game: str, now: int) -> str:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != GUEST_PREFIX or not token.isascii():
            raise TokenError("not a token of this server")
        signed = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signed).encode(), parts[2].encode()):
            raise TokenError("bad token signature")
        try:
            claims = orjson.loads(_unb64(parts[1]))
            player, token_game, expires = claims["p"], claims["g"], claims["e"]
        except (ValueError, KeyError, TypeError) as e:
            raise TokenError("unreadable token") from e
        if token_game != game:
            raise TokenError("the token is for another game")
        if not isinstance(expires, int) or expires <= now:
            raise TokenError("the token has expired")
        if not isinstance(player, str) or not player:
            raise TokenError("unreadable token")
        return player


class JwtVerifier:
    """A game's own account tokens. Exactly one of `hs256_key`, `rs256_public_key` (PEM)."""

    def __init__(
        self,
        *,
        hs256_key: str | None = None,
        rs256_public_key: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        leeway: float = 30.0,
    ) -> None:
        if (hs256_key is None) == (rs256_public_key is None):
            raise ValueError("give either an HS256 key or an RS256 public key")
        self._key: str = hs256_key if hs256_key is not None else rs256_public_key  # type: ignore[assignment]
        self._algorithm = "HS256" if hs256_key is not None else "RS256"
        self._audience, self._issuer, self._leeway = audience, issuer, leeway

    def audience_for(self, game: str) -> str:
        """The `aud` a token must hold to be good for `game`: `<audience>/<game>` when an
        audience is configured, else the game id. (A token may list several.)"""
        return f"{self._audience}/{game}" if self._audience else game

    def verify(self, token: str, game: str) -> str:
        """The player id (`j:<sub>`) of a JWT good for `game`. Raises TokenError."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],  # never the token's own choice of algorithm
                audience=self.audience_for(game),
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.PyJWTError as e:
            raise TokenError(f"bad token: {e}") from e
        sub = claims["sub"]
        if not valid_subject(sub):
            raise TokenError(
                f"bad token: `sub` must be 1-{SUBJECT_MAX} printable characters, "
                "not starting or ending with a space"
            )
        return JWT_PLAYER_PREFIX + sub


def valid_subject(sub: object) -> bool:
    """A JWT subject that makes a readable player id: 1-SUBJECT_MAX characters, no
    surrounding (or only) whitespace, nothing invisible or reordering (see _UNPRINTABLE)."""
    if not isinstance(sub, str) or not 0 < len(sub) <= SUBJECT_MAX or sub != sub.strip():
        return False
    return not any(unicodedata.category(c) in _UNPRINTABLE for c in sub)


@dataclass(frozen=True, slots=True)
class Auth:
    guests: GuestTokens
    jwt: JwtVerifier | None = None
    admin_token: str | None = None  # None: admin calls are refused (403)
    guest_sessions: bool = True  # False: only the game's own tokens sign players in

    def player(self, token: str | None, game: str, now: int) -> str:
        """The player a bearer token stands for, in `game`. Raises TokenError."""
        if not token:
            raise TokenError("missing token: send Authorization: Bearer <token>")
        if len(token) > TOKEN_MAX or not token.isascii() or not token.isprintable():
            raise TokenError("not a token of this server")  # (every token is printable ASCII)
        if token.startswith(GUEST_PREFIX + "."):
            return self.guests.verify(token, game, now)
        if self.jwt is not None:
            return self.jwt.verify(token, game)
        raise TokenError("not a token of this server")

    def is_admin(self, token: str | None) -> bool:
        if not token or not self.admin_token:
            return False
        return hmac.compare_digest(token.encode(), self.admin_token.encode())


def bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
