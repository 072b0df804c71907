"""Diagnostics: what every pass reports instead of raising.

A diagnostic names a stable code (R0xx), a severity, the exact span, a one-line
message and, where we can tell, a hint with the remedy. Rendering shows the
designer's own line with a caret under the span, like Rust and Elm do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
JSON_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Span:
    """A range in a source file. Lines and columns are 1-based; end is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None
    notes: tuple[tuple[str, Span], ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict:
        out: dict = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.col,
            "end_line": self.span.end_line,
            "end_column": self.span.end_col,
        }
        if self.hint:
            out["hint"] = self.hint
        if self.notes:
            out["notes"] = [
                {"message": m, "file": s.file, "line": s.line, "column": s.col}
                for m, s in self.notes
            ]
        return out


@dataclass
class Sources:
    """The text of every file of a run, so diagnostics can quote the designer's line."""

    texts: dict[str, str] = field(default_factory=dict)
    # file -> (the text it was split from, its lines): the checker asks for a line per
    # statement, and splitting the whole file each time made checking quadratic
    _lines: dict[str, tuple[str, list[str]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def line(self, file: str, line: int) -> str | None:
        text = self.texts.get(file)
        if text is None:
            return None
        cached = self._lines.get(file)
        if cached is None or cached[0] is not text:  # `texts` is written to directly
            cached = self._lines[file] = (text, text.split("\n"))  # lines as the lexer counts them
        lines = cached[1]
        return lines[line - 1] if 0 < line <= len(lines) else None


def sort_key(d: Diagnostic) -> tuple:
    return (d.span.file, d.span.line, d.span.col, d.code)


def render(d: Diagnostic, sources: Sources) -> str:
    """Render one diagnostic for a terminal."""
    out = [f"{d.severity}[{d.code}]: {d.message}", f"  --> {d.span}"]
    out.extend(_excerpt(d.span, sources))
    for message, span in d.notes:
        out.append(f"  note: {message} ({span})")
    if d.hint:
        out.append(f"  = hint: {d.hint}")
    return "\n".join(out)


def _excerpt(span: Span, sources: Sources) -> list[str]:
    text = sources.line(span.file, span.line)
    if text is None:
        return []
    text = text.rstrip("\n")
    gutter = " " * len(str(span.line))
    if span.end_line == span.line and span.end_col > span.col:
        width = span.end_col - span.col
    else:
        width = max(1, len(text) - span.col + 1)
    caret = " " * (span.col - 1) + "^" * max(1, width)
    return [f"{gutter} |", f"{span.line} | {text}", f"{gutter} | {caret}"]


def render_all(diags: list[Diagnostic], sources: Sources) -> str:
    parts = [render(d, sources) for d in sorted(diags, key=sort_key)]
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    parts.append(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
    return "\n\n".join(parts)
