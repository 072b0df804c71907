"""Pass 8, what players share: loot tables (and their cycles), hooks (`on level_up`,
`on receive`) and leaderboards. `player` parameters, public reads, `give` and `take` are
checked with the other expressions and statements (expressions.py, statements.py).

Another player is always named by a `player` parameter: the runtime reads a snapshot of
exactly those players before the action runs, and delivers `give` and `take` to exactly them.
"""

from __future__ import annotations

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .. import ir
from .. import types as T
from .context import Context, Scope, did_you_mean_or
from .effects import busy_fills, writes
from .expressions import SENDER
from .statements import Statements

HOOK_EVENTS = {
    "level_up": "after a step raised the player's level",
    "receive": "after a delivery from another player was applied",
}
RESETS = ("daily", "weekly", "never")
# statements a hook may not hold: it runs after something was decided, so it cannot refuse
HOOK_FORBIDDEN = (ast.Require, ast.Cost, ast.Limit, ast.Cooldown, ast.Give, ast.Take)


def check_loot(c: Context, decls: list) -> list[ir.Loot]:
    tables = {d.name: d for d in decls if isinstance(d, ast.LootDecl)}
    c.loot_names = set(tables)
    out = [t for t in (_loot_table(c, d) for d in tables.values()) if t is not None]
    _loot_cycles(c, tables)
    c.loot = {t.name: t for t in out}
    return out


def _loot_table(c: Context, d: ast.LootDecl) -> ir.Loot | None:
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


def _loot_item(c: Context, item: ast.LootAmount | ast.LootRef) -> ir.LootItem | None:
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


def _loot_key(c: Context, res: ir.Resource, p: ast.Place) -> tuple[bool, str | None]:
    """(whether the place fits the resource, the row of an item counted per row)."""
    if p.field is not None:
        c.error("R026", f"`{p.name}` has no fields", p.span, f"write `{p.name}` alone")
        return False, None
    if res.key2 is not None or p.index2 is not None:
        c.error(
            "R087",
            f"a loot table cannot give `{res.name}` by a pair of rows yet"
            if res.key2 is not None
            else f"`{res.name}` takes one key",
            p.span,
            "give it in the action: `gain produce[kind, q] 1`"
            if res.key2 is not None
            else f"write `{res.name}[...]`",
        )
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


def _loot_cycles(c: Context, tables: dict[str, ast.LootDecl]) -> None:
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


def check_hooks(c: Context, statements: Statements, decls: list) -> list[ir.Hook]:
    hooks: list[ir.Hook] = []
    seen: dict[str, Span] = {}
    for d in decls:
        if not isinstance(d, ast.HookDecl):
            continue
        event = d.event.id
        turns = [f"{name}_change" for name in c.calendars]  # `on season_change`
        if event not in HOOK_EVENTS and event not in turns:
            c.error(
                "R073",
                f"there is no hook `on {event}`",
                d.event.span,
                did_you_mean_or(
                    event,
                    [*HOOK_EVENTS, *turns],
                    "the hooks are `on level_up`, `on receive` and, for a calendar, "
                    "`on season_change`",
                ),
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
        c.start_body(f"on_{event}", {}, set())
        body = statements.block(d.body, scope)
        if body is None or forbidden:
            continue
        busy_fills(c, d.body, body)
        hooks.append(ir.Hook(event, tuple(body), writes(c, body), c.loc(d.span)))
    return hooks


def _forbidden_in_hook(body: tuple):
    return (s for s in ir.walk_statements(body) if isinstance(s, HOOK_FORBIDDEN))


def check_leaderboards(c: Context, decls: list) -> list[ir.Leaderboard]:
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
