"""Write a farming game with N crops and a bot per crop, for timing `rulesc simulate`.

    python bench/gen_farm.py 46 /tmp/farm     # writes game.rules, crops.csv, bots/crops.rules

The shape of the issue-16 report: each bot farms one crop (buys its seeds, plants them
in eight plots, harvests, sells), crops take from minutes to three days to grow, a few
drop a rare gem (`pick one`), and a daily gift and a market limited per day keep the
calendar in play. The output checks clean and is the same for the same N.
"""

from __future__ import annotations

import sys
from pathlib import Path

GAME = """\
game farm "Forty-Six Crops"
day starts 04:00 UTC

currency coins start 300
currency gems start 5 max 9_999
meter energy start 40 max 40 regen 1 every 4m
stat xp
level from xp at 0, 50, 200, 800, 3000

table crop from "crops.csv"
  columns seed_cost: int, grow: duration, yield: int, sell: int, xp: int

item seed of crop max 999
item produce of crop max 9_999

slots plot 8
  crop: crop
  ready_at: time

action buy_seed(kind: crop, qty: int 1..50)
  cost coins crop[kind].seed_cost * qty
  gain seed[kind] qty

action plant(slot: plot, kind: crop)
  require plot[slot] is empty else "That plot is busy"
  cost energy 1, seed[kind] 1
  fill plot[slot] with crop = kind, ready_at = now + crop[kind].grow

action harvest(slot: plot)
  require plot[slot] is filled else "Nothing is planted there"
  require now >= plot[slot].ready_at else "Ready in {plot[slot].ready_at - now}"
  let kind = plot[slot].crop
  gain produce[kind] crop[kind].yield, xp crop[kind].xp
  empty plot[slot]
  pick one
    95: gain coins 0
    5: gain gems 1

action sell(kind: crop, qty: int 1..9_999)
  cost produce[kind] qty
  gain coins crop[kind].sell * qty

action market(kind: crop)
  limit 2 per day per kind
  cost produce[kind] 5
  gain coins crop[kind].sell * 6

action daily_gift
  limit 1 per day
  gain coins 20

invariant coins <= 1_000_000_000
"""

GROW = ["5m", "20m", "1h", "4h", "12h", "1d", "2d", "3d"]


def crops(n: int) -> list[tuple[str, int, str, int, int, int]]:
    """(name, seed cost, grow, yield, sell, xp): longer crops sell for more."""
    out = []
    for i in range(n):
        grow = GROW[i % len(GROW)]
        tier = i % len(GROW) + 1
        out.append((f"crop{i:02d}", 2 * tier, grow, 1 + i % 3, 3 * tier * tier, tier))
    return out


def bot(name: str) -> str:
    return (
        f'bot {name} "Farms {name} only"\n'
        "  sessions 4 per day\n"
        "  actions 15 per session\n"
        "  try daily_gift\n"
        "  try harvest(slot: any)\n"
        f"  try market(kind: {name}) when produce[{name}] >= 5\n"
        f"  try sell(kind: {name}, qty: produce[{name}]) when produce[{name}] > 10\n"
        f"  try plant(slot: any, kind: {name})\n"
        f"  try buy_seed(kind: {name}, qty: 8) when seed[{name}] < 2 and coins >= 100\n"
    )


def write_game(n_crops: int, out: Path | str) -> Path:
    out = Path(out)
    (out / "bots").mkdir(parents=True, exist_ok=True)
    (out / "game.rules").write_text(GAME, encoding="utf-8")
    rows = ["name,seed_cost,grow,yield,sell,xp"]
    rows += [",".join(str(v) for v in c) for c in crops(n_crops)]
    (out / "crops.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    bots = "\n".join(bot(c[0]) for c in crops(n_crops))
    (out / "bots" / "crops.rules").write_text(bots, encoding="utf-8")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/gen_farm.py N_CROPS OUT_DIR")
    print(write_game(int(sys.argv[1]), sys.argv[2]))
