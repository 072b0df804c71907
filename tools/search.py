"""Dynamic search: play the compiled pack on a simulated clock until something breaks.

"Breaks" means an `invariant` no longer holds, or a resource passes a bound given
on the command line (`--bound coins=10000`). First breadth-first over short
sequences (actions and waits), then random walks from a fixed seed, guided towards
the resources that the invariants and bounds watch. The shortest breaking sequence
found is shrunk (steps dropped while it still breaks) and returned; draws are pinned
(`draws N`) so the sequence replays exactly.

A wait jumps the clock to the next moment something changes (`Events`): a slot's time
comes (a crop is ready), a cooldown ends, a meter gains a point or fills up, a limit
that is used up starts a new window, a new day starts. So a crop that takes three days
is one wait away, as a meter ticking every minute is; the breadth-first search also
tries a few fixed waits.
"""

from __future__ import annotations

import json
import random
import time
from collections import deque
from dataclasses import dataclass

from rulesc.compiler import ir
from rulesc.runtime import engine, rt
from rulesc.runtime.pack import Pack

from .economy import int_values
from .replay import Do, Player, Step, Wait, pool_value

WAITS = (60_000, 600_000, 3_600_000, 86_400_000)  # 1m, 10m, 1h, 1d
SEED = 20_260_105
WALK_LENGTH = 60
MAX_BFS_STATES = 20_000
SAMPLE = 24  # moves tried at each step of a walk
MORE_WALKS = 30


@dataclass(frozen=True)
class Bound:
    pool: str  # `coins`, `seed[wheat]`, or `seed` for any of its rows
    limit: int

    def broken(self, view: dict) -> tuple[str, int] | None:
        """The place past the bound and its value, if any."""
        name, _, key = self.pool.partition("[")
        value = view.get(name)
        if isinstance(value, dict) and not key:
            over = sorted((k, v) for k, v in value.items() if v > self.limit)
            return (f"{name}[{over[0][0]}]", over[0][1]) if over else None
        v = pool_value(view, self.pool)
        return (self.pool, v) if v > self.limit else None


