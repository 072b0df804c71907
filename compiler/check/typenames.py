"""The types the rules write by name: `int`, `duration`, `time`, `bool`, a table's name (a
row of it), a row of slots (a slot's number, for parameters) and `player` (parameters only)."""

from __future__ import annotations

from rulesc.dsl import ast

from .. import types as T
from .context import Context, did_you_mean


def type_named(c: Context, name: ast.Name, *, allow_slots: bool = False) -> T.Type | None:
    """The type `name` stands for, or None (reported). `allow_slots`: for a parameter."""
    if name.id == "player":
        return player_type(c, name, for_param=allow_slots)
    if name.id in T.SCALAR_TYPE_NAMES:
        return T.SCALAR_TYPE_NAMES[name.id]
    if name.id in c.table_names:
        return T.enum(name.id)
    if allow_slots and name.id in c.slots:
        return T.slot_index(name.id)
    if c.reported(name.id):
        return None
    options = (
        list(T.SCALAR_TYPE_NAMES) + sorted(c.table_names) + (list(c.slots) if allow_slots else [])
    )
    c.error(
        "R024",
        f"unknown type `{name.id}`",
        name.span,
        did_you_mean(name.id, options) or "types are int, duration, time, bool or a table's name",
    )
    return None


def player_type(c: Context, name: ast.Name, *, for_param: bool) -> T.Type | None:
    """`player`, the type of a parameter naming another player; only parameters have it."""
    if for_param:
        return T.PLAYER
    c.error(
        "R071",
        "only an action's parameters can be players",
        name.span,
        "another player is named when the action is sent: declare a parameter such as `friend: player`",
    )
    return None
