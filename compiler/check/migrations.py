"""`migrate` lines: how a player's state made under older rules comes to these ones.

The source of a move names what the rules no longer have (a removed resource, or a row
gone from a table), so the checker cannot look it up: it checks that it is NOT known any
more, and that the target is. Whether the old rules had it is for `rulesc diff` and the
swap check, which see both packs.

An item of two tables (`item produce of crop, quality`) is reached two ways: a row line
of either table (`migrate crop[beet] -> crop[carrot]`) moves every pair using the row, and
a pair line names pairs (`migrate produce[beet, gold] -> produce[carrot, silver]`, `*` for
every row of a key). The most specific line wins for a pair: a pair of two rows, then a
pair with one `*`, then a row line. Lines that would decide one pair two ways at the
same level are R096.
"""

from __future__ import annotations

from rulesc.dsl import ast

from .. import ir
from .context import Context

CODE = "R090"
KEYS = "R086"  # the wrong number of keys for what a place names
AMBIGUOUS = "R096"  # two lines, equally specific, decide one pair two ways
ANY = ast.ANY_ROW
HINT = "`migrate OLD -> NEW`, `migrate OLD -> nothing` or `migrate NAME * 2`: rulesc explain R090"
KEYS_HINT = "an item of two tables takes a row of each, `produce[beet, gold]`: rulesc explain R086"
ANY_HINT = "`*` stands for every row of one key of a pair: `migrate produce[beet, *] -> ...`"


def _error(c: Context, message: str, span, hint: str = HINT) -> None:
    c.error(CODE, message, span, hint)


def check_migrations(c: Context, decls: list) -> list[ir.Migration]:
    out: list[ir.Migration] = []
    lines: list[tuple[ir.Migration, ast.MigrateDecl]] = []
    seen: dict[tuple[str, str | None, str | None], ast.MigrateDecl] = {}
    for d in decls:
        if not isinstance(d, ast.MigrateDecl):
            continue
        m = _migration(c, d)
        if m is None:
            continue
        where = (m.source, m.source_key, m.source_key2)
        if where in seen:
            _error(
                c,
                f"`{_label(m.source, m.source_key, m.source_key2)}` is migrated twice",
                d.span,
                "one `migrate` line per place: what players hold goes one way",
            )
            continue
        seen[where] = d
        out.append(m)
        lines.append((m, d))
    _ambiguities(c, lines)
    return out


def _label(name: str, key: str | None, key2: str | None = None) -> str:
    if key is None:
        return name
    return f"{name}[{key}]" if key2 is None else f"{name}[{key}, {key2}]"


def _place_text(p: ast.MigratePlace) -> str:
    return _label(p.name, p.key, p.key2)


def _text(d: ast.MigrateDecl) -> str:
    source = _place_text(d.source)
    if d.scale:
        return f"{source} * {d.times}"
    target = "nothing" if d.target is None else _place_text(d.target)
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
    if src.key2 is not None or (resource is not None and resource.key2 is not None and src.key):
        return _pair(c, d, resource)
    if src.key == ANY:
        _error(c, f"`{_place_text(src)}`: `*` only stands for a key of a pair", src.span, ANY_HINT)
        return None
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
    target: tuple[str, str | None, str | None] | None = None
    if d.target is not None:
        whole = src.key is None and resource is None  # a whole removed resource, row by row
        target = _target(c, d.target, whole=whole)
        if target is None:
            return None
    return _made(c, d, "move", src.name, src.key, None, target)


def _made(
    c: Context,
    d: ast.MigrateDecl,
    kind: str,
    source: str,
    key: str | None,
    key2: str | None,
    target: tuple[str, str | None, str | None] | None,
    times: int | None = None,
) -> ir.Migration:
    return ir.Migration(
        kind,
        source,
        key,
        None if target is None else target[0],
        None if target is None else target[1],
        d.times if times is None else times,
        _text(d),
        c.loc(d.span),
        source_key2=key2,
        target_key2=None if target is None else target[2],
    )


