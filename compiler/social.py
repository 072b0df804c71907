"""Check what players do to each other: `player` parameters, public reads, `give`, `take`,
loot tables, hooks and leaderboards.

Runs on the rules' Checker (check.py calls in here), so names, types and amounts are
judged exactly as in any action. Another player is always named by a `player`
parameter: the runtime reads a snapshot of exactly those players before the action
runs, and delivers `give` and `take` to exactly them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from . import ir
from . import types as T

if TYPE_CHECKING:
    from .check import Checker, Scope

HOOK_EVENTS = {
    "level_up": "after a step raised the player's level",
    "receive": "after a delivery from another player was applied",
}
RESETS = ("daily", "weekly", "never")
SENDER = "sender"  # the player a delivery came from, in `on receive`
# statements a hook may not hold: it runs after something was decided, so it cannot refuse
HOOK_FORBIDDEN = (ast.Require, ast.Cost, ast.Limit, ast.Cooldown, ast.Give, ast.Take)


class _NotPeer:
    """attr()/index() below answer this when the expression is not another player's."""


NOT_PEER = _NotPeer()


# ---- declarations -----------------------------------------------------------------


def claim_names(c: Checker, decls: list) -> None:
    """Loot tables and leaderboards share the one namespace of declarations."""
    for d in decls:
        if isinstance(d, ast.LootDecl | ast.LeaderboardDecl):
            c.claim(d.name, d.name_span)


def check_loot(c: Checker, decls: list) -> list[ir.Loot]:
    tables = {d.name: d for d in decls if isinstance(d, ast.LootDecl)}
    c.loot_names = set(tables)
    out = [t for t in (_loot_table(c, d) for d in tables.values()) if t is not None]
    _loot_cycles(c, tables)
    c.loot = {t.name: t for t in out}
    return out


def _loot_table(c: Checker, d: ast.LootDecl) -> ir.Loot | None:
    entries: list[ir.LootEntry] = []
    ok = True
    for entry in d.entries:
        if entry.weight <= 0:
            c.error(
                "R019",
                f"a weight must be positive, not {entry.weight}",
                entry.weight_span,
                "remove the entry, or give it a weight of 1 or more",
            )
            ok = False
        items = [_loot_item(c, item) for item in entry.items]
        if any(i is None for i in items):
            ok = False
            continue
        entries.append(ir.LootEntry(entry.weight, tuple(i for i in items if i is not None)))
    return ir.Loot(d.name, tuple(entries), c.loc(d.span)) if ok else None


def _loot_item(c: Checker, item: ast.LootAmount | ast.LootRef) -> ir.LootItem | None:
    if isinstance(item, ast.LootRef):
        if item.name.id not in c.loot_names:
            if not c.reported(item.name.id):
                c.error(
                    "R010",
                    f"unknown loot table `{item.name.id}`",
                    item.name.span,
                    did_you_mean_or(
                        item.name.id, c.loot_names, "declare it: `loot rare_chest` with its entries"
                    ),
                )
            return None
        return ir.LootItem(None, None, 0, item.name.id)
    p = item.place
    res = c.resources.get(p.name)
    if res is None:
        if p.name in c.slots or p.name in c.tables or p.name == "level":
            c.error(
                "R013",
                f"`{p.name}` is not a resource",
                p.name_span,
                "a loot table gives currencies, meters, stats and items: `coins 50`",
            )
        elif not c.reported(p.name):
            c.error(
                "R010",
                f"unknown resource `{p.name}`",
                p.name_span,
                did_you_mean_or(p.name, c.resources, "declare it: `currency gold start 0`"),
            )
        return None
    if item.amount.value < 0:
        c.error(
            "R031",
            f"a negative amount ({item.amount.value})",
            item.amount.span,
            "a loot table only gives: write an amount of 0 or more",
        )
        return None
    fits, key = _loot_key(c, res, p)
    if not fits:
        return None
    c.used.add(res.name)
    c.given.add(res.name)
    return ir.LootItem(res.name, key, item.amount.value, None)


