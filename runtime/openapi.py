"""GET /v1/openapi.json: the protocol as an OpenAPI 3.1 document, written by hand.

The WebSocket frames cannot be described as operations; they are listed as schemas
(`ClientFrame`, `ServerFrame`) and the upgrade route says where they go.
"""

from __future__ import annotations

from typing import Any

from rulesc import __version__

_REF = "#/components/schemas/"


def _ref(name: str) -> dict:
    return {"$ref": _REF + name}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    text = {
        400: "Unreadable JSON or wrong shape (`bad_request`)",
        401: "Missing, bad, expired or foreign token (`unauthorized`)",
        403: "Admin call without the admin token (`forbidden`)",
        404: "Unknown game or route (`not_found`)",
        413: "Body over the size limit, or a batch over the action limit (`too_large`)",
        409: "The new pack would drop or reset what players hold (`unsafe_swap`); "
        "`details.losses` lists it, the old pack stays",
        422: "The new rules do not check (`rules_invalid`, `pack_invalid`)",
        429: "Too many requests from one player or address, or too many bad tokens from one "
        "address (`rate_limited`); see Retry-After",
        503: "The store cannot be reached; nothing was applied (`unavailable`). Or the "
        "commit was sent and the store's answer lost (`outcome_unknown`): resend the "
        "same ids",
    }
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


_GAME = {
    "name": "game",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The id from the game's `game` declaration",
}
_PLAYER = {"name": "player_id", "in": "path", "required": True, "schema": {"type": "string"}}
_BEARER: list[dict[str, list]] = [{"bearer": []}]
_ADMIN: list[dict[str, list]] = [{"admin": []}]

_ACTION_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}
_CODES = [
    "bad_params",
    "unknown_action",
    "precondition",
    "insufficient",
    "limit",
    "cooldown",
    "slot_busy",
    "overflow",
    "id_reused",
    "busy",
    "unknown_row",
    "pack_fault",
]

_PLACE: dict[str, Any] = {
    "type": "object",
    "required": ["rank", "score"],
    "properties": {"rank": {"type": "integer", "minimum": 1}, "score": {"type": "integer"}},
}

