"""Parsing as you type: a file's declarations parsed once each, reused while unchanged.

dsl.parser already parses a file one top-level declaration at a time, each on its own;
a keystroke changes one of them. ChunkedParser keeps every declaration's parse keyed by
its text, and moves a reused one's spans to the line where it now starts.
"""

from __future__ import annotations

import dataclasses

from rulesc.dsl import ast
from rulesc.dsl.diagnostics import Diagnostic, Span
from rulesc.dsl.parser import declaration_chunks, parse_source

Parsed = tuple[int, tuple, tuple[Diagnostic, ...]]  # (first line, declarations, diagnostics)


class ChunkedParser:
    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], Parsed] = {}

    def parse(self, file: str, text: str) -> tuple[ast.Module, list[Diagnostic]]:
        """As parse_source(file, text), reusing the parses of unchanged declarations."""
        decls: list = []
        diags: list[Diagnostic] = []
        fresh: dict[tuple[str, str], Parsed] = {}
        for start, chunk in declaration_chunks(text):
            parsed = self._chunk(file, start, chunk)
            fresh[(file, chunk)] = parsed
            decls.extend(parsed[1])
            diags.extend(parsed[2])
        # keep only what this file's latest text holds (and every other file's)
        self.cache = {k: v for k, v in self.cache.items() if k[0] != file} | fresh
        return ast.Module(file, tuple(decls)), diags

    def _chunk(self, file: str, start: int, chunk: str) -> Parsed:
        cached = self.cache.get((file, chunk))
        if cached is None:
            module, found = parse_source(file, chunk)  # lines from 1: shifted below
            cached = (1, module.decls, tuple(found))
        first, decls, diags = cached
        if first == start:
            return cached
        if diags:  # messages may name lines ("opened at 58:12"): parse it where it stands
            module, found = parse_source(file, "\n" * (start - 1) + chunk)
            return (start, module.decls, tuple(found))
        delta = start - first
        return (start, shift(decls, delta), tuple(shift(d, delta) for d in diags))


def shift(node, delta: int):
    """A syntax tree (or diagnostic) with every span moved `delta` lines down."""
    kind = type(node)
    if kind is Span:
        return Span(node.file, node.line + delta, node.col, node.end_line + delta, node.end_col)
    if kind is tuple:
        return tuple([v if type(v) in _LEAVES else shift(v, delta) for v in node])
    names = _FIELDS.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(node):
            return node
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(node))
    # frozen dataclasses: a copy field by field (dataclasses.replace was 4x slower)
    out = object.__new__(kind)
    for name in names:
        value = getattr(node, name)
        object.__setattr__(out, name, value if type(value) in _LEAVES else shift(value, delta))
    return out


_LEAVES = frozenset({str, int, bool, float, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}
