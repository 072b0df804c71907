"""The `rulesc` command line.

Exit codes (also in the README):
  0  success (warnings allowed)
  1  the rules have errors, or scenarios failed
  2  the command was used wrongly (unknown option, missing argument)
  3  rulesc itself failed: a bug, please report it (RULESC_DEBUG=1 shows the traceback)
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from rulesc import __version__
from rulesc.compiler.build import BuildResult, compile_game, write_pack
from rulesc.compiler.codes import CODES, explain
from rulesc.dsl.diagnostics import JSON_FORMAT_VERSION, render_all, sort_key
from rulesc.runtime import schemadiff

from .serve import serve_command

app = typer.Typer(
    name="rulesc",
    help="Compile a game's .rules files into rule packs, test them, and serve them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_OK, EXIT_RULES, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
F = TypeVar("F", bound=Callable)


class Format(StrEnum):
    human = "human"
    json = "json"


E = TypeVar("E", bound=StrEnum)


def one_of(choices: type[E]) -> Callable[[str], E]:
    """A choice option's check: the enum member, or a one-line usage error naming the choices."""

    def check(value: str) -> E:
        try:
            return choices(value)
        except ValueError:
            named = ", ".join(c.value for c in choices)
            raise typer.BadParameter(f"{value!r} is not one of: {named}") from None

    return check


def format_option(help: str) -> typer.models.OptionInfo:
    return typer.Option("--format", "-f", metavar="human|json", callback=one_of(Format), help=help)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


GameDir = Annotated[
    Path, typer.Argument(metavar="GAME", help="The game folder: its .rules files, CSVs and tests/.")
]


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"rulesc {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Compile a game's .rules files into rule packs, test them, and serve them."""


def guarded(fn: F) -> F:
    """A failure of rulesc itself is said in one line, never as a traceback (unless debugging)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as err:  # noqa: BLE001 - the last line of defence
            if os.environ.get("RULESC_DEBUG"):
                traceback.print_exc()
            typer.echo(f"rulesc: internal error: {type(err).__name__}: {err}", err=True)
            typer.echo("This is a bug in rulesc; RULESC_DEBUG=1 shows the details.", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def report(result: BuildResult, fmt: Format) -> None:
    diags = sorted(result.diagnostics, key=sort_key)
    if fmt is Format.json:
        errors = sum(d.is_error for d in diags)
        typer.echo(
            json.dumps(
                {
                    "format_version": JSON_FORMAT_VERSION,
                    "valid": errors == 0,
                    "error_count": errors,
                    "warning_count": len(diags) - errors,
                    "diagnostics": [d.to_json() for d in diags],
                },
                indent=2,
            )
        )
    elif diags:
        typer.echo(render_all(diags, result.sources.texts), err=not result.ok)


@app.command()
@guarded
def check(
    game: GameDir,
    format: Annotated[str, format_option("human, or json for editors and CI.")] = Format.human,
) -> None:
    """Check a game's rules and scenarios; report every mistake."""
    format = Format(format)
    result = compile_game(game)
    report(result, format)
    if format is Format.human and result.ok:
        game_ir = result.game
        assert game_ir is not None
        typer.echo(
            f"ok: {game_ir.id} — {plural(len(game_ir.actions), 'action')}, "
            f"{plural(len(game_ir.resources), 'resource')}, {plural(len(game_ir.scenarios), 'scenario')}"
        )
    raise typer.Exit(EXIT_OK if result.ok else EXIT_RULES)


@app.command()
@guarded
def build(
    game: GameDir,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="The pack folder to write.  [default: build/GAME_ID]"
        ),
    ] = None,
    format: Annotated[
        str, format_option("human, or json: the diagnostics as `check --format json` gives them.")
    ] = Format.human,
) -> None:
    """Compile a game into a rule pack: rules.py, schema.json, manifest.json, types.d.ts."""
    format = Format(format)
    result = compile_game(game, with_tests=False)
    report(result, format)
    if not result.ok or result.files is None or result.game is None:
        raise typer.Exit(EXIT_RULES)
    target = out or Path("build") / result.game.id
    write_pack(result.files, target)
    if format is Format.human:
        manifest = json.loads(result.files["manifest.json"])
        typer.echo(
            f"built {result.game.id} {manifest['version']} -> {target} "
            f"({plural(len(result.game.actions), 'action')})"
        )


