"""What comes over the wire, read and checked: JSON bodies and frames, actions, errors.

Everything here is pure (no I/O) so HTTP handlers and the WebSocket share one reading of
the protocol: the same body shape is an HTTP batch and a `batch` frame.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

ACTION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
NAME_MAX = 128  # longer than any rule identifier; caps what an unknown name can cost us


class ApiError(Exception):
    """An error outside results: `{"error": {"code", "message"}}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


@dataclass(slots=True)  # (not frozen: made per action, see store.Snapshot)
class Action:
    id: str
    name: str
    params: Any  # whatever the client sent; the engine judges it (bad_params)
    fingerprint: str


def fingerprint(name: str, params: Any) -> str:
    """Same id with another fingerprint is `id_reused`. Key order does not matter."""
    blob = orjson.dumps([name, params], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:32]


def loads(data: bytes | str) -> Any:
    """Parse JSON; anything unreadable is a 400. orjson refuses NaN and Infinity, and
    reads integers past 64 bits as floats, which strict params then refuse (bad_params).
    JSON nested deeper than MAX_DEPTH is a 400 too: orjson reads 1024 levels but writes
    only 255, and every action's params are written (fingerprint, ledger)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise bad_request(f"the body is not JSON: {e}") from e
    # (fewer brackets than the limit cannot nest past it: most bodies skip the walk)
    if _brackets(data) > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise bad_request(f"the JSON is nested more than {MAX_DEPTH} levels deep")
    return value


MAX_DEPTH = 32  # arrays and objects inside one another, a body's or frame's outermost one too


def _brackets(data: bytes | str) -> int:
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def _deeper_than(value: Any, depth: int) -> bool:
    """Whether `value` nests more than `depth` arrays and objects (a scalar nests none)."""
    if isinstance(value, dict):
        inner: Any = value.values()
    elif isinstance(value, list):
        inner = value
    else:
        return False
    if depth == 0:
        return True
    return any(_deeper_than(v, depth - 1) for v in inner if isinstance(v, (dict, list)))


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


_ACTION_FIELDS = frozenset({"id", "name", "params", "type", "ref"})


def read_action(raw: Any, where: str) -> Action:
    """One action object: `{"id", "name", "params"}`. A bad id or name is a shape error
    (the request is refused whole); bad params are the engine's to judge, per action."""
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be an object")
    if not raw.keys() <= _ACTION_FIELDS:  # (no set made when all is well)
        extra = raw.keys() - _ACTION_FIELDS
        raise bad_request(f"{where} has unknown fields: {', '.join(sorted(extra))}")
    action_id, name = raw.get("id"), raw.get("name")
    if not isinstance(action_id, str) or not ACTION_ID.fullmatch(action_id):
        raise bad_request(f"{where}.id must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    if not isinstance(name, str) or not 0 < len(name) <= NAME_MAX:
        raise bad_request(f"{where}.name must be a string of 1-{NAME_MAX} characters")
    params = raw.get("params")
    return Action(action_id, name, params, fingerprint(name, params))


def read_batch(body: Any, max_actions: int) -> list[Action]:
    """`{"actions": [...]}`, as the HTTP batch body and the `batch` frame."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    actions = body.get("actions")
    if not isinstance(actions, list):
        raise bad_request("`actions` must be a list")
    if len(actions) > max_actions:
        raise ApiError(
            413, "too_large", f"a batch holds at most {max_actions} actions, not {len(actions)}"
        )
    return [read_action(a, f"actions[{i}]") for i, a in enumerate(actions)]


def read_json_object(data: bytes) -> dict:
    body = loads(data) if data else None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body
