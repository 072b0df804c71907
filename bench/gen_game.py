"""Write a synthetic but realistic game with N actions, for timing the compiler.

    python bench/gen_game.py 1000 /tmp/big_game     # writes economy.rules and actions.rules

The declarations are a small economy (currencies, a meter, a stat with levels, two
tables, keyed and plain items, two kinds of slots); the actions cycle through ten
shapes a designer writes all the time, each using a different mix of require / cost /
gain / when / limit / cooldown / pick / fill / set / empty / let / emit, with names and
numbers varied per action. Every action sits in one file on purpose: a file with
thousands of lines is the hard case for anything that scales with file length.

The output checks clean (no errors, no warnings) and is the same for the same N.
"""

from __future__ import annotations

import sys
from pathlib import Path

ECONOMY = """\
game synth "Synthetic Bench Game"
day starts 03:00 UTC

currency coins start 500
currency gems start 20 max 99_999
meter energy start 50 max 50 regen 1 every 2m
stat xp
stat renown
level from xp at 0, 100, 300, 700, 1500, 3000

table ore
  columns price: int, smelt: duration, value: int, xp: int, unlock: int
  copper:  4,  1m,   9, 1, 1
  iron:    9,  5m,  22, 2, 2
  silver: 20, 20m,  55, 4, 3
  gold:   45,  1h, 130, 9, 5

table dish
  columns cook: duration, regrow: duration, serves: int, price: int, xp: int
  soup:    2m,  0s, 2, 12, 1
  stew:   10m,  5m, 3, 30, 3
  pie:    45m,  0s, 6, 95, 8
  feast:   2h, 30m, 9, 260, 20

item raw of ore max 9_999
item bar of ore max 9_999
item meal of dish max 999
item ingredient of dish
item tool
item ticket max 50

slots furnace 4
  ore: ore
  ready_at: time

slots kitchen 3
  dish: dish
  ready_at: time

invariant coins <= 1_000_000_000
invariant gems <= 99_999
"""


def _action(i: int) -> str:
    """Action number i: one of ten shapes, its numbers varied by i."""
    n = i // 10  # how many times this shape came round: varies the numbers
    shape = i % 10
    a, b, c = 1 + n % 7, 2 + n % 5, 3 + n % 11
    if shape == 0:  # a shop with a level gate and a computed price
        return f"""\
action buy_raw_{i}(kind: ore, qty: int 1..{50 + n % 50})
  require level >= ore[kind].unlock else "{{kind}} is sold from level {{ore[kind].unlock}}"
  cost coins ore[kind].price * qty + {a}
  gain raw[kind] qty
"""
    if shape == 1:  # start a timer in a slot
        return f"""\
action smelt_{i}(slot: furnace, kind: ore)
  require furnace[slot] is empty else "That furnace is busy"
  cost energy {a}, raw[kind] {b}
  fill furnace[slot] with ore = kind, ready_at = now + ore[kind].smelt + {a}m
"""
    if shape == 2:  # collect from a slot when ready
        return f"""\
action collect_{i}(slot: furnace)
  require furnace[slot] is filled else "Nothing is smelting there"
  require now >= furnace[slot].ready_at else "Ready in {{furnace[slot].ready_at - now}}"
  let kind = furnace[slot].ore
  gain bar[kind] {a}, xp ore[kind].xp * {b}
  empty furnace[slot]
"""
    if shape == 3:  # sell with a branch on level
        return f"""\
action sell_{i}(kind: ore, qty: int 1..{100 + n})
  cost bar[kind] qty
  when level >= {1 + n % 5}
    gain coins ore[kind].value * qty + {c}
  otherwise
    gain coins ore[kind].value * qty
"""
    if shape == 4:  # cook, with a cooldown per slot
        return f"""\
action cook_{i}(slot: kitchen, kind: dish)
  cooldown {5 + n % 30}m per slot
  require kitchen[slot] is empty else "The stove is taken"
  require level >= {1 + n % 3}
  cost energy {a}, ingredient[kind] {b}, coins {c}
  fill kitchen[slot] with dish = kind, ready_at = now + dish[kind].cook
"""
    if shape == 5:  # serve: regrow or empty
        return f"""\
action serve_{i}(slot: kitchen)
  require kitchen[slot] is filled else "Nothing is cooking"
  require now >= kitchen[slot].ready_at else "Ready in {{kitchen[slot].ready_at - now}}"
  let kind = kitchen[slot].dish
  gain meal[kind] dish[kind].serves, xp dish[kind].xp + {a}
  when dish[kind].regrow > 0s
    set kitchen[slot].ready_at = now + dish[kind].regrow
  otherwise
    empty kitchen[slot]
  emit served_{i}(kind: kind)
"""
    if shape == 6:  # a daily quest, limited per kind
        return f"""\
action quest_{i}(kind: dish)
  limit {1 + n % 3} per day per kind
  cost meal[kind] {a}
  let reward = dish[kind].price * {a} + {c * 10}
  gain coins reward, renown {b}, ingredient[kind] {a}
  emit quest_done_{i}(kind: kind, coins: reward)
"""
    if shape == 7:  # a weighted crate
        return f"""\
action crate_{i}
  cost gems {a}, ticket 1
  pick one
    {50 + n % 40}: gain coins {100 + c * 10}
    {25 + n % 10}: gain tool {a}, ticket 1
    {5 + n % 5}: gain gems {b * 5}
"""
    if shape == 8:  # spend a tool to hurry a slot, with a computed gem price
        return f"""\
action hurry_{i}(slot: furnace)
  require furnace[slot] is filled and now < furnace[slot].ready_at
  cost gems ceil((furnace[slot].ready_at - now) / {5 + n % 10}m), tool 1
  set furnace[slot].ready_at = max(now, furnace[slot].ready_at - {c}m)
"""
    # shape 9: a periodic reward that sets a counter, limited per week or per span
    period = "week" if n % 2 else f"{4 + n % 8}h"
    return f"""\
action bonus_{i}
  limit 1 per {period}
  require renown >= {n % 4}
  let extra = min(renown, {a * 10}) / {b}
  gain gems {a} + extra, ticket {1 + n % 3}
  set renown = renown - min(renown, {a})
"""


def write_game(n_actions: int, out: Path | str) -> Path:
    """Write the game folder for `n_actions` actions and return it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "economy.rules").write_text(ECONOMY, encoding="utf-8")
    text = "# generated by bench/gen_game.py\n\n" + "\n".join(_action(i) for i in range(n_actions))
    (out / "actions.rules").write_text(text, encoding="utf-8")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/gen_game.py N_ACTIONS OUT_DIR")
    print(write_game(int(sys.argv[1]), sys.argv[2]))
