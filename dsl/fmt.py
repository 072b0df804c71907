"""`rulesc fmt`: one canonical layout for rules files, never at the price of their meaning.

The layout is fmt_layout's. Before a formatted text is offered, three checks must pass,
else the file is left alone and the reason reported:
- it parses to the same syntax tree (positions aside) as the original;
- formatting it again changes nothing;
- every comment of the original is in it, word for word and in order.
A file that does not parse is not formatted at all: fix its syntax errors first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .fmt_layout import format_text
from .fmt_tokens import split_comment
from .parser import parse_source


@dataclass(frozen=True)
class Formatted:
    original: str
    text: str | None  # the formatted text; None when the file was left alone
    problem: str | None = None  # why it was left alone

    @property
    def changed(self) -> bool:
        return self.text is not None and self.text != self.original


def format_source(text: str, label: str = "<rules>") -> Formatted:
    """The canonical layout of one file's text, checked; or why it cannot be given."""
    module, diags = parse_source(label, text)
    if diags:
        first = diags[0]
        return Formatted(
            text,
            None,
            f"it does not parse ({first.span.line}:{first.span.col}: {first.message}); "
            "fix its syntax first",
        )
    out = format_text(text)
    again, out_diags = parse_source(label, out)
    if out_diags:
        d = out_diags[0]
        return Formatted(
            text, None, f"the formatted text would not parse (line {d.span.line}: {d.message})"
        )
    if shape(again.decls) != shape(module.decls):
        return Formatted(text, None, "the formatted text would mean something else")
    if format_text(out) != out:
        return Formatted(
            text, None, "formatting is not stable on this file (formatting again changes it)"
        )
    if comments(out) != comments(text):
        return Formatted(text, None, "formatting would lose or change a comment")
    return Formatted(text, out)


def shape(node) -> object:
    """A syntax tree without its positions, for comparing two parses of one meaning."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (
            type(node).__name__,
            tuple(
                shape(getattr(node, f.name))
                for f in dataclasses.fields(node)
                if not f.name.endswith("span")
            ),
        )
    if isinstance(node, tuple | list):
        return tuple(shape(x) for x in node)
    return node


def comments(text: str) -> list[str]:
    """Every comment of a text, in order, as written (right spaces aside)."""
    found = (split_comment(line)[1] for line in text.replace("\r\n", "\n").split("\n"))
    return [c for c in found if c is not None]