@app.command("test")
@guarded
def test_command(
    game: GameDir,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            "-r",
            metavar="TITLE",
            help="Only scenarios whose title matches (text or glob).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List passing scenarios too.")
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", help="Pass when the game has no scenarios (without it: exit 1)."
        ),
    ] = False,
) -> None:
    """Run the game's scenarios (tests/*.rules) on its compiled pack with a simulated clock."""
    from rulesc.runtime.pack import load_pack
    from rulesc.tools.scenarios import render_failure, run_scenario, select

    result = compile_game(game)
    if not result.ok or result.files is None or result.game is None:
        report(result, Format.human)
        raise typer.Exit(EXIT_RULES)
    if not result.game.scenarios and not allow_empty:
        report(result, Format.human)  # a warning may say where they are (R051)
        typer.echo(
            f"rulesc test: no scenarios in {result.sources.label}/tests/*.rules: nothing was "
            "tested (--allow-empty passes anyway)",
            err=True,
        )
        raise typer.Exit(EXIT_RULES)
    scenarios = select(result.game.scenarios, run)
    if run and not scenarios:
        typer.echo(f"no scenario matches {run!r}", err=True)
        raise typer.Exit(EXIT_RULES)
    with tempfile.TemporaryDirectory(prefix="rulesc-test-") as tmp:
        pack = load_pack(write_pack(result.files, Path(tmp) / result.game.id))
        results = [run_scenario(pack, s) for s in scenarios]
    passed = sum(r.passed for r in results)
    for r in results:
        if not r.passed:
            typer.echo(render_failure(r, result.sources.label) + "\n")
        elif verbose:
            typer.echo(f"ok    {r.scenario.title}")
    typer.echo(f"{passed} passed, {len(results) - passed} failed")
    raise typer.Exit(EXIT_OK if passed == len(results) else EXIT_RULES)


