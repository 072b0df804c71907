"""Syntax errors in words: what the parser met, turned into a diagnostic a designer reads.

The parser (the only module that knows lark) describes what it met as an `Unexpected`:
the token (or character), where it is, and which tokens would have been accepted
there. This module says it in words ("expected `)` to close the parameter list opened
at 5:11"), puts the caret where the fix goes, and adds a hint: a known slip (`costs`,
`=` for `==`, a decimal), or else an example of the line's statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rulesc.pack_contract import DURATION_UNITS, fmt_duration

from .diagnostics import Diagnostic, Span

# token types that mean "the line (or the declaration) ended here"
ENDS = frozenset({"_NL", "_DEDENT", "$END"})


@dataclass(frozen=True, slots=True)
class Unexpected:
    """What the parser met where it could not go on. Lines and columns are 1-based."""

    type: str  # a token type (NAME, _NL, $END, ...), or "" for a character no token starts with
    value: str
    line: int
    col: int
    end_line: int
    end_col: int
    accepts: frozenset[str]  # the token types that would have been accepted there


@dataclass(frozen=True, slots=True)
class _Report:
    message: str
    line: int
    col: int
    width: int = 1
    hint: str | None = None


class _Context:
    """An unexpected token with the text around it, and questions about both."""

    def __init__(
        self, what: Unexpected, lines: list[str], literals: dict[str, str], above: str = ""
    ) -> None:
        self.what = what
        self.lines = lines
        self.above = above  # the first word of the declaration above this one, if any
        self.literals = literals  # token type -> its fixed text, e.g. RPAR -> ")"
        self.accepts = set(what.accepts)
        self.at_end = what.type in ENDS
        if self.at_end:
            # point just after the last code, not at the next line or declaration
            # ($END borrows the position of the last token: take all of its line)
            col = what.col if what.type != "$END" else len(self.text_at(lines, what.line)) + 1
            self.line, self.col = end_of_code(lines, what.line, col)
        elif what.type == "_INDENT":
            self.line, self.col = what.end_line, what.end_col
        else:
            self.line, self.col = what.line, what.col

    @staticmethod
    def text_at(lines: list[str], line: int) -> str:
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def text(self, line: int) -> str:
        return self.text_at(self.lines, line)

    def code(self, line: int) -> str:
        return strip_comment(self.text(line)).rstrip()

    @property
    def first_word(self) -> str:
        """The word that starts the statement on the error's line (after a pick weight)."""
        m = re.match(r"\s*(?:[0-9_]+\s*:\s*)?([a-z_]+)", self.text(self.line))
        return m.group(1) if m else ""

    @property
    def parent_line(self) -> str:
        """The nearest line above the error's that is indented less: the block's header."""
        text = self.text(self.line)
        indent = len(text) - len(text.lstrip(" "))
        for line in range(self.line - 1, 0, -1):
            above = self.text(line)
            if strip_comment(above).strip() and len(above) - len(above.lstrip(" ")) < indent:
                return above
        return ""

    @property
    def declaration_word(self) -> str:
        """The keyword of the top-level declaration the error is in."""
        for line in range(self.line, 0, -1):
            text = self.text(line)
            if text[:1].isalpha():
                return text.split(" ", 1)[0]
        return ""

    @property
    def found(self) -> str:
        if self.at_end:
            return "the end of the line"
        if self.what.type == "_INDENT":
            return "an indented line"
        return f"`{self.what.value}`"

    def char_before(self, line: int, col: int) -> str:
        text = self.text(line)
        return text[col - 2] if 1 < col <= len(text) + 1 else ""


# ---- words for token types ---------------------------------------------------------

_TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "DURATION": "a duration such as 5m",
    "STRING": "a quoted message",
    "CLOCK": "a time of day such as 04:00",
    "_INDENT": "an indented block",
    "RESOURCE_KIND": "`currency`, `meter` or `stat`",
    "FUNC": "`min(`, `max(` or `ceil(`",
    "COMPARE": "a comparison such as `>=`",
    "UP_TO": "`up to`",
    "_WAIT_UNTIL": "`wait until`",
    "DATE": "a date like 2026-10-25",
}
_VALUE_STARTS = {
    "INT",
    "DURATION",
    "NAME",
    "LPAR",
    "MINUS",
    "NOW",
    "LEVEL",
    "TRUE",
    "FALSE",
    "FUNC",
    "NOT",
    "STRING",
}
_OPERATORS = {
    "PLUS",
    "MINUS",
    "STAR",
    "SLASH",
    "PERCENT",
    "COMPARE",
    "DOT",
    "LSQB",
    "AND",
    "OR",
    "IS",
}
_GROUPS = (
    (
        {"ACTION", "GAME", "TABLE"},
        "a declaration such as `action`, `currency`, `table` or `scenario`",
    ),
    ({"COST", "GAIN", "REQUIRE"}, "a statement such as `require`, `cost`, `gain`, `set` or `when`"),
    ({"GIVEN", "DO", "EXPECT"}, "a scenario step: `given`, `do`, `wait` or `expect`"),
)


def describe(accepts: set[str], literals: dict[str, str]) -> str:
    """The accepted token types in words: "a name, `,` or the end of the line"."""
    for group, said in _GROUPS:
        if group <= accepts:
            return said
    names = set(accepts)
    if "INT" in names:
        names.discard("MINUS")  # a whole number may be negative: no need to say so
    if "NAME" in names:
        names.discard("LEVEL")  # `level` reads as a name (`target.level`): no need to say so
    words: list[str] = []
    if names & ENDS:
        names -= ENDS
        words.append("the end of the line")
    if len(names & _OPERATORS) >= 4:
        names -= _OPERATORS | {"RPAR", "RSQB", "COMMA"}
        words.append("an operator")
    if len(names & _VALUE_STARTS) >= 5:
        names -= _VALUE_STARTS
        words.append("a value")
    for name in names:
        if name in _TOKEN_WORDS:
            words.append(_TOKEN_WORDS[name])
        elif name in literals:
            words.append(f"`{literals[name]}`")
        else:
            words.append(name.lower())
    words = sorted(set(words), key=lambda w: (w.startswith("the end"), w))
    if len(words) > 6:
        return "one of " + ", ".join(words[:6]) + ", ..."
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# ---- the explainers: each knows one kind of slip, in the order tried -------------------


def _decimal(ctx: _Context) -> _Report | None:
    """`cost coins 1.5`: lexed as 1, `.`, 5 (in a table row the `.` is the mistake)."""
    w = ctx.what
    text = ctx.text(w.line)
    if w.type == "DOT":  # `wheat: 5, 0.25`: a cell ends at `0`
        m = re.search(r"[0-9][0-9_]*$", text[: w.col - 1])
        after = re.match(r"[0-9][0-9_]*(ms|s|m|h|d|w)?(?![A-Za-z0-9_])", text[w.col :])
        if m is None or after is None:
            return None
        number = m.group(0) + "." + after.group(0)
        start = m.start()
    elif w.type in ("INT", "DURATION") and ctx.char_before(w.line, w.col) == ".":
        m = re.search(r"[0-9_]+\.$", text[: w.col - 1])
        if m is None:
            return None
        number, start = m.group(0) + w.value, m.start()
    else:
        return None
    hint = "the rules have no decimals: count in whole units (for durations, `1m30s`)"
    if ctx.declaration_word == "table" and re.fullmatch(r"[0-9_]+\.[0-9_]+", number):
        hint = _decimal_cell_hint(number, _column_at(ctx, w.line, start))
    elif re.fullmatch(r"[0-9_]+\.[0-9_]+(ms|s|m|h|d|w)", number):
        hint = _decimal_duration_hint(number) or hint
    return _Report(f"`{number}` is not a whole number", w.line, start + 1, len(number), hint)


def _column_at(ctx: _Context, line: int, col0: int) -> str:
    """`crop[kind].extra`: how the table column the cell at `col0` (0-based) of row `line`
    is read."""
    cell = ctx.code(line)[:col0].count(",")
    column = "share"
    for ln in range(line - 1, 0, -1):
        m = re.match(r"\s+columns\s+(.*)", ctx.code(ln))
        if m:
            names = [c.split(":")[0].strip() for c in m.group(1).split(",")]
            column = names[cell] if cell < len(names) else column
        table = re.match(r"table\s+(\w+)", ctx.code(ln))
        if table:
            return f"{table.group(1)}[kind].{column}"
    return f"table[kind].{column}"


