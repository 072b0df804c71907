"""Every command's --help, as a newcomer reads it on an 80-column terminal: every option
named whole, every option explained, nothing wider than the screen; and the small things
of the command line (--version, usage errors exit 2 with a plain message)."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from rulesc import __version__
from rulesc.cli.main import app

runner = CliRunner()
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def help_of(command: str) -> str:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_listed() -> None:
    assert {
        "check",
        "build",
        "test",
        "explain",
        "explore",
        "graph",
        "simulate",
        "fmt",
        "serve",
    } <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_and_names_every_option_whole(command: str) -> None:
    text = help_of(command)
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, f"lines over 80 columns in `rulesc {command} --help`: {wide}"
    params = get_command(app).commands[command].params  # type: ignore[attr-defined]
    for param in params:
        for name in [*param.opts, *getattr(param, "secondary_opts", [])]:
            if not name.startswith("-"):
                continue
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (
                f"`{name}` is cut or missing in `rulesc {command} --help`:\n{text}"
            )
        if param.param_type_name == "option" and param.name != "help":
            assert (param.help or "").strip(), f"`rulesc {command} {param.opts[0]}` has no help"
    assert "<bool>" not in text and "…" not in text, text  # a flag takes no value; nothing cut
    assert not re.search(r"\s\.(\s|$)", text), f"a stray ' .' in `rulesc {command} --help`"


def test_version() -> None:
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and result.output.strip() == f"rulesc {__version__}"


def test_a_bad_choice_is_a_plain_usage_error() -> None:
    result = runner.invoke(app, ["check", "games/harvest", "--format", "yaml"])
    assert result.exit_code == 2
    assert "'yaml' is not one of: human, json" in result.output
    assert "Value error" not in result.output


def test_an_unknown_code_to_explain_is_wrong_use() -> None:
    result = runner.invoke(app, ["explain", "R999"])
    assert result.exit_code == 2 and "unknown code 'R999'" in result.output
