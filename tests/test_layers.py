"""The package layers (docs/architecture.md), read from every module's imports with `ast`.

    contract  <-  dsl  <-  compiler  <-  tools  <-  cli
        ^----------------  runtime   <-----'         |
                              ^----------------------'

Imports inside functions count too (a lazy import is still a dependency), and so do
imports under `if TYPE_CHECKING:`. Inside the library (everything but the CLI, whose lazy
imports keep `rulesc --help` quick) an import inside a function must be justified below.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer -> the layers it may import (its own always)
ALLOWED: dict[str, set[str]] = {
    "contract": set(),  # rulesc.pack_contract: the pack format both sides agree on
    "version": set(),  # rulesc/__init__.py: __version__
    "client": set(),  # rulesc.client: the Python client, a library of its own
    "dsl": {"contract"},
    "compiler": {"dsl", "contract", "version"},
    "runtime": {"contract", "version"},
    "tools": {"compiler", "runtime", "dsl", "contract", "version"},
    "cli": {"tools", "compiler", "runtime", "dsl", "contract", "version"},
}

# (importing module, imported module) -> why it is imported inside a function. An entry
# that no longer matches an import fails the test too: the list stays true.
FUNCTION_IMPORTS: dict[tuple[str, str], str] = {
    ("rulesc.tools.simplot", "matplotlib"): "optional (the `sim` extra); without it simulate "
    "still writes its CSV and summary",
    ("rulesc.tools.simplot", "matplotlib.pyplot"): "as matplotlib, after choosing its backend",
    ("rulesc.runtime.stores", "rulesc.runtime.store_redis"): "a server on the embedded store "
    "never loads redis-py and the Redis store's scripts",
    ("rulesc.tools.report", "matplotlib"): "optional (the `sim` extra), as simplot",
    ("rulesc.tools.report", "matplotlib.pyplot"): "as matplotlib, after choosing its backend",
    ("rulesc.tools.report", "psycopg"): "optional (the `history` extra): only a PostgreSQL "
    "history needs it",
    ("rulesc.runtime.history", "rulesc.runtime.history_postgres"): "optional (the `history` "
    "extra): a server without --history postgresql:// never loads psycopg",
}
# Import loops held together by function-level imports, each with why it is still there.
# None is left (issue 13 took the checker's and the Redis store's apart): keep it so.
PENDING_CYCLES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name imported (or the package a name is taken from)
    line: int
    in_function: bool


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, mapped as pyproject.toml's package-dir installs them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    out: dict[str, Path] = {}
    for package, folder in config["package-dir"].items():
        for path in sorted((ROOT / folder).glob("*.py")):
            out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


MODULES = module_files()


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].stem == "__init__" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend(Import(module, a.name, node.lineno, in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for a in node.names:  # `from rulesc.compiler import ir` imports the module ir
                sub = f"{base}.{a.name}"
                out.append(
                    Import(module, sub if sub in MODULES else base, node.lineno, in_function)
                )
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            out.append(Import(module, node.args[0].value, node.lineno, in_function))  # type: ignore[attr-defined]
        inside = in_function or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return out


def _dynamic_import(call: ast.Call) -> bool:
    """importlib.import_module("...") or __import__("...") with a constant name."""
    f = call.func
    named = (isinstance(f, ast.Attribute) and f.attr == "import_module") or (
        isinstance(f, ast.Name) and f.id in ("import_module", "__import__")
    )
    return (
        named
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def layer(module: str) -> str | None:
    """The layer of a rulesc module; None for anything outside rulesc."""
    if module == "rulesc":
        return "version"
    if not module.startswith("rulesc."):
        return None
    part = module.split(".")[1]
    return {"pack_contract": "contract", "client": "client"}.get(part, part)


def all_imports() -> list[Import]:
    return [imp for module in sorted(MODULES) for imp in imports_of(module)]


def test_every_module_belongs_to_a_layer() -> None:
    unknown = sorted({m for m in MODULES if layer(m) not in ALLOWED})
    assert not unknown, (
        f"modules of no layer (add the package to ALLOWED and docs/architecture.md): {unknown}"
    )
    assert {
        "rulesc.tools.explore",
        "rulesc.compiler.build",
        "rulesc.pack_contract",
    } <= MODULES.keys()


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = []
    for imp in all_imports():
        mine, theirs = layer(imp.importer), layer(imp.target)
        if theirs is not None and theirs != mine and theirs not in ALLOWED[mine or ""]:
            wrong.append(
                f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line}: "
                f"{mine} imports {imp.target} ({theirs})"
            )
    assert not wrong, "imports across the layers of docs/architecture.md:\n" + "\n".join(
        sorted(set(wrong))
    )


def test_imports_inside_functions_are_justified() -> None:
    found: dict[tuple[str, str], list[str]] = {}
    for imp in all_imports():
        if imp.in_function and layer(imp.importer) != "cli":
            where = f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line}"
            found.setdefault((imp.importer, imp.target), []).append(where)
    found = {k: sorted(set(v)) for k, v in found.items()}
    known = FUNCTION_IMPORTS | PENDING_CYCLES
    unjustified = {k: v for k, v in found.items() if k not in known}
    assert not unjustified, (
        "imports inside functions: import at the top of the module (a loop "
        f"means the code belongs elsewhere), or justify in FUNCTION_IMPORTS: {unjustified}"
    )
    stale = sorted(set(known) - set(found))
    assert not stale, f"no longer imported inside a function: remove from the lists: {stale}"


def test_the_checker_sees_imports_the_way_python_does(tmp_path) -> None:
    """The rules above are only as good as the parsing: a lazy, relative and dynamic import
    of a lower layer from the runtime are each found."""
    text = (
        "from __future__ import annotations\n"
        "import importlib\n"
        "from . import engine\n"
        "def f():\n"
        "    from ..compiler import build\n"
        "    return importlib.import_module('rulesc.tools.explore')\n"
    )
    probe = "rulesc.runtime.probe_for_test_layers"
    MODULES[probe] = tmp_path / "probe.py"
    MODULES[probe].write_text(text)
    try:
        got = {(i.target, i.in_function) for i in imports_of(probe)}
    finally:
        del MODULES[probe]
    assert ("rulesc.runtime.engine", False) in got
    assert ("rulesc.compiler.build", True) in got
    assert ("rulesc.tools.explore", True) in got


def test_the_runtime_builds_a_game_folder_only_with_the_builder_it_is_handed(tmp_path) -> None:
    from rulesc.cli.packbuild import compile_pack
    from rulesc.runtime import packs

    harvest = ROOT / "games" / "harvest"
    with pytest.raises(packs.PackError, match="loads built packs only"):
        packs.build(harvest, tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything was written
    built = packs.build(harvest, tmp_path, compile_pack)
    assert built.id == "harvest" and built.pack.path.parent == tmp_path / "packs"
    assert (
        packs.build(built.pack.path, tmp_path).rules_hash == built.rules_hash
    )  # a pack needs none


def test_a_server_that_loads_packs_imports_no_compiler() -> None:
    code = (
        "import sys, rulesc.runtime.app, rulesc.runtime.store_sqlite, rulesc.runtime.store_redis; "
        "bad = [m for m in sys.modules if m.startswith(('rulesc.compiler', 'rulesc.dsl', "
        "'rulesc.tools', 'rulesc.cli', 'lark', 'jinja2'))]; print(bad); sys.exit(bool(bad))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_server_image_copies_every_package_folder() -> None:
    """deploy/Dockerfile installs from a list of folders: a package missing there would fail
    `pip install .` in the image (no Docker engine runs it here)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    folders = {f for f in config["package-dir"].values() if "/" not in f}  # (subfolders come along)
    missing = sorted(folders - copied)
    assert not missing, f"deploy/Dockerfile does not COPY {missing}"