SCHEMAS: dict[str, Any] = {
    "Leaderboard": {
        "type": "object",
        "required": ["leaderboard", "by", "resets", "period", "ends_at", "total", "entries", "me"],
        "properties": {
            "leaderboard": {"type": "string"},
            "by": {"type": "string", "description": "the stat it ranks by"},
            "resets": {"enum": ["daily", "weekly", "never"]},
            "period": {
                "type": "string",
                "description": "`all`, a date (`2026-01-05`) or an ISO week (`2026-W02`)",
            },
            "ends_at": {
                "type": ["integer", "null"],
                "description": "ms; null for a board that never resets",
            },
            "total": {"type": "integer", "description": "players on the board"},
            "entries": {
                "type": "array",
                "items": {
                    **_PLACE,
                    "required": ["rank", "player_id", "score"],
                    "properties": {**_PLACE["properties"], "player_id": {"type": "string"}},
                },
            },
            "me": {"oneOf": [_PLACE, {"type": "null"}]},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                },
            }
        },
    },
    "Action": {
        "type": "object",
        "required": ["id", "name"],
        "additionalProperties": False,
        "properties": {
            "id": _ACTION_ID,
            "name": {"type": "string"},
            "params": {"type": "object", "description": "See GET /v1/{game}/rules"},
        },
    },
    "Batch": {
        "type": "object",
        "required": ["actions"],
        "properties": {"actions": {"type": "array", "items": _ref("Action"), "maxItems": 100}},
    },
    "Result": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": _ACTION_ID,
            "status": {"enum": ["ok", "rejected"]},
            "changes": {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "prefixItems": [{}, {}],
                    "description": "[before, after]",
                },
            },
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "data": {"type": "object"}},
                },
            },
            "clamped": {"type": "object", "additionalProperties": {"type": "integer"}},
            "replayed": {"const": True, "description": "decided before; nothing changed now"},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"enum": _CODES},
                    "message": {"type": "string"},
                    "details": {
                        "type": "object",
                        "description": "`retry_at` (ms) for limit and cooldown",
                    },
                },
            },
        },
    },
    "Results": {
        "type": "object",
        "required": ["results", "version", "server_time"],
        "properties": {
            "results": {"type": "array", "items": _ref("Result")},
            "version": {"type": "integer"},
            "server_time": {"type": "integer"},
        },
    },
    "Session": {
        "type": "object",
        "required": ["player_id", "token", "expires_at"],
        "properties": {
            "player_id": {"type": "string"},
            "token": {"type": "string"},
            "expires_at": {"type": "integer", "description": "ms since the epoch"},
        },
    },
    "State": {
        "type": "object",
        "required": ["player_id", "version", "server_time", "rules", "state"],
        "properties": {
            "player_id": {"type": "string"},
            "version": {"type": "integer"},
            "server_time": {"type": "integer"},
            "rules": {
                "type": "object",
                "properties": {"version": {"type": "string"}, "hash": {"type": "string"}},
            },
            "state": {
                "type": "object",
                "description": "Scalars by name, keyed items as "
                "objects, slots as lists with null for an empty slot, times in ms",
            },
            "events": _ref("ScheduledEvents"),
        },
    },
    "ScheduledEvents": {
        "type": "object",
        "description": "The scheduled events running at server_time, and the next run to "
        "start (null when none will)",
        "required": ["active", "next"],
        "properties": {
            "active": {"type": "array", "items": _ref("EventRun")},
            "next": {"anyOf": [_ref("EventRun"), {"type": "null"}]},
        },
    },
    "EventRun": {
        "type": "object",
        "required": ["name", "when", "sets", "starts_at", "ends_at"],
        "properties": {
            "name": {"type": "string"},
            "when": {"type": "string", "description": "the schedule, as the rules write it"},
            "sets": {"type": "array", "items": {"type": "string"}},
            "starts_at": {"type": "integer", "description": "ms since the epoch"},
            "ends_at": {"type": "integer", "description": "ms since the epoch"},
        },
    },
    "LedgerEntry": {
        "type": "object",
        "required": ["id", "action", "action_id", "changes", "time"],
        "properties": {
            "id": {"type": "string", "description": "event id; increases"},
            "action": {"type": "string", "description": "the action, or `admin:grant`"},
            "action_id": {"type": "string"},
            "params": {},
            "changes": {"type": "object"},
            "events": {"type": "array"},
            "time": {"type": "integer"},
        },
    },
    "Grant": {
        "type": "object",
        "required": ["id", "changes"],
        "properties": {
            "id": _ACTION_ID,
            "reason": {"type": "string", "maxLength": 500},
            "changes": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "resource (`gems`, `seed[wheat]`) -> amount",
            },
        },
    },
    "ClientFrame": {
        "oneOf": [
            {
                "type": "object",
                "required": ["type", "id", "name"],
                "properties": {
                    "type": {"const": "act"},
                    "id": _ACTION_ID,
                    "name": {"type": "string"},
                    "params": {"type": "object"},
                    "ref": {"type": "string"},
                },
            },
            {
                "type": "object",
                "required": ["type", "actions"],
                "properties": {
                    "type": {"const": "batch"},
                    "actions": {"type": "array", "items": _ref("Action")},
                    "ref": {"type": "string"},
                },
            },
            {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": "resume"}, "after": {"type": "string"}},
            },
            {"type": "object", "required": ["type"], "properties": {"type": {"const": "ping"}}},
        ]
    },
    "ServerFrame": {
        "oneOf": [
            {
                "description": "answer to `act`: a Result plus `version`",
                "properties": {"type": {"const": "result"}},
            },
            {
                "description": "answer to `batch`",
                "properties": {
                    "type": {"const": "results"},
                    "results": {"type": "array"},
                    "version": {"type": "integer"},
                },
            },
            {
                "description": "pushed to every connection of the player after any change",
                "properties": {
                    "type": {"const": "state"},
                    "version": {"type": "integer"},
                    "changes": {"type": "object"},
                    "cause": {
                        "type": "object",
                        "properties": {
                            "action_id": {"type": "string"},
                            "action": {"type": "string"},
                        },
                    },
                },
            },
            {
                "description": "an event; `id` is its ledger entry's id",
                "properties": {
                    "type": {"const": "event"},
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "data": {"type": "object"},
                },
            },
            {
                "description": "events were lost: fetch /state",
                "properties": {"type": {"const": "resync"}},
            },
            {
                "description": "end of a `resume` replay",
                "properties": {
                    "type": {"const": "resumed"},
                    "replayed": {"type": "integer"},
                    "version": {"type": "integer"},
                },
            },
            {"properties": {"type": {"const": "pong"}, "server_time": {"type": "integer"}}},
            {
                "description": "first frame: the connection is subscribed to the player's pushes",
                "properties": {
                    "type": {"const": "welcome"},
                    "player_id": {"type": "string"},
                    "server_time": {"type": "integer"},
                },
            },
            {
                "description": "the scheduled events running and the next run, judged at "
                "server_time (the player's dev clock in development mode): right after "
                "`welcome`, in the same write, and whenever a run starts or ends",
                "properties": {
                    "type": {"const": "events"},
                    "events": _ref("ScheduledEvents"),
                    "server_time": {"type": "integer"},
                },
            },
            {
                "description": "a frame that could not be read or applied",
                "properties": {
                    "type": {"const": "error"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        ]
    },
}


def _op(
    summary: str,
    ok: dict,
    *errors: int,
    body: dict | None = None,
    params: list | None = None,
    security: list | None = None,
) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **_errors(*errors)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    if security is not None:
        op["security"] = security
    return op


def _reads_state(op: dict) -> dict:
    """A route that brings a player's state to now under the rules: its 409 is a fault
    inside the pack on that state (runtime/engine.py PackFault)."""
    fault = (
        "The rules failed on this player's state (`pack_fault`: a bug in the rules, the "
        "message names the `.rules` line); nothing was applied; it answers again once the "
        "rules are fixed"
    )
    op["responses"]["409"] = _json(_ref("Error"), fault)
    return op


def _dev(op: dict) -> dict:
    """A development-mode route: its 403 means production mode (runtime/play.py)."""
    refused = "The server runs in production mode (`forbidden`)"
    op["responses"]["403"] = _json(_ref("Error"), refused)
    return op


def openapi_document(games: list[str]) -> dict:
    batch = _json(_ref("Results"), "One result per action, in order")
    dev_clock = _json(
        {
            "type": "object",
            "properties": {
                "offset_ms": {"type": "integer"},
                "server_time": {"type": "integer"},
                "meters": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"value": {"type": "integer"}, "since": {"type": "integer"}},
                    },
                },
            },
        },
        "The player's clock",
    )
    paths = {
        "/v1/{game}/session": {
            "post": _op(
                "Sign a device in as a guest",
                _json(_ref("Session"), "A signed token"),
                400,
                403,
                404,
                413,
                429,
                503,
                params=[_GAME],
                security=[],
                body={
                    "type": "object",
                    "required": ["device_id"],
                    "properties": {
                        "device_id": {"type": "string", "minLength": 8, "maxLength": 128}
                    },
                },
            )
        },
        "/v1/{game}/actions": {
            "post": _op(
                "Apply a batch of actions, in order, exactly once",
                batch,
                400,
                401,
                404,
                413,
                429,
                503,
                params=[_GAME],
                body=_ref("Batch"),
            )
        },
        "/v1/{game}/actions/check": {
            "post": _op(
                "What a batch would do now; changes nothing",
                batch,
                400,
                401,
                404,
                413,
                429,
                503,
                params=[_GAME],
                body=_ref("Batch"),
            )
        },
        "/v1/{game}/ws": {
            "get": {
                "summary": "Upgrade to the live channel (WebSocket); frames: ClientFrame, "
                "ServerFrame. The token may come as ?token=.",
                "parameters": [
                    _GAME,
                    {"name": "token", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "101": {"description": "Switching protocols"},
                    **_errors(401, 404, 413, 429),
                },
            }
        },
        "/v1/{game}/state": {
            "get": _reads_state(
                _op(
                    "The player's state, meters brought to server_time",
                    _json(_ref("State"), "State"),
                    401,
                    404,
                    429,
                    503,
                    params=[_GAME],
                )
            )
        },
        "/v1/{game}/ledger": {
            "get": _op(
                "The player's own history",
                _json(
                    {
                        "type": "object",
                        "properties": {"entries": {"type": "array", "items": _ref("LedgerEntry")}},
                    },
                    "Entries, oldest first",
                ),
                400,
                401,
                404,
                429,
                503,
                params=[
                    _GAME,
                    {"name": "after", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
            )
        },
        "/v1/{game}/rules": {
            "get": _op(
                "The public schema of the pack: resources, tables, actions with JSON Schema params",
                _json({"type": "object"}, "The schema"),
                401,
                404,
                429,
                params=[_GAME],
            )
        },
        "/v1/{game}/leaderboards/{name}": {
            "get": _op(
                "A leaderboard of the game (an extension): scores from the server's state only",
                _json(_ref("Leaderboard"), "The top, or the places around the caller"),
                400,
                401,
                404,
                429,
                503,
                params=[
                    _GAME,
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "around", "in": "query", "schema": {"enum": ["me"]}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {"name": "period", "in": "query", "schema": {"enum": ["current", "previous"]}},
                ],
            )
        },
        "/admin/{game}/players/{player_id}": {
            "get": _reads_state(
                _op(
                    "A player's state and recent ledger",
                    _json({"type": "object"}, "State and ledger"),
                    403,
                    404,
                    413,
                    429,
                    503,
                    params=[_GAME, _PLAYER],
                    security=_ADMIN,
                )
            )
        },
        "/admin/{game}/players/{player_id}/grant": {
            "post": _op(
                "Grant (or take) resources, exactly once; recorded and pushed",
                _json(
                    {
                        "type": "object",
                        "properties": {"result": _ref("Result"), "version": {"type": "integer"}},
                    },
                    "The grant's result",
                ),
                400,
                403,
                404,
                413,
                429,
                503,
                params=[_GAME, _PLAYER],
                security=_ADMIN,
                body=_ref("Grant"),
            )
        },
        "/admin/{game}/rules": {
            "post": _op(
                "Build or load a new pack, check it, swap it in atomically",
                _json({"type": "object"}, "The pack now served"),
                400,
                403,
                404,
                409,
                413,
                422,
                429,
                params=[_GAME],
                security=_ADMIN,
                body={
                    "type": "object",
                    "properties": {
                        "path": {
                            "type": "string",
                            "description": "game folder or pack dir (default: the one served)",
                        }
                    },
                },
            )
        },
        "/v1/{game}/dev/clock": {
            "get": _reads_state(
                _dev(
                    _op(
                        "Development mode: the player's time offset and time, and when each "
                        "meter last ticked",
                        dev_clock,
                        401,
                        403,
                        404,
                        429,
                        503,
                        params=[_GAME],
                    )
                )
            ),
            "post": _reads_state(
                _dev(
                    _op(
                        "Development mode: move the player's time forward",
                        dev_clock,
                        400,
                        401,
                        403,
                        404,
                        413,
                        429,
                        503,
                        params=[_GAME],
                        body={
                            "type": "object",
                            "required": ["skip_ms"],
                            "properties": {
                                "skip_ms": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": 366 * 86_400_000,
                                }
                            },
                        },
                    )
                )
            ),
        },
        "/client.js": {
            "get": {
                "summary": "The JavaScript client, an ES module (`?v=` caches it for good)",
                "security": [],
                "responses": {
                    "200": {"description": "The module", "content": {"text/javascript": {}}}
                },
            }
        },
        "/healthz": {"get": _op("Process up", _json({"type": "object"}, "Up"), security=[])},
        "/readyz": {
            "get": {
                "summary": "Store reachable and packs loaded",
                "security": [],
                "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format",
                "security": [],
                "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rulesc game server",
            "version": __version__,
            "description": f"Games served here: {', '.join(games) or 'none'}.",
        },
        "paths": paths,
        "security": _BEARER,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A session token, or the game's own JWT",
                },
                "admin": {"type": "http", "scheme": "bearer", "description": "The admin token"},
            },
        },
    }