def _loot_key(c: Checker, res: ir.Resource, p: ast.Place) -> tuple[bool, str | None]:
    """(whether the place fits the resource, the row of an item counted per row)."""
    if p.field is not None:
        c.error("R026", f"`{p.name}` has no fields", p.span, f"write `{p.name}` alone")
        return False, None
    if res.key is None:
        if p.index is not None:
            c.error(
                "R026",
                f"`{res.name}` is a single count, not counted per kind",
                p.span,
                f"write `{res.name}` without `[...]`",
            )
            return False, None
        return True, None
    rows = c.row_names(res.key)
    if not isinstance(p.index, ast.Name) or p.index.id not in rows:
        c.error(
            "R026",
            f"say which {res.key} of `{res.name}` the loot gives",
            p.span,
            f"name a row: `{res.name}[{rows[0] if rows else '...'}] 1`",
        )
        return False, None
    return True, p.index.id


def _loot_cycles(c: Checker, tables: dict[str, ast.LootDecl]) -> None:
    """A table that (through others) draws from itself would never end."""
    refs = {
        name: [i.name for e in d.entries for i in e.items if isinstance(i, ast.LootRef)]
        for name, d in tables.items()
    }
    reported: set[str] = set()
    for start, d in tables.items():
        path = _cycle_from(start, refs)
        if path is None or start in reported:
            continue
        reported.update(path)
        first = next(
            r for r in refs[start] if r.id == path[1] or (len(path) == 1 and r.id == start)
        )
        shown = " -> ".join([*path, start])
        c.error(
            "R072",
            f"loot table `{start}` draws from itself: {shown}",
            first.span,
            "a loot table may draw from other tables, but never (through them) from itself",
            [("the table is declared here", d.name_span)],
        )


