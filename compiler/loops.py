"""Static loop search: combinations of unbounded action cases that gain for nothing.

A loop is a multiset of cases whose summed flow is >= 0 on every resource, > 0 on
at least one, and exactly 0 on every slot token (a loop must leave the slots as it
found them). Only cases nothing time-limits take part (see economy.py).

Method, kept simple and exact:
1. Candidate sets are grown from a case that gains something, adding for a pool
   the set consumes but does not make (the one with fewest makers) one of the
   cases that make it, up to `depth` distinct cases ("closure search"), all sets of
   one size before any of the next. A closed set that is not profitable is grown
   by any case trading in its pools, so larger loops are not missed.
2. For a closed set, an exact linear program (lp.py) finds multiplicities
   maximising the total gain with every pool balanced; scaled to whole numbers they
   are the loop. Only minimal sets are kept: a set is not grown past a loop.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from .economy import Case, Model
from .lp import maximize

MAX_SETS = 50_000  # candidate sets examined, at most


@dataclass(frozen=True)
class Loop:
    steps: tuple[tuple[Case, int], ...]  # each case with how often it runs per loop
    net: tuple[tuple[str, int], ...]  # resource -> change per loop, nonzero
    setup: tuple[Case, ...]  # run once first: they fill the slots the loop works with
    alike: tuple[tuple[Case, ...], ...] = ()  # per step: the cases that are multiples of it

    @property
    def length(self) -> int:
        return sum(n for _, n in self.steps)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.action for c, _ in self.steps))

    @property
    def gained(self) -> tuple[tuple[str, int], ...]:
        return tuple((k, v) for k, v in self.net if v > 0)


def _ray(c: Case) -> tuple[tuple, int]:
    """A case's direction and size: buy(qty: 6) is 6 times buy(qty: 1), on the same ray."""
    size = math.gcd(*(abs(v) for _, v in c.net)) if c.net else 0
    direction = tuple((p, v // size) for p, v in c.net) if size else ()
    return (c.action, direction, c.needs), size


def find_loops(
    model: Model, depth: int = 4, deadline: float | None = None
) -> tuple[list[Loop], bool]:
    """The minimal loops, and whether the search finished (else a limit cut it short).

    Cases that are whole multiples of a smaller case of the same action add nothing a
    loop could not do by repeating the smaller one: only the smallest takes part in
    the search, and the loop found is then written with the larger ones where they fit
    (sell(qty: 10) rather than sell(qty: 1) ten times).
    """
    rays: dict[tuple, list[Case]] = {}
    for c in sorted((c for c in model.cases if not c.bounds), key=lambda c: (_ray(c)[1], c.ident)):
        rays.setdefault(_ray(c)[0], []).append(c)
    free = _useful(sorted((members[0] for members in rays.values()), key=lambda c: c.ident))
    tokens = model.tokens
    makers: dict[str, list[int]] = {}
    users: dict[str, list[int]] = {}
    for i, c in enumerate(free):
        for pool, v in c.net:
            (makers if v > 0 else users).setdefault(pool, []).append(i)
        for pool in c.needs:
            users.setdefault(pool, []).append(i)
    found: dict[frozenset[int], Loop] = {}

    def open_pools(chosen: tuple[int, ...]) -> list[str]:
        made = {p for i in chosen for p, v in free[i].net if v > 0}
        wanted = {p for i in chosen for p, v in free[i].net if v < 0} | {
            p for i in chosen for p in free[i].needs
        }
        return sorted(wanted - made, key=lambda p: (len(makers.get(p, [])), p))

    def extensions(chosen: tuple[int, ...]) -> list[int]:
        """The cases that could complete this set into a loop; [] when it is one already."""
        wanting = open_pools(chosen)
        if wanting:  # the pool with fewest makers first: the search branches least
            return [j for j in makers.get(wanting[0], []) if j not in chosen]
        loop = solve([free[i] for i in chosen], tokens)
        if loop is not None:
            found.setdefault(
                frozenset(i for i in chosen if any(c is free[i] for c, _ in loop.steps)), loop
            )
            return []
        # closed but not profitable: anything trading in its pools might tip it
        return sorted(
            {
                j
                for i in chosen
                for p, _ in free[i].net
                for j in makers.get(p, []) + users.get(p, [])
                if j not in chosen and free[j].flow and max(free[j].flow.values()) > 0
            }
        )

    # level by level (all pairs before any triple), so a cut-short search still has the short loops
    complete = True
    frontier: list[tuple[int, ...]] = [
        (i,) for i, c in enumerate(free) if any(v > 0 and p not in tokens for p, v in c.net)
    ]
    seen = {frozenset(f) for f in frontier}
    for size in range(1, depth + 1):
        grown: list[tuple[int, ...]] = []
        for chosen in frontier:
            if len(seen) >= MAX_SETS or (deadline is not None and time.monotonic() > deadline):
                complete = False
                break
            if any(frozenset(chosen) >= k for k in found):
                continue  # a loop inside it is already known
            options = extensions(chosen)  # solves the set if it is closed
            if size == depth:
                continue
            for j in options:
                key = frozenset((*chosen, j))
                if key not in seen:
                    seen.add(key)
                    grown.append((*chosen, j))
        if not complete:
            break
        frontier = grown
    loops = [_compress(found[k], rays) for k in sorted(found, key=lambda k: sorted(k))]
    return sorted(
        loops, key=lambda lp: (lp.actions, lp.length, [c.ident for c, _ in lp.steps])
    ), complete


def _useful(cases: list[Case]) -> list[Case]:
    """Leave out cases that can be in no loop: they spend something no unbounded case makes.

    Repeated until nothing changes, as leaving one out can starve another. This loses no
    loop (a loop makes back all it spends) and keeps big games tractable: selling bars
    that only a timed furnace makes is never tried with each of a hundred purchases.
    """
    alive = list(cases)
    while True:
        made = {p for c in alive for p, v in c.net if v > 0}
        keep = [
            c
            for c in alive
            if all(v > 0 or p in made for p, v in c.net) and all(t in made for t in c.needs)
        ]
        if len(keep) == len(alive):
            return keep
        alive = keep


def _compress(loop: Loop, rays: dict[tuple, list[Case]]) -> Loop:
    """Write n runs of a case as fewer runs of a multiple of it, where one fits exactly."""
    steps = []
    alike = []
    for c, n in loop.steps:
        key, size = _ray(c)
        members = rays[key]
        best = (c, n)
        for m in members:
            k = _ray(m)[1] // size if size else 1
            if k > 1 and _ray(m)[1] == k * size and n % k == 0 and n // k < best[1]:
                best = (m, n // k)
        steps.append(best)
        alike.append(tuple(members))
    return Loop(tuple(steps), loop.net, loop.setup, tuple(alike))


def solve(cases: list[Case], tokens: set[str]) -> Loop | None:
    """The best whole-number multiplicities for these cases, if they make a loop."""
    flows = [c.flow for c in cases]
    pools = sorted({p for f in flows for p in f})
    resources = [p for p in pools if p not in tokens]
    rows: list[list[Fraction]] = []
    for p in pools:
        row = [Fraction(-f.get(p, 0)) for f in flows]
        rows.append(row)  # no pool may fall
        if p in tokens:
            rows.append([-v for v in row])  # and slots must come out even
    rows.append([Fraction(1)] * len(cases))  # sum of x <= 1: the scale of a loop is arbitrary
    objective = [Fraction(sum(f.get(p, 0) for p in resources)) for f in flows]
    result = maximize(objective, rows, [Fraction(0)] * (len(rows) - 1) + [Fraction(1)])
    if result is None or result[0] <= 0:
        return None
    x = result[1]
    scale = math.lcm(*(v.denominator for v in x if v > 0))
    counts = [int(v * scale) for v in x]
    common = math.gcd(*(n for n in counts if n > 0))
    counts = [n // common for n in counts]
    used = [(c, n) for c, n in zip(cases, counts, strict=True) if n > 0]
    total: Counter[str] = Counter()
    for c, n in used:
        for p, v in c.net:
            total[p] += v * n
    net = tuple((p, total[p]) for p in resources if total[p] != 0)
    steps = flow_order(used, {p for p, v in net if v > 0})
    made = {p for c, _ in steps for p, v in c.net if v > 0}
    setup = tuple(
        next(c for c in cases if c.flow.get(tok, 0) > 0)
        for tok in sorted({t for c, _ in steps for t in c.needs} - made)
    )
    return Loop(steps, net, setup)


def flow_order(steps: list[tuple[Case, int]], gained: set[str]) -> tuple[tuple[Case, int], ...]:
    """The order a person tells a loop in: spend what it gains, then follow the goods.

    buy_ore (coins -> ore), smelt (ore -> ingot), sell_ingot (ingot -> coins).
    """
    left = sorted(steps, key=lambda s: s[0].ident)
    first = next((s for s in left if any(v < 0 and p in gained for p, v in s[0].net)), left[0])
    out = [first]
    left.remove(first)
    while left:
        made = [p for c, _ in reversed(out) for p, v in c.net if v > 0]  # latest first
        nxt = next(
            (s for p in made for s in left if s[0].flow.get(p, 0) < 0 or p in s[0].needs), left[0]
        )
        out.append(nxt)
        left.remove(nxt)
    return tuple(out)


def schedule(loop: Loop) -> tuple[list[Case], dict[str, int]]:
    """An order to play the loop in, and what the player must hold to play it.

    Greedy, in the loop's own order: play the first case the player can already
    afford; if none, the first not yet played, and count what it lacks as holdings
    to give first.
    """
    holding: Counter[str] = Counter()
    given: Counter[str] = Counter()
    order: list[Case] = []

    def lacking(c: Case) -> dict[str, int]:
        return {p: -v - holding[p] for p, v in c.net if v < 0 and holding[p] < -v}

    def play(c: Case) -> None:
        for p, v in lacking(c).items():
            given[p] += v
            holding[p] += v
        for p, v in c.net:
            holding[p] += v
        order.append(c)

    for c in loop.setup:
        play(c)
    left = Counter({c: n for c, n in loop.steps})
    ranked = [c for c, _ in loop.steps]
    while sum(left.values()):
        ready = [
            c for c in ranked if left[c] and not lacking(c) and all(holding[t] > 0 for t in c.needs)
        ]
        pick = ready[0] if ready else next(c for c in ranked if left[c])
        play(pick)
        left[pick] -= 1
    pools = {p for c in order for p, _ in c.net}
    return order, {p: given[p] for p in sorted(pools)}
