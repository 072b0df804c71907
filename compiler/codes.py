"""Every diagnostic code, with what it means and how to fix it (`rulesc explain CODE`).

Codes are stable: tools and editors may match on them. A code is never reused for
another mistake. tests/golden/diagnostics holds a case for each.
"""

from __future__ import annotations

import textwrap


def _entry(severity: str, title: str, text: str) -> tuple[str, str, str]:
    return severity, title, textwrap.dedent(text).strip("\n")


# code: (severity, title, explanation with an example)
CODES: dict[str, tuple[str, str, str]] = {
    "R001": _entry(
        "error",
        "syntax error",
        """
        The line does not read as rules. The message says what was expected there, in
        words, and the caret points where the fix goes:

            action buy(kind: crop, qty: int 1..9     # expected `)` to close the parameter list
            require coins = 5                         # to compare, write `==`
            wheat: 5, 0.25                            # no decimals: `25` in a percent column

        A line with a syntax error is left out of its declaration (with the block under it),
        and the rest of the declaration is still checked.
        """,
    ),
    "R002": _entry(
        "error",
        "tab in the indentation",
        """
        Blocks are indented with spaces only, so that every editor shows them alike.
        Replace the tab with spaces (two per level is usual).
        """,
    ),
    "R003": _entry(
        "error",
        "indentation does not match",
        """
        A line goes back to an indentation that no block around it used. Line it up
        with the block it belongs to; the hint lists the indentations that fit.
        """,
    ),
    "R004": _entry(
        "error",
        "unreadable `{...}` in a message",
        """
        Inside a message, `{...}` shows a value: "Ready in {field[slot].ready_at - now}".
        What is between the braces must be a value.
        """,
    ),
    "R005": _entry(
        "error",
        "file is not UTF-8",
        """
        Rules files are UTF-8 text. Save the file as UTF-8.
        """,
    ),
    "R006": _entry(
        "error",
        "nested too deeply",
        """
        The rules have limits (docs/language.md, "Limits"), so that every game that
        checks builds a pack Python can load:

        - `when` blocks and the branches of `pick one` nest at most 32 deep;
        - an expression is at most 256 operations deep, so a sum such as
          `a + b + c + ...` has at most 257 terms;
        - brackets, calls, `[...]` and operators nest at most 64 deep inside each other,
          where a run of `+` and `-` (`a + b - c`) counts once, as does a run of `and`
          or of `or`.

        Join conditions with `and`, or name a part of a long expression with `let`:

            let part = a + b + c
            gain coins part + d
        """,
    ),
    "R007": _entry(
        "error",
        "control character",
        """
        Rules files are plain text: they hold no control characters (other than tabs
        in messages and comments), no carriage return without a line feed, and no
        Unicode line separators. Such a character is often invisible in an editor:
        delete the character at the caret, or retype the line.
        """,
    ),
    "R010": _entry(
        "error",
        "unknown name",
        """
        The name is not declared anywhere in the game: a resource, a table's column,
        a slot's field or a value. Check the spelling (the hint suggests the closest
        name) or declare it:

            currency coins start 200
        """,
    ),
    "R011": _entry(
        "error",
        "declared twice",
        """
        The game, `level`, `day starts`, every resource, table, slot row, action,
        column, table row and parameter are declared once. Rename or remove one of
        them; the note points at the first.
        """,
    ),
    "R012": _entry(
        "error",
        "type mismatch",
        """
        The value has the wrong type for where it is used: a duration where a count
        is needed, a crop where a number is needed, a number where a condition is.

            cost coins 5m          # a duration is not coins
            cost coins 5           # fixed
        """,
    ),
    "R013": _entry(
        "error",
        "not a resource",
        """
        `cost` and `gain` take currencies, meters, stats and items. Slots change
        with `fill`, `empty` and `set`; tables are fixed; `level` follows from its stat.
        """,
    ),
    "R014": _entry(
        "error",
        "`per` names no parameter",
        """
        `limit 3 per day per kind` and `cooldown 30m per slot` keep one count per
        value of a parameter of the action, so `per` must name one.
        """,
    ),
    "R015": _entry(
        "error",
        "table rows",
        """
        A table has a `columns` line and at least one row. Each row has a name and
        one cell per column, in the order of the `columns` line:

            table crop
              columns seed_cost: int, grow: duration
              wheat: 5, 2m
        """,
    ),
    "R016": _entry(
        "error",
        "table cell of the wrong type",
        """
        A cell holds its column's type: a whole number, a duration such as 10m,
        1h30m or, in parts, 2h 30m (in a CSV too), true/false, or a row of a table.
        """,
    ),
    "R017": _entry(
        "error",
        "CSV does not match the table",
        """
        `table crop from "crops.csv"` reads a CSV beside the rules. Its first row is
        the header: `name` and then the columns in the order of the `columns` line.
        A table takes its rows from the CSV or from the rules, not both.
        """,
    ),
    "R018": _entry(
        "error",
        "level thresholds",
        """
        `level from xp at 0, 50, 150` lists the xp each level starts at: level 1 at
        0, and each next threshold higher than the one before.
        """,
    ),
    "R019": _entry(
        "error",
        "weight not positive",
        """
        Each branch of `pick one` has a weight of 1 or more; a branch that should
        never happen is removed instead.
        """,
    ),
    "R020": _entry(
        "error",
        "requirements can never hold",
        """
        The action's requirements contradict each other, its parameters' bounds or a
        resource's range, so it could never run:

            action sell(qty: int 1..10)
              require qty > 20
        """,
    ),
    "R021": _entry(
        "warning",
        "costed but never given",
        """
        Something costs this item but no action gives it and it starts at 0, so
        the actions that cost it can never run. (Shown once the rules have no errors.)
        """,
    ),
    "R022": _entry(
        "warning",
        "unused resource",
        """
        Nothing reads or changes this resource. Use it or remove it. (Shown once the
        rules have no errors.)
        """,
    ),
    "R023": _entry(
        "error",
        "no `game` declaration",
        """
        A game declares its id and title once: `game harvest "Harvest Valley"`.
        """,
    ),
    "R024": _entry(
        "error",
        "unknown type",
        """
        Types are int, duration, time, bool, a table's name (its rows) or, for
        parameters, a row of slots (a slot number).
        """,
    ),
    "R025": _entry(
        "error",
        "parameter type or bounds",
        """
        Clients send parameters, so each is typed and bounded: `qty: int 1..99`,
        `kind: crop`, `slot: field`, `flag: bool`. Times and durations cannot be sent.
        """,
    ),
    "R026": _entry(
        "error",
        "wrong use of `[...]` or `.field`",
        """
        Items counted per kind take one (`seed[kind]`); single counts take none
        (`coins`). Tables are read as `crop[kind].grow`, slots as `field[slot].ready_at`.
        """,
    ),
    "R028": _entry(
        "error",
        "check after an effect",
        """
        An action checks everything (require, limit, cooldown, cost) before it
        changes anything. Move the check above the first effect. A limit or cooldown
        cannot sit inside a `pick one` branch.
        """,
    ),
    "R029": _entry(
        "error",
        "cannot be set",
        """
        Parameters and `let` values are fixed; `level` follows from its stat.
        """,
    ),
    "R030": _entry(
        "error",
        "resource options",
        """
        Only meters regenerate (`regen 1 every 3m`), and a meter needs a `max`.
        """,
    ),
    "R031": _entry(
        "error",
        "number out of range",
        """
        A number is out of its range: a slot number past the last slot, a negative
        amount, a start above the max, a count of slots outside 1..1000, or a number
        past 64 bits.
        """,
    ),
    "R032": _entry(
        "error",
        "division by zero",
        """
        Dividing by 0 has no value. Divide by something else.
        """,
    ),
    "R033": _entry(
        "error",
        "min, max, ceil",
        """
        `min(a, b)` and `max(a, b)` take two or more values of one kind;
        `ceil(a / b)` takes one division and rounds it up.
        """,
    ),
    "R034": _entry(
        "error",
        "scenario step",
        """
        A scenario step names an unknown action, parameter or place, or gives a
        value of the wrong kind:

            do plant(slot: 0, kind: wheet)     # `wheet` is not a crop
            expect field[0] wheat              # a whole slot is `empty`; write field[0].crop wheat
        """,
    ),
    "R035": _entry(
        "error",
        "fill",
        """
        `fill field[slot] with crop = kind, ready_at = now + 2m` gives every field
        of the slot exactly once.
        """,
    ),
    "R036": _entry(
        "error",
        "`now` in an invariant",
        """
        Invariants hold in every state at any time; they cannot depend on `now`.
        """,
    ),
    "R038": _entry(
        "error",
        "name already used",
        """
        A `let` value takes a name no parameter, other value, declaration or table
        row has.
        """,
    ),
    "R039": _entry(
        "error",
        "day start",
        """
        `day starts 04:00 UTC` gives the hour (00-23) and minute (00-59), in UTC, at
        which daily limits reset.
        """,
    ),
    "R040": _entry(
        "warning",
        "not snake_case",
        """
        Names are snake_case: lower-case letters, digits and `_`.
        """,
    ),
    "R041": _entry(
        "error",
        "limit or cooldown",
        """
        A limit allows at least once per period; periods and cooldowns are longer
        than 0.
        """,
    ),
    "R045": _entry(
        "error",
        "scenario out of place",
        """
        Scenarios live under tests/ beside the rules, and only scenarios live there;
        they are never part of the built pack.
        """,
    ),
    "R060": _entry(
        "error",
        "bot out of place",
        """
        Bots are scripted players for `rulesc simulate`. They live in bots/*.rules
        beside the rules, and only bots live there: they are never part of the built
        pack, so editing a bot does not change the game's version.
        """,
    ),
    "R061": _entry(
        "error",
        "what a bot tries",
        """
        Each `try` names an action of the game and gives every parameter a value of
        its type: a literal, an expression over the player's state, or `any` (a valid
        value picked at random). An optional `when` is a condition:

            try sell(kind: any, qty: produce[kind]) when coins < 500
            try buy_seed(kind: wheat, qty: 5)
        """,
    ),
    "R062": _entry(
        "error",
        "how often a bot plays",
        """
        A bot says how often it plays, once each: `sessions N per day` (1 to 96) and
        `actions N per session` (1 to 1000):

            bot casual
              sessions 3 per day
              actions 12 per session
              try harvest(slot: any)
        """,
    ),
    "R093": _entry(
        "error",
        "a bot's starting state",
        """
        `given` in a bot sets where each of its runs starts, like a scenario's `given`: its
        own resources (within their max) and `empty` slots, so `rulesc simulate` can play a
        late game without playing the early one first. A bot plays alone, so it cannot give
        another player's state (`bob.coins`):

            bot rich
              sessions 4 per day
              actions 20 per session
              given coins 10_000, seed[wheat] 5
              try plant(slot: any, kind: wheat)
        """,
    ),
    "R070": _entry(
        "error",
        "not public",
        """
        An action reads another player's resource (`target.power`, `target.level`) from a
        snapshot of that player's state, and may only read what the rules make public:

            stat power public
            action attack(target: player)
              require target.power < power
        """,
    ),
    "R071": _entry(
        "error",
        "another player",
        """
        Another player is named by a `player` parameter of the action: the runtime reads
        a snapshot of exactly those players before the action runs, and delivers `give`
        and `take` to exactly them. So only parameters can be players (not a table's
        column or a slot's field), `give`/`take` and `target.power` name a parameter
        directly (not a `let` copy), and a hook's `sender` can only be compared or
        emitted:

            action gift(friend: player)
              give friend coins 10
        """,
    ),
    "R072": _entry(
        "error",
        "loot table draws from itself",
        """
        A loot table may draw from other tables (`10: loot rare_chest`), but never,
        through them, from itself: the draw would never end.
        """,
    ),
    "R073": _entry(
        "error",
        "hook",
        """
        The hooks are `on level_up` (after a step raised the level) and `on receive`
        (after a delivery from another player was applied). A hook runs after its step was
        decided, so it cannot refuse it (`require`, `cost`, `limit`, `cooldown`) or act on
        other players (`give`, `take`); it chooses with `when` and changes this player:

            on level_up
              gain gems 5
        """,
    ),
    "R074": _entry(
        "error",
        "leaderboard",
        """
        `leaderboard weekly_power by power resets weekly` ranks players by one count
        (a stat, a currency, ...: not `level`, which follows from its stat), and starts
        afresh daily, weekly (Mondays at `day starts`) or never.
        """,
    ),
    "R075": _entry(
        "warning",
        "`fill` may find the slot filled",
        """
        `fill` only fills an empty slot: at run time, a `fill` into a filled slot refuses
        the whole action with the code `slot_busy` ("slot field[2] is busy"), and nothing
        is spent. The checker warns where nothing before the `fill`, in the same action,
        says the slot is empty. Say it, with the player's message:

            action plant(slot: field, kind: crop)
              require field[slot] is empty else "That plot is busy"
              cost seed[kind] 1
              fill field[slot] with crop = kind, ready_at = now + crop[kind].grow

        or, to overwrite whatever the slot holds on purpose, write `replace`:

            replace field[slot] with crop = kind, ready_at = now + crop[kind].grow

        The check is by the words: `require field[slot] is empty` (or a `when` saying so)
        guards `fill field[slot]` when the slot is written the same way, its index is made
        of parameters, `let` values and constants, and no other `fill` of that row comes
        between them.
        """,
    ),
    "R086": _entry(
        "error",
        "keys of an item of two tables",
        """
        An item counted per two tables (`item produce of crop, quality`) is read and
        written with a row of each, in the order declared; every other item takes one key
        or none, and tables and slots take one:

            item produce of crop, quality
            gain produce[kind, q] 1          # not `produce[kind]`
            cost seed[kind] 1                # not `seed[kind, gold]`: seeds are per crop

        In scenarios and admin grants the place is written the same way:
        `given produce[wheat, gold] 3`, `{"produce[wheat, gold]": 3}`; in a `migrate`
        line too, where `*` stands for every row of one key: `produce[beet, *]`.
        """,
    ),
    "R087": _entry(
        "error",
        "an item of two tables where it is not supported yet",
        """
        An item counted per two tables (`item produce of crop, quality`) is gained, costed,
        set and read in actions and hooks; a loot table cannot give it yet, and another
        player's cannot be read (`target.produce[kind, q]`). Give it in the action instead:

            action open_crate(kind: crop)
              gain produce[kind, gold] 1
        """,
    ),
    "R090": _entry(
        "error",
        "migrate",
        """
        A `migrate` line says where what players hold under older rules goes, applied once
        to each player when first read under these rules. Its source names what the rules
        no longer have (a removed resource, or a row gone from a table); its target is a
        resource of these rules (a row of it when it is counted per a table):

            migrate crop[carrot] -> crop[wheat]     # a row renamed: seeds, produce, plots
            migrate seed[carrot] -> coins * 3       # refunded, 3 coins each
            migrate gems -> diamonds                # a resource renamed
            migrate seed[carrot] -> nothing         # dropped, on purpose
            migrate gems * 2                        # what players hold, doubled once

        An item of two tables (`item produce of crop, quality`) moves with the rows of
        either table (`migrate crop[carrot] -> crop[wheat]` moves `produce[carrot, *]` to
        `produce[wheat, *]`), or by pairs, `*` standing for every row of a key:

            migrate produce[carrot, gold] -> produce[wheat, silver]
            migrate produce[carrot, *] -> produce[wheat, *]   # `*`: the same row
            migrate crop[carrot] -> coins * 3                 # every count of the row, 3 coins each
        """,
    ),
    "R096": _entry(
        "error",
        "two migrate lines decide one pair",
        """
        For each pair of an item of two tables the most specific `migrate` line wins: a
        line naming both rows, then a pair with one `*`, then a row line of either table
        (row lines that rename compose: `crop[beet] -> crop[carrot]` and
        `quality[bronze] -> quality[silver]` make `produce[beet, bronze]` into
        `produce[carrot, silver]`). Two lines of the same level that send one pair two
        ways leave it undecided:

            migrate produce[beet, *] -> produce[carrot, *]
            migrate produce[*, bronze] -> coins * 2      # R096: produce[beet, bronze]?
            migrate produce[beet, bronze] -> nothing     # settles it

        The same holds for a row line of each table that drops or converts
        (`crop[beet] -> nothing` and `quality[bronze] -> coins * 2`): add the pair's line.
        """,
    ),
    "R076": _entry(
        "error",
        "constant",
        """
        `let NAME = EXPR` at the top level names a constant of the game. Its value is
        computed by the compiler, before anyone plays, from literals, other constants
        (in any order) and table cells, with `min`, `max` and `ceil`:

            let season_length = 28d
            let starter_gold = 50 * 10
            let best_price = max(crop[wheat].sell, crop[corn].sell)

        It cannot read a player's state, `level` or `now` (use a `let` inside the
        action for that), cannot be computed from itself, and cannot share its name with
        a declaration or a table's row.
        """,
    ),
    "R077": _entry(
        "error",
        "chance out of range",
        """
        `chance P %` runs its block with a chance of P in 100 (`chance P per mille`: P in
        1000), so P goes from 0 (never) to 100 (always). A chance written as a number
        outside that range can never be drawn as written:

            chance 25 %                        # one time in four
              gain produce[kind] 1
            chance crop[kind].extra_pct %      # from a table column, checked when drawn

        A computed chance outside the range rejects the action with `overflow`.
        """,
    ),
    "R080": _entry(
        "warning",
        "`draws` on an action that draws nothing",
        """
        `draws N` in a scenario pins which branch of a `pick one` (or which entry of a loot
        table, or whether a `chance` happens) a `do` step takes. The action has no `pick
        one`, no `chance`, no `gain loot` and no `give ... loot`, and no hook draws either,
        so there is nothing to pin: remove `draws ...`, or `do` the action that draws.

            do work draws 2        # work only gains coins: write `do work`
        """,
    ),
    "R081": _entry(
        "error",
        "space around the `.` of a field",
        """
        A field or column is read with a `.` that touches both sides: `field[0].crop`,
        `crop[kind].sell`. A space before or after it (`field[0] .crop`) reads as something
        else at a glance, so it is refused; write it without spaces.
        """,
    ),
    "R082": _entry(
        "error",
        "unknown period or calendar",
        """
        `season is spring` names a period of the calendar (or a row of the table) the value
        belongs to; `day of season`, `next season` and `limit 1 per season` name a calendar.
        The name is not one of them: the message suggests the closest.

            calendar season every 28d: spring, summer, fall, winter
            require season is sprng       # did you mean `spring`?
            limit 1 per seasn             # did you mean `season`?
        """,
    ),
    "R083": _entry(
        "error",
        "a calendar that cannot be",
        """
        A calendar's periods last whole days (`every 28d`, `every 1w`), so that a period
        starts when a day does (at `day starts`), and its `from` date is a real day,
        written YYYY-MM-DD (UTC):

            calendar season every 28d from 2026-03-01: spring, summer, fall, winter
        """,
    ),
    "R084": _entry(
        "error",
        "a calendar read where time does not pass",
        """
        A calendar's period moves with server time, like `now`: an invariant (which must
        hold at all times) or a top-level constant (computed once, by the compiler) cannot
        read it. Read it in an action or a hook: `require season is spring`.
        """,
    ),
    "R050": _entry(
        "error",
        "no game folder",
        """
        Commands take a game folder: a folder holding the game's .rules files.
        """,
    ),
    "R091": _entry(
        "error",
        "event",
        """
        An `event` runs at times the server's clock decides (UTC), either once, from a
        date (and time) to another, or again every day or every week for a while. While it
        runs it sets table cells and limits' counts, and nothing else:

            event harvest_festival from 2026-10-25 to 2026-11-01
              crop[wheat].sell = 12          # a table's cell (a price, a duration, ...)
              limit daily_gift 2 per day     # the count of `daily_gift`'s `limit N per day`

            event weekend every week on saturday for 2d
            event happy_hour every day at 18:00 for 1h

        The cell is a row and column of a table the rules declare, with a value of the
        column's type; the limit is the one of the action with that period. A recurring
        event lasts more than 0 and at most its day or week.
        """,
    ),
    "R092": _entry(
        "error",
        "two events set the same thing at the same time",
        """
        Two events that set the same cell or limit must never run at the same time: which
        value would win would depend on the order of their lines. Give each its own
        cells, or schedule them apart:

            event harvest_festival from 2026-10-25 to 2026-11-01
              crop[wheat].sell = 12
            event weekend every week on saturday for 2d
              crop[wheat].sell = 10        # R092: 2026-10-31 is a saturday in the festival
        """,
    ),
    "R051": _entry(
        "warning",
        "scenarios in a folder no command reads",
        """
        Scenario tests live in `tests/` beside the game's .rules files (bots in `bots/`).
        A folder of the game with another name is not read, so scenarios in it would
        never run; `rulesc test` would say "0 passed". Move them:

            git mv test/basics.rules tests/basics.rules
        """,
    ),
}


def explain(code: str) -> str | None:
    entry = CODES.get(code.upper())
    if entry is None:
        return None
    severity, title, text = entry
    return f"{code.upper()} ({severity}): {title}\n\n{text.rstrip()}\n"