def _cycle_from(start: str, refs: dict[str, list[ast.Name]]) -> list[str] | None:
    """The tables on a path from `start` back to itself, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for ref in refs.get(name, []):
            if ref.id == start:
                return path
            if ref.id not in seen and ref.id in refs:
                seen.add(ref.id)
                stack.append((ref.id, [*path, ref.id]))
    return None


def check_hooks(c: Checker, decls: list) -> list[ir.Hook]:
    from .check import Scope, _writes

    hooks: list[ir.Hook] = []
    seen: dict[str, Span] = {}
    for d in decls:
        if not isinstance(d, ast.HookDecl):
            continue
        event = d.event.id
        if event not in HOOK_EVENTS:
            c.error(
                "R073",
                f"there is no hook `on {event}`",
                d.event.span,
                did_you_mean_or(event, HOOK_EVENTS, "the hooks are `on level_up` and `on receive`"),
            )
            continue
        if event in seen:
            c.error(
                "R011",
                f"`on {event}` is declared twice",
                d.event.span,
                "put all its statements in one block",
                [("first declared here", seen[event])],
            )
            continue
        seen[event] = d.event.span
        forbidden = list(_forbidden_in_hook(d.body))
        for s in forbidden:
            word = type(s).__name__.lower()
            c.error(
                "R073",
                f"a hook cannot `{word}`",
                s.span,
                "a hook runs after its step was decided, so it cannot refuse it or act on another player: "
                "use `when` to choose, and `gain`, `set`, `emit`",
            )
        scope = Scope()
        if event == "receive":
            scope.params[SENDER] = ir.Param(SENDER, T.PLAYER, None, None)
        c.param_spans, c.let_spans, c.peer_params = {}, {}, set()
        c.current_action, c.limit_count = f"on_{event}", 0
        body = c.block(d.body, scope)
        if body is None or forbidden:
            continue
        c.busy_fills(d.body, body)
        hooks.append(
            ir.Hook(
                event,
                tuple(body),
                tuple(sorted(_writes(body) | loot_writes(c, body))),
                c.loc(d.span),
            )
        )
    return hooks


def _forbidden_in_hook(body: tuple):
    for s in body:
        if isinstance(s, HOOK_FORBIDDEN):
            yield s
        elif isinstance(s, ast.When):
            yield from _forbidden_in_hook(s.body)
            yield from _forbidden_in_hook(s.otherwise)
        elif isinstance(s, ast.Pick):
            for b in s.branches:
                yield from _forbidden_in_hook(b.body)


def check_leaderboards(c: Checker, decls: list) -> list[ir.Leaderboard]:
    out: list[ir.Leaderboard] = []
    for d in decls:
        if not isinstance(d, ast.LeaderboardDecl):
            continue
        resets = d.resets.id if d.resets is not None else "never"
        if resets not in RESETS:
            assert d.resets is not None
            c.error(
                "R074",
                f"a leaderboard resets daily, weekly or never, not `{resets}`",
                d.resets.span,
                did_you_mean_or(
                    resets, RESETS, "write `resets weekly`, `resets daily` or `resets never`"
                ),
            )
            continue
        res = c.resources.get(d.stat.id)
        if res is None:
            if d.stat.id == "level" and c.level is not None:
                c.error(
                    "R074",
                    "a leaderboard ranks by a resource, and `level` follows from one",
                    d.stat.span,
                    f"rank by its stat: `leaderboard {d.name} by {c.level.stat}`",
                )
            elif not c.reported(d.stat.id):
                c.error(
                    "R010",
                    f"unknown resource `{d.stat.id}`",
                    d.stat.span,
                    did_you_mean_or(
                        d.stat.id,
                        c.resources,
                        "a leaderboard ranks players by a stat: `stat power`",
                    ),
                )
            continue
        if res.key is not None:
            c.error(
                "R026",
                f"`{res.name}` is counted per {res.key}: a leaderboard needs one number",
                d.stat.span,
                "rank by a single count such as `stat power`",
            )
            continue
        c.used.add(res.name)
        out.append(ir.Leaderboard(d.name, res.name, resets, c.loc(d.span)))
    return out


# ---- parameters and reads -------------------------------------------------------------


def player_type(c: Checker, name: ast.Name, *, for_param: bool) -> T.Type | None:
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


def peer_attr(c: Checker, e: ast.Attr, scope: Scope) -> ir.Expr | None | _NotPeer:
    """`target.power` / `target.level`; NOT_PEER when `e` is not about another player."""
    base = e.base
    if not isinstance(base, ast.Name) or _player_named(scope, base.id) is None:
        return NOT_PEER
    who = _peer(c, base, scope)
    if who is None:
        return None
    if e.name == "level":
        if c.level is None:
            c.error(
                "R010",
                "`level` is not declared",
                e.name_span,
                "declare it: `level from xp at 0, 50, 150`",
            )
            return None
        if not c.resources[c.level.stat].public:
            _not_public(c, c.resources[c.level.stat], e.name_span, "level")
            return None
        return ir.PeerLevel(who, T.INT)
    res = _public_resource(c, e.name, e.name_span)
    if res is None:
        return None
    if res.key is not None:
        c.error(
            "R026",
            f"`{res.name}` is counted per {res.key}",
            e.span,
            f"say which {res.key}: `{base.id}.{res.name}[...]`",
        )
        return None
    return ir.PeerRead(who, res.name, None, T.INT)


def peer_index(c: Checker, e: ast.Index, scope: Scope) -> ir.Expr | None | _NotPeer:
    """`target.seed[kind]`: a public item counted per row."""
    attr = e.base
    if not (
        isinstance(attr, ast.Attr)
        and isinstance(attr.base, ast.Name)
        and _player_named(scope, attr.base.id) is not None
    ):
        return NOT_PEER
    who = _peer(c, attr.base, scope)
    res = _public_resource(c, attr.name, attr.name_span) if who is not None else None
    if who is None or res is None:
        return None
    if res.key is None:
        c.error(
            "R026",
            f"`{res.name}` is a single count, not counted per kind",
            e.span,
            f"write `{attr.base.id}.{res.name}` without `[...]`",
        )
        return None
    key = c.expect_type(e.index, scope, T.enum(res.key), f"a {res.key}")
    return ir.PeerRead(who, res.name, key, T.INT) if key is not None else None


def _player_named(scope: Scope, name: str) -> T.Type | None:
    param = scope.params.get(name)
    if param is not None and param.type == T.PLAYER:
        return T.PLAYER
    return T.PLAYER if scope.locals.get(name) == T.PLAYER else None


def _peer(c: Checker, name: ast.Name, scope: Scope, what: str = "read") -> str | None:
    """The player parameter `name` stands for, or None (reported) when it is not one."""
    if name.id in c.peer_params:
        return name.id
    if name.id == SENDER and name.id in scope.params:
        c.error(
            "R071",
            f"a hook cannot {what} another player",
            name.span,
            "`sender` names who a delivery came from: compare it or `emit` it",
        )
        return None
    c.error(
        "R071",
        f"`{name.id}` is a `let` value: {what} another player through a `player` parameter",
        name.span,
        "the runtime reads and delivers to the players named by the action's parameters: "
        "use the parameter itself",
    )
    return None


def _public_resource(c: Checker, name: str, span: Span) -> ir.Resource | None:
    res = c.resources.get(name)
    if res is None:
        if not c.reported(name):
            public = [r.name for r in c.resources.values() if r.public]
            c.error(
                "R010",
                f"unknown resource `{name}`",
                span,
                did_you_mean_or(
                    name,
                    c.resources,
                    "other players' public resources are read as `target.power`"
                    + (f"; public here: {', '.join(public)}" if public else ""),
                ),
            )
        return None
    if not res.public:
        _not_public(c, res, span, res.name)
        return None
    return res


def _not_public(c: Checker, res: ir.Resource, span: Span, said: str) -> None:
    kind = res.kind if res.key is None else f"item {res.name} of {res.key}"
    decl = f"{res.kind} {res.name}" if res.key is None else kind
    c.error(
        "R070",
        f"`{said}` of another player is not public",
        span,
        f"declare it `{decl} ... public` to let other players read it",
        [("declared here", c.decl_spans.get(res.name, span))] if res.name in c.decl_spans else [],
    )


# ---- statements ----------------------------------------------------------------------


def give_stmt(c: Checker, s: ast.Give, scope: Scope, loc: ir.Loc) -> ir.Give | None:
    who = _target(c, s.target, scope, "give to")
    amounts = [c.amount(a, scope, False) for a in s.amounts]
    loot = _loot_name(c, s.loot) if s.loot is not None else None
    if who is None or any(a is None for a in amounts) or (s.loot is not None and loot is None):
        return None
    return ir.Give(who, tuple(a for a in amounts if a is not None), loot, loc)


def take_stmt(c: Checker, s: ast.Take, scope: Scope, loc: ir.Loc) -> ir.Take | None:
    who = _target(c, s.target, scope, "take from")
    target = c.resource_place(s.place, scope, "take")
    value = c.expect_type(s.expr, scope, T.INT, f"an amount of `{s.place.name}`")
    if who is None or target is None or value is None:
        return None
    if isinstance(value, ir.Const) and isinstance(value.value, int) and value.value < 0:
        c.error("R031", f"a negative amount ({value.value})", s.expr.span, "take a positive amount")
        return None
    res, key, label = target
    c.given.add(res)  # the taker gains it
    return ir.Take(who, res, key, value, label, loc)


def gain_loot(c: Checker, s: ast.GainLoot, scope: Scope, loc: ir.Loc) -> ir.GainLoot | None:
    name = _loot_name(c, s.loot)
    return ir.GainLoot(name, loc) if name is not None else None


def _loot_name(c: Checker, name: ast.Name) -> str | None:
    if name.id in c.loot_names:
        return name.id if name.id in c.loot else None  # a table with a mistake: reported
    if not c.reported(name.id):
        c.error(
            "R010",
            f"unknown loot table `{name.id}`",
            name.span,
            did_you_mean_or(
                name.id, c.loot_names, "declare it: `loot common_chest` with weighted entries"
            ),
        )
    return None


def _target(c: Checker, name: ast.Name, scope: Scope, what: str) -> str | None:
    if _player_named(scope, name.id) is not None:
        return _peer(c, name, scope, what)
    if name.id in scope.params:
        from .check import _a

        c.error(
            "R071",
            f"`{name.id}` is {_a(scope.params[name.id].type)}, not a player",
            name.span,
            f"declare the parameter as `{name.id}: player`",
        )
    elif not c.reported(name.id, scope):
        players = [p for p, v in scope.params.items() if v.type == T.PLAYER]
        c.error(
            "R071",
            f"`{name.id}` names no player",
            name.span,
            f"another player is a `player` parameter: {', '.join(f'`{p}`' for p in players)}"
            if players
            else f"add a parameter for the other player, such as `({name.id}: player)`",
        )
    return None


def loot_writes(c: Checker, body) -> set[str]:
    """The state keys drawing from loot tables in `body` may change (the engine copies them)."""
    from .economy import nodes

    out: set[str] = set()
    for n in nodes(tuple(body)):
        if isinstance(n, ir.GainLoot):
            out |= _loot_resources(c, n.loot, set())
    return out


def _loot_resources(c: Checker, name: str, seen: set[str]) -> set[str]:
    if name in seen or name not in c.loot:
        return set()
    seen.add(name)
    out: set[str] = set()
    for entry in c.loot[name].entries:
        for item in entry.items:
            if item.resource is not None:
                out.add(item.resource)
            elif item.loot is not None:
                out |= _loot_resources(c, item.loot, seen)
    return out


def did_you_mean_or(name: str, candidates, otherwise: str) -> str:
    from .check import did_you_mean

    return did_you_mean(name, candidates) or otherwise