class Events:
    """When, after `now`, something in a player's state changes without an action."""

    def __init__(self, game: ir.Game) -> None:
        self.day_start_ms = game.day_start_minutes * 60_000
        self.meters = {r.name: (r.max, *r.regen) for r in game.resources if r.regen}
        self.times = {  # slots -> the fields that hold a time
            s.name: [f.name for f in s.fields if f.type.kind == "time"] for s in game.slots
        }
        bodies = [a.body for a in game.actions] + [h.body for h in game.hooks]
        self.limits = {
            n.key: n for body in bodies for n in ir.walk_statements(body) if isinstance(n, ir.Limit)
        }

    def upcoming(self, state: dict, now: int) -> list[int]:
        """The moments after `now` something changes, soonest first (a new day at least)."""
        out = {rt.window_start("day", rt.DAY_MS, now, self.day_start_ms) + rt.DAY_MS}
        for slots, fields in self.times.items():
            for slot in state.get(slots) or []:
                out |= {slot[f] for f in fields if slot and isinstance(slot.get(f), int)}
        out |= set(state.get("_cooldowns", {}).values())
        for name, (top, amount, every) in self.meters.items():
            value, since = state.get(name), state.get("_meters", {}).get(name)
            if not (isinstance(value, int) and isinstance(since, int)) or top is None:
                continue
            ticks = max(0, (now - since) // every)  # the state may be from before `now`
            if value + ticks * amount < top:
                out.add(since + (ticks + 1) * every)  # its next point
                out.add(since + -(-(top - value) // amount) * every)  # full
        for slot, (start, used) in state.get("_limits", {}).items():
            limit = self.limits.get(slot.split(":", 1)[0])
            if limit is not None and used >= limit.count:  # used up: its next window
                out.add(start + rt.window_length(limit.period, limit.period_ms))
        return sorted(t for t in out if t > now)


@dataclass(frozen=True)
class Break:
    steps: tuple[Step, ...]
    what: str  # "invariant" or "bound"
    detail: str  # the invariant's message, or "coins 1200 > 1000"
    place: str | None  # the place past its bound
    value: int | None


def moves(game: ir.Game) -> list[Do]:
    """Every action with representative parameters (all slot numbers, all rows, pinned draws)."""
    out = []
    tables = {t.name: [r for r, _ in t.rows] for t in game.tables}
    for a in game.actions:
        if any(p.type.kind == "player" for p in a.params):
            continue  # the search plays one player: actions on others are not its moves
        options: list[list[tuple[str, object]]] = []
        for p in a.params:
            kind = p.type.kind
            if kind == "enum":
                values: list = tables[p.type.name or ""]
            elif kind == "bool":
                values = [False, True]
            elif kind == "slot_index":
                values = list(range((p.lo or 0), (p.hi or 0) + 1))
            else:
                every = int_values(a, p)
                values = (
                    every if len(every) <= 6 else every[:4] + every[-2:]
                )  # small amounts, and the largest
            options.append([(p.name, v) for v in values])
        picks = [len(n.branches) for n in ir.nodes(a.body) if isinstance(n, ir.Pick)]
        pins: list[int | None] = list(range(1, min(picks) + 1)) if picks else [None]
        order = tuple(p.name for p in a.params)
        for combo in _product(options):
            for pin in pins:
                out.append(Do(a.name, tuple(combo), (), pin, order))
    return out


def _product(options: list[list]) -> list[list]:
    out: list[list] = [[]]
    for opts in options:
        out = [prefix + [o] for prefix in out for o in opts]
    return out


class Search:
    def __init__(
        self,
        pack: Pack,
        game: ir.Game,
        bounds: list[Bound],
        depth: int,
        start: int | None = None,
    ) -> None:
        self.pack = pack
        self.start = (
            start  # where the clock starts (a scheduled event's run), else the scenarios' start
        )
        self.bounds = bounds
        self.depth = depth
        self.moves = moves(game)
        self.events = Events(game)
        watched = {
            n.resource
            for n in ir.nodes(tuple(i.cond for i in game.invariants))
            if isinstance(n, ir.ResourceRead)
        }
        watched |= {b.pool.partition("[")[0] for b in bounds}
        self.weights = {name: 1000.0**-d for name, d in upstream(game, watched).items()}
        self.has_invariants = bool(game.invariants)

    def player(self) -> Player:
        return Player(self.pack, "explore", self.start)

    def broken(self, view: dict, state: dict) -> Break | None:
        problems = engine.check_invariants(self.pack, state) if self.has_invariants else []
        if problems:
            return Break((), "invariant", problems[0], None, None)
        for b in self.bounds:
            hit = b.broken(view)
            if hit:
                return Break(
                    (),
                    "bound",
                    f"{hit[0]} reached {hit[1]}, past the bound of {b.limit}",
                    hit[0],
                    hit[1],
                )
        return None

    def replay(self, steps: tuple[Step, ...]) -> Break | None:
        """Play steps from a new player; the first break, with the steps up to it."""
        player = self.player()
        for i, step in enumerate(steps):
            if isinstance(step, Wait):
                player.wait(step.ms)
            else:
                outcome, _ = player.do(step)
                if not outcome.ok:
                    continue  # a step that no longer applies after shrinking is skipped
            hit = self.broken(player.view(), player.state)
            if hit:
                return Break(steps[: i + 1], hit.what, hit.detail, hit.place, hit.value)
        return None

    def run(self, deadline: float) -> Break | None:
        if not self.has_invariants and not self.bounds:
            return None  # nothing to break
        found = self.breadth_first(time.monotonic() + (deadline - time.monotonic()) / 2)
        if found is None:
            found = self.walks(deadline)
        return self.shrink(found, deadline) if found else None

    def breadth_first(self, deadline: float) -> Break | None:
        start = self.player()
        queue: deque[tuple[Player, tuple[Step, ...]]] = deque([(start, ())])
        seen = {self._key(start)}
        while queue and time.monotonic() < deadline:
            player, path = queue.popleft()
            if len(path) >= self.depth:
                continue
            steps: list[Step] = [*self.moves, *self.waits(player)]
            for step in steps:
                nxt = _copy(player)
                if isinstance(step, Wait):
                    nxt.wait(step.ms)
                elif not nxt.do(step)[0].ok:
                    continue
                key = self._key(nxt)
                if key in seen:
                    continue
                seen.add(key)
                hit = self.broken(nxt.view(), nxt.state)
                if hit:
                    return Break((*path, step), hit.what, hit.detail, hit.place, hit.value)
                if len(seen) < MAX_BFS_STATES:
                    queue.append((nxt, (*path, step)))
        return None

    def walks(self, deadline: float) -> Break | None:
        rng = random.Random(SEED)
        best: Break | None = None
        after = 0  # walks since the first find: a fixed number more, looking for a shorter one
        while time.monotonic() < deadline and after < MORE_WALKS:
            after += best is not None
            player = self.player()
            path: list[Step] = []
            for _ in range(WALK_LENGTH):
                if time.monotonic() > deadline:
                    break
                step = self.walk_step(player, rng)
                path.append(step)
                hit = self.broken(player.view(), player.state)
                if hit:
                    if best is None or len(path) < len(best.steps):
                        best = Break(tuple(path), hit.what, hit.detail, hit.place, hit.value)
                    break
        return best

    def waits(self, player: Player) -> list[Wait]:
        """Waits to the moments something changes, and the fixed ones (breadth-first)."""
        events = [Wait(t - player.now) for t in self.events.upcoming(player.state, player.now)]
        return list(dict.fromkeys([*events, *(Wait(ms) for ms in WAITS)]))

    def wait_step(self, player: Player, rng: random.Random) -> Wait:
        """A wait to one of the next moments something changes, at random."""
        wait = Wait(rng.choice(self.events.upcoming(player.state, player.now)) - player.now)
        player.wait(wait.ms)
        return wait

    def walk_step(self, player: Player, rng: random.Random) -> Step:
        """Mostly the move that grows the watched resources most; sometimes any move, or a wait."""
        if rng.random() < 0.15:
            return self.wait_step(player, rng)
        tried = []
        for step in rng.sample(self.moves, min(SAMPLE, len(self.moves))):
            nxt = _copy(player)
            if nxt.do(step)[0].ok:
                tried.append((self._score(nxt.view()), step, nxt))
        if not tried:
            return self.wait_step(player, rng)
        pick = max(tried, key=lambda t: t[0]) if rng.random() < 0.7 else rng.choice(tried)
        _, step, nxt = pick
        player.__dict__.update(nxt.__dict__)
        return step

    def _score(self, view: dict) -> float:
        """Watched resources first, then what feeds them, then what feeds that (weights 1, 1/1000, ...)."""
        total = 0.0
        for name, weight in self.weights.items():
            v = view.get(name)
            if isinstance(v, dict):
                amount = sum(v.values())
            elif isinstance(v, list):
                amount = sum(x is not None for x in v)  # filled slots
            else:
                amount = v if isinstance(v, int) else 0
            total += weight * amount
        return total

    def shrink(self, found: Break, deadline: float) -> Break:
        """Drop steps one at a time while the sequence still breaks; then keep only steps that mattered."""
        best = found
        changed = True
        while changed and time.monotonic() < deadline + 2.0:
            changed = False
            for i in range(len(best.steps)):
                trial = best.steps[:i] + best.steps[i + 1 :]
                hit = self.replay(trial)
                if hit is not None and len(hit.steps) < len(best.steps):
                    best, changed = hit, True
                    break
        return self._clean(self._shorter_waits(best))

    def _shorter_waits(self, found: Break) -> Break:
        """Wait no longer than needed: each wait becomes the shortest of WAITS that still breaks."""
        best = found
        for i, step in enumerate(best.steps):
            if not isinstance(step, Wait):
                continue
            for ms in sorted(w for w in WAITS if w < step.ms):
                hit = self.replay(best.steps[:i] + (Wait(ms),) + best.steps[i + 1 :])
                if hit is not None and len(hit.steps) <= len(best.steps):
                    best = hit
                    break
        return best

    def _clean(self, found: Break) -> Break:
        """Leave out steps the engine rejects (they change nothing), so the scenario reads cleanly."""
        player = self.player()
        kept: list[Step] = []
        for step in found.steps:
            if isinstance(step, Wait):
                player.wait(step.ms)
                if kept and isinstance(kept[-1], Wait):
                    kept[-1] = Wait(kept[-1].ms + step.ms)
                else:
                    kept.append(step)
            elif player.do(step)[0].ok:
                kept.append(step)
        hit = self.replay(tuple(kept))
        return hit if hit is not None else found

    @staticmethod
    def _key(player: Player) -> str:
        return json.dumps([player.state, player.now], sort_keys=True, default=str)


def busy_refusals(
    pack: Pack,
    game: ir.Game,
    actions: set[str],
    given: dict[str, int],
    depth: int,
    deadline: float,
    at: int | None = None,
) -> dict[str, tuple[tuple[Step, ...], str]]:
    """For each of `actions` that it can find, the shortest sequence (breadth-first, at most
    `depth` steps) whose last step is that action refused for a busy slot (`slot_busy`), and
    the message the server gave; the clock starts `at`, else at the scenarios' start."""
    every = moves(game)
    start = Player(pack, "explore", at)
    start.give(given)
    found: dict[str, tuple[tuple[Step, ...], str]] = {}
    queue: deque[tuple[Player, tuple[Step, ...]]] = deque([(start, ())])
    seen = {Search._key(start)}
    while queue and time.monotonic() < deadline and len(found) < len(actions):
        player, path = queue.popleft()
        for step in every:
            nxt = _copy(player)
            outcome, _ = nxt.do(step)
            if not outcome.ok:
                error = outcome.error or {}
                if (
                    error.get("code") == "slot_busy"
                    and step.action in actions
                    and step.action not in found
                ):
                    found[step.action] = ((*path, step), str(error.get("message")))
                continue
            key = Search._key(nxt)
            if len(path) + 2 <= depth and key not in seen and len(seen) < MAX_BFS_STATES:
                seen.add(key)
                queue.append((nxt, (*path, step)))
    return found


def upstream(game: ir.Game, watched: set[str]) -> dict[str, int]:
    """How many actions away each resource or slot is from feeding a watched resource.

    Seeds feed a planted field, which feeds harvested xp: to grow xp, a walk holding
    more seeds or more planted fields is on its way.
    """
    flows = []
    for a in game.actions:
        ins, outs = set(), set()
        for s in ir.walk_statements(a.body):
            s_ins, s_outs = _FLOW.visit(s)
            ins |= s_ins
            outs |= s_outs
        ins |= {n.slots for n in ir.nodes(a.body) if isinstance(n, ir.IsFilled | ir.SlotFieldRead)}
        flows.append((ins, outs))
    dist = dict.fromkeys(sorted(watched), 0)
    frontier = set(watched)
    d = 0
    while frontier:
        d += 1
        feeding = {i for ins, outs in flows if outs & frontier for i in ins} - set(dist)
        dist.update(dict.fromkeys(sorted(feeding), d))
        frontier = feeding
    return dist


class _Flow(ir.StatementVisitor[tuple[set[str], set[str]]]):
    """What a statement takes in and puts out, for `upstream`: (ins, outs)."""

    def visit_Cost(self, s: ir.Cost) -> tuple[set[str], set[str]]:
        return {x.resource for x in s.amounts}, set()

    def visit_Gain(self, s: ir.Gain) -> tuple[set[str], set[str]]:
        return set(), {x.resource for x in s.amounts}

    def visit_SetResource(self, s: ir.SetResource) -> tuple[set[str], set[str]]:
        return set(), {s.resource}

    def visit_Fill(self, s: ir.Fill | ir.SetSlotField) -> tuple[set[str], set[str]]:
        return set(), {s.slots}

    visit_SetSlotField = visit_Fill

    def visit_Empty(self, s: ir.Empty) -> tuple[set[str], set[str]]:
        return {s.slots}, set()

    def visit_Require(self, s: ir.Stmt) -> tuple[set[str], set[str]]:
        # nothing of this player's own pools flows here (blocks: their statements are walked
        # on their own; a loot draw, a give and a take are not followed by the search)
        return set(), set()

    visit_Let = visit_Limit = visit_Cooldown = visit_Emit = visit_When = visit_Pick = visit_Require
    visit_Give = visit_Take = visit_GainLoot = visit_Require


_FLOW = _Flow()


def _copy(player: Player) -> Player:
    out = Player.__new__(Player)
    out.__dict__.update(player.__dict__)
    return out
