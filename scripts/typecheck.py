"""Type-check the package as it installs: `python scripts/typecheck.py`.

setuptools maps `rulesc.dsl` to `dsl/` and so on (pyproject.toml, package-dir). A wheel
has the plain `rulesc/...` tree, but an editable install resolves the mapping with an
import hook that mypy cannot follow. So this links the mapped folders into a temporary
`rulesc/` tree, exactly as a wheel lays them out, and runs mypy on it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = config["package-dir"]
    with tempfile.TemporaryDirectory(prefix="rulesc-typecheck-") as tmp:
        # the top package is a real folder holding links to the mapped subpackages, so no
        # link ever points back into the repository's own `rulesc/`
        for package, folder in sorted(mapping.items()):
            target = Path(tmp, *package.split("."))
            if "." not in package:
                target.mkdir()
                for item in (ROOT / folder).iterdir():
                    (target / item.name).symlink_to(item)
            else:
                target.symlink_to(ROOT / folder, target_is_directory=True)
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "-p",
            "rulesc",
        ]
        return subprocess.call(cmd, cwd=tmp, env={"MYPYPATH": tmp, "PATH": "/usr/bin:/bin"})


if __name__ == "__main__":
    sys.exit(main())