def _target(
    c: Context,
    t: ast.MigratePlace,
    *,
    whole: bool = False,
    anys: tuple[str | None, str | None] = (None, None),
) -> tuple[str, str | None, str | None] | None:
    """The place a move lands in, checked against these rules: (resource, key, key2).
    `anys`: for each key of a pair source that is `*`, its table (a `*` in the target
    keeps the source's row there, so it must be a row of the same table)."""
    res = c.resources.get(t.name)
    if res is None:
        _error(
            c,
            f"`{t.name}` is not a resource of these rules",
            t.span,
            "move to a resource the rules have, or write `-> nothing` to drop it",
        )
        return None
    if res.key2 is not None:
        if len(t.keys) != 2:
            c.error(
                KEYS,
                f"`{res.name}` is counted per {res.key} and {res.key2}: name a row of each",
                t.span,
                KEYS_HINT,
            )
            return None
        for key, table, same in zip(t.keys, (res.key, res.key2), anys, strict=True):
            if key == ANY and same != table:
                _error(
                    c,
                    f"`*` in a target keeps the source's row, so the source must have `*` "
                    f"there too, a row of `{table}`",
                    t.span,
                    ANY_HINT,
                )
                return None
            if key != ANY and key not in _rows(c, table):
                _error(c, f"`{key}` is not a row of `{table}`", t.span)
                return None
        return res.name, t.key, t.key2
    if t.key2 is not None:
        what = "has no rows" if res.key is None else f"is counted per {res.key}: one key"
        c.error(KEYS, f"`{res.name}` {what}, not two", t.span, KEYS_HINT)
        return None
    if t.key == ANY:
        _error(c, f"`{_place_text(t)}`: `*` only stands for a key of a pair", t.span, ANY_HINT)
        return None
    if res.key is None and t.key is not None:
        _error(c, f"`{res.name}` has no rows", t.span)
        return None
    if res.key is not None and t.key is None and not whole:
        _error(
            c,
            f"`{res.name}` is counted per {res.key}: say which row",
            t.span,
            f"e.g. `{res.name}[...]`",
        )
        return None
    if res.key is not None and t.key not in (None, *_rows(c, res.key)):
        _error(c, f"`{t.key}` is not a row of `{res.key}`", t.span)
        return None
    return res.name, t.key, None


def _row(c: Context, d: ast.MigrateDecl) -> ir.Migration | None:
    """`migrate crop[carrot] -> crop[wheat]`: a table's row renamed (or dropped, or
    converted by count into a resource: `-> coins * 3`)."""
    src, table = d.source, d.source.name
    if d.scale or src.key is None:
        _error(
            c,
            f"`{table}` is a table: migrate one of its rows, `{table}[old] -> {table}[new]`",
            src.span,
        )
        return None
    if src.key2 is not None:
        c.error(
            KEYS,
            f"`{table}` is a table: one row, `{table}[{src.key}]`; only an item of two "
            "tables takes two keys",
            src.span,
            KEYS_HINT,
        )
        return None
    if src.key == ANY:
        _error(c, f"`{_place_text(src)}`: `*` only stands for a key of a pair", src.span, ANY_HINT)
        return None
    if _row_still_there(c, src, table):
        return None
    target = d.target
    if target is None:
        return _made(c, d, "row", table, src.key, None, None, times=1)
    if target.name != table:  # converted by count: `crop[beet] -> coins * 3`
        place = _target(c, target)
        return None if place is None else _made(c, d, "row", table, src.key, None, place)
    if target.key2 is not None:
        c.error(KEYS, f"`{table}` is a table: one row, not two", target.span, KEYS_HINT)
        return None
    if target.key is None or target.key == ANY or d.times != 1:
        _error(
            c,
            f"a row of `{table}` becomes another row of it: `{table}[{src.key}] -> {table}[...]`"
            " (or `-> nothing`, or a resource by count: `-> coins * 3`)",
            target.span,
        )
        return None
    if target.key not in _rows(c, table):
        _error(c, f"`{target.key}` is not a row of `{table}`", target.span)
        return None
    return _made(c, d, "row", table, src.key, None, (table, target.key, None))


