"""The types of the rules language. Every value has one; there are no floats."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # int, duration, time, bool, enum, set, slot_index, slot, string, player
    name: str | None = None  # the table of an enum, the slots of an index or a slot

    def __str__(self) -> str:
        if self.kind == "enum":
            return f"{self.name}"
        if self.kind == "slot_index":
            return f"a {self.name} slot number"
        if self.kind == "slot":
            return f"a {self.name} slot"
        if self.kind == "pair":
            return f"a pair of rows ({(self.name or '').replace(',', ', ')})"
        if self.kind == "set":
            return f"set of {self.name}"
        return self.kind


INT = Type("int")
DURATION = Type("duration")
TIME = Type("time")
BOOL = Type("bool")
STRING = Type("string")
PLAYER = Type("player")  # another player's id: only a parameter, compared with == and !=


def enum(table: str) -> Type:
    return Type("enum", table)


def set_of(table: str) -> Type:
    """A cell of a `set of season` column: some rows of a table (or periods of a calendar)."""
    return Type("set", table)


def slot_index(slots: str) -> Type:
    return Type("slot_index", slots)


def pair(first: str, second: str) -> Type:
    """The key of an item of two tables: a row of each."""
    return Type("pair", f"{first},{second}")


def slot(slots: str) -> Type:
    return Type("slot", slots)


def is_intlike(t: Type) -> bool:
    """Slot numbers are integers too: `slot + 1` is an int."""
    return t.kind in ("int", "slot_index")


def same(a: Type, b: Type) -> bool:
    if is_intlike(a) and is_intlike(b):
        return True
    return a == b


SCALAR_TYPE_NAMES = {"int": INT, "duration": DURATION, "time": TIME, "bool": BOOL}

# the result type of arithmetic, by (left kind, operator, right kind)
ARITH: dict[tuple[str, str, str], Type] = {}
for _op in "+-*/%":
    ARITH[("int", _op, "int")] = INT
for _op in "+-%":
    ARITH[("duration", _op, "duration")] = DURATION
ARITH[("duration", "*", "int")] = DURATION
ARITH[("int", "*", "duration")] = DURATION
ARITH[("duration", "/", "int")] = DURATION
ARITH[("duration", "/", "duration")] = INT
ARITH[("time", "+", "duration")] = TIME
ARITH[("duration", "+", "time")] = TIME
ARITH[("time", "-", "duration")] = TIME
ARITH[("time", "-", "time")] = DURATION


def arith_result(left: Type, op: str, right: Type) -> Type | None:
    lk = "int" if is_intlike(left) else left.kind
    rk = "int" if is_intlike(right) else right.kind
    return ARITH.get((lk, op, rk))
