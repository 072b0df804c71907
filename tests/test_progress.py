"""Progress bars of the long designer commands: drawn on a terminal, silent otherwise.

The commands run as real processes with stderr on a pseudo-terminal (what a designer's
shell gives them), then with `--quiet`, then with stderr a pipe (CI)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"
RULESC = [sys.executable, "-m", "rulesc.cli.main"]


def stderr_on_a_terminal(args: list[str]) -> str:
    """What the command wrote to its terminal (stderr); stdout goes to a pipe."""
    main, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    with subprocess.Popen(
        [*RULESC, *args], stdout=subprocess.PIPE, stderr=child, stdin=subprocess.DEVNULL, env=env
    ) as proc:
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the command closed its terminal: it is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.stdout is not None
        proc.stdout.read()
        assert proc.wait(timeout=120) in (0, 1)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize(
    ("args", "bar"),
    [
        (["simulate", str(HARVEST), "--days", "2", "--runs", "2", "--no-plots"], "simulating"),
        (["explore", str(HARVEST), "--budget", "0.5"], "exploring"),
    ],
)
def test_a_progress_bar_on_a_terminal_and_none_with_quiet_or_in_a_pipe(tmp_path, args, bar):
    if args[0] == "simulate":
        args = [*args, "--out", str(tmp_path)]
    assert bar in stderr_on_a_terminal(args)
    assert bar not in stderr_on_a_terminal([*args, "--quiet"])
    piped = subprocess.run([*RULESC, *args], capture_output=True, text=True, check=False)
    assert piped.returncode in (0, 1) and bar not in piped.stderr
