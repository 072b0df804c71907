"""`rulesc fmt`: golden layouts, the command's modes, and properties on generated files.

Golden cases: tests/golden/fmt/<case>/input.rules formats to expected.rules (rewrite them
with RULESC_UPDATE_GOLDEN=1 and review the diff like code).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rulesc.cli.main import app
from rulesc.dsl.fmt import comments, format_source, shape
from rulesc.dsl.fmt_layout import format_text
from rulesc.dsl.parser import parse_source

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "fmt"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
UPDATE = os.environ.get("RULESC_UPDATE_GOLDEN") == "1"
GAME_FILES = sorted(p for p in (ROOT / "games").rglob("*.rules"))
# the planted exploits explore is tested on: formatted too (scripts/test.sh checks them)
EXPLOIT_FILES = sorted(p for p in (ROOT / "tests" / "exploits").rglob("*.rules"))


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    source = (GOLDEN / case / "input.rules").read_text(encoding="utf-8")
    result = format_source(source, case)
    assert result.problem is None, result.problem
    expected_file = GOLDEN / case / "expected.rules"
    if UPDATE:
        expected_file.write_text(result.text or "", encoding="utf-8")
        return
    assert result.text == expected_file.read_text(encoding="utf-8")
    assert format_source(result.text, case).changed is False  # the expected layout is a fixed point


@pytest.mark.parametrize("path", GAME_FILES + EXPLOIT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_games_are_formatted(path: Path) -> None:
    result = format_source(path.read_text(encoding="utf-8"), str(path))
    assert result.problem is None, result.problem
    assert not result.changed, f"run `rulesc fmt {path.relative_to(ROOT)}`"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("migrate crop[beet]->crop[carrot]", "migrate crop[beet] -> crop[carrot]"),
        ("migrate crop[beet] -> crop[carrot]", "migrate crop[beet] -> crop[carrot]"),
        ("migrate crop[beet]  ->   crop[carrot]", "migrate crop[beet] -> crop[carrot]"),
        ("migrate rubies->gems", "migrate rubies -> gems"),
        ("migrate seed[onion]->coins*3", "migrate seed[onion] -> coins * 3"),
        ("migrate fertilizer_old ->nothing", "migrate fertilizer_old -> nothing"),
        (
            "migrate produce[beet, *]->produce[wheat,*]  # moved",
            "migrate produce[beet, *] -> produce[wheat, *]  # moved",
        ),
    ],
)
def test_an_arrow_with_or_without_spaces_round_trips(written: str, canonical: str) -> None:
    text = f"currency coins start 0\n\n{written}\n"
    result = format_source(text, "migrate.rules")
    assert result.problem is None, result.problem
    assert result.text == f"currency coins start 0\n\n{canonical}\n"
    again = format_source(result.text, "migrate.rules")  # idempotent
    assert again.problem is None and again.changed is False


def test_check_diff_and_write(tmp_path: Path) -> None:
    messy = tmp_path / "game.rules"
    messy.write_text('game g "G"\ncurrency coins start 1\naction a\n    gain coins 1   # one\n')
    tidy = tmp_path / "tidy.rules"
    tidy.write_text('game t "T"\n')
    run = CliRunner().invoke
    out = run(app, ["fmt", "--check", str(tmp_path)])
    assert (
        out.exit_code == 1
        and f"would reformat {messy}" in out.output
        and str(tidy) not in out.output
    )
    out = run(app, ["fmt", "--diff", str(messy)])
    assert (
        out.exit_code == 0 and "-    gain coins 1   # one\n+  gain coins 1  # one\n" in out.output
    )
    assert messy.read_text().endswith("    gain coins 1   # one\n")  # --diff changes nothing
    out = run(app, ["fmt", str(tmp_path)])
    assert out.exit_code == 0 and messy.read_text().endswith(
        "\n\naction a\n  gain coins 1  # one\n"
    )
    assert run(app, ["fmt", "--check", str(tmp_path)]).exit_code == 0
    assert run(app, ["fmt", "--write", "--check", str(tmp_path)]).exit_code == 2
    assert run(app, ["fmt", str(tmp_path / "missing.rules")]).exit_code == 2


def test_a_file_that_does_not_parse_is_left_alone(tmp_path: Path) -> None:
    broken = tmp_path / "broken.rules"
    text = "action a\n    gain coins (1\n"
    broken.write_text(text)
    out = CliRunner().invoke(app, ["fmt", str(broken)])
    assert out.exit_code == 1 and "cannot format" in out.output and "does not parse" in out.output
    assert broken.read_text() == text


def test_an_unsafe_layout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import rulesc.dsl.fmt as fmt

    text = 'game g "G"  # hello\ncurrency coins start 1\n'
    monkeypatch.setattr(fmt, "format_text", lambda t: t.replace("  # hello", ""))
    assert "lose or change a comment" in (fmt.format_source(text).problem or "")
    monkeypatch.setattr(fmt, "format_text", lambda t: t.replace("start 1", "start 2"))
    assert "mean something else" in (fmt.format_source(text).problem or "")
    monkeypatch.setattr(fmt, "format_text", lambda t: t + "\n")
    assert "not stable" in (fmt.format_source(text).problem or "")


# ---- generated files ------------------------------------------------------------------

NAMES = [
    "coins",
    "gems",
    "xp",
    "seed",
    "field",
    "crop",
    "kind",
    "qty",
    "wheat",
    "corn",
    "slot",
    "a",
    "b",
]
WORDLIKE = "word"


@st.composite
def expressions(draw, depth: int = 0) -> list[str]:
    """An expression as tokens: types are not checked, only the syntax matters here."""
    atoms = st.sampled_from(NAMES + ["now", "level", "true", "3", "10_000", "5m", "1h30m"])
    if depth > 2 or draw(st.booleans()):
        base = [draw(atoms)]
        if draw(st.integers(0, 3)) == 0:
            base += ["[", draw(st.sampled_from(NAMES)), "]"]
        if draw(st.integers(0, 3)) == 0:
            base += [".", draw(st.sampled_from(NAMES))]
        return base
    kind = draw(st.sampled_from(["binary", "compare", "call", "paren", "neg", "not", "is"]))
    left = draw(expressions(depth + 1))
    right = draw(expressions(depth + 1))
    if kind == "binary":
        return left + [draw(st.sampled_from(["+", "-", "*", "/", "%"]))] + right
    if kind == "compare":
        return (
            ["("]
            + left
            + [draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))]
            + right
            + [")"]
        )
    if kind == "call":
        return [draw(st.sampled_from(["min(", "max("]))] + left + [","] + right + [")"]
    if kind == "paren":
        return ["("] + left + [")"]
    if kind == "neg":
        return ["-"] + left
    if kind == "not":
        return ["(", "not", "("] + left + [")", ")"]  # `not` binds looser than arithmetic
    return ["("] + left + ["is", draw(st.sampled_from(["empty", "filled"])), ")"]


@st.composite
def spaced_tokens(draw, tokens: list[str]) -> str:
    """Tokens joined with odd but valid spacing: words never touch, `min(` stays whole."""
    out = tokens[0]
    for prev, tok in zip(tokens, tokens[1:], strict=False):
        wordy = (prev[-1].isalnum() or prev[-1] in '_"') and (tok[0].isalnum() or tok[0] in '_"')
        touching_sign = (
            prev == "-"
        )  # `- 5` and `-5` read alike, but keep a few signs written as signs
        gap = draw(st.integers(1 if wordy else 0, 3))
        if "." in (prev, tok):
            gap = 0  # `field[0] .crop` is R081: a `.` touches both sides
        out += " " * (0 if touching_sign and draw(st.booleans()) else gap) + tok
    return out


@st.composite
def comment(draw) -> str:
    return "#" + draw(st.text(st.sampled_from(list("abc xyz-#\"'")), max_size=12)).rstrip()


@st.composite
def statements(draw, depth: int = 0) -> list[tuple[int, list[str]]]:
    """(relative depth, tokens) lines of one statement, blocks included."""
    e = lambda: draw(expressions())  # noqa: E731

    def place() -> list[str]:
        return [draw(st.sampled_from(NAMES))] + (["[", "kind", "]"] if draw(st.booleans()) else [])

    kind = draw(
        st.sampled_from(
            [
                "require",
                "cost",
                "gain",
                "set",
                "fill",
                "replace",
                "empty",
                "let",
                "limit",
                "cooldown",
                "emit",
                "when",
                "pick",
                "chance",
            ]
            if depth < 2
            else ["require", "gain", "set", "let"]
        )
    )
    if kind == "require":
        return [
            (
                0,
                [
                    "require",
                    *e(),
                    *(["else", '"no {coins} # here"'] if draw(st.booleans()) else []),
                ],
            )
        ]
    if kind in ("cost", "gain"):
        return [(0, [kind, *place(), *e(), ",", *place(), "3"])]
    if kind == "set":
        return [(0, ["set", *place(), "=", *e()])]
    if kind in ("fill", "replace"):
        return [
            (
                0,
                [
                    kind,
                    "field",
                    "[",
                    "slot",
                    "]",
                    "with",
                    "crop",
                    "=",
                    *e(),
                    ",",
                    "ready_at",
                    "=",
                    "now",
                ],
            )
        ]
    if kind == "empty":
        return [(0, ["empty", "field", "[", "0", "]"])]
    if kind == "let":
        return [(0, ["let", draw(st.sampled_from(["x", "y", "premium"])), "=", *e()])]
    if kind == "limit":
        return [
            (0, ["limit", "3", "per", draw(st.sampled_from(["day", "week", "1h"])), "per", "kind"])
        ]
    if kind == "cooldown":
        return [(0, ["cooldown", "30m"])]
    if kind == "emit":
        return [(0, ["emit", "done(", "kind", ":", *e(), ")"])]
    if kind == "when":
        lines = [(0, ["when", *e()])] + [(d + 1, t) for d, t in draw(statements(depth + 1))]
        for _ in range(draw(st.integers(0, 2))):  # `otherwise when` links of an else-if chain
            lines += [(0, ["otherwise", "when", *e()])] + [
                (d + 1, t) for d, t in draw(statements(depth + 1))
            ]
        if draw(st.booleans()):
            lines += [(0, ["otherwise"])] + [(d + 1, t) for d, t in draw(statements(depth + 1))]
        return lines
    if kind == "chance":
        unit = draw(st.sampled_from([["%"], ["per", "mille"]]))
        lines = [(0, ["chance", *e(), *unit])] + [
            (d + 1, t) for d, t in draw(statements(depth + 1))
        ]
        if draw(st.booleans()):
            lines += [(0, ["otherwise"]), (1, ["nothing"])]
        return lines
    lines = [(0, ["pick", "one"])]
    for _ in range(draw(st.integers(1, 3))):
        weight = str(draw(st.sampled_from([1, 5, 25, 70, 100, "crop[kind].weight"])))
        one_line = draw(st.sampled_from([["gain", "coins", "1"], ["nothing"], []]))
        if one_line:
            lines.append((1, [weight, ":", *one_line]))
        else:
            lines.append((1, [weight, ":"]))
            lines += [(d + 2, t) for d, t in draw(statements(depth + 2))]
    return lines


@st.composite
def declarations(draw) -> list[tuple[int, list[str]]]:
    kind = draw(
        st.sampled_from(
            ["resource", "level", "table", "slots", "action", "invariant", "scenario", "bot"]
            + ["constant"]
        )
    )
    if kind == "constant":
        return [
            (
                0,
                [
                    "let",
                    draw(st.sampled_from(["season_length", "bonus"])),
                    "=",
                    *draw(expressions()),
                ],
            )
        ]
    if kind == "resource":
        return [
            (
                0,
                [
                    draw(st.sampled_from(["currency", "meter", "stat", "item"])),
                    draw(st.sampled_from(NAMES)),
                    *(["start", "-", "5"] if draw(st.booleans()) else ["start", "5"]),
                    "max",
                    "9_999",
                ],
            )
        ]
    if kind == "level":
        return [(0, ["level", "from", "xp", "at", "0", ",", "50", ",", "150"])]
    if kind == "table":
        rows = [
            (
                1,
                [
                    name,
                    ":",
                    draw(st.sampled_from(["5", "12", "1_000"])),
                    ",",
                    draw(st.sampled_from(["2m", "1h"])),
                    ",",
                    draw(st.sampled_from(["wheat", "corn", "true"])),
                ],
            )
            for name in draw(
                st.lists(st.sampled_from(["wheat", "corn", "pumpkin", "x"]), min_size=1, max_size=3)
            )
        ]
        return [
            (0, ["table", "crop"]),
            (
                1,
                [
                    "columns",
                    "cost_",
                    ":",
                    "int",
                    ",",
                    "grow",
                    ":",
                    "duration",
                    ",",
                    "next",
                    ":",
                    "crop",
                ],
            ),
            *rows,
        ]
    if kind == "slots":
        return [
            (0, ["slots", "field", "6"]),
            (1, ["crop", ":", "crop"]),
            (1, ["ready_at", ":", "time"]),
        ]
    if kind == "action":
        params = draw(
            st.sampled_from(
                [
                    [],
                    ["(", ")"],
                    ["(", "kind", ":", "crop", ",", "qty", ":", "int", "1", "..", "99", ")"],
                ]
            )
        )
        head = ["action", draw(st.sampled_from(["buy", "plant", "sell"])), *params]
        body = [line for _ in range(draw(st.integers(1, 4))) for line in draw(statements())]
        return [(0, head)] + [(d + 1, t) for d, t in body]
    if kind == "invariant":
        return [(0, ["invariant", *draw(expressions())])]
    if kind == "scenario":
        return [
            (0, ["scenario", '"a test"']),
            (1, ["given", "coins", "5", ",", "seed", "[", "wheat", "]", "2"]),
            (1, ["do", "plant(", "slot", ":", "0", ")", "draws", "2"]),
            (1, ["wait", "10m"]),
            (1, ["expect", "field", "[", "0", "]", "empty"]),
        ]
    return [
        (0, ["bot", "casual"]),
        (1, ["sessions", "3", "per", "day"]),
        (1, ["actions", "12", "per", "session"]),
        (
            1,
            [
                "try",
                "sell(",
                "kind",
                ":",
                "any",
                ",",
                "qty",
                ":",
                *draw(expressions()),
                ")",
                "when",
                "coins",
                ">",
                "5",
            ],
        ),
    ]


@st.composite
def rules_files(draw) -> str:
    """A rules file that parses: declarations with odd indentation, spacing, blank lines and comments."""
    lines: list[str] = [f'game g "G"{"  " + draw(comment()) if draw(st.booleans()) else ""}']
    for decl in draw(st.lists(declarations(), min_size=1, max_size=5)):
        lines += [""] * draw(st.integers(0, 2))
        widths = [0]
        for depth, tokens in decl:
            while len(widths) <= depth:  # each block indents by its own odd amount
                widths.append(widths[-1] + draw(st.integers(1, 4)))
            del widths[depth + 1 :]
            if draw(st.integers(0, 5)) == 0:
                lines.append(
                    " " * draw(st.integers(0, 8)) + draw(comment())
                )  # a comment line anywhere
            text = " " * widths[depth] + draw(spaced_tokens(tokens))
            if draw(st.integers(0, 3)) == 0:
                text += " " * draw(st.integers(0, 4)) + draw(comment())
            lines.append(text)
            if draw(st.integers(0, 6)) == 0:
                lines.append("")
    if draw(st.booleans()):
        lines.append(draw(comment()))
    return "\n".join(lines) + "\n" * draw(st.integers(0, 2))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules_files())
def test_fmt_keeps_the_meaning_and_is_idempotent_on_generated_files(text: str) -> None:
    original, diags = parse_source("gen.rules", text)
    assert not diags, f"the generator made a file that does not parse: {diags[0].message}\n{text}"
    result = format_source(text, "gen.rules")
    assert result.problem is None, (
        f"{result.problem}\n--- input\n{text}\n--- output\n{format_text(text)}"
    )
    assert result.text is not None
    formatted, _ = parse_source("gen.rules", result.text)
    assert shape(formatted.decls) == shape(original.decls)
    assert format_text(result.text) == result.text
    assert comments(result.text) == comments(text)
    assert all(not line.endswith(" ") for line in result.text.split("\n"))


@pytest.mark.parametrize("path", GAME_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fmt_is_idempotent_and_meaning_preserving_on_the_real_games(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # the real games, unformatted: every line indented by 3 more and spaced out
    messy = "\n".join(
        ("   " + line if line.startswith(" ") else line).replace(", ", " ,  ")
        for line in text.split("\n")
    )
    for source in (text, messy):
        original, diags = parse_source(str(path), source)
        if diags:
            continue  # a `, ` inside a message made it unreadable: only the real text then
        result = format_source(source, str(path))
        assert result.problem is None, result.problem
        assert result.text is not None and format_text(result.text) == result.text
        assert shape(parse_source(str(path), result.text)[0].decls) == shape(original.decls)