def _decimal_duration_hint(number: str) -> str | None:
    """`1.5h`: the same duration in whole parts (`1h30m`), when it is a whole second."""
    m = re.fullmatch(r"([0-9_]+)\.([0-9_]+)(ms|s|m|h|d|w)", number)
    if m is None:
        return None
    fraction = m.group(2).replace("_", "")
    scaled = int(m.group(1).replace("_", "") + fraction) * DURATION_UNITS[m.group(3)]
    ms, rest = divmod(scaled, 10 ** len(fraction))
    if rest or ms % 1000:
        return None
    return f"the rules have no decimals: write `{fmt_duration(ms)}`"


def _decimal_cell_hint(number: str, read: str) -> str:
    """`0.25` in a table: the same share as a whole percent or per-mille count."""
    whole, fraction = number.replace("_", "").split(".")
    for scale, suffix, digits in (("percent", "pct", 2), ("per mille", "permille", 3)):
        if len(fraction.rstrip("0")) <= digits:
            value = int(whole + fraction.ljust(digits, "0")[:digits])
            per = 10**digits
            return (
                f"the rules have no decimals: write `{value}` in a {scale} column "
                f"(`{read.rsplit('.', 1)[1]}_{suffix}: int`) and divide where it is used: "
                f"`x * {read}_{suffix} / {per}`"
            )
    return "the rules have no decimals: write the share in whole parts of 10_000 (or more)"


def _option_with_brackets(ctx: _Context) -> _Report | None:
    """`currency gems max(5)`: `max(` reads as the function."""
    w = ctx.what
    if w.type != "FUNC" or w.value.upper() not in ctx.accepts:
        return None
    return _Report(
        f"`{w.value}` takes a number without brackets",
        w.line,
        w.col,
        len(w.value) + 1,
        f"write `{w.value} 5`",
    )


def _unknown_function(ctx: _Context) -> _Report | None:
    """`floor(x / 2)`: a name called like a function."""
    w = ctx.what
    if w.type != "LPAR" or "LPAR" in ctx.accepts:
        return None
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", ctx.text(w.line)[: w.col - 1])
    if m is None:
        return None
    return _Report(
        f"`{m.group(1)}` is not a function",
        w.line,
        m.start(1) + 1,
        len(m.group(1)),
        "the functions are `min(a, b)`, `max(a, b)` and `ceil(a / b)`; `/` rounds down",
    )


def _assign_for_compare(ctx: _Context) -> _Report | None:
    w = ctx.what
    if (
        w.value == "="
        and "COMPARE" in ctx.accepts
        and ctx.first_word not in ("set", "let", "fill", "replace")
    ):
        fixed = ctx.code(w.line)[: w.col - 1] + "==" + ctx.code(w.line)[w.col :]
        return _Report(
            "expected a comparison such as `==` or `>=`, found `=`",
            w.line,
            w.col,
            1,
            f"to compare, write `==`: `{fixed.strip()}`",
        )
    if w.value == "==" and "EQUAL" in ctx.accepts:
        return _Report(
            "expected `=`, found `==`", w.line, w.col, 2, "`set` and `let` take a single `=`"
        )
    return None


def _unexpected_indent(ctx: _Context) -> _Report | None:
    if ctx.what.type != "_INDENT" or "_INDENT" in ctx.accepts:
        return None
    width = max(1, len(ctx.code(ctx.line).strip()))
    return _Report(
        "unexpected indentation: this line is indented more than the line before it",
        ctx.line,
        ctx.col,
        width,
        "line it up with the line before; only lines such as `action`, `when`, `otherwise`, "
        "`pick one`, `table` and `scenario` open an indented block",
    )


_BLOCK_HINTS = {
    "action": "write the action's statements on the lines below it, indented: `  gain coins 5`",
    "pick": "list the weighted branches below it, indented: `  70: gain coins 100`",
    "slots": "list the fields of a slot below it, indented: `  ready_at: time`",
    "scenario": "write the steps below it, indented: `  do plant(slot: 0, kind: wheat)`",
    "bot": "write how it plays below it, indented: `  sessions 3 per day` and `  try harvest(slot: any)`",
    "loot": "list the weighted entries below it, indented: `  60: coins 50`",
    "on": "write the statements the runtime runs below it, indented: `  gain gems 5`",
}


