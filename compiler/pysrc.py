"""Python source text: literals, and long expressions laid out within the line limit.

Knows nothing of the rules or the IR: emit.py builds expressions from these pieces. The
output follows the project's formatter (`ruff format`, line length 100), so a generated
pack reads like the rest of the code: double quotes unless a text holds more of them than
of single quotes, brackets split one item per line with a trailing comma.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 100
INDENT = "    "

Literal = str | int | bool | None | tuple | list | dict


def py_literal(value: Literal, quote: str | None = None) -> str:
    """`value` as Python source that evaluates to it: the one place literals are written.

    `quote` forces the quote of strings (inside an f-string, before Python 3.12, a string
    must use the other quote than the f-string's)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, str):
        return py_str(value, quote)
    return flat(literal_doc(value, quote))


def literal_doc(value: Literal, quote: str | None = None) -> Doc:
    """A literal as a layout node, so a long tuple or dict can be split over lines."""
    if isinstance(value, tuple | list):
        opening, closing = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        return Group(
            opening,
            tuple(literal_doc(v, quote) for v in value),
            closing,
            one_tuple=isinstance(value, tuple),
        )
    if isinstance(value, dict):
        items = tuple(
            Pre(f"{py_literal(k, quote)}: ", literal_doc(v, quote)) for k, v in value.items()
        )
        return Group("{", items, "}")
    return py_literal(value, quote)


def quote_for(text: str) -> str:
    """The formatter's choice: double quotes, unless the text holds more of them than of '."""
    return "'" if text.count('"') > text.count("'") else '"'


def escape(text: str, quote: str) -> str:
    """Text for inside a string in `quote`: backslashes and that quote escaped, and every
    character that is not printable (the parser lets none through, but a pack must always
    load) written as its escape, `\\n`, `\\x00` or `\\u2028`."""
    out = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
    if out.isprintable():
        return out
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in out)


def py_str(text: str, quote: str | None = None) -> str:
    q = quote or quote_for(text)
    return q + escape(text, q) + q


# ---- layout: an expression as lines within WIDTH --------------------------------------------


@dataclass(frozen=True)
class Group:
    """Bracketed items: a call `f(a, b)`, a tuple, a dict, or `(a and b)` (commas=False, one
    item). Split over lines when it does not fit: one item per line, a trailing comma after
    each, which tells the formatter to keep it so. `explode`: split even when it fits."""

    opening: str
    items: tuple[Doc, ...]
    closing: str
    commas: bool = True
    one_tuple: bool = False  # `(a,)`: a tuple of one item keeps its comma on one line
    explode: bool = False


@dataclass(frozen=True)
class Pre:
    """A prefix glued to an item: `"key": value`, `key=value`, `not value`."""

    prefix: str
    doc: Doc


@dataclass(frozen=True)
class Chain:
    """`a and b and c`: split, inside brackets, one operand per line, each after its operator."""

    op: str
    items: tuple[Doc, ...]


Doc = str | Group | Pre | Chain


def call(head: str, *args: Doc, **kwargs: Doc | None) -> Group:
    """`head(args, key=value)`; keyword arguments that are None are left out."""
    named = tuple(Pre(f"{k}=", v) for k, v in kwargs.items() if v is not None)
    return Group(head + "(", args + named, ")")


def parens(doc: Doc) -> Group:
    return Group("(", (doc,), ")", commas=False)


def flat(doc: Doc) -> str:
    """The doc on one line."""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, Pre):
        return doc.prefix + flat(doc.doc)
    if isinstance(doc, Chain):
        return f" {doc.op} ".join(flat(i) for i in doc.items)
    inner = ", ".join(flat(i) for i in doc.items)
    if doc.one_tuple and len(doc.items) == 1:
        inner += ","
    return doc.opening + inner + doc.closing


def layout(doc: Doc, depth: int, prefix: str = "", suffix: str = "") -> list[str]:
    """`prefix + doc + suffix` as lines indented `depth` levels, each within WIDTH where the
    brackets allow (a long string or name stays as long as it is)."""
    pad = INDENT * depth
    one_line = pad + prefix + flat(doc) + suffix
    group = doc.doc if isinstance(doc, Pre) else doc
    exploded = isinstance(group, Group) and group.explode and group.items
    if len(one_line) <= WIDTH and not exploded:
        return [one_line]
    if isinstance(doc, Pre):
        return layout(doc.doc, depth, prefix + doc.prefix, suffix)
    if isinstance(doc, Group) and doc.items:
        lines = [pad + prefix + doc.opening]
        if doc.commas:
            for item in doc.items:
                lines += layout(item, depth + 1, suffix=",")
        else:
            lines += layout(doc.items[0], depth + 1)
        return [*lines, pad + doc.closing + suffix]
    if isinstance(doc, Chain):  # only ever inside brackets: `(\n a\n and b\n)`
        lines = layout(doc.items[0], depth, prefix)
        for item in doc.items[1:-1]:
            lines += layout(item, depth, f"{doc.op} ")
        return lines + layout(doc.items[-1], depth, f"{doc.op} ", suffix)
    return [one_line]


def statement(head: str, doc: Doc, depth: int, tail: str = "") -> list[str]:
    """`head doc tail` (`if cond:`, `x = value`), bracketed to split when it is too long."""
    if len(INDENT * depth + head + flat(doc) + tail) > WIDTH and isinstance(doc, Chain):
        doc = parens(doc)
    return layout(doc, depth, head, tail)
