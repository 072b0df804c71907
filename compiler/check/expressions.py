"""Pass 4, expressions: names resolved and every expression typed, to IR, with a hint for
each mistake; another player's public resources (`target.power`) are read here too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .. import ir
from .. import types as T
from .context import (
    INT64_MAX,
    INT64_MIN,
    Context,
    Scope,
    a_type,
    did_you_mean,
    did_you_mean_or,
    plural,
)

SENDER = "sender"  # the player a delivery came from, in `on receive`
_NAMES_HINT = "no parameter of this action, `let` value, resource or table row has this name"


class _NotPeer:
    """peer_attr()/peer_index() answer this when the expression is not another player's."""


NOT_PEER = _NotPeer()


class Expressions:
    """AST expressions to typed IR, or None when they have a mistake (reported once)."""

    def __init__(self, c: Context) -> None:
        self.c = c

    def expect_type(self, e: ast.Expr, scope: Scope, want: T.Type, what: str) -> ir.Expr | None:
        got = self.expr(e, scope, want)
        if got is None:
            return None
        if not T.same(got.type, want):
            self.c.error(
                "R012",
                f"expected {what}, found {a_type(got.type)}",
                e.span,
                self.type_hint(e, got.type, want),
            )
            return None
        return got

    def message(self, m: ast.StringLit, scope: Scope) -> ir.Message | None:
        parts: list = []
        for part in m.parts:
            if isinstance(part, str):
                parts.append(part)
            else:
                e = self.expr(part, scope)
                if e is None:
                    return None
                parts.append(e)
        return ir.Message(tuple(parts))

    def expr(self, e: ast.Expr, scope: Scope, want: T.Type | None = None) -> ir.Expr | None:
        """An expression to typed IR, or None when it has a mistake (reported once).

        `want` is the type the context expects, used only to read a row name that
        several tables share.
        """
        if isinstance(e, ast.IntLit | ast.DurationLit | ast.BoolLit | ast.StringLit | ast.Now):
            return self.literal(e)
        if isinstance(e, ast.Name):
            return self.name(e, scope, want)
        checks: dict[type, Callable[..., Any]] = {
            ast.LevelRef: self.level_ref,
            ast.Index: self.index,
            ast.Attr: self.attr,
            ast.Neg: self.neg,
            ast.Binary: self.binary,
            ast.Compare: self.compare,
            ast.BoolOp: self.bool_op,
            ast.Not: self.not_,
            ast.IsSlot: self.is_slot,
            ast.Call: self.call,
            ast.IsRow: self.is_row,
            ast.InSet: self.in_set,
            ast.CalendarExpr: self.calendar_expr,
        }
        check = checks.get(type(e))
        if check is None:
            raise AssertionError(f"unknown expression {e!r}")
        return check(e, scope)

    def literal(self, e) -> ir.Expr | None:
        if isinstance(e, ast.IntLit):
            if not INT64_MIN <= e.value <= INT64_MAX:
                self.c.error(
                    "R031",
                    "the number does not fit in 64 bits",
                    e.span,
                    "numbers go up to 9223372036854775807",
                )
                return None
            return ir.Const(e.value, T.INT)
        if isinstance(e, ast.DurationLit):
            return ir.Const(e.ms, T.DURATION)
        if isinstance(e, ast.BoolLit):
            return ir.Const(e.value, T.BOOL)
        if isinstance(e, ast.Now):
            return ir.Now(T.TIME)
        self.c.error(
            "R012",
            "a message cannot be used as a value",
            e.span,
            "messages only follow `else`, in a `require` or an `invariant`",
        )
        return None

    def level_ref(self, e: ast.LevelRef, scope: Scope) -> ir.Expr | None:
        if self.c.level is None:
            if not (self.c.level_broken or self.c.reported("level")):
                self.c.error(
                    "R010",
                    "`level` is not declared",
                    e.span,
                    "declare it: `level from xp at 0, 50, 150`",
                )
            return None
        self.c.used.add(self.c.level.stat)
        return ir.LevelRead(T.INT)

    def neg(self, e: ast.Neg, scope: Scope) -> ir.Expr | None:
        x = self.expr(e.operand, scope)
        if x is None:
            return None
        if x.type.kind not in ("int", "duration", "slot_index"):
            self.c.error(
                "R012",
                f"cannot negate {a_type(x.type)}",
                e.span,
                "only numbers and durations have a sign",
            )
            return None
        return ir.Neg(x, T.INT if T.is_intlike(x.type) else x.type)

    def binary(self, e: ast.Binary, scope: Scope) -> ir.Expr | None:
        left = self.expr(e.left, scope)
        right = self.expr(e.right, scope)
        if left is None or right is None:
            return None
        t = T.arith_result(left.type, e.op, right.type)
        if t is None:
            self.c.error(
                "R012",
                f"cannot compute {a_type(left.type)} {e.op} {a_type(right.type)}",
                e.span,
                self.arith_hint(e, left.type, right.type),
            )
            return None
        if e.op in "/%" and isinstance(right, ir.Const) and right.value == 0:
            self.c.error(
                "R032", "division by zero", e.right.span, "divide by a number other than 0"
            )
            return None
        return ir.Arith(e.op, left, right, t)

    def arith_hint(self, e: ast.Binary, left: T.Type, right: T.Type) -> str:
        if "enum" in (left.kind, right.kind):
            side, t = (e.left, left) if left.kind == "enum" else (e.right, right)
            table = self.c.tables.get(t.name or "")
            column = (
                next((c.name for c in table.columns if c.type == T.INT), None) if table else None
            )
            if column:
                return (
                    f"a {t.name} is a row, not a number: compute with one of its columns, "
                    f"as in `{t.name}[{self.c.source(side.span)}].{column}`"
                )
        return _arith_hint(left, e.op, right)

    def compare(self, e: ast.Compare, scope: Scope) -> ir.Expr | None:
        left = self.expr(e.left, scope)
        right = self.expr(e.right, scope, left.type if left else None)
        if left is None or right is None:
            return None
        if not T.same(left.type, right.type):
            self.c.error(
                "R012",
                f"cannot compare {a_type(left.type)} with {a_type(right.type)}",
                e.span,
                self.compare_hint(e, left.type, right.type),
            )
            return None
        if e.op not in ("==", "!=") and left.type.kind in ("bool", "enum", "slot", "player"):
            self.c.error(
                "R012", f"{a_type(left.type)} has no order", e.span, "compare with `==` or `!=`"
            )
            return None
        return ir.Compare(e.op, left, right, T.BOOL)

    def bool_op(self, e: ast.BoolOp, scope: Scope) -> ir.Expr | None:
        items = [self.expect_type(i, scope, T.BOOL, "a condition") for i in e.items]
        if any(i is None for i in items):
            return None
        return ir.Logic(e.op, tuple(items), T.BOOL)  # type: ignore[arg-type]

    def not_(self, e: ast.Not, scope: Scope) -> ir.Expr | None:
        x = self.expect_type(e.operand, scope, T.BOOL, "a condition")
        return ir.Not(x, T.BOOL) if x is not None else None

    def is_slot(self, e: ast.IsSlot, scope: Scope) -> ir.Expr | None:
        x = self.expr(e.operand, scope)
        if x is None:
            return None
        if not isinstance(x, ir.SlotRead):
            word = "filled" if e.filled else "empty"
            said = self.c.source(e.operand.span)
            hint = (
                f"write `{x.type.name}[{said}] is {word}`"
                if x.type.kind == "slot_index"
                else f"write `field[slot] is {word}` with a row of slots"
            )
            self.c.error(
                "R012", f"only a slot can be {word}, not {a_type(x.type)}", e.operand.span, hint
            )
            return None
        return ir.IsFilled(x.slots, x.index, e.filled, T.BOOL)

    def is_row(self, e: ast.IsRow, scope: Scope) -> ir.Expr | None:
        """`season is spring`, `kind is wheat`: a row compared with one named row."""
        x = self.expr(e.operand, scope)
        if x is None:
            return None
        if x.type.kind != "enum":
            self.c.error(
                "R012",
                f"only a row or a period is something by name, not {a_type(x.type)}",
                e.operand.span,
                "compare numbers with `==`; `is` names a row: `season is spring`",
            )
            return None
        table = x.type.name or ""
        if table not in self.c.row_owner.get(e.row.id, ()):
            what = "period" if table in self.c.calendars else "row"
            self.c.error(
                "R082",
                f"`{e.row.id}` is not a {what} of `{table}`",
                e.row.span,
                did_you_mean_or(
                    e.row.id,
                    self.c.row_names(table),
                    f"the {what}s of `{table}`: " + ", ".join(self.c.row_names(table)),
                ),
            )
            return None
        return ir.Compare("==", x, ir.Const(e.row.id, x.type), T.BOOL)

    def in_set(self, e: ast.InSet, scope: Scope) -> ir.Expr | None:
        """`season in crop[kind].seasons`: a row in a cell of a `set of` column."""
        group = self.expr(e.set, scope)
        if group is None:
            return None
        if group.type.kind != "set":
            self.c.error(
                "R012",
                f"`in` looks in a set (a `set of` column), not in {a_type(group.type)}",
                e.set.span,
                "declare the column as a set, such as `seasons: set of season`",
            )
            return None
        item = self.expect_type(
            e.item, scope, T.enum(group.type.name or ""), a_type(T.enum(group.type.name or ""))
        )
        if item is None:
            return None
        return ir.Member(item, group, T.BOOL)

    def calendar_expr(self, e: ast.CalendarExpr, scope: Scope) -> ir.Expr | None:
        """`day of season` (1 on a period's first day), `next season`, `next day`."""
        if e.calendar is None:
            return ir.CalendarRead(None, "next", T.TIME)
        if self.calendar_named(e.calendar) is None:
            return None
        if e.part == "day":
            return ir.CalendarRead(e.calendar.id, "day", T.INT)
        return ir.CalendarRead(e.calendar.id, "next", T.TIME)

    def calendar_named(self, name: ast.Name) -> ir.Calendar | None:
        """The calendar `name` names, or None (reported: R082, with the closest name)."""
        calendar = self.c.calendars.get(name.id)
        if calendar is None and not self.c.reported(name.id):
            self.c.error(
                "R082",
                f"there is no calendar `{name.id}`",
                name.span,
                did_you_mean_or(
                    name.id,
                    self.c.calendars,
                    "declare one: `calendar season every 28d: spring, summer, fall, winter`",
                ),
            )
        return calendar

    def type_hint(self, e: ast.Expr, got: T.Type, want: T.Type) -> str | None:
        if want == T.BOOL and T.is_intlike(got):
            return f"a condition is true or false: compare the number, as in `{self.c.source(e.span)} > 0`"
        if want.kind == "enum":
            rows = self.c.row_names(want.name)[:1]
            return f"give a {want.name}, such as `{rows[0]}`" if rows else _type_hint(got, want)
        return _type_hint(got, want)

    def compare_hint(self, e: ast.Compare, left: T.Type, right: T.Type) -> str | None:
        if "enum" in (left.kind, right.kind) and T.is_intlike(
            right if left.kind == "enum" else left
        ):
            side, other = (e.left, e.right) if left.kind == "enum" else (e.right, e.left)
            table = self.c.tables.get((left if left.kind == "enum" else right).name or "")
            if table is not None:
                column = next((c.name for c in table.columns if c.type == T.INT), None)
                row = self.c.row_names(table.name)[:1] or ["..."]
                said = self.c.source(side.span)
                of_column = (
                    f", or compare one of its columns: `{table.name}[{said}].{column} {e.op} "
                    f"{self.c.source(other.span)}`"
                    if column
                    else ""
                )
                return f"a {table.name} is a row such as `{row[0]}`: compare it with `==` (`{said} == {row[0]}`){of_column}"
        if "slot" in (left.kind, right.kind):
            side = e.left if left.kind == "slot" else e.right
            slots = self.c.slots.get((left if left.kind == "slot" else right).name or "")
            field = slots.fields[0].name if slots and slots.fields else "field"
            return (
                f"a slot is compared through its fields, as in `{self.c.source(side.span)}.{field}`"
            )
        if left.kind == "enum" and right.kind != "enum":
            rows = self.c.row_names(left.name)[:1] or ["..."]
            return f"compare a {left.name} with another, as in `{self.c.source(e.left.span)} == {rows[0]}`"
        return (
            _type_hint(right, left)
            or "compare values of one kind: numbers, durations, times or rows of one table"
        )

    def name(self, e: ast.Name, scope: Scope, want: T.Type | None) -> ir.Expr | None:
        if e.id in scope.locals:
            return ir.LocalRef(e.id, scope.locals[e.id])
        if e.id in scope.params:
            return ir.ParamRef(e.id, scope.params[e.id].type)
        if e.id in self.c.constants:
            k = self.c.constants[e.id]
            return ir.Const(k.value, k.type, k.name)
        if e.id in self.c.calendars:  # `season`: the period now
            return ir.CalendarRead(e.id, "period", T.enum(e.id))
        if e.id in self.c.resources:
            res = self.c.resources[e.id]
            self.c.used.add(res.name)
            if res.key is not None:
                self.c.error(
                    "R026",
                    f"`{res.name}` is counted per {res.key}",
                    e.span,
                    self.which_hint(res, scope),
                )
                return None
            return ir.ResourceRead(res.name, None, T.INT)
        owners = self.c.row_owner.get(e.id, [])
        if want is not None and want.kind == "enum" and want.name in owners:
            return ir.Const(e.id, want)
        if len(owners) == 1:
            return ir.Const(e.id, T.enum(owners[0]))
        if len(owners) > 1:
            self.c.error(
                "R012",
                f"`{e.id}` is a row of several tables: {', '.join(owners)}",
                e.span,
                "compare it with a value of the table you mean",
            )
            return None
        if e.id in self.c.tables or e.id in self.c.slots:
            what, which = ("table", "row") if e.id in self.c.tables else ("row of slots", "slot")
            self.c.error(
                "R026", f"`{e.id}` is a {what}: say which {which}", e.span, f"write `{e.id}[...]`"
            )
            return None
        if self.c.reported(e.id, scope):
            return None
        candidates = [
            *scope.locals,
            *scope.params,
            *self.c.resources,
            *self.c.row_owner,
            *self.c.tables,
            *self.c.slots,
            *self.c.constants,
        ]
        self.c.error(
            "R010", f"unknown name `{e.id}`", e.span, did_you_mean(e.id, candidates) or _NAMES_HINT
        )
        return None

    def index(self, e: ast.Index, scope: Scope) -> ir.Expr | None:
        peer = self.peer_index(e, scope)
        if peer is not NOT_PEER:
            return peer  # type: ignore[return-value]
        if isinstance(e.base, ast.Name) and e.base.id in self.c.resources:
            res = self.c.resources[e.base.id]
            self.c.used.add(res.name)
            target = self.keyed(res, e.index, e.span, scope, e.index2)
            if target is None:
                return None
            return ir.ResourceRead(res.name, target[1], T.INT)
        if e.index2 is not None:
            self.c.error(
                "R086",
                "only an item of two tables takes two keys",
                e.span,
                f"write one key: `{self.c.source(e.base.span)}[{self.c.source(e.index.span)}]`",
            )
            return None
        if isinstance(e.base, ast.Name) and e.base.id in self.c.slots:
            index = self.slot_index(e.base.id, e.index, scope)
            return ir.SlotRead(e.base.id, index, T.slot(e.base.id)) if index is not None else None
        if isinstance(e.base, ast.Name) and e.base.id in self.c.tables:
            self.c.error(
                "R026",
                f"say which column of `{e.base.id}`",
                e.span,
                f"write `{e.base.id}[...].{self.c.tables[e.base.id].columns[0].name if self.c.tables[e.base.id].columns else 'column'}`",
            )
            return None
        if isinstance(e.base, ast.Name) and self.c.reported(e.base.id, scope):
            return None
        if (
            isinstance(e.base, ast.Name)
            and e.base.id not in scope.locals
            and e.base.id not in scope.params
        ):
            candidates = [*self.c.resources, *self.c.tables, *self.c.slots]
            self.c.error(
                "R010",
                f"unknown name `{e.base.id}`",
                e.base.span,
                did_you_mean(e.base.id, candidates)
                or "only items, tables and slots are read with `[...]`",
            )
            return None
        self.c.error(
            "R012", "only items, tables and slots take `[...]`", e.span, "remove the brackets"
        )
        return None

    def attr(self, e: ast.Attr, scope: Scope) -> ir.Expr | None:
        peer = self.peer_attr(e, scope)
        if peer is not NOT_PEER:
            return peer  # type: ignore[return-value]
        base = e.base
        if isinstance(base, ast.Index) and base.index2 is not None:
            inner = self.expr(base, scope)  # R086 when it is not an item of two tables
            if inner is not None:
                self.c.error(
                    "R012",
                    f"{a_type(inner.type)} has no field `{e.name}`",
                    e.name_span,
                    f"`{self.c.source(base.span)}` is a count",
                )
            return None
        if (
            isinstance(base, ast.Index)
            and isinstance(base.base, ast.Name)
            and base.base.id in self.c.tables
        ):
            table = self.c.tables[base.base.id]
            key = self.expect_type(base.index, scope, T.enum(table.name), f"a {table.name}")
            col = next((c for c in table.columns if c.name == e.name), None)
            if col is None and self.c.reported(table.name):
                return None  # a column of the table has a mistake (reported): it may be this one
            if col is None:
                self.c.error(
                    "R010",
                    f"table `{table.name}` has no column `{e.name}`",
                    e.name_span,
                    did_you_mean(e.name, [c.name for c in table.columns])
                    or "columns: " + ", ".join(c.name for c in table.columns),
                )
                return None
            return ir.TableGet(table.name, key, col.name, col.type) if key is not None else None
        if (
            isinstance(base, ast.Index)
            and isinstance(base.base, ast.Name)
            and base.base.id in self.c.slots
        ):
            slots = base.base.id
            index = self.slot_index(slots, base.index, scope)
            fld = self.c.slot_field(slots, e.name, e.name_span)
            if index is None or fld is None:
                return None
            return ir.SlotFieldRead(slots, index, fld.name, fld.type)
        inner = self.expr(base, scope)
        if inner is None:
            return None
        self.c.error(
            "R012",
            f"{a_type(inner.type)} has no field `{e.name}`",
            e.name_span,
            self.field_hint(base, inner, e.name),
        )
        return None

    def field_hint(self, base: ast.Expr, inner: ir.Expr, name: str) -> str:
        if (
            isinstance(inner, ir.ResourceRead)
            and inner.key is not None
            and isinstance(base, ast.Index)
        ):
            table = self.c.resources[inner.resource].key
            return (
                f"`{self.c.source(base.span)}` is a count; columns are read from the table: "
                f"`{table}[{self.c.source(base.index.span)}].{name}`"
            )
        return "fields belong to table rows (`crop[kind].grow`) and slots (`field[slot].ready_at`)"

    def call(self, e: ast.Call, scope: Scope) -> ir.Expr | None:
        if e.func == "ceil":
            if len(e.args) != 1 or not (isinstance(e.args[0], ast.Binary) and e.args[0].op == "/"):
                self.c.error(
                    "R033",
                    "`ceil` takes one division",
                    e.span,
                    "write `ceil(a / b)`: divisions round down unless wrapped in `ceil`",
                )
                return None
            div = self.expr(e.args[0], scope)
            if div is None:
                return None
            assert isinstance(div, ir.Arith)
            return ir.CeilDiv(div.left, div.right, div.type)
        args = [self.expr(a, scope) for a in e.args]
        if any(a is None for a in args):
            return None
        if len(args) < 2:
            self.c.error(
                "R033", f"`{e.func}` takes two or more values", e.span, f"write `{e.func}(a, b)`"
            )
            return None
        first = args[0].type  # type: ignore[union-attr]
        for a, src in zip(args, e.args, strict=True):
            assert a is not None
            if not T.same(a.type, first) or a.type.kind not in (
                "int",
                "duration",
                "time",
                "slot_index",
            ):
                differs = not T.same(a.type, first)
                self.c.error(
                    "R012",
                    f"`{e.func}` needs numbers, durations or times of one kind",
                    src.span,
                    f"this is {a_type(a.type)}, the first is {a_type(first)}"
                    if differs
                    else f"this is {a_type(a.type)}, which has no order",
                )
                return None
        t = T.INT if T.is_intlike(first) else first
        return ir.MinMax(e.func, tuple(args), t)  # type: ignore[arg-type]

    def keyed(
        self,
        res: ir.Resource,
        index: ast.Expr | None,
        span: Span,
        scope: Scope,
        index2: ast.Expr | None = None,
    ):
        if res.key2 is not None or index2 is not None:
            return self.keyed_pair(res, index, index2, span, scope)
        if res.key is None:
            if index is not None:
                self.c.error(
                    "R026",
                    f"`{res.name}` is a single count, not counted per kind",
                    span,
                    self.single_count_hint(res, index, scope),
                )
                return None
            return res.name, None, res.name
        if index is None:
            self.c.error(
                "R026", f"`{res.name}` is counted per {res.key}", span, self.which_hint(res, scope)
            )
            return None
        key = self.expect_type(index, scope, T.enum(res.key), f"a {res.key}")
        if key is None:
            return None
        label = f"{res.name}[{_label(index)}]"
        return res.name, key, label

    def keyed_pair(
        self,
        res: ir.Resource,
        index: ast.Expr | None,
        index2: ast.Expr | None,
        span: Span,
        scope: Scope,
    ):
        """`produce[kind, q]`: an item of two tables takes a row of each, in the declared order."""
        if res.key is None or res.key2 is None or index is None or index2 is None:
            self.c.error("R086", *self.key_count_mistake(res, index, index2, span, scope))
            return None
        first = self.expect_type(index, scope, T.enum(res.key), f"a {res.key}")
        second = self.expect_type(index2, scope, T.enum(res.key2), f"a {res.key2}")
        if first is None or second is None:
            return None
        key = ir.KeyPair(first, second, T.pair(res.key, res.key2))
        label = f"{res.name}[{_label(index)}, {_label(index2)}]"
        return res.name, key, label

    def key_count_mistake(
        self,
        res: ir.Resource,
        index: ast.Expr | None,
        index2: ast.Expr | None,
        span: Span,
        scope: Scope,
    ) -> tuple[str, Span, str]:
        """What R086 says: a place with a number of keys its item was not declared with."""
        if res.key2 is None:
            count = "a single count" if res.key is None else f"counted per {res.key}"
            said = self.c.source(index.span) if index is not None else "..."
            one = f"`{res.name}`" if res.key is None else f"`{res.name}[{said}]`"
            return f"`{res.name}` is {count}: it takes no second key", span, f"write {one}"
        first, second = (self._example(res.key, scope), self._example(res.key2, scope))
        return (
            f"`{res.name}` is counted per {res.key} and {res.key2}: say which of each",
            span,
            f"write `{res.name}[{first}, {second}]`",
        )

    def _example(self, table: str | None, scope: Scope) -> str:
        if table is None:
            return "..."
        names = self.c.names_of_type(T.enum(table), scope) or self.c.row_names(table)[:1]
        return names[0] if names else "..."

    def single_count_hint(self, res: ir.Resource, index: ast.Expr, scope: Scope) -> str:
        table = None
        if isinstance(index, ast.Name):
            param = scope.params.get(index.id)
            owners = self.c.row_owner.get(index.id, [])
            table = (
                param.type.name
                if param is not None and param.type.kind == "enum"
                else (owners[0] if owners else None)
            )
        if res.kind == "item" and table:
            return f"write `{res.name}` without `[...]`, or count it per {table}: `item {res.name} of {table}`"
        return f"write `{res.name}` without `[...]`"

    def which_hint(self, res: ir.Resource, scope: Scope) -> str:
        assert res.key is not None
        if res.key2 is not None:
            pair = f"{self._example(res.key, scope)}, {self._example(res.key2, scope)}"
            return f"say which {res.key} and {res.key2}: `{res.name}[{pair}]`"
        names = self.c.names_of_type(T.enum(res.key), scope) or self.c.row_names(res.key)[:1]
        example = names[0] if names else "..."
        return f"say which {res.key}: `{res.name}[{example}]`"

    def slot_index(self, slots: str, index: ast.Expr, scope: Scope) -> ir.Expr | None:
        e = self.expr(index, scope)
        if e is None:
            return None
        if e.type.kind == "slot_index" and e.type.name != slots:
            self.c.error(
                "R012",
                f"this is {e.type}, not a {slots} slot",
                index.span,
                f"declare the parameter as `{slots}`",
            )
            return None
        if not T.is_intlike(e.type):
            self.c.error(
                "R012",
                f"a slot number must be an int, not {a_type(e.type)}",
                index.span,
                f"declare the parameter as `slot: {slots}`",
            )
            return None
        count = self.c.slots[slots].count
        if isinstance(e, ir.Const) and not 0 <= int(e.value) < count:
            self.c.error(
                "R031",
                f"`{slots}[{e.value}]` is out of range: there are {plural(count, slots + ' slot')}",
                index.span,
                f"slots are numbered from 0: `{slots}[0]` to `{slots}[{count - 1}]`",
            )
            return None
        return e

    # ---- another player's public resources (a `player` parameter: `target.power`)
    def peer_attr(self, e: ast.Attr, scope: Scope) -> ir.Expr | None | _NotPeer:
        """`target.power` / `target.level`; NOT_PEER when `e` is not about another player."""
        base = e.base
        if not isinstance(base, ast.Name) or player_named(scope, base.id) is None:
            return NOT_PEER
        who = self.peer_param(base, scope)
        if who is None:
            return None
        if e.name == "level":
            if self.c.level is None:
                self.c.error(
                    "R010",
                    "`level` is not declared",
                    e.name_span,
                    "declare it: `level from xp at 0, 50, 150`",
                )
                return None
            if not self.c.resources[self.c.level.stat].public:
                self.not_public(self.c.resources[self.c.level.stat], e.name_span, "level")
                return None
            return ir.PeerLevel(who, T.INT)
        res = self.public_resource(e.name, e.name_span)
        if res is None:
            return None
        if res.key is not None:
            self.c.error(
                "R026",
                f"`{res.name}` is counted per {res.key}",
                e.span,
                f"say which {res.key}: `{base.id}.{res.name}[...]`",
            )
            return None
        return ir.PeerRead(who, res.name, None, T.INT)

    def peer_index(self, e: ast.Index, scope: Scope) -> ir.Expr | None | _NotPeer:
        """`target.seed[kind]`: a public item counted per row."""
        attr = e.base
        if not (
            isinstance(attr, ast.Attr)
            and isinstance(attr.base, ast.Name)
            and player_named(scope, attr.base.id) is not None
        ):
            return NOT_PEER
        who = self.peer_param(attr.base, scope)
        res = self.public_resource(attr.name, attr.name_span) if who is not None else None
        if who is None or res is None:
            return None
        if res.key is None:
            self.c.error(
                "R026",
                f"`{res.name}` is a single count, not counted per kind",
                e.span,
                f"write `{attr.base.id}.{res.name}` without `[...]`",
            )
            return None
        if res.key2 is not None or e.index2 is not None:
            self.c.error(
                "R087",
                f"another player's `{res.name}` cannot be read by a pair of rows yet"
                if res.key2 is not None
                else f"`{res.name}` takes one key",
                e.span,
                "read what this player holds, or keep a public count of one key",
            )
            return None
        key = self.expect_type(e.index, scope, T.enum(res.key), f"a {res.key}")
        return ir.PeerRead(who, res.name, key, T.INT) if key is not None else None

    def peer_param(self, name: ast.Name, scope: Scope, what: str = "read") -> str | None:
        """The player parameter `name` stands for, or None (reported) when it is not one."""
        if name.id in self.c.peer_params:
            return name.id
        if name.id == SENDER and name.id in scope.params:
            self.c.error(
                "R071",
                f"a hook cannot {what} another player",
                name.span,
                "`sender` names who a delivery came from: compare it or `emit` it",
            )
            return None
        self.c.error(
            "R071",
            f"`{name.id}` is a `let` value: {what} another player through a `player` parameter",
            name.span,
            "the runtime reads and delivers to the players named by the action's parameters: "
            "use the parameter itself",
        )
        return None

    def public_resource(self, name: str, span: Span) -> ir.Resource | None:
        res = self.c.resources.get(name)
        if res is None:
            if not self.c.reported(name):
                public = [r.name for r in self.c.resources.values() if r.public]
                self.c.error(
                    "R010",
                    f"unknown resource `{name}`",
                    span,
                    did_you_mean_or(
                        name,
                        self.c.resources,
                        "other players' public resources are read as `target.power`"
                        + (f"; public here: {', '.join(public)}" if public else ""),
                    ),
                )
            return None
        if not res.public:
            self.not_public(res, span, res.name)
            return None
        return res

    def not_public(self, res: ir.Resource, span: Span, said: str) -> None:
        kind = res.kind if res.key is None else f"item {res.name} of {res.key}"
        decl = f"{res.kind} {res.name}" if res.key is None else kind
        self.c.error(
            "R070",
            f"`{said}` of another player is not public",
            span,
            f"declare it `{decl} ... public` to let other players read it",
            [("declared here", self.c.decl_spans.get(res.name, span))]
            if res.name in self.c.decl_spans
            else [],
        )