def _missing_block(ctx: _Context) -> _Report | None:
    if "_INDENT" not in ctx.accepts or ctx.what.type == "_INDENT":
        return None
    header_line, _ = end_of_code(ctx.lines, ctx.what.line, ctx.what.col)
    header = ctx.code(header_line).strip()
    shown = header if len(header) <= 40 else header[:37] + "..."
    word = header.split(" ", 1)[0]
    if ctx.at_end or ctx.what.line == header_line:
        col = len(ctx.code(header_line)) + 1
        return _Report(
            f"`{shown}` needs an indented block below it",
            header_line,
            col,
            1,
            _BLOCK_HINTS.get(word, "write its lines below it, indented by two more spaces"),
        )
    line = ctx.what.line
    indent = len(ctx.text(line)) - len(ctx.text(line).lstrip())
    return _Report(
        f"expected the lines under `{shown}` to be indented",
        line,
        indent + 1,
        max(1, len(ctx.code(line).strip())),
        f"indent the lines that belong to it by two more spaces than line {header_line}",
    )


_ROLE_HINTS = {
    "parameter list": "add `)` after the last parameter: `action buy(kind: crop, qty: int 1..99)`",
    "index": "add `]` after the index: `seed[kind]`",
}


def _unclosed_bracket(ctx: _Context) -> _Report | None:
    upto = (ctx.line, ctx.col)
    opened = open_bracket(ctx.lines, upto)
    if opened is None:
        return None
    char, line, col, role = opened
    closer = {"(": ")", "[": "]"}[char]
    closing = {"(": "RPAR", "[": "RSQB"}[char]
    if closing not in ctx.accepts:
        return None
    message = f"expected `{closer}` to close the {role} opened at {line}:{col}"
    hint = _ROLE_HINTS.get(role, f"add `{closer}` where the {role} ends")
    end_line, end_col = end_of_code(ctx.lines, ctx.what.line, ctx.what.col)
    if ctx.at_end or ctx.what.line > end_line:
        return _Report(message, end_line, end_col, 1, hint)  # the line ended with the bracket open
    if "COMMA" in ctx.accepts and role != "index":
        # more likely a missing `,` between two items (see _hint); an index takes a `,` only
        # for an item of two tables (`produce[kind, q]`), so there `]` is the likelier fix
        return None
    return _Report(
        f"{message}, found {ctx.found}", ctx.line, ctx.col, max(1, len(ctx.what.value)), hint
    )


def _missing_value(ctx: _Context) -> _Report | None:
    """`cost coins` and `let x =`: the line ends where a value must come."""
    if not ctx.at_end or len(ctx.accepts & _VALUE_STARTS) < 5:
        return None
    last = ctx.code(ctx.line).split()[-1] if ctx.code(ctx.line).split() else ""
    what = "an amount" if ctx.first_word in ("cost", "gain") else "a value"
    return _Report(f"expected {what} after `{last}`, found the end of the line", ctx.line, ctx.col)


def _generic(ctx: _Context) -> _Report:
    width = 1 if ctx.at_end else max(1, len(ctx.what.value))
    return _Report(
        f"expected {describe(ctx.accepts, ctx.literals)}, found {ctx.found}",
        ctx.line,
        ctx.col,
        width,
    )


_EXPLAINERS: tuple[Callable[[_Context], _Report | None], ...] = (
    _decimal,
    _option_with_brackets,
    _unknown_function,
    _assign_for_compare,
    _unexpected_indent,
    _missing_block,
    _unclosed_bracket,
    _missing_value,
)


# ---- hints ----------------------------------------------------------------------------

