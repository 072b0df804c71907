"""A tiny exact linear program solver for the exploit finder's loop search.

Exact (fractions, not floats) so that "this loop gains 1 coin" is never a rounding
artefact, and small enough to read: the problems it sees have a handful of variables.
"""

from __future__ import annotations

from fractions import Fraction


def maximize(
    objective: list[Fraction], rows: list[list[Fraction]], bounds: list[Fraction]
) -> tuple[Fraction, list[Fraction]] | None:
    """Maximise `objective . x` subject to `rows . x <= bounds` and `x >= 0`.

    Every bound must be >= 0, so x = 0 is a feasible start and one phase of the simplex
    method is enough. Bland's rule (lowest index enters and leaves) rules out cycling.
    Returns (best value, x), or None when the objective is unbounded.
    """
    n, m = len(objective), len(rows)
    if any(b < 0 for b in bounds):
        raise ValueError("bounds must be non-negative")
    # the tableau: one row per constraint with a slack variable each, right-hand side last
    table = [
        [Fraction(v) for v in row]
        + [Fraction(int(i == k)) for k in range(m)]
        + [Fraction(bounds[i])]
        for i, row in enumerate(rows)
    ]
    basis = [n + i for i in range(m)]
    cost = [-Fraction(v) for v in objective] + [Fraction(0)] * (m + 1)
    while True:
        enter = next((j for j in range(n + m) if cost[j] < 0), None)
        if enter is None:
            break
        leave: int | None = None
        best: Fraction | None = None
        for i in range(m):
            if table[i][enter] > 0:
                ratio = table[i][-1] / table[i][enter]
                if best is None or ratio < best or (ratio == best and basis[i] < basis[leave or 0]):
                    best, leave = ratio, i
        if leave is None:
            return None
        _pivot(table, cost, leave, enter)
        basis[leave] = enter
    x = [Fraction(0)] * n
    for i, var in enumerate(basis):
        if var < n:
            x[var] = table[i][-1]
    return cost[-1], x


def _pivot(table: list[list[Fraction]], cost: list[Fraction], r: int, c: int) -> None:
    pivot = table[r][c]
    table[r] = [v / pivot for v in table[r]]
    for i, row in enumerate(table):
        if i != r and row[c] != 0:
            factor = row[c]
            table[i] = [a - factor * b for a, b in zip(row, table[r], strict=True)]
    if cost[c] != 0:
        factor = cost[c]
        cost[:] = [a - factor * b for a, b in zip(cost, table[r], strict=True)]
