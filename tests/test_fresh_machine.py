"""The README's two commands on a newcomer's machine (scripts/fresh-machine-check.sh): a
clean clone, a new HOME, the distribution's own python3 and none of the optional tools.
Slow (it makes a venv and installs the project into it): run by CI, like the fault tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .systemkit import need

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")

pytestmark = pytest.mark.slow


def test_the_two_readme_commands_on_a_fresh_machine() -> None:
    need("git")
    if not DEBIAN_PYTHON.exists():
        pytest.skip("no /usr/bin/python3: this check needs the distribution's python3")
    env = dict(os.environ)
    # a new venv, but the packages from this machine's pip cache: a test, not a download
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    done = subprocess.run(
        [str(ROOT / "scripts" / "fresh-machine-check.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    assert "fresh-machine-check: ok" in done.stdout