_TYPOS = {
    "costs": "the statement is `cost`",
    "gains": "the statement is `gain`",
    "requires": "the statement is `require`",
    "sets": "the statement is `set`",
    "if": "conditions are written `when ...` with an indented block below, and no `:`",
    "else": "alternatives are written `otherwise` on their own line",
    "elif": "write `otherwise when ...` (lined up with the `when`)",
    "def": "actions are declared with `action`",
    "end": "a block ends where its indentation ends: remove `end`",
    "then": "write the statements of a `when` on the lines below it, indented",
    "return": "an action ends after its last statement: remove `return`",
}
_STATEMENT_WORDS = {
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
    "otherwise",
    "pick",
    "nothing",
    "given",
    "do",
    "wait",
    "expect",
    "give",
    "take",
    "as",
}
_DECLARATION_WORDS = "`game`, `currency`, `meter`, `stat`, `level`, `table`, `item`, `slots`, `action` or `invariant`"

# an example of each statement, shown when a line of that kind does not read
_EXAMPLES = {
    "game": 'game farm "Tiny Farm"',
    "day": "day starts 04:00 UTC",
    "currency": "currency gems start 10 max 9_999",
    "meter": "meter energy start 30 max 30 regen 1 every 3m",
    "stat": "stat xp",
    "level": "level from xp at 0, 50, 150",
    "table": 'table crop   or   table crop from "crops.csv"',
    "columns": "columns seed_cost: int, grow: duration",
    "item": "item seed of crop max 999",
    "slots": "slots field 6",
    "action": "action buy_seed(kind: crop, qty: int 1..99)",
    "invariant": "invariant coins <= 100_000_000",
    "require": 'require coins >= 10 else "Not enough coins"',
    "cost": "cost coins 5, seed[kind] 1",
    "gain": "gain coins 5, seed[kind] 1",
    "set": "set field[slot].ready_at = now + 5m",
    "fill": "fill field[slot] with crop = kind, ready_at = now + 2m",
    "replace": "replace field[slot] with crop = kind, ready_at = now + 2m",
    "empty": "empty field[slot]",
    "let": "let kind = field[slot].crop",
    "limit": "limit 3 per day per kind",
    "cooldown": "cooldown 30m per slot",
    "emit": "emit order_filled(kind: kind, coins: paid)",
    "when": "when coins >= 10",
    "pick": "pick one",
    "scenario": 'scenario "wheat grows in two minutes"',
    "given": "given coins 50, seed[wheat] 2",
    "do": 'do plant(slot: 0, kind: wheat) fails "That plot is busy"',
    "wait": "wait 10m",
    "expect": "expect coins 45, field[0] empty",
    "bot": 'bot casual "Three short visits a day"',
    "sessions": "sessions 3 per day",
    "actions": "actions 12 per session",
    "try": "try sell(kind: any, qty: 10) when coins < 500",
    "give": "give friend coins 10   or   give friend loot common_chest",
    "take": "take target trophies up to 5",
    "loot": "loot common_chest",
    "on": "on level_up   or   on receive",
    "leaderboard": "leaderboard weekly_power by power resets weekly",
    "migrate": "migrate seed[carrot] -> seed[wheat]   or   migrate gems * 2",
    "event": "event harvest_festival from 2026-10-25 to 2026-11-01",
    "as": "as bob do attack(target: me)",
}


_STATEMENT_LIST = (
    "`require`, `cost`, `gain`, `set`, `fill`, `replace`, `empty`, `let`, `limit`, `cooldown`, "
    "`emit`, `when` or `pick one`"
)
# inside these declarations a line has no keyword of its own: an example by the declaration
_BLOCK_LINES = {
    "slots": "ready_at: time   (a field of every slot: its name and its type)",
    "table": "wheat: 5, 2m   (a row: its name, then one cell per column)",
}


def _hint(ctx: _Context) -> str | None:
    """A hint for a syntax error no explainer named: a known slip, else an example."""
    for known_slip in _SLIPS:
        hint = known_slip(ctx)
        if hint is not None:
            return hint
    example = _EXAMPLES.get(ctx.first_word) or _BLOCK_LINES.get(ctx.declaration_word)
    if example:
        return f"for example: `{example}`"
    if "COST" in ctx.accepts:
        return f"a statement starts with {_STATEMENT_LIST}"
    if "DO" in ctx.accepts:
        return "a step reads like `given coins 50`, `do plant(slot: 0, kind: wheat)`, `wait 10m` or `expect coins 45`"
    if "INT" in ctx.accepts and ctx.parent_line.lstrip().startswith("pick"):
        return "a branch of `pick one` starts with its weight: `70: gain coins 100`"
    return None


