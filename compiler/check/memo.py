"""Checking as you type: each action's check remembered between runs of the checker.

The language server checks the whole game on every pause in typing; in a game of 1,000
actions a keystroke changes one. An action's check depends only on the action itself (its
syntax tree and source lines, spans included), and on what the passes before it declared
(the environment: every other declaration, the names already reported broken, where names
are declared). Given the same of both it reports the same diagnostics and leaves the same marks on the Context
(resources used, gained and costed, the typed parameters for scenarios), which the memo
records and replays.

A line inserted above an action moves it without changing it: the memo knows an action by
its file and its lines, wherever they stand, and replays a moved action's check with its
spans and IR locations moved by as many lines (a newline in a 1,000-action file replays
the checks below it instead of checking them again). Likewise the environment is compared
with each declaration moved to line 1. A check that reported something is replayed only
where it was made, in an environment that has not moved: its messages may name lines
("move it above line 12") and its notes may point at other declarations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Diagnostic, Span

from .. import ir
from .context import Context

BODY_STATE = ("current_action", "limit_count", "param_spans", "let_spans", "peer_params")


@dataclass(frozen=True)
class _Result:
    span: Span  # where the action stood when it was checked
    placement: int  # and where the other declarations stood (ActionMemo.placement)
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
        self.environment: tuple | None = None  # with every declaration moved to line 1
        self.placed: tuple | None = None  # as it stands
        self.placement = 0  # counts the environment's moves
        self.hits = 0  # for the tests and the bench

    def start(self, c: Context, decls: list) -> None:
        """A new run: forget every check if what actions depend on besides themselves changed."""
        others = [d for d in decls if not isinstance(d, ast.ActionDecl)]
        # actions are not in decl_spans (names.py claims only what shares their namespace)
        placed = (c.src.label, others, sorted(c.broken), list(c.decl_spans.items()))
        environment = (
            c.src.label,
            [moved(d, 1 - d.span.line) for d in others],
            sorted(c.broken),
            [(name, span.file) for name, span in c.decl_spans.items()],
            # the data files tables load (CSV rows): a row renamed there changes what
            # every action reading the table means (the tables are loaded by now)
            sorted((f, h) for f, h in c.src.hashes.items() if not f.endswith(".rules")),
        )
        if environment != self.environment:  # compared once a run, never hashed
            self.results, self.environment = {}, environment
        else:
            self.results = self.fresh or self.results
        if placed != self.placed:
            self.placed, self.placement = placed, self.placement + 1
        self.fresh = {}

    def action(
        self, c: Context, check: Callable[[ast.ActionDecl], ir.Action | None], d: ast.ActionDecl
    ) -> ir.Action | None:
        span = d.span
        lines = tuple(c.src.texts.line(span.file, n) for n in range(span.line, span.end_line + 1))
        # the same lines parse to the same syntax tree, moved to where they start (hashing
        # the tree itself cost more than checking the action again)
        key = (span.file, lines)
        here = (span, self.placement)
        found = self.results.get(key)
        if found is not None and found.diags and (found.span, found.placement) != here:
            found = None  # what it reported may name lines: check it where it stands
        if found is None:
            found = self._record(c, check, d)
        else:
            self.hits += 1
            if found.span != span:
                found = _moved_result(c, found, span)
            self._replay(c, d, found)
        self.fresh[key] = found
        return found.action

    def _record(
        self, c: Context, check: Callable[[ast.ActionDecl], ir.Action | None], d: ast.ActionDecl
    ) -> _Result:
        # the check writes into empty sets for what it uses, gains and costs, so that the
        # result holds all of its own marks, also those an earlier action made first (or a
        # replay would lose them once that action no longer makes them)
        n_diags, outer = len(c.diags), (c.used, c.given, c.costed, c.action_params)
        c.used, c.given, c.costed, c.action_params = set(), set(), {}, {}
        try:
            action = check(d)
            own = (c.used, c.given, c.costed, c.action_params)
        finally:
            c.used, c.given, c.costed, c.action_params = outer
        result = _Result(
            d.span,
            self.placement,
            action,
            tuple(c.diags[n_diags:]),
            frozenset(own[0]),
            frozenset(own[1]),
            tuple(own[2].items()),
            own[3].get(d.name),
            tuple(getattr(c, name) for name in BODY_STATE),
        )
        self._replay(c, d, result, diags=False)
        return result

    def _replay(self, c: Context, d: ast.ActionDecl, r: _Result, *, diags: bool = True) -> None:
        if diags:
            c.diags.extend(r.diags)
        c.used |= r.used
        c.given |= r.given
        for name, span in r.costed:
            c.costed.setdefault(name, span)
        if r.params is not None:
            c.action_params.setdefault(d.name, r.params)
        for name, value in zip(BODY_STATE, r.body_state, strict=True):
            setattr(c, name, value)


def _moved_result(c: Context, r: _Result, span: Span) -> _Result:
    """A check made where `r.span` stood, as made at `span` (the same lines, moved)."""
    old, delta = r.span, span.line - r.span.line
    where = (old.file, c.loc(old).file, old.line, old.end_line)  # a span's file, a Loc's
    return _Result(
        span,
        r.placement,
        None if r.action is None else _moved_action(r.action, delta),
        r.diags,  # none: a check that reported something is not moved (ActionMemo.action)
        r.used,
        r.given,
        moved(r.costed, delta, where),
        r.params,
        moved(r.body_state, delta, where),
    )


def _moved_action(a: ir.Action, delta: int) -> ir.Action:
    """An action's IR moved `delta` lines down. Only statements (a `pick`'s branches too) and
    the action itself have a Loc; their expressions hold none and are shared, not copied
    (walking them all cost as much as checking the action again)."""
    return _with(a, body=_moved_block(a.body, delta), loc=_moved_loc(a.loc, delta))


def _moved_block(body: tuple, delta: int) -> tuple:
    return tuple([_moved_statement(s, delta) for s in body])


def _moved_statement(s, delta: int):
    loc = _moved_loc(s.loc, delta)
    if isinstance(s, ir.When):
        return _with(
            s, body=_moved_block(s.body, delta), otherwise=_moved_block(s.otherwise, delta), loc=loc
        )
    if isinstance(s, ir.Pick):
        branches = tuple(
            [
                _with(b, body=_moved_block(b.body, delta), loc=_moved_loc(b.loc, delta))
                for b in s.branches
            ]
        )
        return _with(s, branches=branches, loc=loc)
    if isinstance(s, ir.LEAF_STATEMENTS):
        return _with(s, loc=loc)
    raise ir.UnhandledNode(s, "memo._moved_statement")


def _moved_loc(loc: ir.Loc, delta: int) -> ir.Loc:
    return ir.Loc(loc.file, loc.line + delta, loc.text)


def _with(node, **changes):
    """dataclasses.replace for the IR's frozen dataclasses, without running __init__ (4x
    faster, as the parser's cache moves syntax trees)."""
    kind = type(node)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(node))
    out = object.__new__(kind)
    for name in names:
        object.__setattr__(out, name, changes[name] if name in changes else getattr(node, name))
    return out