def player_named(scope: Scope, name: str) -> T.Type | None:
    param = scope.params.get(name)
    if param is not None and param.type == T.PLAYER:
        return T.PLAYER
    return T.PLAYER if scope.locals.get(name) == T.PLAYER else None


def _label(e: ast.Expr) -> str:
    """How the rules write an index, for messages: `seed[kind]`."""
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.IntLit):
        return str(e.value)
    return "..."


def _type_hint(got: T.Type, want: T.Type) -> str | None:
    if got == T.DURATION and want == T.INT:
        return "write a whole number; a duration counts as a number only divided by a duration, as in `(...) / 1m`"
    if got == T.INT and want == T.DURATION:
        return "write a duration with its unit, such as 5m, or multiply: `n * 1m`"
    if got == T.BOOL and want == T.INT:
        return "a condition is not a number: choose between amounts with `when ...` / `otherwise`"
    if got == T.TIME and want == T.INT:
        return "a time is a moment, not a number: subtract two times to get a duration, as in `ready_at - now`"
    if got == T.TIME and want == T.DURATION:
        return "subtract two times to get a duration: `ready_at - now`"
    if got.kind == "enum" and T.is_intlike(want):
        return f"a {got.name} is a row, not a number: use one of its columns, as in `{got.name}[...].<column>`"
    return _WHAT_FITS.get(want.kind, f"give {a_type(want)}")


# what a value of each type looks like, for hints
_WHAT_FITS = {
    "int": "give a whole number such as 5, or a count such as `coins`",
    "duration": "give a duration such as 10m, or the time between two times: `ready_at - now`",
    "time": "a time is `now` or a slot's time, plus or minus a duration: `now + 5m`",
    "bool": "a condition compares values, e.g. `coins >= 10`",
}


def _arith_hint(left: T.Type, op: str, right: T.Type) -> str:
    if T.BOOL in (left, right):
        return "a bool is true or false, not a number: choose between amounts with `when ...` / `otherwise`"
    if "enum" in (left.kind, right.kind):
        return "a table's row is not a number: compute with one of its columns"
    if T.DURATION in (left, right) and T.is_intlike(left) != T.is_intlike(right):
        return "add durations to durations; multiply a duration by a number (`qty * 5m`)"
    if left == T.TIME and right == T.TIME:
        return "subtract two times to get a duration; times cannot be added"
    if T.TIME in (left, right):
        return "a time moves by a duration (`now + 5m`), and two times subtract to a duration (`ready_at - now`)"
    return "arithmetic works on numbers, durations and times"