def _typo(ctx: _Context) -> str | None:
    w = ctx.what
    if w.value == "else" and ctx.first_word != "else":
        return "`else` and a message follow only a `require` or an `invariant`"
    if w.value == "otherwise" and w.type == "OTHERWISE":
        return "`otherwise` follows the block of a `when`, lined up with the `when`"
    return _TYPOS.get(w.value) if w.type in ("NAME", "ELSE") else None


def _misplaced(ctx: _Context) -> str | None:
    w = ctx.what
    if w.col == 1 and not ctx.at_end and w.type != "_INDENT":
        if w.value in _STATEMENT_WORDS and ctx.above in ("action", "on", "scenario", "bot"):
            return "statements belong to an action (steps to a scenario): indent this line under it"
        if w.value in _STATEMENT_WORDS:
            return (
                f"`{w.value}` is a statement, and statements live inside an action: "
                f"write it indented under `action NAME` (or `on EVENT`)"
            )
        if w.value in _VALUE_WORDS_ELSEWHERE:
            return "a named value is written `let NAME = VALUE`"
        return f"a declaration starts with {_DECLARATION_WORDS}"
    return None


# what other languages call a named value, at the start of a line
_VALUE_WORDS_ELSEWHERE = {"const", "constant", "var", "val", "define", "param", "global"}


def _reserved_word(ctx: _Context) -> str | None:
    """`columns cost: int`: a keyword where a name goes."""
    w = ctx.what
    if "NAME" in ctx.accepts and (w.type in ctx.literals or w.type == "FUNC") and w.value.isalpha():
        return f"`{w.value}` is a keyword of the rules, so it cannot be a name: pick another name"
    return None


def _missing_word(ctx: _Context) -> str | None:
    """A word the line needs is missing: `else`, a unit, `..`, a `,`."""
    w, accepts = ctx.what, ctx.accepts
    if w.type == "STRING" and "ELSE" in accepts:
        return 'write `else` before the message: `require coins >= 10 else "Not enough coins"`'
    if w.type == "INT" and "DURATION" in accepts and "INT" not in accepts:
        return f"a duration has a unit: `{w.value}s`, `{w.value}m` or `{w.value}h`"
    if w.type == "NAME" and {"DAY", "WEEK", "DURATION"} <= accepts:
        return "a period is `day`, `week` or a duration such as `30d`"
    if w.value == "-" and "_DOTS" in accepts:
        return "a range is written with `..`, as in `qty: int 1..99`"
    if w.type == "COMPARE" and "COMPARE" not in accepts:
        return "comparisons do not chain: join two with `and`, as in `1 < coins and coins < 5`"
    if "COMMA" in accepts and not ctx.at_end and w.line == ctx.line and w.type in _ITEM_STARTS:
        return f"is a `,` missing before `{w.value}`?"
    if ctx.at_end and ctx.code(ctx.line).endswith(","):
        return "remove the `,` at the end of the line, or add what follows it"
    if len(accepts & _VALUE_STARTS) >= 5 and not ctx.at_end:
        return "a value goes here: a number, a duration such as 5m, a name, `now` or `(...)`"
    if len(accepts) == 1 and not ctx.at_end and next(iter(accepts)) in ctx.literals:
        return f"is a `{ctx.literals[next(iter(accepts))]}` missing before `{w.value}`?"
    return None


_ITEM_STARTS = {"NAME", "INT", "DURATION", "STRING", "NOW", "LEVEL", "TRUE", "FALSE", "FUNC"}
_SLIPS: tuple[Callable[[_Context], str | None], ...] = (
    _typo,
    _misplaced,
    _reserved_word,
    _missing_word,
)


_CHARACTER_HINTS = {
    "'": 'messages are written in double quotes: "like this"',
    '"': 'end the message with `"` on the same line',
    ";": "a statement ends at the end of its line: remove the `;`",
    "{": 'braces belong inside messages: "Ready in {field[slot].ready_at - now}"',
    "}": 'braces belong inside messages: "Ready in {field[slot].ready_at - now}"',
    "&": "write `and`",
    "|": "write `or`",
    "!": 'write `not`, or `!=` for "is not equal to"',
    "\t": "separate words with spaces, not tabs",
}


