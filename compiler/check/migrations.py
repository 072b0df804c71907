"""`migrate` lines: how a player's state made under older rules comes to these ones.

The source of a move names what the rules no longer have (a removed resource, or a row
gone from a table), so the checker cannot look it up: it checks that it is NOT known any
more, and that the target is. Whether the old rules had it is for `rulesc diff` and the
swap check, which see both packs.
"""

from __future__ import annotations

from rulesc.dsl import ast

from .. import ir
from .context import Context

CODE = "R090"
HINT = "`migrate OLD -> NEW`, `migrate OLD -> nothing` or `migrate NAME * 2`: rulesc explain R090"


def _error(c: Context, message: str, span, hint: str = HINT) -> None:
    c.error(CODE, message, span, hint)


def check_migrations(c: Context, decls: list) -> list[ir.Migration]:
    out: list[ir.Migration] = []
    seen: dict[tuple[str, str | None], ast.MigrateDecl] = {}
    for d in decls:
        if not isinstance(d, ast.MigrateDecl):
            continue
        m = _migration(c, d)
        if m is None:
            continue
        where = (m.source, m.source_key)
        if where in seen:
            _error(
                c,
                f"`{_label(m.source, m.source_key)}` is migrated twice",
                d.span,
                "one `migrate` line per place: what players hold goes one way",
            )
            continue
        seen[where] = d
        out.append(m)
    return out


def _label(name: str, key: str | None) -> str:
    return name if key is None else f"{name}[{key}]"


def _text(d: ast.MigrateDecl) -> str:
    source = _label(d.source.name, d.source.key)
    if d.scale:
        return f"{source} * {d.times}"
    target = "nothing" if d.target is None else _label(d.target.name, d.target.key)
    return f"{source} -> {target}" + (f" * {d.times}" if d.times != 1 else "")


def _migration(c: Context, d: ast.MigrateDecl) -> ir.Migration | None:
    src = d.source
    if d.times < 1 or (d.scale and d.times < 2):
        least = 2 if d.scale else 1
        _error(c, f"the factor must be at least {least}", d.span)
        return None
    if src.name in c.tables:
        return _row(c, d)
    resource = c.resources.get(src.name)
    if d.scale:
        return _scale(c, d, resource)
    if resource is not None:
        table = resource.key
        if table is None or src.key is None:
            _error(
                c,
                f"`{src.name}` is still a resource: a migration moves what the rules no longer have",
                src.span,
                f"to multiply what players hold, write `migrate {src.name} * 2`",
            )
            return None
        if _row_still_there(c, src, table):
            return None
    target_key = None
    if d.target is not None:
        target = c.resources.get(d.target.name)
        if target is None:
            _error(
                c,
                f"`{d.target.name}` is not a resource of these rules",
                d.target.span,
                "move to a resource the rules have, or write `-> nothing` to drop it",
            )
            return None
        whole = src.key is None and resource is None  # a whole removed resource, row by row
        if target.key is None and d.target.key is not None:
            _error(c, f"`{target.name}` has no rows", d.target.span)
            return None
        if target.key is not None and d.target.key is None and not whole:
            _error(
                c,
                f"`{target.name}` is counted per {target.key}: say which row",
                d.target.span,
                f"e.g. `{target.name}[...]`",
            )
            return None
        if target.key is not None and d.target.key not in (None, *_rows(c, target.key)):
            _error(c, f"`{d.target.key}` is not a row of `{target.key}`", d.target.span)
            return None
        target_key = d.target.key
    return ir.Migration(
        "move",
        src.name,
        src.key,
        None if d.target is None else d.target.name,
        target_key,
        d.times,
        _text(d),
        c.loc(d.span),
    )


def _row(c: Context, d: ast.MigrateDecl) -> ir.Migration | None:
    """`migrate crop[carrot] -> crop[wheat]`: a table's row renamed (or dropped)."""
    src, table = d.source, d.source.name
    if d.scale or src.key is None:
        _error(
            c,
            f"`{table}` is a table: migrate one of its rows, `{table}[old] -> {table}[new]`",
            src.span,
        )
        return None
    if _row_still_there(c, src, table):
        return None
    target = d.target
    if target is not None and (target.name != table or target.key is None or d.times != 1):
        _error(
            c,
            f"a row of `{table}` becomes another row of it: `{table}[{src.key}] -> {table}[...]`"
            " (or `-> nothing`)",
            target.span,
        )
        return None
    if target is not None and target.key not in _rows(c, table):
        _error(c, f"`{target.key}` is not a row of `{table}`", target.span)
        return None
    return ir.Migration(
        "row",
        table,
        src.key,
        None if target is None else table,
        None if target is None else target.key,
        1,
        _text(d),
        c.loc(d.span),
    )


def _scale(c: Context, d: ast.MigrateDecl, resource: ir.Resource | None) -> ir.Migration | None:
    src = d.source
    if resource is None:
        _error(c, f"`{src.name}` is not a resource of these rules", src.span)
        return None
    if resource.key is None and src.key is not None:
        _error(c, f"`{src.name}` has no rows", src.span)
        return None
    if resource.key is not None and src.key is not None and src.key not in _rows(c, resource.key):
        _error(c, f"`{src.key}` is not a row of `{resource.key}`", src.span)
        return None
    return ir.Migration("scale", src.name, src.key, None, None, d.times, _text(d), c.loc(d.span))


def _rows(c: Context, table: str) -> set[str]:
    t = c.tables.get(table)
    return set() if t is None else {name for name, _ in t.rows}


def _row_still_there(c: Context, src: ast.MigratePlace, table: str) -> bool:
    """A migration moves what the rules no longer have: a row they still have is an error."""
    if src.key not in _rows(c, table):
        return False
    _error(
        c,
        f"`{src.key}` is still a row of `{table}`: a migration moves what the rules no longer have",
        src.span,
    )
    return True