@app.command("explain")
@guarded
def explain_command(
    code: Annotated[str, typer.Argument(metavar="CODE", help="A diagnostic code such as R012.")],
) -> None:
    """Explain a diagnostic code, with an example and the fix."""
    text = explain(code)
    if text is None:
        typer.echo(
            f"rulesc explain: unknown code {code!r}; the codes are {', '.join(sorted(CODES))}",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    typer.echo(text, nl=False)


@app.command()
@guarded
def explore(
    game: GameDir,
    depth: Annotated[
        int,
        typer.Option(
            "--depth",
            min=1,
            max=8,
            metavar="N",
            help="Longest loop (distinct actions) and breadth-first sequence to try.",
        ),
    ] = 4,
    budget: Annotated[
        float,
        typer.Option("--budget", min=0.1, metavar="SECONDS", help="Seconds to spend, in all."),
    ] = 10.0,
    bound: Annotated[
        list[str] | None,
        typer.Option(
            "--bound",
            metavar="RES=N",
            help="RES=N: report any way past it, e.g. coins=10000 or seed\\[wheat]=50 (repeatable).",
        ),
    ] = None,
    format: Annotated[str, format_option("human, or json for CI.")] = Format.human,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Find exploits: loops that gain for nothing, dodged limits, broken invariants and bounds.

    Each is reported as a scenario that reproduces it, checked on the compiled pack.
    Exits 1 when anything is found, 0 when the game is clean.
    """
    from rulesc.cli.progress import stages
    from rulesc.tools import explore as exploring

    format = Format(format)

    try:
        bounds = [exploring.parse_bound(b) for b in bound or []]
    except ValueError as err:
        typer.echo(f"rulesc explore: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    result = compile_game(game, with_tests=False)
    if not result.ok or result.game is None:
        report(result, Format.human)
        raise typer.Exit(EXIT_RULES)
    try:
        with stages("exploring", budget, quiet=quiet) as stage:
            options = exploring.Options(depth=depth, budget=budget, bounds=bounds, on_stage=stage)
            found = exploring.explore(result, options)
    except ValueError as err:  # a --bound naming no resource
        typer.echo(f"rulesc explore: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if format is Format.json:
        typer.echo(json.dumps(found.to_json(), indent=2))
    else:
        typer.echo(exploring.render_human(found), nl=False)
    raise typer.Exit(EXIT_OK if found.clean else EXIT_RULES)


class GraphFormat(StrEnum):
    dot = "dot"
    svg = "svg"
    png = "png"


@app.command()
@guarded
def graph(
    game: GameDir,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="dot|svg|png",
            callback=one_of(GraphFormat),
            help="dot (text), or svg/png drawn by Graphviz.",
        ),
    ] = GraphFormat.dot,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="The file to write.  [default: stdout for dot and svg, GAME_ID.png for png]",
        ),
    ] = None,
    rows: Annotated[
        bool,
        typer.Option("--rows", help="Draw each table row as a node of its own (with its values)."),
    ] = False,
) -> None:
    """Draw the economy as a flow graph: resources, actions, costs, gains, limits; loops in red."""
    format = GraphFormat(format)
    from rulesc.tools import graph as graphing
    from rulesc.tools.explore import graph_loops

    result = compile_game(game, with_tests=False)
    if not result.ok or result.game is None:
        report(result, Format.human)
        raise typer.Exit(EXIT_RULES)
    found = graph_loops(result)
    dot = graphing.to_dot(
        result.game,
        [lp for lp, words in found if words is None],
        rows=rows,
        event_loops=[(lp, words) for lp, words in found if words is not None],
    )
    if format is GraphFormat.dot:
        if out is None:
            typer.echo(dot, nl=False)
        else:
            out.write_text(dot, encoding="utf-8")
        return
    target = out or Path(f"{result.game.id}.{format.value}")
    try:
        graphing.render(dot, format.value, target)
    except graphing.GraphvizMissing as err:
        typer.echo(f"rulesc graph: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if format is GraphFormat.svg and out is None:
        typer.echo(target.read_text(encoding="utf-8"), nl=False)
        target.unlink()
    else:
        typer.echo(f"wrote {target}")


@app.command()
@guarded
def simulate(
    game: GameDir,
    days: Annotated[
        int, typer.Option("--days", min=1, max=3650, metavar="N", help="Days each run plays.")
    ] = 30,
    runs: Annotated[
        int, typer.Option("--runs", min=1, max=10_000, metavar="N", help="Runs (players) per bot.")
    ] = 20,
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="The same seed plays the same games.")
    ] = 1,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="YYYY-MM-DD",
            help="Start on this UTC date (at the game's `day starts`), so its scheduled "
            "events fall in; the CSV files then give each day's date.  [default: 2026-01-05]",
        ),
    ] = None,
    bot: Annotated[
        list[str] | None,
        typer.Option(
            "--bot", metavar="NAME", help="Only this bot (repeatable).  [default: every bot]"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Where to write summary.txt, bands.csv, the plots, report.html and, "
            "when events run, events.csv.  [default: build/sim/GAME_ID]",
        ),
    ] = None,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Draw PNG plots (needs matplotlib).")
    ] = True,
    samples: Annotated[
        Path | None,
        typer.Option(
            "--samples",
            metavar="FILE",
            help="Also write every sample (each resource after every session) to FILE, a CSV.",
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            metavar="DAYS",
            help="Also sum up net income and actions window by window, e.g. 28d or 1w.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Worker processes at most (fewer for a short simulation); the results do "
            "not depend on it.  [default: every core]",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Play the game with its bots (bots/*.rules) for days, many times: summary, plots, report.

    Exits 1 when the rules have errors or a run breaks an invariant, 2 for an unknown bot
    or a bad option.
    """
    import os
    import time

    from rulesc.cli.progress import bar
    from rulesc.runtime.pack import load_pack
    from rulesc.tools import simplot, simreport, simsummary
    from rulesc.tools import simulate as simulating

    started = time.perf_counter()  # the time reported is the wall time of all of it
    window_days = _days(window) if window is not None else None
    start_date = _start_date(start, days) if start is not None else None
    result = compile_game(game, with_tests=False, with_bots=True)
    if not result.ok or result.files is None or result.game is None:
        report(result, Format.human)
        raise typer.Exit(EXIT_RULES)
    game_ir = result.game
    known = {b.name: b for b in game_ir.bots}
    if not known:
        typer.echo(
            f"rulesc simulate: {result.sources.label} has no bots: declare one in bots/*.rules "
            "(see `rulesc explain R062`)",
            err=True,
        )
        raise typer.Exit(EXIT_RULES)
    unknown = [b for b in bot or [] if b not in known]
    if unknown:
        typer.echo(
            f"rulesc simulate: no bot {', '.join(unknown)}; the bots are {', '.join(known)}",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    chosen = [known[b] for b in dict.fromkeys(bot)] if bot else list(known.values())
    target = out or Path("build") / "sim" / game_ir.id
    target.mkdir(parents=True, exist_ok=True)
    options = simulating.Options(days, runs, seed, start_date)
    workers = simulating.workers(chosen, options, jobs or os.cpu_count() or 1)
    with (
        tempfile.TemporaryDirectory(prefix="rulesc-sim-") as tmp,
        bar("simulating", len(chosen) * runs, quiet=quiet) as advance,
    ):
        pack = load_pack(write_pack(result.files, Path(tmp) / game_ir.id))
        results = simulating.simulate(
            pack,
            game_ir,
            chosen,
            options,
            jobs=workers,
            samples=samples,
            on_run=lambda: advance(1),
        )
    summaries = [simsummary.render(game_ir, r, window_days) for r in results]
    summary = "\n".join(summaries)
    (target / "summary.txt").write_text(summary, encoding="utf-8")
    typer.echo(summary)
    wrote = [target / "summary.txt", simulating.write_bands(results, target / "bands.csv")]
    when = results[0].calendar
    if when.runs:  # only when some event runs within the days: not an empty file
        wrote.append(simulating.write_events(when, target / "events.csv"))
    drawn: dict[str, Path] = {}
    if plots:
        try:
            for r in results:
                drawn[r.bot.name] = simplot.plot(game_ir, r, target / f"{r.bot.name}.png")
        except simplot.MatplotlibMissing as err:
            typer.echo(f"rulesc simulate: no plots: {err}", err=True)
    wrote += drawn.values()
    wrote.append(
        simreport.write(game_ir, results, summaries, drawn, options, target / "report.html")
    )
    if samples is not None:
        wrote.append(samples)
    played = sum(sum(run.actions.values()) for r in results for run in r.runs)
    elapsed = time.perf_counter() - started
    typer.echo(
        f"simulated {len(results)} bot{'s' * (len(results) != 1)} x {runs} runs x {days} days "
        f"from {when.date(1)} ({played:,} actions) in {elapsed:.1f}s wall time on {workers} "
        f"process{'es' * (workers != 1)} (seed {seed})"
    )
    typer.echo("wrote " + ", ".join(str(p) for p in wrote))
    broken = any(run.broken or run.hook_faults for r in results for run in r.runs)
    raise typer.Exit(EXIT_RULES if broken else EXIT_OK)


def _start_date(text: str, days: int) -> datetime.date:
    """`2026-10-20`: a UTC date from 1970-01-01 on, the last simulated day still a date."""
    day: datetime.date | None
    try:
        day = datetime.datetime.strptime(text.strip(), "%Y-%m-%d").date()
        last = day + datetime.timedelta(days)  # OverflowError past 9999-12-31
    except (ValueError, OverflowError):
        day = last = None
    if day is None or last is None or day < datetime.date(1970, 1, 1):
        typer.echo(
            f"rulesc simulate: --start {text!r}: give a UTC date from 1970-01-01 on, "
            "like 2026-10-20",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    return day


def _days(window: str) -> int:
    """`28d`, `4w` or `28`: a whole number of days, at least one."""
    units = {"d": 1, "w": 7}
    text = window.strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "d")
    if not number.isdigit() or int(number) < 1:
        typer.echo(
            f"rulesc simulate: --window {window!r}: give whole days, like 28d or 4w", err=True
        )
        raise typer.Exit(EXIT_USAGE)
    return int(number) * units[unit]


@app.command("report")
@guarded
def report_command(
    game_id: Annotated[str, typer.Argument(metavar="GAME_ID", help="The game's id.")],
    history: Annotated[
        str,
        typer.Option(
            "--history",
            metavar="URL",
            help="The history database `rulesc serve --history` writes: postgresql://..., "
            "sqlite:///PATH or sqlite (history.sqlite3 in the data directory).",
            envvar="RULESC_HISTORY",
        ),
    ] = "sqlite",
    data_dir: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            help="The server's data directory: the report goes to DIR/reports/GAME_ID.html, "
            "where /admin/GAME_ID/report shows it.",
            envvar="RULESC_DATA_DIR",
        ),
    ] = Path(".rulesc-data"),
    simulated: Annotated[
        Path | None,
        typer.Option(
            "--simulated",
            metavar="DIR",
            help="A `rulesc simulate` output folder (its samples.csv): its prediction is "
            "laid on the observed plots, by calendar date if it ran with --start, else by "
            "day index.",
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            metavar="PATH",
            help="The game folder or pack the server runs: when its days start and its "
            "scheduled events. Default: the newest DIR/packs/GAME_ID-* the server built.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Write the HTML here instead."),
    ] = None,
) -> None:
    """The economy report from the history: sources and sinks, daily active players,
    actions and rejections, levels, by game day; the days each scheduled event ran, shaded,
    and the days with and without it compared; one HTML file with plots (needs matplotlib)."""
    from rulesc.runtime.history import HISTORY_FILE, REPORTS_DIR
    from rulesc.tools import report as reporting
    from rulesc.tools.simplot import MatplotlibMissing

    url = str(data_dir / HISTORY_FILE) if history in ("sqlite", "sqlite:") else history
    samples = None
    if simulated is not None:
        samples = simulated / "samples.csv" if simulated.is_dir() else simulated
        if not samples.is_file():
            typer.echo(f"rulesc report: no samples.csv in {simulated}", err=True)
            raise typer.Exit(EXIT_USAGE)
    pack = rules if rules is not None else reporting.find_pack(data_dir, game_id)
    try:
        days = reporting.game_days(pack) if pack is not None else reporting.GameDays()
        if days.game is not None and days.game != game_id:
            raise reporting.NoPack(f"{pack} is the game {days.game}, not {game_id}")
    except reporting.NoPack as e:
        typer.echo(f"rulesc report: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from e
    try:
        observed = reporting.observe(url, game_id, days.day_starts_ms)
        page = reporting.render(
            observed, reporting.simulated_net(samples) if samples is not None else None, days
        )
    except FileNotFoundError as e:
        typer.echo(f"rulesc report: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from e
    except MatplotlibMissing as e:
        typer.echo(f"rulesc report: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from e
    target = out or data_dir / REPORTS_DIR / f"{game_id}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    typer.echo(
        f"{game_id}: {len(observed.days)} days, {observed.players} players; "
        f"wrote {target}"
        + ("" if pack is not None else " (no pack found: UTC days, no events; see --rules)")
    )


@app.command()
@guarded
def fmt(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH...", help="Rules files, or folders to search for *.rules."),
    ],
    check: Annotated[
        bool,
        typer.Option("--check", help="Change nothing; exit 1 if a file would change (for CI)."),
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Change nothing; print what would change.")
    ] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite the files (what fmt does without an option).")
    ] = False,
) -> None:
    """Give rules files one canonical layout, keeping every comment.

    A file is changed only if its formatted text parses to the same tree, formats to
    itself again and keeps every comment; otherwise it is left alone and named.
    Exits 1 when --check finds a file to change or a file cannot be formatted.
    """
    import difflib

    from rulesc.dsl.fmt import format_source

    if write and (check or diff):
        typer.echo("rulesc fmt: --write rewrites files; --check and --diff only look", err=True)
        raise typer.Exit(EXIT_USAGE)
    missing = [p for p in paths if not p.exists()]
    if missing:
        typer.echo(f"rulesc fmt: no such file or folder: {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(EXIT_USAGE)
    files = sorted({f for p in paths for f in ([p] if p.is_file() else p.rglob("*.rules"))})
    changed, refused = [], []
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            refused.append(path)
            typer.echo(f"cannot format {path}: it is not UTF-8 text", err=True)
            continue
        result = format_source(text, str(path))
        if result.problem is not None:
            refused.append(path)
            typer.echo(f"cannot format {path}: {result.problem}", err=True)
            continue
        if not result.changed:
            continue
        changed.append(path)
        assert result.text is not None
        if diff:
            typer.echo(
                "".join(
                    difflib.unified_diff(
                        text.splitlines(True),
                        result.text.splitlines(True),
                        f"{path} (as written)",
                        f"{path} (formatted)",
                    )
                ),
                nl=False,
            )
        if check:
            typer.echo(f"would reformat {path}")
        elif not diff:
            path.write_text(result.text, encoding="utf-8")
            typer.echo(f"reformatted {path}")
    verb = "would be reformatted" if check or diff else "reformatted"
    typer.echo(
        f"{len(files)} file{'s' * (len(files) != 1)}: {len(changed)} {verb}, "
        f"{len(files) - len(changed) - len(refused)} already formatted"
        + (f", {len(refused)} left alone (see above)" if refused else ""),
        err=bool(check and changed),
    )
    raise typer.Exit(EXIT_RULES if refused or (check and changed) else EXIT_OK)


app.command("serve")(serve_command)


@app.command("diff")
@guarded
def diff_command(
    old: Annotated[
        Path, typer.Argument(metavar="OLD", help="The rules served now: a game folder or a pack.")
    ],
    new: Annotated[
        Path, typer.Argument(metavar="NEW", help="The rules to swap in: a game folder or a pack.")
    ],
    format: Annotated[str, format_option("human, or json for tools and CI.")] = Format.human,
) -> None:
    """What changes for live players from OLD to NEW: resources, rows, bounds, prices,
    levels, migrations. Exit 1 when players would lose what they hold (the server refuses
    that swap), 0 when the swap is safe."""
    format = Format(format)
    schemas = [_schema_of(path) for path in (old, new)]
    diff = schemadiff.report(*schemas)
    if format is Format.json:
        typer.echo(json.dumps(diff, indent=2))
    else:
        typer.echo(schemadiff.render(diff), nl=False)
    raise typer.Exit(EXIT_OK if diff["safe"] else EXIT_RULES)


def _schema_of(path: Path) -> dict:
    """A pack's schema.json, or the schema a game folder compiles to."""
    if (path / "manifest.json").is_file():
        return json.loads((path / "schema.json").read_text(encoding="utf-8"))
    if not path.is_dir() or not any(path.glob("*.rules")):
        typer.echo(f"rulesc diff: {path} is neither a game folder nor a pack", err=True)
        raise typer.Exit(EXIT_USAGE)
    result = compile_game(path, with_tests=False)
    if not result.ok or result.files is None:
        report(result, Format.human)
        raise typer.Exit(EXIT_RULES)
    return json.loads(result.files["schema.json"])


@app.command()
@guarded
def lsp(
    debounce_ms: Annotated[
        int,
        typer.Option(
            "--debounce-ms", metavar="MS", min=0, help="Check once typing pauses this long."
        ),
    ] = 150,
) -> None:
    """Run the language server over stdio (for editors: diagnostics, hover, rename, ...)."""
    from rulesc.tools.lsp import run_stdio  # pygls loads only for the editor

    run_stdio(debounce_ms / 1000)


@app.command()
def version() -> None:
    """Print the compiler version."""
    typer.echo(f"rulesc {__version__}")


def main() -> None:  # pragma: no cover - the console script
    sys.exit(app())


if __name__ == "__main__":  # `python -m rulesc.cli.main`, where the console script is not on PATH
    main()
