"""Pass 9, scenarios (tests/*.rules): each step's action, values and players checked
against the rules, to IR for `rulesc test`."""

from __future__ import annotations

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .. import ir
from .. import types as T
from .context import Context, did_you_mean, example_of
from .events import moment_ms


class Scenarios:
    def __init__(self, c: Context) -> None:
        self.c = c

    def scenario(self, d: ast.ScenarioDecl) -> ir.Scenario | None:
        steps: list = []
        ok = True
        actions = {a.name: a for a in self.c.actions_by_name()}
        for st in d.steps:
            loc = self.c.loc(st.span)
            if isinstance(st, ast.Wait):
                steps.append(ir.WaitStep(st.duration.ms, loc))
            elif isinstance(st, ast.WaitUntil):
                until = moment_ms(self.c, st.moment, st.span)
                ok = ok and until is not None
                steps.append(ir.WaitStep(0, loc, until))
            elif isinstance(st, ast.ExpectEvent):
                named, player = self.scenario_player(st.player, st.span)
                ok = ok and named
                steps.append(ir.ExpectEventStep(st.event, loc, player))
            elif isinstance(st, ast.Given | ast.Expect):
                values = []
                for sv in st.values:
                    checked = self.state_value(sv, given=isinstance(st, ast.Given))
                    if checked is None:
                        ok = False
                    else:
                        values.append(checked)
                cls = ir.GivenStep if isinstance(st, ast.Given) else ir.ExpectStep
                steps.append(cls(tuple(values), loc))
            elif isinstance(st, ast.Do):
                step = self.do_step(st, actions, loc)
                ok = ok and step is not None
                if step is not None:
                    steps.append(step)
            else:
                raise ir.UnhandledNode(st, "Scenarios.scenario")
        return ir.Scenario(d.title, tuple(steps), self.c.loc(d.span)) if ok else None

    def do_step(
        self, st: ast.Do, actions: dict[str, ast.ActionDecl], loc: ir.Loc
    ) -> ir.DoStep | None:
        action = actions.get(st.action)
        if action is None:
            if not self.c.reported(st.action):
                self.c.error(
                    "R034",
                    f"unknown action `{st.action}`",
                    st.span,
                    did_you_mean(st.action, actions)
                    or "the actions are: " + ", ".join(sorted(actions)),
                )
            return None
        params = {p.name: p for p in action.params}
        out: list[tuple[str, object]] = []
        for a in st.args:
            p = params.get(a.name)
            if p is None:
                self.c.error(
                    "R034",
                    f"`{st.action}` has no parameter `{a.name}`",
                    a.span,
                    did_you_mean(a.name, params) or f"parameters: {', '.join(params) or 'none'}",
                )
                return None
            if a.name in dict(out):
                self.c.error(
                    "R034", f"`{a.name}` is given twice", a.span, "give each parameter once"
                )
                return None
            typed = self.c.action_params.get(st.action, {}).get(a.name)
            if typed is not None and not self.arg_fits(a, typed, st.fails):
                return None
            out.append((a.name, _literal(a.value)))
        missing = [n for n in params if n not in {a.name for a in st.args}]
        if missing and not st.fails:
            names = ", ".join(f"`{n}`" for n in missing)
            self.c.error(
                "R034",
                f"`{st.action}` needs a value for {names}",
                st.span,
                f"give every parameter: `do {st.action}("
                + ", ".join(f"{n}: ..." for n in params)
                + ")`",
            )
            return None
        if any(d < 1 for d in st.draws) or (st.draw is not None and st.draw < 1):
            self.c.error(
                "R034", "draws are numbered from 1", st.span, "write `draws 1` for the first branch"
            )
            return None
        if (st.draws or st.draw is not None) and not self.draws_anything(action):
            self.c.warn(
                "R080",
                f"`{st.action}` draws nothing, so `draws` pins nothing",
                self.c.find(st.span, r"(draws\b[ 0-9_,]*[0-9_])"),
                "remove `draws ...`: only an action with `pick one`, `chance` or `gain loot` "
                "(or a hook that has one) draws",
            )
        named, player = self.scenario_player(st.player, st.span)
        if not named:
            return None
        return ir.DoStep(
            st.action,
            tuple(out),
            st.draw,
            st.fails,
            st.fail_text,
            loc,
            player,
            st.draws or ((st.draw,) if st.draw is not None else ()),
        )

    def draws_anything(self, action: ast.ActionDecl) -> bool:
        """Whether the action (or a hook, which may run after it) has a draw to pin."""
        hooks = [d for m in self.c.src.rules for d in m.decls if isinstance(d, ast.HookDecl)]
        return any(
            isinstance(s, ast.Pick | ast.Chance | ast.GainLoot)
            or (isinstance(s, ast.Give) and s.loot)
            for body in [action.body, *(h.body for h in hooks)]
            for s in ir.walk_statements(body)
        )

    def scenario_player(self, name: str | None, span: Span) -> tuple[bool, str | None]:
        """(whether the name can be a player, the other player it names or None for the
        scenario's own, `me`). A name declared in the rules cannot (reported): `coins.gems`
        is a typo, not a player called coins."""
        if name is None or name == "me":
            return True, None
        if name in self.c.decl_spans or name in self.c.row_owner:
            self.c.error(
                "R034",
                f"`{name}` is declared in the rules, so it cannot name a player of the scenario",
                span,
                "players of a scenario have names of their own: `bob.coins`, `as bob do ...`",
            )
            return False, None
        return True, name

    def arg_fits(self, a: ast.CallArg, p: ir.Param, fails: bool) -> bool:
        """Whether a scenario's value for a parameter has its type (and, unless the step
        expects a failure, is within its bounds)."""
        v = a.value
        if p.type == T.PLAYER:
            if isinstance(v, ast.Name) and self.scenario_player(v.id, v.span)[0]:
                return True
            if not isinstance(v, ast.Name):
                self.c.error(
                    "R034",
                    f"`{a.name}` is a player of the scenario",
                    v.span,
                    f"name one: `{a.name}: bob` (`me` is the scenario's own player)",
                )
            return False
        if p.type.kind == "enum":
            rows = self.c.row_names(p.type.name)
            if isinstance(v, ast.Name) and v.id in rows:
                return True
            if isinstance(v, ast.Name) and self.c.reported(v.id):
                return False  # its row has a syntax error, reported
            said = self.c.source(v.span)
            self.c.error(
                "R034",
                f"`{said}` is not a {p.type.name}",
                v.span,
                did_you_mean(said, rows) or "one of: " + ", ".join(rows),
            )
            return False
        if p.type == T.BOOL:
            if isinstance(v, ast.BoolLit):
                return True
            self.c.error("R034", f"`{a.name}` is true or false", v.span, f"write `{a.name}: true`")
            return False
        if not isinstance(v, ast.IntLit):
            self.c.error(
                "R034", f"`{a.name}` is a whole number", v.span, f"write `{a.name}: {p.lo}`"
            )
            return False
        if not fails and p.lo is not None and p.hi is not None and not p.lo <= v.value <= p.hi:
            self.c.error(
                "R034",
                f"`{a.name}: {v.value}` is outside {p.lo}..{p.hi}",
                v.span,
                "the action would reject it; end the step with `fails` if that is what it tests",
            )
            return False
        return True

    def state_value(self, sv: ast.StateValue, *, given: bool):
        """A `given` or `expect` value: (path, value) when the place and the value fit."""
        p = sv.place
        named, player = self.scenario_player(p.player, p.span)
        if not named:
            return None
        key = ", ".join(p.key) if isinstance(p.key, tuple) else p.key
        label = (
            p.name + (f"[{key}]" if key is not None else "") + (f".{p.field}" if p.field else "")
        )
        label = f"{player}.{label}" if player else label
        path = ir.StatePath(p.name, p.key, p.field, label, player)
        if p.name == "level":
            ok = self.level_value(p, given)
        elif p.name in self.c.resources:
            ok = self.count_value(sv, self.c.resources[p.name], label)
        elif p.name in self.c.slots:
            ok = self.slot_value(sv, label, given)
        else:
            ok = False
            if not self.c.reported(p.name):
                self.c.error(
                    "R034",
                    f"unknown name `{p.name}`",
                    p.span,
                    did_you_mean(p.name, [*self.c.resources, *self.c.slots, "level"])
                    or "a scenario gives and expects resources, slots and `level`",
                )
        if not ok:
            return None
        if self.holds_time(p) and isinstance(sv.value, ast.DurationLit):
            return (path, ir.AfterStart(sv.value.ms))
        return (path, _literal(sv.value))

    def holds_time(self, p: ast.ScenarioPlace) -> bool:
        """Whether the place is a slot's field of type time (its value is `2d 3h` after start)."""
        if p.field is None or p.name not in self.c.slots:
            return False
        return any(f.name == p.field and f.type == T.TIME for f in self.c.slots[p.name].fields)

    def level_value(self, p: ast.ScenarioPlace, given: bool) -> bool:
        if given:
            stat = self.c.level.stat if self.c.level else None
            self.c.error(
                "R034",
                "`level` follows from its stat and cannot be given",
                p.span,
                f"give `{stat}` instead, e.g. `given {stat} {self.c.level.thresholds[-1]}`"
                if self.c.level and stat
                else "give the stat it follows from instead",
            )
        return not given

    def count_value(self, sv: ast.StateValue, res: ir.Resource, label: str) -> bool:
        p = sv.place
        if res.key2 is not None or isinstance(p.key, tuple):
            return self.pair_value(sv, res, label) and self.whole_count(sv, label)
        if (res.key is None) != (p.key is None) or p.field is not None:
            rows = self.c.row_names(res.key)[:1] if res.key else []
            self.c.error(
                "R034",
                f"`{label}` does not name a count",
                p.span,
                f"write `{res.name}[{rows[0] if rows else '...'}]`"
                if res.key
                else f"write `{res.name}`",
            )
            return False
        if res.key is not None and p.key not in self.c.row_names(res.key):
            self.c.error(
                "R034",
                f"`{p.key}` is not a {res.key}",
                p.span,
                did_you_mean(str(p.key), self.c.row_names(res.key))
                or f"{res.key} rows: {', '.join(self.c.row_names(res.key))}",
            )
            return False
        return self.whole_count(sv, label)

    def pair_value(self, sv: ast.StateValue, res: ir.Resource, label: str) -> bool:
        """`produce[wheat, gold]`: an item of two tables, a row of each."""
        p = sv.place
        tables = (res.key, res.key2)
        if not isinstance(p.key, tuple) or res.key2 is None or res.key is None or p.field:
            example = ", ".join((self.c.row_names(t)[:1] or ["..."])[0] for t in tables if t)
            self.c.error(
                "R034",
                f"`{label}` does not name a count",
                p.span,
                f"write `{res.name}[{example}]`" if res.key2 else f"write `{res.name}[...]`",
            )
            return False
        for row, table in zip(p.key, (res.key, res.key2), strict=True):
            if row not in self.c.row_names(table):
                self.c.error(
                    "R034",
                    f"`{row}` is not a {table}",
                    p.span,
                    did_you_mean(row, self.c.row_names(table))
                    or f"{table} rows: {', '.join(self.c.row_names(table))}",
                )
                return False
        return True

    def whole_count(self, sv: ast.StateValue, label: str) -> bool:
        if not isinstance(sv.value, ast.IntLit) or sv.value.value < 0:
            self.c.error(
                "R034",
                f"`{label}` is a count: give a whole number, 0 or more",
                sv.value.span,
                f"write `{label} 10`",
            )
            return False
        return True

    def slot_value(self, sv: ast.StateValue, label: str, given: bool) -> bool:
        p = sv.place
        slots = self.c.slots[p.name]
        if not isinstance(p.key, int) or not 0 <= p.key < slots.count:
            self.c.error(
                "R034",
                f"there is no slot `{label}`",
                p.span,
                f"slots are numbered 0 to {slots.count - 1}",
            )
            return False
        if p.field is None:
            if not isinstance(sv.value, ast.EmptyLit):
                field = slots.fields[0].name if slots.fields else "field"
                self.c.error(
                    "R034",
                    f"`{label}` is a whole slot: it can only be `empty`",
                    sv.value.span,
                    f"write `{label} empty`, or name one of its fields: `{label}.{field} ...`",
                )
                return False
            return True
        fld = self.c.slot_field(p.name, p.field, p.span)
        if fld is None:
            return False
        if given:
            self.c.error(
                "R034",
                "`given` cannot set one field of a slot",
                p.span,
                "fill the slot with an action, or give the whole slot as `empty`",
            )
            return False
        if fld.type == T.TIME and not isinstance(sv.value, ast.DurationLit):
            self.c.error(
                "R034",
                f"`{label}` holds a time",
                sv.value.span,
                "write it as a duration after the scenario's start, such as `2d 3h`",
            )
            return False
        if fld.type.kind == "enum" and _literal(sv.value) not in self.c.row_names(fld.type.name):
            self.c.error(
                "R034",
                f"`{label}` holds a {fld.type.name}",
                sv.value.span,
                example_of(fld.type, self.c.row_names(fld.type.name)),
            )
            return False
        return True


# ---- helpers


class _EmptyValue:
    def __repr__(self) -> str:
        return "empty"


EMPTY = _EmptyValue()


def _literal(e: ast.Expr):
    if isinstance(e, ast.IntLit):
        return e.value
    if isinstance(e, ast.DurationLit):
        return e.ms
    if isinstance(e, ast.BoolLit):
        return e.value
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.StringLit):
        return "".join(p for p in e.parts if isinstance(p, str))
    return EMPTY
