"""Running JavaScript from the tests: node, its flags, and the npm packages of package.json.

Node and Chromium are part of the test setup (.ci/run installs them, scripts/test.sh runs
`npm ci`); a machine without them skips the JavaScript tests with the reason said.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def node() -> str | None:
    return shutil.which("node")


def chromium() -> str | None:
    found = os.environ.get("RULESC_CHROMIUM") or next(
        (p for p in CHROMIUM_PATHS if Path(p).exists()), None
    )
    return found or shutil.which("chromium")


def missing_packages() -> str | None:
    """Why the npm packages (package.json's devDependencies) cannot be used, or None."""
    packages = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    for package in sorted(packages):
        if not (ROOT / "node_modules" / package).is_dir():
            return (
                f"node_modules/{package} is missing: run `npm ci` in the repository "
                "(scripts/test.sh does)"
            )
    return None


@dataclass
class NodeRun:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"

    def tap(self, name: str) -> int | None:
        """A count from node --test's summary (`# pass 7`)."""
        for line in self.out.splitlines():
            if line.startswith(f"# {name} "):
                return int(line.split()[2])
        return None


async def run_node(args: list[str], env: dict[str, str], timeout: float = 60.0) -> NodeRun:
    """Run node without blocking the event loop (the server under test lives on it)."""
    node_bin = node()
    assert node_bin is not None
    proc = await asyncio.create_subprocess_exec(
        node_bin,
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return NodeRun(-1, out.decode(), err.decode() + f"\n(killed after {timeout}s)")
    assert proc.returncode is not None
    return NodeRun(proc.returncode, out.decode(), err.decode())
