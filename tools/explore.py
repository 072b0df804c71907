"""`rulesc explore`: find exploits in a game and report each as a scenario that reproduces it.

Four searches, on the typed IR and the compiled pack only:
- static loops (loops.py over the flow model of economy.py),
- dodged limits (dodges.py),
- busy slots: a `fill` that nothing shows is empty (slotfill.py), played on the pack until
  the server refuses it with `slot_busy` and no message of the rules (search.py),
- a dynamic search on the pack for broken invariants and `--bound`s (search.py).

Scheduled events change table cells and limits while they run: the static loops, dodged
limits and the dynamic search run again for each set of events that can run at once
(events.py), on the game as it reads while they run and on the pack from a moment they
run. What they find that the game without events does not have is reported with the set
it needs ("only while harvest_festival runs"); its scenario first waits until that moment.

Nothing is reported on the model's word alone: every loop and dodge is played on
the pack (replay.py), written as a scenario, compiled with the game and run by the
scenario runner. Loops that do not reproduce are listed as unconfirmed, not found.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rulesc.compiler import ir
from rulesc.compiler.build import BuildResult, write_pack
from rulesc.compiler.irtext import statement_text, text, value_text
from rulesc.compiler.slotfill import unguarded_fills
from rulesc.runtime.pack import Pack, load_pack

from .dodges import Dodge, find_dodges
from .economy import Case, Model, build_model
from .events import (
    EventSet,
    and_words,
    by_resource,
    changes,
    during,
    event_sets,
    only_while,
    override_words,
    quiet_moment,
)
from .loops import Loop, find_loops, schedule
from .replay import Do, Played, Step, Wait, call_text, confirm, play, pool_value, scenario_text
from .search import Bound, Break, Search, busy_refusals

JSON_FORMAT_VERSION = 1
TRIES_PER_LOOP_GROUP = 3  # variants of one loop replayed before giving up on it
MAX_REPLAY_STEPS = 60


@dataclass
class Options:
    depth: int = 4
    budget: float = 10.0  # seconds, for the whole exploration
    bounds: list[Bound] = field(default_factory=list)
    # told the name of each stage as it starts (a progress display)
    on_stage: Callable[[str], None] = field(default=lambda _stage: None, repr=False)


@dataclass
class Finding:
    kind: str  # loop, dodged_limit, shared_reward, busy_slot, invariant, bound
    summary: str
    details: list[str]
    actions: list[str]
    net: dict[str, int]  # what the scenario gains (per turn, for loops)
    scenario: str | None = None
    title: str | None = None
    verified: bool = False
    loop: Loop | None = field(default=None, repr=False)
    events: list[str] = field(default_factory=list)  # the events it needs running, if any

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "events": self.events,
            "summary": self.summary,
            "details": self.details,
            "actions": self.actions,
            "net": self.net,
            "verified": self.verified,
            "title": self.title,
            "scenario": self.scenario,
            "loop": [{"call": c.call, "times": n} for c, n in self.loop.steps]
            if self.loop
            else None,
        }


@dataclass
class Report:
    game: str
    findings: list[Finding]
    unconfirmed: list[str]  # static loops that did not reproduce on the pack, and why
    skipped: list[str]  # action cases the static model left out, and why
    stats: dict[str, int | bool]
    watched: list[str] = field(default_factory=list)  # what the dynamic search tried to break
    # per set of events searched: what they set, and what that changes in the static model
    events: list[dict] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_json(self) -> dict:
        return {
            "format_version": JSON_FORMAT_VERSION,
            "game": self.game,
            "clean": self.clean,
            "findings": [f.to_json() for f in self.findings],
            "unconfirmed": self.unconfirmed,
            "skipped": self.skipped,
            "stats": self.stats,
            "watched": self.watched,
            "events": self.events,
        }


def parse_bound(text: str) -> Bound:
    """`coins=10000` or `seed[wheat]=50`; a keyed item without a key bounds every row."""
    name, sep, limit = text.partition("=")
    if not sep or not limit.strip().replace("_", "").isdigit():
        raise ValueError(f"--bound takes RESOURCE=NUMBER, such as coins=10000, not {text!r}")
    return Bound(name.strip(), int(limit.strip().replace("_", "")))


def _pair_keys(key: ir.Expr | None, rows: dict, r: ir.Resource) -> list[str]:
    """The pools of an item of two tables a cost may name: `wheat, gold`, as the rules
    label it (every pair when its keys are not literal rows)."""
    if (
        isinstance(key, ir.KeyPair)
        and isinstance(key.first, ir.Const)
        and isinstance(key.second, ir.Const)
    ):
        return [f"{key.first.value}, {key.second.value}"]
    return [f"{a}, {b}" for a in rows[r.key] for b in rows[r.key2]]


def check_bounds(game: ir.Game, bounds: list[Bound]) -> None:
    resources = {r.name: r for r in game.resources}
    tables = {t.name: [row for row, _ in t.rows] for t in game.tables}
    for b in bounds:
        name, _, key = b.pool.partition("[")
        if name not in resources:
            raise ValueError(
                f"--bound {b.pool}: no resource `{name}` (resources: {', '.join(sorted(resources))})"
            )
        row_table = resources[name].key
        if key and (row_table is None or key.rstrip("]") not in tables[row_table]):
            raise ValueError(f"--bound {b.pool}: `{name}` has no row `{key.rstrip(']')}`")


def explore(result: BuildResult, options: Options) -> Report:
    assert result.game is not None and result.files is not None
    game = result.game
    check_bounds(game, options.bounds)
    start = time.monotonic()
    sets, left_out = event_sets(game)
    quiet = quiet_moment(game)
    # the game as declared gets the whole budget, or half of it when events share the rest
    deadline = start + (options.budget / 2 if sets else options.budget)
    with tempfile.TemporaryDirectory(prefix="rulesc-explore-") as tmp:
        pack = load_pack(write_pack(result.files, Path(tmp) / game.id))
        model = build_model(game)
        explorer = _Explorer(game, model, pack, options, quiet)
        options.on_stage("static loops and dodged limits")
        explorer.static(
            deadline
        )  # small games finish in milliseconds; the deadline is a safety net
        options.on_stage("busy slots")
        explorer.busy_slots(time.monotonic() + (deadline - time.monotonic()) / 2)
        options.on_stage("dynamic search")
        explorer.dynamic(deadline)
        events = []
        for i, eset in enumerate(sets):
            options.on_stage(f"while {eset.words} {'runs' if len(eset.events) == 1 else 'run'}")
            left = start + options.budget - time.monotonic()
            until = time.monotonic() + max(left, 0.0) / (len(sets) - i)
            now = during(game, eset.events)
            sub = _Explorer(now, build_model(now), pack, options, eset)
            sub.static(until)
            sub.dynamic(until)
            explorer.take(sub)
            events.append(_event_set_json(game, eset, model, sub.model))
        options.on_stage("replaying what was found")
        explorer.confirm(result.sources.root)
    findings = explorer.findings
    return Report(
        game=game.id,
        findings=findings,
        unconfirmed=explorer.unconfirmed,
        skipped=model.skipped,
        stats={
            "cases": len(model.cases),
            "unbounded_cases": sum(1 for c in model.cases if not c.bounds),
            "loop_candidates": explorer.candidates,
            "static_search_complete": explorer.complete,
            "event_sets": len(sets),
            "event_sets_left_out": left_out,
        },
        watched=[f"invariant {text(i.cond)}" for i in game.invariants]
        + [f"{b.pool} <= {b.limit}" for b in options.bounds],
        events=events,
    )


def _event_set_json(game: ir.Game, eset: EventSet, usual: Model, now: Model) -> dict:
    return {
        **eset.to_json(),
        "sets": [override_words(game, o) for e in eset.events for o in e.overrides],
        "resources": by_resource(usual, now),
        "changes": changes(usual, now),
    }


def confirmed_loops(result: BuildResult, depth: int = 4, budget: float = 5.0) -> list[Loop]:
    """The loops `explore` reports (found statically, confirmed on the pack) in the game as
    declared, with no event running."""
    return [lp for lp, words in graph_loops(result, depth, budget, events=False) if not words]


def graph_loops(
    result: BuildResult, depth: int = 4, budget: float = 5.0, *, events: bool = True
) -> list[tuple[Loop, str | None]]:
    """For `rulesc graph`: the loops `explore` reports (found statically, confirmed on the
    pack), each with None, or with the words naming the events it needs running
    (`only while harvest_festival runs`)."""
    assert result.game is not None and result.files is not None
    game = result.game
    deadline = time.monotonic() + budget
    with tempfile.TemporaryDirectory(prefix="rulesc-explore-") as tmp:
        pack = load_pack(write_pack(result.files, Path(tmp) / game.id))
        options = Options(depth=depth, budget=budget)
        explorer = _Explorer(game, build_model(game), pack, options, quiet_moment(game))
        explorer.static(deadline, dodges=False)
        for eset in event_sets(game)[0] if events else []:
            now = during(game, eset.events)
            sub = _Explorer(now, build_model(now), pack, options, eset)
            sub.static(deadline, dodges=False)
            explorer.take(sub)
        explorer.confirm(result.sources.root)
    return [
        (f.loop, only_while(f.events) if f.events else None)
        for f in explorer.findings
        if f.loop is not None
    ]


class _Explorer:
    def __init__(
        self,
        game: ir.Game,
        model: Model,
        pack: Pack,
        options: Options,
        during: EventSet | None = None,
    ) -> None:
        self.game = game
        # the events running (the game and model are as they read then): None, or an empty
        # set where no event runs at the scenarios' start: the game as declared
        self.during = during if during and during.events else None
        self.start = during.moment if during else None  # where the clock starts, if moved
        self.first: tuple[str, ...] = ()  # the scenarios' first lines: into that moment
        if during is not None:
            said = "; ".join(f"{e.name} {e.when}" for e in during.events)
            why = f"{during.only_while} ({said})" if during.events else "while no event runs"
            self.first = (f"# {why}", during.wait_line)
        self.model = model
        self.pack = pack
        self.options = options
        self.findings: list[Finding] = []
        self.unconfirmed: list[str] = []
        self.candidates = 0
        self.complete = True  # the static search ran to the end
        self.params = {a.name: tuple(p.name for p in a.params) for a in game.actions}

    # -- static loops

    def static(self, deadline: float, *, dodges: bool = True) -> None:
        loops, self.complete = find_loops(self.model, self.options.depth, deadline)
        self.candidates = len(loops)
        groups: dict[tuple[str, ...], list[Loop]] = {}
        for loop in loops:
            groups.setdefault(tuple(sorted(loop.actions)), []).append(loop)
        for _, group in sorted(groups.items()):
            group.sort(
                key=lambda lp: (
                    lp.length,
                    -sum(v for _, v in lp.gained),
                    [c.ident for c, _ in lp.steps],
                )
            )
            self.loop_group(group)
        for dodge in find_dodges(self.model) if dodges else []:
            self.dodge(dodge)

    def loop_group(self, group: list[Loop]) -> None:
        why = ""
        for loop in group[:TRIES_PER_LOOP_GROUP]:
            order, needed = schedule(loop)
            if len(order) > MAX_REPLAY_STEPS:
                why = f"{len(order)} steps, too long to replay"
                continue
            given = {p: v for p, v in needed.items() if p not in self.model.tokens}
            played = None
            for g in self.givens(given):
                played = play(self.pack, "explore", g, [self.do(c) for c in order], self.start)
                # the loop starts once the setup (filling the slots it works with) is done
                base = (
                    played.marks[len(loop.setup) - 1] if loop.setup and played.ok else played.start
                )
                gained = _gain(base, played.end) if played.ok else None
                if gained:
                    self.findings.append(self.loop_finding(loop, g, played, base, gained, group))
                    return
            assert played is not None
            why = played.problem or "it gains nothing when played"
        first = group[0]
        self.unconfirmed.append(f"{_loop_words(first)}: {why}")

    def givens(self, given: dict[str, int]) -> list[dict[str, int]]:
        """What to give the player, tried in turn: exactly the loop's inputs; then plenty of
        each (for a `when coins >= 100`); each also at the top level (for a `require level`)."""
        maxima = {r.name: r.max for r in self.game.resources}
        cushion = max(1000, 10 * max(given.values(), default=0))
        plenty = {
            p: min(v + cushion, maxima[p.split("[")[0]] or v + cushion) if v else 0
            for p, v in given.items()
        }
        out = [given, plenty]
        if self.game.level is not None:
            stat, top = self.game.level.stat, self.game.level.thresholds[-1]
            out += [{**g, stat: max(g.get(stat, 0), top)} for g in (given, plenty)]
        return out

    def do(self, c: Case) -> Do:
        return Do(c.action, c.params, c.slot_params, c.pin, self.params[c.action])

    def loop_finding(
        self,
        loop: Loop,
        given: dict[str, int],
        played: Played,
        base: dict,
        gained: dict[str, int],
        group: list[Loop],
    ) -> Finding:
        gain = ", ".join(f"+{value_text(v)} {p}" for p, v in gained.items())
        calls = _loop_words(loop)
        title = f"explore: {' -> '.join(loop.actions)} gains {_amounts(gained)} a turn"
        meters = ", ".join(f"{m} refills {r}" for m, r in sorted(self.model.meters.items()))
        details = [
            f"the loop: {calls}"
            + (f" (after {', '.join(c.call for c in loop.setup)} once)" if loop.setup else ""),
            f"net gain per turn: {gain}",
            f"why nothing bounds it: {_and(loop.actions)} {_verbs(len(loop.actions) == 1)}"
            f"{f' ({meters})' if meters else ''} and {'waits' if len(loop.actions) == 1 else 'wait'} for no timer, "
            "so a player can repeat it as fast as the server answers",
        ]
        notes = sorted({n for c, _ in loop.steps for n in c.notes})
        choices = sorted({ch for c, _ in loop.steps for ch in c.choices})
        if choices:
            details.append("takes the branches: " + "; ".join(choices))
        if notes:
            details.append(
                "model approximations (the replay confirms the gain): " + "; ".join(notes)
            )
        details += self.paying_values(loop, group)
        comments = [
            f"found by rulesc explore: {calls} gains {gain} a turn;",
            "nothing limits how often it runs. Fix the economy and this scenario fails.",
        ]
        lines = played.lines
        if loop.setup:
            k = len(loop.setup)
            lines = [
                *lines[:k],
                "# set up once; the loop starts here",
                _expect_line(_changed(played.start, base, given)),
                *lines[k:],
            ]
        text = scenario_text(
            title, comments, given, lines, _changed(base, played.end, given), self.first
        )
        return Finding(
            "loop",
            f"{' -> '.join(loop.actions)} gains {gain} per turn",
            details,
            list(loop.actions),
            gained,
            text,
            title,
            loop=loop,
        )

    def paying_values(self, loop: Loop, group: list[Loop]) -> list[str]:
        """Where only some rows or amounts pay, say which: that is where the mistake is."""
        out = []
        for action in loop.actions:
            tried = [c for c in self.model.cases if c.action == action and not c.bounds]
            for name, _ in next(c for c, _ in loop.steps if c.action == action).params:
                every = list(dict.fromkeys(dict(c.params)[name] for c in tried))
                paying = {
                    dict(c.params)[name]
                    for lp in group
                    for same in lp.alike
                    for c in same
                    if c.action == action
                }
                if len(paying) < len(every):
                    out.append(
                        f"pays only with {action} {name} = {_values([v for v in every if v in paying])}"
                        f" (tried: {_values(every)})"
                    )
        if len(group) > 1:
            out.append(f"{len(group) - 1} other choices of parameters make the same loop")
        return out

    # -- dodged limits

    def dodge(self, dodge: Dodge) -> None:
        kind = "dodged_limit" if dodge.kind == "per_param" else "shared_reward"
        finding = Finding(kind, dodge.summary, [dodge.explanation], list(dodge.actions), {})
        self.findings.append(finding)
        if not dodge.steps:
            finding.details.append(
                "not replayed: the limit allows too many claims to show it in a short scenario"
            )
            return
        attempts = [
            (g, play(self.pack, "explore", g, list(dodge.steps), self.start))
            for g in self.givens(dict(dodge.given))
        ]
        g, played = next(((g, p) for g, p in attempts if p.ok), attempts[0])
        if not played.ok:
            finding.details.append(f"not replayed: {played.problem}")
            return
        finding.net = {
            p: pool_value(played.end, p) - pool_value(played.start, p)
            for p in _pools(played.start)
            if pool_value(played.end, p) > pool_value(played.start, p)
        }
        claims = len(dodge.steps)
        finding.title = (
            f"explore: {dodge.actions[0]} claimed {claims} times in one window"
            if dodge.kind == "per_param"
            else f"explore: {_and(dodge.actions)} pay the same reward"
        )
        comments = [
            f"found by rulesc explore: {dodge.summary}.",
            f"{claims} claims in one window, where the limits suggest {dodge.allowed}.",
        ]
        finding.scenario = scenario_text(
            finding.title,
            comments,
            g,
            played.lines,
            _changed(played.start, played.end, g),
            self.first,
        )

    # -- fills into a busy slot

    def busy_slots(self, deadline: float) -> None:
        """Each action whose `fill` may find its slot filled, played until the server refuses
        it: first as a new player, then holding plenty of what the actions cost."""
        fills = {a.name: unguarded_fills(a.body) for a in self.game.actions}
        fills = {name: f for name, f in fills.items() if f}
        if not fills:
            return
        found: dict[str, tuple[dict[str, int], tuple[Step, ...], str]] = {}
        for given in ({}, self.plenty_for(set(fills))):
            left = set(fills) - set(found)
            if not left:
                break
            for name, (steps, message) in busy_refusals(
                self.pack, self.game, left, given, self.options.depth, deadline, self.start
            ).items():
                found[name] = (given, steps, message)
        for name in sorted(fills):
            fill = fills[name][0]
            if name in found:
                self.findings.append(self.busy_finding(name, fill, *found[name]))
            else:
                self.unconfirmed.append(
                    f"{name}: `{statement_text(fill.loc)}` may find its slot filled, but no "
                    f"sequence of up to {self.options.depth} steps found fills it first"
                )

    def plenty_for(self, actions: set[str]) -> dict[str, int]:
        """1000 (or the max) of everything these actions cost, every row of a keyed item."""
        resources = {r.name: r for r in self.game.resources}
        rows = {t.name: [row for row, _ in t.rows] for t in self.game.tables}
        out: dict[str, int] = {}
        for a in self.game.actions:
            if a.name not in actions:
                continue
            for cost in (n for n in ir.nodes(a.body) if isinstance(n, ir.Cost)):
                for amount in cost.amounts:
                    r = resources[amount.resource]
                    keys = (
                        [None]
                        if r.key is None
                        else [amount.key.value]
                        if isinstance(amount.key, ir.Const)
                        else _pair_keys(amount.key, rows, r)
                        if r.key2 is not None
                        else rows[r.key]
                    )
                    for key in keys:
                        out[r.name if key is None else f"{r.name}[{key}]"] = min(
                            1000, r.max or 1000
                        )
        return dict(sorted(out.items()))

    def busy_finding(
        self,
        action: str,
        fill: ir.Fill,
        given: dict[str, int],
        steps: tuple[Step, ...],
        message: str,
    ) -> Finding:
        slot = f"{fill.slots}[{text(fill.index)}]"
        summary = f"{action} can be refused for a busy slot ({slot}) with no message of the rules"
        details = [
            f"`{statement_text(fill.loc)}` ({fill.loc.file}:{fill.loc.line}): nothing before it requires "
            f"`{slot} is empty`, so on a filled slot the player gets the server's words: "
            f'slot_busy, "{message}"',
            f'fix: `require {slot} is empty else "..."` above it, with a message for the player, '
            f"or `replace {slot} with ...` to overwrite on purpose",
        ]
        finding = Finding("busy_slot", summary, details, [action], {})
        last = steps[-1]
        assert isinstance(last, Do)
        played = play(self.pack, "explore", given, list(steps[:-1]), self.start)
        if not played.ok:
            details.append(f"not replayed: {played.problem}")
            return finding
        refused = call_text(last.action, last.arranged(dict(last.params)), last.pin)
        details.append(f"shortest sequence found: {_steps_words(steps)}")
        finding.title = f"explore: {action} is refused for a busy slot"
        comments = [
            f"found by rulesc explore: the last `{action}` fills {slot}, which is filled,",
            "so the server refuses it (slot_busy). Fix the rules and this scenario fails.",
        ]
        finding.scenario = scenario_text(
            finding.title,
            comments,
            given,
            [*played.lines, f"do {refused} fails slot_busy"],
            {},
            self.first,
        )
        return finding

    # -- dynamic search

    def dynamic(self, deadline: float) -> None:
        search = Search(self.pack, self.game, self.options.bounds, self.options.depth, self.start)
        found = search.run(deadline)
        if found is not None:
            self.findings.append(self.break_finding(found))

    def break_finding(self, found: Break) -> Finding:
        played = play(self.pack, "explore", {}, list(found.steps), self.start)
        actions = list(dict.fromkeys(s.action for s in found.steps if isinstance(s, Do)))
        steps = len(played.lines)
        if found.what == "invariant":
            title = (
                f"explore: {_count(steps, 'step')} break an invariant"
                if steps > 1
                else "explore: one step breaks an invariant"
            )
            comments = [
                f"found by rulesc explore: the last step breaks the invariant: {found.detail}.",
                "`rulesc test` fails on it until the rules keep the invariant.",
            ]
            text = scenario_text(title, comments, {}, played.lines, {}, self.first)
            return Finding(
                "invariant",
                f"{title.removeprefix('explore: ')}: {found.detail}",
                [f"shortest sequence found: {_steps_words(found.steps)}"],
                actions,
                {},
                text,
                title,
            )
        assert found.place is not None and found.value is not None
        title = f"explore: {found.place} passes its bound in {_count(steps, 'step')}"
        comments = [f"found by rulesc explore: {found.detail}."]
        if any(isinstance(s, Do) and s.pin is not None for s in found.steps):
            comments.append("`draws N` pins a draw: a lucky player; the server draws at random.")
        text = scenario_text(
            title, comments, {}, played.lines, {found.place: found.value}, self.first
        )
        return Finding(
            "bound",
            f"{found.detail} after {_count(steps, 'step')}",
            [f"shortest sequence found: {_steps_words(found.steps)}"],
            actions,
            {found.place: found.value},
            text,
            title,
        )

    # -- what a search while events run adds

    def take(self, sub: _Explorer) -> None:
        """The findings of `sub` (a search while a set of events runs) that this one (and the
        sets before) did not make, named with the events they need."""
        eset = sub.during
        assert eset is not None
        seen = {_same(f) for f in self.findings}
        for f in sub.findings:
            if _same(f) in seen:
                continue  # the game has it without these events (or with fewer of them)
            f.events = eset.names
            f.summary = f"{f.summary}, {eset.only_while}"
            f.details.insert(
                0,
                f"{eset.only_while}: "
                + "; ".join(
                    f"{e.name} ({e.when}) sets "
                    + ", ".join(override_words(self.game, o) for o in e.overrides)
                    for e in eset.events
                )
                + f"; the scenario first waits until {eset.wait_line.removeprefix('wait until ')}",
            )
            if f.title and f.scenario:
                new = f"{f.title}, {eset.only_while}"
                f.scenario = f.scenario.replace(f'scenario "{f.title}"', f'scenario "{new}"', 1)
                f.title = new
            self.findings.append(f)
        self.unconfirmed += [
            f"{u} ({eset.only_while})" for u in sub.unconfirmed if u not in self.unconfirmed
        ]
        self.complete = self.complete and sub.complete

    # -- the scenarios, run by the scenario runner itself

    def confirm(self, root: Path) -> None:
        titled = [f for f in self.findings if f.scenario and f.title]
        _unique_titles(titled)
        results, error = confirm(root, [f.scenario for f in titled if f.scenario])
        kept = []
        for f in self.findings:
            res = results.get(f.title or "")
            if f.scenario is None:
                kept.append(f)  # a static warning with nothing replayed
                continue
            if res is None:
                f.details.append(f"the scenario could not be checked: {error}")
                f.verified = False
            elif f.kind == "invariant":
                f.verified = res.failure is not None and any(
                    "invariant broken" in p for p in res.failure.problems
                )
            else:
                f.verified = res.passed
            if f.kind == "loop" and not f.verified:
                problems = "; ".join(res.failure.problems) if res and res.failure else error
                self.unconfirmed.append(f"{f.summary}: the scenario did not pass ({problems})")
                continue
            kept.append(f)
        order = {
            "loop": 0,
            "dodged_limit": 1,
            "shared_reward": 2,
            "busy_slot": 3,
            "invariant": 4,
            "bound": 5,
        }
        self.findings = sorted(kept, key=lambda f: (order[f.kind], len(f.events), f.summary))


# ---- words --------------------------------------------------------------------------------


def _same(f: Finding) -> tuple:
    """What makes two findings one: their kind, actions and (for a bound) the place."""
    place = next(iter(f.net), None) if f.kind == "bound" else None
    return (f.kind, tuple(sorted(f.actions)), place)


def _gain(before: dict, after: dict) -> dict[str, int] | None:
    """What rose, if nothing fell and something rose: the loop pays."""
    diffs = {p: pool_value(after, p) - pool_value(before, p) for p in _pools(before)}
    if any(d < 0 for d in diffs.values()) or not any(d > 0 for d in diffs.values()):
        return None
    return {p: d for p, d in diffs.items() if d > 0}


def _pools(view: dict) -> list[str]:
    """Every count in a view: `coins`, `seed[wheat]`, ..."""
    out: list[str] = []
    for name, value in sorted(view.items()):
        if name == "level":
            continue
        if isinstance(value, dict):
            for k, v in value.items():  # an item of two tables: `produce[wheat, gold]`
                pairs = v if isinstance(v, dict) else {}
                out.extend([f"{name}[{k}, {k2}]" for k2 in pairs] or [f"{name}[{k}]"])
        elif isinstance(value, int) and not isinstance(value, bool):
            out.append(name)
    return out


def _changed(before: dict, after: dict, given: dict[str, int]) -> dict[str, int]:
    """Expect every given place, and every place that moved."""
    out = {p: pool_value(after, p) for p in given}
    for p in _pools(before):
        if pool_value(after, p) != pool_value(before, p):
            out[p] = pool_value(after, p)
    return out


def _expect_line(values: dict[str, int]) -> str:
    return "expect " + ", ".join(f"{k} {value_text(v)}" for k, v in values.items())


def _verbs(one: bool) -> str:
    return (
        "has no limit or cooldown, spends no refilling meter"
        if one
        else "have no limit or cooldown, spend no refilling meter"
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _values(values: list) -> str:
    return ", ".join(value_text(v) for v in values)


def _amounts(amounts: dict[str, int]) -> str:
    return ", ".join(f"{value_text(v)} {p}" for p, v in amounts.items())


def _loop_words(loop: Loop) -> str:
    return ", ".join(c.call + (f" x{n}" if n > 1 else "") for c, n in loop.steps)


def _steps_words(steps: tuple[Step, ...]) -> str:
    words = []
    for s in steps:
        words.append(f"wait {value_text(s.ms, 'duration')}" if isinstance(s, Wait) else s.action)
    return ", ".join(words)


def _and(names: tuple[str, ...] | list[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _unique_titles(findings: list[Finding]) -> None:
    seen: dict[str, int] = {}
    for f in findings:
        assert f.title is not None and f.scenario is not None
        n = seen.get(f.title, 0) + 1
        seen[f.title] = n
        if n > 1:
            new = f"{f.title} ({n})"
            f.scenario = f.scenario.replace(f'scenario "{f.title}"', f'scenario "{new}"', 1)
            f.title = new


# ---- output -------------------------------------------------------------------------------------

_KIND_WORDS = {
    "loop": "loop",
    "dodged_limit": "dodged limit",
    "shared_reward": "shared reward",
    "busy_slot": "busy slot",
    "invariant": "broken invariant",
    "bound": "past a bound",
}


MAX_CHANGES_SHOWN = 8  # per set of events, in the human report (the json has them all)


def _events_lines(report: Report) -> list[str]:
    """What each set of events changes in the static model, case by case."""
    if not report.events:
        return []
    left_out = int(report.stats.get("event_sets_left_out", 0))
    head = (
        f"searched again while {and_words(report.events[0]['events'])} runs"
        if len(report.events) == 1 and len(report.events[0]["events"]) == 1
        else f"searched again during each of {len(report.events)} sets of events that can run at once"
    )
    more = f" ({left_out} more sets not searched)" if left_out else ""
    lines = [f"scheduled events: {head}{more}"]
    for ev in report.events:
        words = and_words(ev["events"])
        sets = "; ".join(ev["sets"]) or "nothing"
        lines.append(f"  during {words} (searched at {ev['from']}): {sets}")
        lines += [f"    {r}" for r in ev["resources"]]
        shown = ev["changes"][:MAX_CHANGES_SHOWN]
        if not shown:
            lines.append("    no action case costs or gains differently")
        lines += [f"    {c}" for c in shown]
        if len(ev["changes"]) > len(shown):
            lines.append(f"    ... and {len(ev['changes']) - len(shown)} more (--format json)")
    return lines


def render_human(report: Report) -> str:
    lines = []
    if report.clean:
        lines.append(f"explore {report.game}: nothing found")
    else:
        lines.append(f"explore {report.game}: {len(report.findings)} found")
    for f in report.findings:
        lines += ["", f"[{_KIND_WORDS[f.kind]}] {f.summary}"]
        lines += [f"  {d}" for d in f.details]
        if f.scenario:
            state = "replayed on the compiled pack: " + (
                (
                    "`rulesc test` fails at the last step, as it should until fixed"
                    if f.kind == "invariant"
                    else "the scenario below passes"
                )
                if f.verified
                else "the scenario below did NOT behave as expected"
            )
            lines += [f"  {state}", ""]
            lines += [f"    {line}" if line else "" for line in f.scenario.rstrip("\n").split("\n")]
    if report.unconfirmed:
        lines += ["", "static candidates that did not reproduce on the pack (not counted):"]
        lines += [f"  - {u}" for u in report.unconfirmed]
    s = report.stats
    lines += [
        "",
        f"static model: {_count(int(s['cases']), 'action case')}, {s['unbounded_cases']} with nothing "
        f"to bound them, {_count(int(s['loop_candidates']), 'candidate loop')}",
    ]
    if report.watched:
        lines.append("dynamic search watched: " + "; ".join(report.watched))
    else:
        lines.append("dynamic search: skipped, nothing to watch (no invariant, no --bound)")
    if not s["static_search_complete"]:
        lines.append(
            "the static search stopped at its limit (time or sets tried): raise --budget or lower --depth"
        )
    lines += _events_lines(report)
    if report.skipped:
        lines.append(
            f"left out of the static model ({len(report.skipped)}): "
            + "; ".join(report.skipped[:5])
            + (" ..." if len(report.skipped) > 5 else "")
        )
    return "\n".join(lines) + "\n"
