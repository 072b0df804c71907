"""Checking as you type: each action's check remembered between runs of the checker.

The language server checks the whole game on every pause in typing; in a game of 1,000
actions a keystroke changes one. An action's check depends only on the action itself (its
syntax tree and source lines, spans included), and on what the passes before it declared
(the environment: every other declaration, the names already reported broken, where names
are declared). Given the same of both it reports the same diagnostics and leaves the same marks on the Context
(resources used, gained and costed, the typed parameters for scenarios), which the memo
records and replays. Anything that moves an action (a line inserted above it) is a miss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Diagnostic, Span

from .. import ir
from .context import Context

BODY_STATE = ("current_action", "limit_count", "param_spans", "let_spans", "peer_params")


@dataclass(frozen=True)
class _Result:
    action: ir.Action | None
    diags: tuple[Diagnostic, ...]
    used: frozenset[str]
    given: frozenset[str]
    costed: tuple[tuple[str, Span], ...]
    params: dict[str, ir.Param] | None
    body_state: tuple


class ActionMemo:
    def __init__(self) -> None:
        self.results: dict[tuple, _Result] = {}
        self.fresh: dict[tuple, _Result] = {}
        self.environment: tuple | None = None
        self.hits = 0  # for the tests and the bench

    def start(self, c: Context, decls: list) -> None:
        """A new run: forget every check if what actions depend on besides themselves changed."""
        others = [d for d in decls if not isinstance(d, ast.ActionDecl)]
        # actions are not in decl_spans (names.py claims only what shares their namespace)
        environment = (c.src.label, others, sorted(c.broken), list(c.decl_spans.items()))
        if environment != self.environment:  # compared once a run, never hashed
            self.results, self.environment = {}, environment
        else:
            self.results = self.fresh or self.results
        self.fresh = {}

    def action(
        self, c: Context, check: Callable[[ast.ActionDecl], ir.Action | None], d: ast.ActionDecl
    ) -> ir.Action | None:
        span = d.span
        lines = tuple(c.src.texts.line(span.file, n) for n in range(span.line, span.end_line + 1))
        # the same lines at the same place parse to the same syntax tree (hashing the tree
        # itself cost more than checking the action again)
        key = (span, lines)
        found = self.results.get(key)
        if found is None:
            found = self._record(c, check, d)
        else:
            self.hits += 1
            self._replay(c, d, found)
        self.fresh[key] = found
        return found.action

    def _record(
        self, c: Context, check: Callable[[ast.ActionDecl], ir.Action | None], d: ast.ActionDecl
    ) -> _Result:
        n_diags, used, given, costed = len(c.diags), set(c.used), set(c.given), set(c.costed)
        had_params = d.name in c.action_params
        action = check(d)
        return _Result(
            action,
            tuple(c.diags[n_diags:]),
            frozenset(c.used - used),
            frozenset(c.given - given),
            tuple((k, v) for k, v in c.costed.items() if k not in costed),
            None if had_params else c.action_params.get(d.name),
            tuple(getattr(c, name) for name in BODY_STATE),
        )

    def _replay(self, c: Context, d: ast.ActionDecl, r: _Result) -> None:
        c.diags.extend(r.diags)
        c.used |= r.used
        c.given |= r.given
        for name, span in r.costed:
            c.costed.setdefault(name, span)
        if r.params is not None:
            c.action_params.setdefault(d.name, r.params)
        for name, value in zip(BODY_STATE, r.body_state, strict=True):
            setattr(c, name, value)