def _bad_character(what: Unexpected, lines: list[str]) -> _Report:
    text = lines[what.line - 1] if 0 < what.line <= len(lines) else ""
    ch = text[what.col - 1] if 0 < what.col <= len(text) else "?"
    if ch == '"':
        return _Report(
            "this message is not closed",
            what.line,
            what.col,
            len(text) - what.col + 1,
            _CHARACTER_HINTS['"'],
        )
    if ch == "\t":
        return _Report("unexpected tab", what.line, what.col, 1, _CHARACTER_HINTS["\t"])
    if ch in "0123456789":  # not isdigit(): `²` and `٣` are digits that start no number
        word = re.match(r"[0-9][A-Za-z0-9_]*", text[what.col - 1 :]).group(0)  # type: ignore[union-attr]
        return _Report(
            f"`{word}` is not a number, a duration or a name",
            what.line,
            what.col,
            len(word),
            "names start with a letter; a duration ends in its unit: ms, s, m, h, d or w (`30m`)",
        )
    hint = _CHARACTER_HINTS.get(ch)
    if hint is None and ch.isalpha():
        hint = "names use the letters a-z, digits and `_`"
    return _Report(
        f"unexpected character `{ch}`",
        what.line,
        what.col,
        1,
        hint or "this character has no meaning in the rules: remove it",
    )


def explain(
    what: Unexpected, file: str, text: str, literals: dict[str, str], above: str = ""
) -> Diagnostic:
    """The R001 diagnostic for a syntax error. `text` is the whole file (lines as in it) or
    its declaration alone, padded; `above` the first word of the declaration above it."""
    lines = text.split("\n")
    if what.type == "":
        report = _bad_character(what, lines)
    else:
        ctx = _Context(what, lines, literals, above)
        found = (explain_one(ctx) for explain_one in _EXPLAINERS)
        report = next((r for r in found if r is not None), None) or _generic(ctx)
        if report.hint is None:
            report = _Report(report.message, report.line, report.col, report.width, _hint(ctx))
    span = Span(file, report.line, report.col, report.line, report.col + report.width)
    return Diagnostic("R001", "error", report.message, span, report.hint)


# ---- reading the text around an error ---------------------------------------------


def comment_start(line: str) -> int | None:
    """Where the line's comment starts: the first `#` outside a message, if any."""
    in_string = escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
        elif ch == "#" and not in_string:
            return i
    return None


def strip_comment(line: str) -> str:
    """The line without its trailing comment (a `#` inside a message is kept)."""
    start = comment_start(line)
    return line if start is None else line[:start]


def end_of_code(lines: list[str], line: int, col: int) -> tuple[int, int]:
    """The position just after the last code before (line, col), skipping blank lines and comments."""
    ln = min(line, len(lines))
    if ln == line and strip_comment(lines[ln - 1])[: col - 1].strip():
        return ln, len(strip_comment(lines[ln - 1])[: col - 1].rstrip()) + 1
    ln = min(line - 1, len(lines))
    while ln > 1 and not strip_comment(lines[ln - 1]).strip():
        ln -= 1
    if ln < 1:
        return 1, 1
    return ln, len(strip_comment(lines[ln - 1]).rstrip()) + 1


def open_bracket(lines: list[str], upto: tuple[int, int]) -> tuple[str, int, int, str] | None:
    """The innermost bracket still open before position `upto`: (char, line, col, role)."""
    stack: list[tuple[str, int, int, str]] = []
    for number, text in enumerate(lines[: upto[0]], start=1):
        code = strip_comment(text)
        limit = upto[1] - 1 if number == upto[0] else len(code)
        in_string = False
        for i, ch in enumerate(code[:limit]):
            if ch == '"':
                in_string = not in_string
            elif in_string:
                continue
            elif ch in "([":
                stack.append((ch, number, i + 1, _bracket_role(code, i)))
            elif ch in ")]" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _bracket_role(code: str, i: int) -> str:
    if code[i] == "[":
        return "index"
    before = code[:i]
    if re.match(r"\s*action\s+\w+\s*$", before):
        return "parameter list"
    if re.search(r"\w\s*$", before):
        return "argument list"
    return "parenthesised expression"
