"""Every diagnostic code, with what it means and how to fix it (`rulesc explain CODE`).

Codes are stable: tools and editors may match on them. A code is never reused for
another mistake.
"""

from __future__ import annotations

# code: (severity, title, explanation with an example)
CODES: dict[str, tuple[str, str, str]] = {
    "R001": ("error", "syntax error", "The line does not read as rules. The message says what was expected there,\nfor example `expected ')' to close the parameter list opened at 5:11`.\n\n    action buy(kind: crop, qty: int 1..9     # the ')' is missing\n"),
    "R002": ("error", "tab in the indentation", "Blocks are indented with spaces only, so that every editor shows them alike.\nReplace the tab with spaces (two per level is usual)."),
    "R003": ("error", "indentation does not match", "A line goes back to a column that no outer block used. Line it up with\nthe block it belongs to."),
    "R004": ("error", "unreadable `{...}` in a message", "Inside a message, `{...}` shows a value: `\"Ready in {field[slot].ready_at - now}\"`.\nWhat is between the braces must be a value."),
    "R005": ("error", "file is not UTF-8", "Rules files are UTF-8 text. Save the file as UTF-8."),
    "R010": ("error", "unknown name", "The name is not declared anywhere in the game. Check the spelling (the hint\nsuggests the closest name) or declare it:\n\n    currency coins start 200\n"),
    "R011": ("error", "declared twice", "Every resource, table, slot row, action, column and parameter is declared\nonce. Rename or remove one of them."),
    "R012": ("error", "type mismatch", "The value has the wrong type for where it is used: a duration where a count\nis needed, a crop where a slot number is needed.\n\n    cost coins 5m          # a duration is not coins\n    cost coins 5           # fixed\n"),
    "R013": ("error", "not a resource", "`cost` and `gain` take currencies, meters, stats and items. Slots change\nwith `fill`/`empty`/`set`; `level` follows from its stat."),
    "R014": ("error", "`per` names no parameter", "`limit 3 per day per kind` and `cooldown 30m per slot` keep one count per\nvalue of a parameter of the action, so `per` must name one."),
    "R015": ("error", "table row does not fit the columns", "Each row has one cell per column, in the order of the `columns` line."),
    "R016": ("error", "table cell of the wrong type", "A cell holds its column's type: a whole number, a duration such as 10m,\ntrue/false, or a row of another table."),
    "R017": ("error", "CSV does not match the table", "`table crop from \"crops.csv\"` reads a CSV beside the rules. Its first row is\nthe header: `name` and then the columns in the order of the `columns` line."),
    "R018": ("error", "level thresholds", "`level from xp at 0, 50, 150` lists the xp each level starts at: level 1 at\n0, and each next threshold higher than the one before."),
    "R019": ("error", "weight not positive", "Each branch of `pick one` has a weight of 1 or more; a branch that should\nnever happen is removed instead."),
    "R020": ("error", "requirements can never hold", "The action's requirements contradict each other or its parameters' bounds,\nso it could never run:\n\n    action sell(qty: int 1..10)\n      require qty > 20\n"),
    "R021": ("warning", "costed but never given", "Something costs this item but no action gives it and it starts at 0, so\nthe actions that cost it can never run."),
    "R022": ("warning", "unused resource", "Nothing reads or changes this resource. Use it or remove it."),
    "R023": ("error", "no `game` declaration", "A game declares its id and name once: `game harvest \"Harvest Valley\"`."),
    "R024": ("error", "unknown type", "Types are int, duration, time, bool, a table's name (its rows) or, for\nparameters, a row of slots (a slot number)."),
    "R025": ("error", "parameter type or bounds", "Clients send parameters, so each is typed and bounded: `qty: int 1..99`,\n`kind: crop`, `slot: field`, `flag: bool`. Times and durations cannot be sent."),
    "R026": ("error", "wrong use of `[...]` or `.field`", "Items counted per kind take one (`seed[kind]`); single counts take none\n(`coins`). Tables are read as `crop[kind].grow`, slots as `field[slot].ready_at`."),
    "R028": ("error", "check after an effect", "An action checks everything (require, limit, cooldown, cost) before it\nchanges anything. Move the check above the first effect."),
    "R029": ("error", "cannot be set", "Parameters and `let` values are fixed; `level` follows from its stat."),
    "R030": ("error", "resource options", "Only meters regenerate (`regen 1 every 3m`), and a meter needs a `max`."),
    "R031": ("error", "number out of range", "A literal is out of its range: a slot number past the last slot, a negative\namount, a start above the max, or a number past 64 bits."),
    "R032": ("error", "division by zero", "Dividing by 0 has no value. Divide by something else."),
    "R033": ("error", "min, max, ceil", "`min(a, b)` and `max(a, b)` take two or more values of one kind;\n`ceil(a / b)` takes one division and rounds it up."),
    "R034": ("error", "scenario step", "A scenario step names an unknown action, parameter or place, or a value of\nthe wrong kind."),
    "R035": ("error", "fill", "`fill field[slot] with crop = kind, ready_at = now + 2m` gives every field\nof the slot exactly once."),
    "R036": ("error", "`now` in an invariant", "Invariants hold in every state at any time; they cannot depend on `now`."),
    "R038": ("error", "name already used", "A `let` value takes a name no parameter, other value or declaration has."),
    "R039": ("error", "day start", "`day starts 04:00 UTC` gives the hour and minute (UTC) daily limits reset."),
    "R040": ("warning", "not snake_case", "Names are snake_case: lower-case letters, digits and `_`."),
    "R041": ("error", "limit or cooldown", "A limit allows at least once per period; periods and cooldowns are longer\nthan 0."),
    "R045": ("error", "scenario out of place", "Scenarios live under tests/ beside the rules, and only scenarios live there;\nthey are never part of the built pack."),
    "R050": ("error", "no game folder", "Commands take a game folder: a folder holding the game's .rules files."),
}


def explain(code: str) -> str | None:
    entry = CODES.get(code.upper())
    if entry is None:
        return None
    severity, title, text = entry
    return f"{code.upper()} ({severity}): {title}\n\n{text.rstrip()}\n"