def moved(node, delta: int, where: tuple[str, str, int, int] | None = None):
    """`node` with every Span and ir.Loc in it moved `delta` lines down; only those within
    `where` (a Span's file, a Loc's file, first and last line) when given. What holds none
    is returned as is, not copied."""
    kind = type(node)
    if kind is Span:
        if where is not None and not (
            node.file == where[0] and where[2] <= node.line and node.end_line <= where[3]
        ):
            return node
        return Span(node.file, node.line + delta, node.col, node.end_line + delta, node.end_col)
    if kind is ir.Loc:
        if where is not None and not (node.file == where[1] and where[2] <= node.line <= where[3]):
            return node
        return ir.Loc(node.file, node.line + delta, node.text)
    if kind in _LEAVES:
        return node
    if kind is tuple or kind is list:
        items = [moved(v, delta, where) for v in node]
        same = all(a is b for a, b in zip(items, node, strict=True))
        return node if same else kind(items)
    if kind is dict:
        entries = {k: moved(v, delta, where) for k, v in node.items()}
        return node if all(entries[k] is v for k, v in node.items()) else entries
    names = _FIELDS.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(node):
            return node  # sets of names, enums: nothing placed in them
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(node))
    values = [getattr(node, name) for name in names]
    new = [moved(v, delta, where) for v in values]
    if all(a is b for a, b in zip(new, values, strict=True)):
        return node
    # frozen dataclasses: a copy field by field, as the parser's cache moves syntax trees
    out = object.__new__(kind)
    for name, value in zip(names, new, strict=True):
        object.__setattr__(out, name, value)
    return out


_LEAVES = frozenset({str, int, bool, float, type(None), frozenset, set})
_FIELDS: dict[type, tuple[str, ...]] = {}
