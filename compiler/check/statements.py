"""Pass 5, statements: each statement of an action's or a hook's body to IR, through the
AST visitor (ir.AstStatementVisitor), so a statement new to the language fails loudly here
until it is checked."""

from __future__ import annotations

from typing import Any

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .. import ir
from .. import types as T
from .context import Context, Scope, a_type, did_you_mean, did_you_mean_or
from .expressions import Expressions, player_named


class Statements(ir.AstStatementVisitor[Any]):
    def __init__(self, c: Context, exprs: Expressions) -> None:
        self.c = c
        self.exprs = exprs

    def block(self, stmts: tuple, scope: Scope) -> list | None:
        out = []
        ok = True
        for s in stmts:
            r = self.stmt(s, scope)
            if r is None:
                ok = False
            else:
                out.append(r)
        return out if ok else None

    def stmt(self, s: ast.Stmt, scope: Scope) -> ir.Stmt | None:
        """One statement to IR, or None when it (or something in it) has a mistake."""
        return self.visit(s, scope, self.c.loc(s.span))

    def visit_Require(self, s: ast.Require, scope: Scope, loc: ir.Loc) -> ir.Require | None:
        cond = self.exprs.expect_type(s.cond, scope, T.BOOL, "a condition")
        msg = self.exprs.message(s.message, scope) if s.message else None
        if isinstance(s.cond, ast.BoolLit) and not s.cond.value:
            self.c.error(
                "R020",
                "this requirement can never hold",
                s.cond.span,
                "remove the action or the requirement",
            )
        if cond is None or (s.message and msg is None):
            return None
        return ir.Require(cond, msg, loc)

    def visit_Cost(
        self, s: ast.Cost | ast.Gain, scope: Scope, loc: ir.Loc
    ) -> ir.Cost | ir.Gain | None:
        amounts = [self.amount(a, scope, isinstance(s, ast.Cost)) for a in s.amounts]
        if any(a is None for a in amounts):
            return None
        seen: dict[str, Span] = {}
        for a, src in zip(amounts, s.amounts, strict=True):
            assert a is not None
            if a.label in seen and a.key is None:
                self.c.error(
                    "R011",
                    f"`{a.label}` appears twice in one statement",
                    src.span,
                    "add the amounts together",
                    [("first here", seen[a.label])],
                )
            seen.setdefault(a.label, src.span)
        cls = ir.Cost if isinstance(s, ast.Cost) else ir.Gain
        return cls(tuple(amounts), loc)  # type: ignore[arg-type]

    visit_Gain = visit_Cost

    def visit_Empty(self, s: ast.Empty, scope: Scope, loc: ir.Loc) -> ir.Empty | None:
        target = self.slot_place(s.place, scope)
        return ir.Empty(target[0], target[1], loc) if target is not None else None

    def visit_Limit(self, s: ast.Limit, scope: Scope, loc: ir.Loc) -> ir.Limit | None:
        if s.count <= 0:
            self.c.error(
                "R041",
                f"a limit of {s.count} never allows the action",
                self.c.find(s.span, r"limit\s+(-?[0-9_]+)"),
                "allow it at least once (`limit 1 per day`), or remove the action",
            )
            return None
        if s.period.kind == "span" and s.period.ms <= 0:
            self.c.error(
                "R041",
                "the period of a limit must be longer than 0",
                s.period.span,
                "for example `per 1h`",
            )
            return None
        calendar = None
        if s.period.calendar is not None:  # `per season`: one period of the calendar
            calendar = self.exprs.calendar_named(ast.Name(s.period.calendar, s.period.span))
            if calendar is None:
                return None
        per = self.per(s.per, scope)
        if s.per is not None and per is None:
            return None
        self.c.limit_count += 1
        key = f"{self.c.current_action}.{self.c.limit_count}"
        if calendar is not None:
            return ir.Limit(
                key, s.count, "span", calendar.every, per, loc, calendar.start, calendar.name
            )
        return ir.Limit(key, s.count, s.period.kind, s.period.ms, per, loc)

    def visit_Cooldown(self, s: ast.Cooldown, scope: Scope, loc: ir.Loc) -> ir.Cooldown | None:
        if s.duration.ms <= 0:
            self.c.error(
                "R041",
                "a cooldown must be longer than 0",
                s.duration.span,
                "for example `cooldown 30m`",
            )
            return None
        per = self.per(s.per, scope)
        if s.per is not None and per is None:
            return None
        self.c.limit_count += 1
        return ir.Cooldown(f"{self.c.current_action}.{self.c.limit_count}", s.duration.ms, per, loc)

    def visit_Emit(self, s: ast.Emit, scope: Scope, loc: ir.Loc) -> ir.Emit | None:
        args = []
        seen: dict[str, Span] = {}
        for a in s.args:
            if a.name in seen:
                self.c.error(
                    "R011",
                    f"`{a.name}` is given twice",
                    a.span,
                    "give each value once",
                    [("first given here", seen[a.name])],
                )
            seen.setdefault(a.name, a.span)
            e = self.exprs.expr(a.expr, scope)
            if e is None:
                return None
            args.append((a.name, e))
        self.c.check_snake(s.event, s.span)
        return ir.Emit(s.event, tuple(args), loc)

    def visit_When(self, s: ast.When, scope: Scope, loc: ir.Loc) -> ir.When | None:
        cond = self.exprs.expect_type(s.cond, scope, T.BOOL, "a condition")
        body = self.block(s.body, scope.child())
        other = self.block(s.otherwise, scope.child())
        if cond is None or body is None or other is None:
            return None
        return ir.When(cond, tuple(body), tuple(other), loc)

    def visit_Pick(self, s: ast.Pick, scope: Scope, loc: ir.Loc) -> ir.Pick | None:
        branches = []
        ok = True
        for b in s.branches:
            weight_expr = None
            if b.weight_expr is not None:
                weight_expr = self.exprs.expect_type(b.weight_expr, scope, T.INT, "a weight")
                ok = ok and weight_expr is not None
            elif b.weight <= 0:
                self.c.error(
                    "R019",
                    f"a weight must be positive, not {b.weight}",
                    b.weight_span,
                    "remove the branch, or give it a weight of 1 or more",
                )
                ok = False
            body = self.drawn_block(b.body, scope, "`pick one`")
            if body is None:
                ok = False
                continue
            branches.append(ir.Branch(b.weight, tuple(body), self.c.loc(b.span), weight_expr))
        return ir.Pick(tuple(branches), loc) if ok else None

    def drawn_block(self, stmts: tuple, scope: Scope, what: str) -> list | None:
        """A block that runs on a draw: no `limit` or `cooldown` in it (R028)."""
        ok = True
        for inner in stmts:
            if isinstance(inner, ast.Limit | ast.Cooldown):
                self.c.error(
                    "R028",
                    "a limit or cooldown cannot depend on a draw",
                    inner.span,
                    f"put it at the top of the action, before the {what}",
                )
                ok = False
        body = self.block(stmts, scope.child())
        return body if ok else None

    def visit_Chance(self, s: ast.Chance, scope: Scope, loc: ir.Loc) -> ir.Pick | None:
        """`chance P %`: a draw of two branches, the block (weight P) and the rest."""
        amount = self.exprs.expect_type(s.amount, scope, T.INT, "a chance")
        unit = "%" if s.out_of == 100 else " per mille"
        if isinstance(amount, ir.Const) and not 0 <= int(amount.value) <= s.out_of:
            self.c.error(
                "R077",
                f"a chance of {amount.value}{unit} can never be drawn",
                s.amount.span,
                f"a chance goes from 0 to {s.out_of}{unit}",
            )
            amount = None
        body = self.drawn_block(s.body, scope, "`chance`")
        other = self.drawn_block(s.otherwise, scope, "`chance`")
        if amount is None or body is None or other is None:
            return None
        rest = ir.Arith("-", ir.Const(s.out_of, T.INT), amount, T.INT)
        return ir.Pick(
            (ir.Branch(0, tuple(body), loc, amount), ir.Branch(0, tuple(other), loc, rest)),
            loc,
            chance=s.out_of,
        )

    def visit_Let(self, s: ast.Let, scope: Scope, loc: ir.Loc) -> ir.Let | None:
        name_span = self.c.find(s.span, r"let\s+([A-Za-z_][A-Za-z0-9_]*)")
        taken = self.name_taken(s.name, scope)
        if taken is not None:
            what, first = taken
            self.c.error(
                "R038",
                f"`{s.name}` is already {what}",
                name_span,
                "give the value another name",
                [("it is declared here", first)] if first else [],
            )
            scope.broken.add(s.name)
            return None
        value = self.exprs.expr(s.expr, scope)
        if value is not None and value.type.kind == "slot":
            fields = [f.name for f in self.c.slots[value.type.name or ""].fields] or ["field"]
            self.c.error(
                "R012",
                "a `let` value cannot hold a whole slot",
                s.expr.span,
                f"name one of its fields instead: `let {s.name} = {self.c.source(s.expr.span)}.{fields[0]}`",
            )
            value = None
        if value is None:
            scope.broken.add(s.name)
            return None
        scope.locals[s.name] = value.type
        self.c.let_spans[s.name] = name_span
        return ir.Let(s.name, value, loc)

    def name_taken(self, name: str, scope: Scope) -> tuple[str, Span | None] | None:
        """What already has this name (in words) and where it is declared, if anything does."""
        if name in scope.params:
            return "a parameter of this action", self.c.param_spans.get(name)
        if name in scope.locals:
            return "defined by an earlier `let`", self.c.let_spans.get(name)
        if name in self.c.decl_spans:
            return "the name of a declaration", self.c.decl_spans[name]
        if name in self.c.row_owner:
            return f"a row of table `{self.c.row_owner[name][0]}`", None
        return None

    def per(self, name: ast.Name | None, scope: Scope) -> str | None:
        if name is None:
            return None
        if name.id in scope.broken:
            return None
        if name.id not in scope.params:
            self.c.error(
                "R014",
                f"`per {name.id}` names no parameter of this action",
                name.span,
                self.per_hint(name.id, scope),
            )
            return None
        return name.id

    def per_hint(self, name: str, scope: Scope) -> str:
        typed = self.c.names_of_type(T.enum(name), scope) if name in self.c.table_names else []
        typed = typed or (
            self.c.names_of_type(T.slot_index(name), scope) if name in self.c.slots else []
        )
        if typed:
            return f"`{name}` is a type; the parameter of that type is `{typed[0]}`: write `per {typed[0]}`"
        params = ", ".join(f"`{p}`" for p in scope.params)
        return did_you_mean(name, scope.params) or (
            f"`per` takes one of the action's parameters: {params}"
            if params
            else "`per` takes a parameter, and this action has none"
        )

    def amount(self, a: ast.Amount, scope: Scope, is_cost: bool) -> ir.Amount | None:
        target = self.resource_place(a.place, scope, "cost" if is_cost else "gain")
        value = self.exprs.expect_type(a.expr, scope, T.INT, f"an amount of `{a.place.name}`")
        if target is None or value is None:
            return None
        res, key, label = target
        if isinstance(value, ir.Const) and isinstance(value.value, int) and value.value < 0:
            self.c.error(
                "R031",
                f"a negative amount ({value.value})",
                a.expr.span,
                "use `cost` to take and `gain` to give, with positive amounts",
            )
            return None
        if is_cost:
            self.c.costed.setdefault(res, a.place.span)
        else:
            self.c.given.add(res)
        return ir.Amount(res, key, value, label)

    def resource_place(
        self, p: ast.Place, scope: Scope, verb: str
    ) -> tuple[str, ir.Expr | None, str] | None:
        res = self.c.resources.get(p.name)
        if res is None:
            if (
                p.name in self.c.slots
                or p.name in self.c.tables
                or p.name in scope.params
                or p.name in scope.locals
            ):
                self.not_a_resource(p, scope, verb)
            elif p.name == "level":
                stat = self.c.level.stat if self.c.level else "its stat"
                self.c.error(
                    "R013",
                    f"`level` is not a resource: it follows from `{stat}`",
                    p.name_span,
                    f"write `{verb} {stat} ...` instead",
                )
            elif not self.c.reported(p.name, scope):
                self.c.error(
                    "R010",
                    f"unknown resource `{p.name}`",
                    p.name_span,
                    did_you_mean(p.name, self.c.resources) or "declare it: `currency gold start 0`",
                )
            return None
        self.c.used.add(res.name)
        if p.field is not None:
            self.c.error("R026", f"`{p.name}` has no fields", p.span, f"write `{p.name}` alone")
            return None
        return self.exprs.keyed(res, p.index, p.span, scope, p.index2)

    def not_a_resource(self, p: ast.Place, scope: Scope, verb: str) -> None:
        index = f"[{self.c.source(p.index.span)}]" if p.index is not None else "[...]"
        if p.name in self.c.slots:
            what = "a row of slots"
            hint = (
                f"a slot is not counted: free it with `empty {p.name}{index}`, "
                f"or change it with `fill` and `set`"
            )
        elif p.name in self.c.tables:
            what = "a table"
            items = [r.name for r in self.c.resources.values() if r.key == p.name]
            hint = (
                f"a table's values are fixed; the item counted per {p.name} is `{items[0]}`: "
                f"`{verb} {items[0]}{index} 1`"
                if items
                else f"a table's values are fixed; `{verb}` takes a currency, meter, stat or item"
            )
        else:
            what = "a parameter" if p.name in scope.params else "a `let` value"
            hint = f"`{verb}` takes a currency, meter, stat or item, such as `{verb} coins 5`"
        self.c.error("R013", f"`{p.name}` is {what}, not a resource", p.name_span, hint)

    def slot_place(self, p: ast.Place, scope: Scope) -> tuple[str, ir.Expr] | None:
        if p.name not in self.c.slots:
            if self.c.reported(p.name, scope):
                return None
            if p.name in self.c.resources:
                self.c.error(
                    "R012",
                    f"`{p.name}` is a resource, not a row of slots",
                    p.name_span,
                    f"resources change with `cost {p.name} ...`, `gain {p.name} ...` and `set {p.name} = ...`",
                )
            else:
                self.c.error(
                    "R010",
                    f"unknown slots `{p.name}`",
                    p.name_span,
                    did_you_mean(p.name, self.c.slots)
                    or "declare them: `slots field 6` with their fields",
                )
            return None
        if p.index is None:
            self.c.error("R026", f"say which slot of `{p.name}`", p.span, f"write `{p.name}[slot]`")
            return None
        if p.field is not None:
            said = self.c.source(p.index.span)
            self.c.error(
                "R012",
                "`fill` and `empty` take a whole slot, not one field",
                p.span,
                f"write `{p.name}[{said}]`; to change one field, use `set {p.name}[{said}].{p.field} = ...`",
            )
            return None
        index = self.exprs.slot_index(p.name, p.index, scope)
        return (p.name, index) if index is not None else None

    def visit_Set(self, s: ast.Set, scope: Scope, loc: ir.Loc):
        p = s.place
        if p.name in self.c.slots:
            if p.field is None or p.index is None:
                said = self.c.source(p.index.span) if p.index is not None else "slot"
                fields = [f.name for f in self.c.slots[p.name].fields] or ["field"]
                self.c.error(
                    "R012",
                    "`set` changes one field of a slot",
                    p.span,
                    f"write `set {p.name}[{said}].{fields[0]} = ...`, or use `fill` and `empty` for the whole slot",
                )
                return None
            index = self.exprs.slot_index(p.name, p.index, scope)
            fld = self.c.slot_field(p.name, p.field, p.span)
            if index is None or fld is None:
                return None
            value = self.exprs.expect_type(
                s.expr, scope, fld.type, f"{a_type(fld.type)} for `{p.field}`"
            )
            return (
                ir.SetSlotField(p.name, index, p.field, value, loc) if value is not None else None
            )
        if p.name in scope.params or p.name in scope.locals:
            first = (
                self.c.param_spans.get(p.name)
                if p.name in scope.params
                else self.c.let_spans.get(p.name)
            )
            what = "a parameter" if p.name in scope.params else "a `let` value"
            self.c.error(
                "R029",
                f"`{p.name}` cannot be changed: it is {what}",
                p.name_span,
                "parameters and `let` values are fixed; `set` changes the player's state, "
                "so use another `let` for a new value",
                [("it is declared here", first)] if first else [],
            )
            return None
        if p.name == "level":
            stat = f"`{self.c.level.stat}`" if self.c.level else "its stat"
            self.c.error(
                "R029",
                "`level` cannot be set",
                p.name_span,
                f"it follows from {stat}: change {stat} instead",
            )
            return None
        target = self.resource_place(p, scope, "set")
        if target is None:
            self.exprs.expr(
                s.expr, scope
            )  # its own mistakes; its type depends on the unknown target
            return None
        value = self.exprs.expect_type(s.expr, scope, T.INT, f"an amount of `{p.name}`")
        if value is None:
            return None
        res, key, label = target
        self.c.given.add(res)
        return ir.SetResource(res, key, value, label, loc)

    def visit_Fill(self, s: ast.Fill, scope: Scope, loc: ir.Loc):
        target = self.slot_place(s.place, scope)
        if target is None:
            return None
        slots, index = target
        given: dict[str, ir.Expr] = {}
        ok = True
        for fv in s.values:
            fld = self.c.slot_field(slots, fv.name, fv.span)
            if fld is None:
                ok = False
                continue
            if fv.name in given:
                self.c.error("R035", f"`{fv.name}` is given twice", fv.span, "give each field once")
                ok = False
                continue
            value = self.exprs.expect_type(
                fv.expr, scope, fld.type, f"{a_type(fld.type)} for `{fv.name}`"
            )
            if value is None:
                ok = False
                continue
            given[fv.name] = value
        missing = [f.name for f in self.c.slots[slots].fields if f.name not in given]
        if ok and missing:
            word = "replace" if s.replace else "fill"
            self.c.error(
                "R035",
                f"`{word}` leaves {', '.join(f'`{m}`' for m in missing)} unset",
                s.span,
                "a filled slot has every field: add " + ", ".join(f"`{m} = ...`" for m in missing),
            )
            return None
        if not ok:
            return None
        ordered = tuple((f.name, given[f.name]) for f in self.c.slots[slots].fields)
        return ir.Fill(slots, index, ordered, loc, s.replace)

    # ---- players meeting players, and loot draws
    def visit_Give(self, s: ast.Give, scope: Scope, loc: ir.Loc) -> ir.Give | None:
        who = self.target(s.target, scope, "give to")
        amounts = [self.amount(a, scope, False) for a in s.amounts]
        loot = self.loot_name(s.loot) if s.loot is not None else None
        if who is None or any(a is None for a in amounts) or (s.loot is not None and loot is None):
            return None
        return ir.Give(who, tuple(a for a in amounts if a is not None), loot, loc)

    def visit_Take(self, s: ast.Take, scope: Scope, loc: ir.Loc) -> ir.Take | None:
        who = self.target(s.target, scope, "take from")
        target = self.resource_place(s.place, scope, "take")
        value = self.exprs.expect_type(s.expr, scope, T.INT, f"an amount of `{s.place.name}`")
        if who is None or target is None or value is None:
            return None
        if isinstance(value, ir.Const) and isinstance(value.value, int) and value.value < 0:
            self.c.error(
                "R031", f"a negative amount ({value.value})", s.expr.span, "take a positive amount"
            )
            return None
        res, key, label = target
        self.c.given.add(res)  # the taker gains it
        return ir.Take(who, res, key, value, label, loc)

    def visit_GainLoot(self, s: ast.GainLoot, scope: Scope, loc: ir.Loc) -> ir.GainLoot | None:
        name = self.loot_name(s.loot)
        return ir.GainLoot(name, loc) if name is not None else None

    def loot_name(self, name: ast.Name) -> str | None:
        if name.id in self.c.loot_names:
            return name.id if name.id in self.c.loot else None  # a table with a mistake: reported
        if not self.c.reported(name.id):
            self.c.error(
                "R010",
                f"unknown loot table `{name.id}`",
                name.span,
                did_you_mean_or(
                    name.id,
                    self.c.loot_names,
                    "declare it: `loot common_chest` with weighted entries",
                ),
            )
        return None

    def target(self, name: ast.Name, scope: Scope, what: str) -> str | None:
        if player_named(scope, name.id) is not None:
            return self.exprs.peer_param(name, scope, what)
        if name.id in scope.params:
            self.c.error(
                "R071",
                f"`{name.id}` is {a_type(scope.params[name.id].type)}, not a player",
                name.span,
                f"declare the parameter as `{name.id}: player`",
            )
        elif not self.c.reported(name.id, scope):
            players = [p for p, v in scope.params.items() if v.type == T.PLAYER]
            self.c.error(
                "R071",
                f"`{name.id}` names no player",
                name.span,
                f"another player is a `player` parameter: {', '.join(f'`{p}`' for p in players)}"
                if players
                else f"add a parameter for the other player, such as `({name.id}: player)`",
            )
        return None
