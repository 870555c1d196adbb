"""The grid of cells that loading produces and the header and row steps read.

A cell stays as the file stores it (text, number, date) until a step needs its text; how a
cell reads as text is decided here once, so the header search and the row checks agree.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

from keyprov.errors import RosterError, RosterProblem

_INVISIBLE = " \t\r\n\v\f\u00a0\u200b\u200c\u200d\u2060\ufeff"
"""Whitespace and the zero-width characters that copy and paste leaves at the ends of cells."""

Cell = str | int | float | bool | datetime | date | time | None
"""One cell as the file stores it: CSV gives text, workbooks give numbers and dates too."""


@dataclass
class Table:
    rows: list[Sequence[Cell]]
    """rows[i] is the row a spreadsheet app numbers i + 1."""
    sheets: tuple[str, ...] = ()
    """All sheet names of a workbook, for messages; empty for text files."""
    warnings: list[str] = field(default_factory=list)

    @staticmethod
    def row_number(index: int) -> int:
        return index + 1


def fail(shown: str, message: str) -> RosterError:
    """The error for a problem with the whole file (no row, no column): raise it to stop."""
    return RosterError([RosterProblem(shown, None, None, message)])


def normalise_text(value: str) -> str:
    """The one normalisation of every cell's text: NFC, no invisible characters at the ends,
    and runs of whitespace (a line break inside a cell, say) as a single space."""
    return " ".join(unicodedata.normalize("NFC", value).strip(_INVISIBLE).split())


def cell_text(value: Cell) -> str:
    """A cell as the user reads it in a spreadsheet app: 3 not 3.0, a date as 2026-03-01."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime) and value.time() == time(0, 0):
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def is_blank(cells: Sequence[Cell]) -> bool:
    """A row that looks empty in a spreadsheet app, even if it holds a zero-width space."""
    return all(
        cell is None or (isinstance(cell, str) and not cell.strip(_INVISIBLE)) for cell in cells
    )


def listing(cells: Sequence[Cell]) -> str:
    """The non-empty cells of a row, quoted, for messages."""
    return ", ".join(repr(text) for cell in cells if (text := cell_text(cell).strip()))
