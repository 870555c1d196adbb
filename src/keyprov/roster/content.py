"""Step 2, where the header leaves a choice: the cells decide which column holds a field.

Exports put several columns under headers that could each be the email or the name: Microsoft
Forms has the respondent's account ('Email' = 'anonymous', 'Name' empty) beside the answers
to its questions, Google Forms a collected 'Email Address' beside a question 'Email'. Of two
such columns, one whose cells are valid for the field wins over one whose cells are not (a
column of 'anonymous' is no email column, an empty one no name column), and two that agree
in every row are the same column. Only columns that both hold the field and disagree are left
to the user. Each choice is made over a column's cells once, so the cost is one pass per
candidate column, and only for fields with more than one candidate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keyprov.roster.table import Cell, Table, cell_text, is_blank, normalise_text
from keyprov.roster.values import LIMIT_RESETS, clean_email, is_email, parse_amount

WHAT_A_CELL_HOLDS = {
    "email": "email address",
    "limit": "amount of US dollars",
    "limit_reset": "limit reset (daily, weekly or monthly)",
}
"""What a valid cell of a field is, for messages; a field not named here (the names, the id)
takes any text, so only an empty column is unfit for it."""
ONE_VALUE = {
    "email": "an email address",
    "limit": "an amount",
    "limit_reset": "a limit reset",
    "id": "an id",
}
"""One valid cell of a field, for 'wherever both hold ...'; a name otherwise."""


def _value(name: str, cell: Cell) -> tuple[str, str] | None:
    """(how the cell compares, how it reads) when it is filled; the key is '' if it is filled
    but not valid for the field."""
    text = normalise_text(cell_text(cell))
    if not text:
        return None
    if name == "email":
        email = clean_email(text)
        return (email if is_email(email) else "", text)
    if name == "limit":
        amount = parse_amount(cell, text)
        return (repr(amount) if isinstance(amount, float) and amount > 0 else "", text)
    if name == "limit_reset":
        value = text.lower()
        return (value if value in LIMIT_RESETS else "", text)
    return (text.casefold(), text)


@dataclass(frozen=True)
class Survey:
    """What one candidate column holds, row by row."""

    position: int
    values: list[tuple[str, str] | None]
    """Per data row: (comparison key, text), the key '' when invalid; None when empty."""
    filled: int
    valid: int
    invalid: Counter[str]
    """The texts of the filled cells that are not valid, and how often each occurs."""


def survey(name: str, position: int, rows: Sequence[Sequence[Cell]]) -> Survey:
    values: list[tuple[str, str] | None] = []
    invalid: Counter[str] = Counter()
    filled = valid = 0
    for cells in rows:
        value = _value(name, cells[position] if position < len(cells) else None)
        values.append(value)
        if value is None:
            continue
        filled += 1
        if value[0]:
            valid += 1
        else:
            invalid[value[1]] += 1
    return Survey(position, values, filled, valid, invalid)


def data_rows(table: Table, header_index: int) -> tuple[list[int], list[Sequence[Cell]]]:
    """The indexes and cells of the non-blank rows below the header."""
    indexes = [
        index
        for index in range(header_index + 1, len(table.rows))
        if not is_blank(table.rows[index])
    ]
    return indexes, [table.rows[index] for index in indexes]


def column_is_empty(table: Table, header_index: int, position: int) -> bool:
    return all(
        position >= len(cells) or not normalise_text(cell_text(cells[position]))
        for cells in table.rows[header_index + 1 :]
    )


@dataclass(frozen=True)
class Choice:
    position: int | None
    """The column that holds the field, or None when the content does not decide."""
    reason: str = ""
    """Why that column (for a note), or why the content cannot decide (for the question)."""
    candidates: tuple[int, ...] = ()
    """The columns left to choose between, when the content does not decide."""


def choose_column(
    name: str,
    positions: Sequence[int],
    table: Table,
    header_index: int,
    label: Callable[[int], str],
) -> Choice:
    """Which of several columns whose headers could be `name` holds it, by their cells."""
    indexes, rows = data_rows(table, header_index)
    surveys = [survey(name, position, rows) for position in positions]
    fit = [column for column in surveys if column.valid]
    unfit = [column for column in surveys if not column.valid]
    what = WHAT_A_CELL_HOLDS.get(name)
    if not fit:
        reason = f"no {what} in any of them" if what else "all of them are empty"
        return Choice(None, reason, tuple(positions))
    why_not = [f"{label(column.position)} {_why_unfit(column, what)}" for column in unfit]
    if len(fit) == 1:
        chosen = fit[0]
        return Choice(chosen.position, f"{label(chosen.position)}, because {_and(why_not)}")
    difference = _first_difference(fit)
    if difference is not None:
        row_index, first, second = difference
        reason = f"they differ on row {table.row_number(indexes[row_index])}: {first!r} and "
        return Choice(None, reason + f"{second!r}", tuple(column.position for column in fit))
    # The same values (some columns less filled): any of them gives the same participants.
    chosen = max(fit, key=lambda column: column.valid)
    agreeing = [label(column.position) for column in fit if column is not chosen]
    verb = "agrees" if len(agreeing) == 1 else "agree"
    one = ONE_VALUE.get(name, "a name")
    why_not.insert(0, f"{_and(agreeing)} {verb} with it wherever both hold {one}")
    return Choice(chosen.position, f"{label(chosen.position)}; {_and(why_not)}")


def _why_unfit(column: Survey, what: str | None) -> str:
    if not column.filled or what is None:
        return "is empty in every row"
    common = [text for text, _count in column.invalid.most_common(2)]
    if len(column.invalid) == 1:
        where = "in every row" if column.filled == len(column.values) else "only"
        return f"holds no {what} ({common[0]!r} {where})"
    return f"holds no {what} ({', '.join(repr(text) for text in common)}, …)"


def _first_difference(columns: Sequence[Survey]) -> tuple[int, str, str] | None:
    """(data row, one text, another text) of the first row where valid cells disagree."""
    for row_index, values in enumerate(zip(*(column.values for column in columns), strict=True)):
        seen: dict[str, str] = {}
        for value in values:
            if value is not None and value[0]:
                seen.setdefault(value[0], value[1])
        if len(seen) > 1:
            first, second = list(seen.values())[:2]
            return row_index, first, second
    return None


def _and(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