def _pair(c: Context, d: ast.MigrateDecl, resource: ir.Resource | None) -> ir.Migration | None:
    """`migrate produce[beet, gold] -> ...`, `migrate produce[beet, *] -> produce[carrot, *]`:
    pairs of an item of two tables these rules still have."""
    src = d.source
    if resource is None:
        _error(
            c,
            f"`{src.name}` is not an item of these rules: a pair names an item of two tables "
            "the rules still have",
            src.span,
            f"an item removed whole moves whole: `migrate {src.name} -> nothing`",
        )
        return None
    if resource.key2 is None:
        what = "has no rows" if resource.key is None else f"is counted per {resource.key}: one key"
        c.error(KEYS, f"`{src.name}` {what}, not two", src.span, KEYS_HINT)
        return None
    tables = (resource.key, resource.key2)
    if src.key2 is None:
        c.error(
            KEYS,
            f"`{src.name}` is counted per {tables[0]} and {tables[1]}: name a pair, "
            f"`{src.name}[{src.key}, *]` for every {tables[1]} of it",
            src.span,
            KEYS_HINT,
        )
        return None
    keys = (src.key, src.key2)
    for key, table in zip(keys, tables, strict=True):
        if key != ANY and d.scale and key not in _rows(c, table):
            _error(c, f"`{key}` is not a row of `{table}`", src.span)
            return None
    if d.scale:
        return _made(c, d, "scale", src.name, src.key, src.key2, None)
    if keys == (ANY, ANY):
        _error(
            c,
            f"`{_place_text(src)}` names every pair: say at least one row",
            src.span,
            f"to multiply what players hold, write `migrate {src.name} * 2`",
        )
        return None
    if all(k in _rows(c, t) for k, t in zip(keys, tables, strict=True)):
        _error(
            c,
            f"`{_place_text(src)}` is still a pair of these rules: a migration moves what the "
            "rules no longer have",
            src.span,
        )
        return None
    target = None
    if d.target is not None:
        anys = tuple(t if k == ANY else None for k, t in zip(keys, tables, strict=True))
        target = _target(c, d.target, anys=(anys[0], anys[1]))
        if target is None:
            return None
    return _made(c, d, "pair", src.name, src.key, src.key2, target)


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
    return _made(c, d, "scale", src.name, src.key, None, None)


def _rows(c: Context, table: str | None) -> set[str]:
    t = None if table is None else c.tables.get(table)
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


# ---- one pair, two lines -------------------------------------------------------------------

Line = tuple[ir.Migration, ast.MigrateDecl]


def _ambiguities(c: Context, lines: list[Line]) -> None:
    """For every item of two tables: a pair two lines of the same level decide differently,
    and no more specific line settles it (docs/language.md "Migrations")."""
    for res in c.resources.values():
        if res.key is None or res.key2 is None:
            continue
        pairs = [(m, d) for m, d in lines if m.kind == "pair" and m.source == res.name]
        exact = {(m.source_key, m.source_key2) for m, _ in pairs}
        firsts = [(m, d) for m, d in pairs if m.source_key2 == ANY]
        seconds = [(m, d) for m, d in pairs if m.source_key == ANY]
        for first in firsts:
            for second in seconds:
                pair = (first[0].source_key, second[0].source_key2)
                same = _fate(first[0]) == _fate(second[0]) and ANY not in _fate(first[0])
                if pair not in exact and not same:
                    _ambiguous(c, res.name, pair, first, second)
        # row lines that decide a pair's fate (not a rename): one per table
        row1 = _deciding_rows(lines, res.key)
        row2 = _deciding_rows(lines, res.key2)
        anys1 = {m.source_key for m, _ in firsts}
        anys2 = {m.source_key2 for m, _ in seconds}
        for first in row1:
            for second in row2:
                a, b = first[0].source_key, second[0].source_key
                if first[0] is second[0] or (a, b) in exact or a in anys1 or b in anys2:
                    continue
                if _fate(first[0]) == _fate(second[0]):
                    continue  # both drop it, or convert it alike: one fate
                _ambiguous(c, res.name, (a, b), first, second)


def _fate(m: ir.Migration) -> tuple:
    return (m.target, m.target_key, m.target_key2, m.times if m.target else 1)


def _deciding_rows(lines: list[Line], table: str) -> list[Line]:
    return [(m, d) for m, d in lines if m.kind == "row" and m.source == table and m.target != table]


def _ambiguous(
    c: Context, item: str, pair: tuple[str | None, str | None], first: Line, second: Line
) -> None:
    label = _label(item, *pair)
    (m1, d1), (m2, d2) = sorted((first, second), key=lambda x: (x[1].span.line, x[1].span.col))
    c.error(
        AMBIGUOUS,
        f"`{label}` is moved two ways by lines equally specific: `{m1.text}` and `{m2.text}`",
        d2.source.span,
        f"say where that pair goes, `migrate {label} -> ...`: the most specific line wins "
        "(rulesc explain R096)",
        notes=((f"the other line: `migrate {m1.text}`", d1.source.span),),
    )
