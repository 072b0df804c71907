"""Pass 3, declarations: slots, resources (currencies, meters, stats, items) and the
level; after the actions, the warnings about resources nothing uses."""

from __future__ import annotations

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Span

from .. import ir
from .context import INT64_MAX, Context, did_you_mean
from .typenames import type_named


class Declarations:
    def __init__(self, c: Context) -> None:
        self.c = c

    def slot_decl(self, d: ast.SlotsDecl) -> None:
        fields: list[ir.Column] = []
        names: set[str] = set()
        for f in d.fields:
            if f.name in names:
                self.c.error(
                    "R011", f"slot field `{f.name}` is declared twice", f.span, "rename one of them"
                )
            names.add(f.name)
            t = type_named(self.c, f.type)
            if t is not None:
                fields.append(ir.Column(f.name, t))
        if not 1 <= d.count.value <= 1000:
            self.c.error(
                "R031",
                f"{d.count.value} slots is out of range",
                d.count.span,
                "a player has 1 to 1000 slots of a kind",
            )
        self.c.slots[d.name] = ir.Slots(d.name, d.count.value, tuple(fields), self.c.loc(d.span))

    def resource(self, d: ast.ResourceDecl | ast.ItemDecl) -> None:
        kind = d.kind if isinstance(d, ast.ResourceDecl) else "item"
        key = None
        if isinstance(d, ast.ItemDecl) and d.key is not None:
            if d.key.id in self.c.tables:
                key = d.key.id
            elif not self.c.reported(d.key.id):
                self.c.error(
                    "R024",
                    f"unknown table `{d.key.id}`",
                    d.key.span,
                    did_you_mean(d.key.id, self.c.table_names | self.c.broken)
                    or "an item is counted per row of a table: `item seed of crop`",
                )
        key2 = self.second_key(d) if isinstance(d, ast.ItemDecl) else None
        start = d.start.value if d.start else 0
        mx = d.max.value if d.max else None
        regen = (d.regen.amount, d.regen.every.ms) if d.regen else None
        if kind == "meter" and mx is None:
            self.c.error(
                "R030",
                f"meter `{d.name}` needs a `max`",
                d.name_span,
                f"write `meter {d.name} start {start} max {max(start, 1)} ...`",
            )
        if kind != "meter" and d.regen is not None:
            self.c.error(
                "R030",
                f"only meters regenerate, and `{d.name}` is {'an' if kind == 'item' else 'a'} {kind}",
                d.regen.span,
                f"declare it as `meter {d.name} ... max ...`, or remove the `regen`"
                if kind != "item"
                else "remove the `regen`: items change only through actions",
            )
        if d.regen is not None and (d.regen.amount <= 0 or d.regen.every.ms <= 0):
            self.c.error(
                "R030",
                "regeneration must give a positive amount over a positive time",
                d.regen.span,
                "for example `regen 1 every 3m`",
            )
        if start < 0:
            self.c.error(
                "R031",
                f"`{d.name}` cannot start below 0",
                d.start.span if d.start else d.name_span,
                "resources are never negative",
            )
        if mx is not None and not 0 < mx <= INT64_MAX:
            self.c.error(
                "R031",
                f"the max of `{d.name}` must be positive",
                d.max.span if d.max else d.name_span,
                "for example `max 999`",
            )
        elif mx is not None and start > mx:
            self.c.error(
                "R031",
                f"`{d.name}` starts at {start}, above its max {mx}",
                d.start.span if d.start else d.name_span,
                f"start at most at {mx}",
            )
        if kind == "meter" and d.start is None and mx is not None:
            start = mx  # a meter starts full unless told otherwise
        self.c.resources[d.name] = ir.Resource(
            d.name, kind, key, start, mx, regen, self.c.loc(d.span), d.public, key2
        )

    def second_key(self, d: ast.ItemDecl) -> str | None:
        """`item produce of crop, quality`: the second table, if it is one."""
        if d.key2 is None:
            return None
        if d.key2.id in self.c.tables:
            return d.key2.id
        if not self.c.reported(d.key2.id):
            self.c.error(
                "R024",
                f"unknown table `{d.key2.id}`",
                d.key2.span,
                did_you_mean(d.key2.id, self.c.table_names | self.c.broken)
                or "an item of two tables is counted per pair of rows: "
                "`item produce of crop, quality`",
            )
        return None

    def level_decl(self, d: ast.LevelDecl) -> None:
        if self.c.level_span is not None:
            self.c.error(
                "R011",
                "`level` is declared twice",
                d.span,
                "keep one `level from ... at ...` line",
                [("first declared here", self.c.level_span)],
            )
            return
        self.c.level_span = d.span
        stat = self.level_stat(d.stat)
        values = [t.value for t in d.thresholds]
        mistake = _threshold_mistake(d, stat.name if stat else d.stat.id)
        if mistake is not None:
            self.c.error("R018", *mistake)
        if stat is None or mistake is not None:
            self.c.level_broken = True
            return
        self.c.level = ir.Level(stat.name, tuple(values), self.c.loc(d.span))

    def level_stat(self, name: ast.Name) -> ir.Resource | None:
        res = self.c.resources.get(name.id)
        if res is None:
            if not self.c.reported(name.id):
                self.c.error(
                    "R010",
                    f"unknown resource `{name.id}`",
                    name.span,
                    did_you_mean(name.id, self.c.resources) or "levels come from a stat: `stat xp`",
                )
            return None
        if res.key is not None:
            self.c.error(
                "R026",
                f"`{name.id}` is counted per {res.key}: a level needs one number",
                name.span,
                "derive the level from a stat such as `stat xp`",
            )
            return None
        self.c.used.add(res.name)
        return res

    def usage_warnings(self) -> None:
        for name, span in self.c.costed.items():
            if (
                name not in self.c.given
                and self.c.resources[name].kind == "item"
                and self.c.resources[name].start == 0
            ):
                self.c.warn(
                    "R021",
                    f"`{name}` is costed but nothing gives it",
                    span,
                    f"add an action that gains `{name}`, or give it a `start`",
                )
        for r in self.c.resources.values():
            if r.name not in self.c.used:
                decl_span = self.c.decl_spans.get(r.name)
                if decl_span is not None:
                    self.c.warn(
                        "R022",
                        f"nothing uses `{r.name}`",
                        decl_span,
                        "use it in an action, or remove it",
                    )


def _threshold_mistake(d: ast.LevelDecl, stat: str) -> tuple[str, Span, str] | None:
    """What is wrong with a level's thresholds, if anything: (message, span, hint)."""
    first = d.thresholds[0]
    if first.value != 0:
        return (
            f"level 1 must start at 0 {stat}, not {first.value}",
            first.span,
            f"write `level from {stat} at 0, ...`: every player starts at level 1",
        )
    for prev, cur in zip(d.thresholds, d.thresholds[1:], strict=False):
        if cur.value <= prev.value:
            return (
                f"level thresholds must increase: {cur.value} comes after {prev.value}",
                cur.span,
                f"list the {stat} each level starts at, for level 1, 2, 3, ... in increasing order",
            )
    return None
