"""Pass 7, actions and invariants: parameters, the body (statements.py), the order of its
checks and effects (effects.py), requirements that can never hold (R020)."""

from __future__ import annotations

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .. import ir
from .. import types as T
from .context import INT64_MAX, INT64_MIN, Context, Scope, a_type
from .effects import busy_fills, check_order, writes
from .expressions import Expressions
from .statements import Statements
from .typenames import type_named


class Actions:
    def __init__(self, c: Context, exprs: Expressions, statements: Statements) -> None:
        self.c = c
        self.exprs = exprs
        self.statements = statements

    def action(self, d: ast.ActionDecl) -> ir.Action | None:
        scope = Scope()
        params: list[ir.Param] = []
        param_spans = {p.name: p.span for p in reversed(d.params)}
        for p in d.params:
            param = self.param(p)
            if p.name in scope.params:
                self.c.error(
                    "R011",
                    f"parameter `{p.name}` is declared twice",
                    p.span,
                    "rename one of them",
                    [("first declared here", param_spans[p.name])],
                )
            elif param is not None:
                scope.params[p.name] = param
                params.append(param)
            else:
                scope.broken.add(p.name)
        self.c.action_params.setdefault(d.name, {p.name: p for p in params})
        check_order(self.c, d.body)
        self.c.start_body(d.name, param_spans, {p.name for p in params if p.type == T.PLAYER})
        body = self.statements.block(d.body, scope)
        self.never_holds(d, scope)
        if body is None or len(params) != len(d.params):
            return None
        busy_fills(self.c, d.body, body)
        return ir.Action(
            d.name, tuple(params), tuple(body), writes(self.c, body), self.c.loc(d.span)
        )

    def param(self, p: ast.Param) -> ir.Param | None:
        t = type_named(self.c, p.type, allow_slots=True)
        if t is None:
            return None
        if t == T.INT:
            if p.lo is None or p.hi is None:
                self.c.error(
                    "R025",
                    f"int parameter `{p.name}` needs bounds",
                    p.span,
                    f"write `{p.name}: int 1..99`: a client can send any number",
                )
                return None
            if p.lo.value > p.hi.value:
                self.c.error(
                    "R025",
                    f"the range {p.lo.value}..{p.hi.value} is empty",
                    p.lo.span,
                    "write the lower bound first",
                )
                return None
            return ir.Param(p.name, t, p.lo.value, p.hi.value)
        if p.lo is not None:
            self.c.error(
                "R025",
                f"only int parameters take a range, and `{p.name}` is {a_type(t)}",
                p.lo.span,
                "remove the range",
            )
        if t.kind == "slot_index":
            return ir.Param(p.name, t, 0, self.c.slots[t.name].count - 1)  # type: ignore[index]
        if t in (T.DURATION, T.TIME):
            self.c.error(
                "R025",
                f"parameters cannot be {a_type(t)}",
                p.type.span,
                "clients send intents, never times: use an int, a table's row, a slot or bool",
            )
            return None
        return ir.Param(p.name, t, None, None)

    def never_holds(self, d: ast.ActionDecl, scope: Scope) -> None:
        """Requirements that contradict each other or the parameters' bounds (where we can tell)."""
        bounds: dict[str, tuple[int, int, Span | None]] = {}
        for r in self.c.resources.values():
            if r.key is None:
                bounds[r.name] = (0, r.max if r.max is not None else INT64_MAX, None)
        for p in scope.params.values():
            if p.lo is not None and p.hi is not None:
                bounds[p.name] = (p.lo, p.hi, None)
        for s in d.body:
            if not isinstance(s, ast.Require):
                continue
            for cmp in _conjuncts(s.cond):
                fact = _bound_fact(cmp)
                if fact is None or fact[0] not in bounds or fact[0] in scope.locals:
                    continue
                name, lo, hi = fact
                old_lo, old_hi, why = bounds[name]
                new_lo, new_hi = max(old_lo, lo), min(old_hi, hi)
                if new_lo > new_hi:
                    self.report_never(cmp, name, (old_lo, old_hi), why, scope)
                    return
                bounds[name] = (new_lo, new_hi, cmp.span)

    def report_never(
        self, cmp: ast.Expr, name: str, bound: tuple[int, int], why: Span | None, scope: Scope
    ) -> None:
        said = self.c.source(cmp.span)
        if why is not None:
            self.c.error(
                "R020",
                f"`{said}` can never hold together with `{self.c.source(why)}`",
                cmp.span,
                "the action could never run: fix one of the two requirements",
                [("the other requirement is here", why)],
            )
        elif name in scope.params:
            self.c.error(
                "R020",
                f"`{said}` can never hold: `{name}` is declared {bound[0]}..{bound[1]}",
                cmp.span,
                "the action could never run: fix the comparison or the parameter's range",
            )
        else:
            self.c.error(
                "R020",
                f"`{said}` can never hold: `{name}` is always {_range_words(*bound)}",
                cmp.span,
                "the action could never run: fix the comparison",
            )

    def invariant(self, d: ast.InvariantDecl) -> ir.Invariant | None:
        scope = Scope()
        cond = self.exprs.expect_type(d.cond, scope, T.BOOL, "a condition")
        msg = self.exprs.message(d.message, scope) if d.message else None
        if cond is None:
            return None
        now = _find_now(d.cond)
        if now is not None:
            self.c.error(
                "R036",
                "an invariant cannot depend on `now`",
                now.span,
                "state what must hold at all times, e.g. `coins <= 100_000_000`",
            )
            return None
        if any(isinstance(n, ir.CalendarRead) for n in ir.nodes(cond)):
            self.c.error(
                "R084",
                "an invariant cannot depend on the calendar",
                d.cond.span,
                "the calendar moves with time, like `now`: read it in an action or a hook",
            )
            return None
        return ir.Invariant(cond, msg, self.c.loc(d.span))


def _range_words(lo: int, hi: int) -> str:
    return f"at least {lo}" if hi == INT64_MAX else f"between {lo} and {hi}"


def _conjuncts(e: ast.Expr) -> list[ast.Expr]:
    if isinstance(e, ast.BoolOp) and e.op == "and":
        return [c for item in e.items for c in _conjuncts(item)]
    return [e]


def _bound_fact(e: ast.Expr) -> tuple[str, int, int] | None:
    """`qty > 10` -> ("qty", 11, max). Only a name against an integer literal."""
    if not isinstance(e, ast.Compare):
        return None
    op = e.op
    if isinstance(e.left, ast.Name) and isinstance(e.right, ast.IntLit):
        name, value = e.left.id, e.right.value
    elif isinstance(e.right, ast.Name) and isinstance(e.left, ast.IntLit):
        name, value = e.right.id, e.left.value
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]
    else:
        return None
    return {
        "<": (name, INT64_MIN, value - 1),
        "<=": (name, INT64_MIN, value),
        ">": (name, value + 1, INT64_MAX),
        ">=": (name, value, INT64_MAX),
        "==": (name, value, value),
    }.get(op)


def _find_now(e) -> ast.Now | None:
    """The first `now` in an expression, if any."""
    if isinstance(e, ast.Now):
        return e
    for f in getattr(e, "__slots__", ()):
        child = getattr(e, f)
        for c in child if isinstance(child, tuple) else (child,):
            found = _find_now(c)
            if found is not None:
                return found
    return None
