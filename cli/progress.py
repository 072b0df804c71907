"""A progress bar for the long designer commands (simulate, explore): on a terminal only.

Drawn with rich on stderr, so stdout (the summary, the report) stays clean for pipes;
silent when stderr is not a terminal (CI logs, tests) or with `--quiet`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def shown(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@contextmanager
def bar(what: str, total: float, *, quiet: bool) -> Iterator[Callable[[float], None]]:
    """A function to call with how much more is done (its sum reaches `total` at the end)."""
    if not shown(quiet):
        yield lambda _done: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(what, total=total)
        yield lambda done: progress.advance(task, done)


@contextmanager
def stages(what: str, seconds: float, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A function to call with the name of each stage as it starts; the bar fills with the
    time spent out of a budget of `seconds`."""
    if not shown(quiet):
        yield lambda _stage: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(what, total=seconds)
        started = time.monotonic()

        def stage(name: str) -> None:
            done = min(time.monotonic() - started, seconds)
            progress.update(task, description=f"{what}: {name}", completed=done)

        yield stage
