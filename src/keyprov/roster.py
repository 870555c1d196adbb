"""Read a participant roster (CSV or Excel) into validated participants.

Reading has three steps, each replaceable on its own: load the file into a grid of strings,
find the header row and map its columns to fields, then validate every row. All problems are
collected and raised together, so the user fixes the file once.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from keyprov.errors import RosterError, RosterProblem

LIMIT_RESETS = ("daily", "weekly", "monthly")
DEFAULT_MAX_LIMIT = 100.0
HEADER_SEARCH_ROWS = 20
"""How far down to look for the header: some exports put title or report lines above it."""

FIELDS = ("name", "first_name", "last_name", "email", "limit", "limit_reset", "id")
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "name": ("name", "fullname", "participant", "participantname", "attendee"),
    "first_name": ("firstname", "givenname", "forename", "first"),
    "last_name": ("lastname", "surname", "familyname", "last"),
    "email": ("email", "emailaddress", "mail", "emailaddr", "useremail"),
    "limit": ("limit", "limitusd", "budget", "budgetusd", "credit", "credits", "usd"),
    "limit_reset": ("limitreset", "reset", "budgetreset"),
    "id": ("id", "studentid", "participantid", "userid"),
}
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]+$")


@dataclass(frozen=True)
class Participant:
    name: str
    email: str
    limit: float
    limit_reset: str | None
    row: int
    """The row number as a spreadsheet app shows it, for messages."""
    participant_id: str | None = None

    @property
    def identity(self) -> str:
        """What makes two rows the same person: the id when the roster has one, else the email."""
        return self.participant_id or self.email


@dataclass(frozen=True)
class Roster:
    path: Path
    participants: list[Participant]


def normalise_header(text: str) -> str:
    """Header matching ignores case, spacing and punctuation: 'E-mail Address' -> 'emailaddress'."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def normalise_text(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def read_roster(
    path: Path,
    *,
    default_limit: float | None = None,
    default_limit_reset: str | None = None,
    max_limit: float = DEFAULT_MAX_LIMIT,
    sheet: str | None = None,
    column_overrides: Mapping[str, str] | None = None,
) -> Roster:
    """Read and validate a roster; raise RosterError listing every problem found.

    `sheet` names the Excel sheet to read (default: the first); `column_overrides` maps a
    field (name, email, limit, limit_reset, id) to the header text that holds it.
    """
    shown = str(path)
    grid = _load_grid(path)
    header_index, columns = _find_header(grid, shown)
    problems: list[RosterProblem] = []
    participants: list[Participant] = []
    first_row_of: dict[str, int] = {}
    for index in range(header_index + 1, len(grid)):
        cells = grid[index]
        if not any(cell.strip() for cell in cells):
            continue
        row_number = index + 1
        participant, row_problems = _read_row(
            cells, row_number, columns, shown, default_limit, default_limit_reset, max_limit
        )
        problems.extend(row_problems)
        if participant is None:
            continue
        identity = participant.identity
        if identity in first_row_of:
            column = columns.header_of("id" if participant.participant_id else "email")
            problems.append(
                RosterProblem(
                    shown,
                    row_number,
                    column,
                    f"{identity!r} is also on row {first_row_of[identity]}; "
                    "each participant may appear once. Delete one of the two rows.",
                )
            )
            continue
        first_row_of[identity] = row_number
        participants.append(participant)
    if not participants and not problems:
        problems.append(
            RosterProblem(shown, None, None, "the roster has a header but no participants.")
        )
    if problems:
        raise RosterError(problems)
    return Roster(path=path, participants=participants)


@dataclass(frozen=True)
class _Columns:
    """Which grid column holds each field, and the header text the user wrote for it."""

    index: Mapping[str, int]
    header: Mapping[str, str]

    def cell(self, cells: list[str], field: str) -> str:
        position = self.index.get(field)
        if position is None or position >= len(cells):
            return ""
        return normalise_text(cells[position])

    def header_of(self, field: str) -> str | None:
        return self.header.get(field)


def _load_grid(path: Path) -> list[list[str]]:
    """The file as rows of cell strings, with row i being spreadsheet row i + 1."""
    shown = str(path)
    if not path.exists():
        raise RosterError([RosterProblem(shown, None, None, "no such file.")])
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, header=None, dtype=object, engine="openpyxl")
        elif suffix in (".csv", ".txt", ".tsv"):
            frame = pd.read_csv(
                path,
                header=None,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                encoding="utf-8-sig",
                sep="\t" if suffix == ".tsv" else ",",
            )
        else:
            raise RosterError(
                [
                    RosterProblem(
                        shown,
                        None,
                        None,
                        f"keyprov reads .csv, .tsv, .txt, .xlsx and .xlsm files, not {suffix!r}. "
                        "Save the roster as CSV or Excel workbook (.xlsx) and try again.",
                    )
                ]
            )
    except RosterError:
        raise
    except pd.errors.EmptyDataError as error:
        raise RosterError([RosterProblem(shown, None, None, "the file is empty.")]) from error
    except Exception as error:
        # Parsers fail in many ways (zip, XML, encoding, C parser); for the user each one means
        # the same thing: this file is not a roster keyprov can read.
        raise RosterError(
            [
                RosterProblem(
                    shown,
                    None,
                    None,
                    f"the file cannot be read as {suffix} ({type(error).__name__}: {error}). "
                    "Check that it is the roster, exported as CSV or Excel workbook.",
                )
            ]
        ) from error
    return [[_cell_text(value) for value in row] for row in frame.itertuples(index=False)]


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _find_header(grid: list[list[str]], shown: str) -> tuple[int, _Columns]:
    for index, cells in enumerate(grid[:HEADER_SEARCH_ROWS]):
        columns = _map_columns(cells)
        if "email" in columns.index and ("name" in columns.index or "first_name" in columns.index):
            return index, columns
    if not any(any(cell.strip() for cell in row) for row in grid):
        raise RosterError([RosterProblem(shown, None, None, "the file is empty.")])
    first = next((row for row in grid if any(cell.strip() for cell in row)), [])
    found = ", ".join(repr(cell) for cell in first if cell.strip())
    raise RosterError(
        [
            RosterProblem(
                shown,
                None,
                None,
                "no header row with a name column ('name', or 'first_name' and 'last_name') "
                f"and an 'email' column was found (first row has: {found}). "
                "Rename the columns, or add a header row.",
            )
        ]
    )


def _map_columns(cells: list[str]) -> _Columns:
    index: dict[str, int] = {}
    header: dict[str, str] = {}
    lookup = {synonym: field for field, names in SYNONYMS.items() for synonym in names}
    for position, text in enumerate(cells):
        field = lookup.get(normalise_header(text))
        if field is not None and field not in index:
            index[field] = position
            header[field] = text.strip()
    return _Columns(index=index, header=header)


def _read_row(
    cells: list[str],
    row: int,
    columns: _Columns,
    shown: str,
    default_limit: float | None,
    default_limit_reset: str | None,
    max_limit: float,
) -> tuple[Participant | None, list[RosterProblem]]:
    problems: list[RosterProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(RosterProblem(shown, row, columns.header_of(field), message))

    name = columns.cell(cells, "name")
    if not name:
        name = " ".join(
            part
            for part in (columns.cell(cells, "first_name"), columns.cell(cells, "last_name"))
            if part
        )
    if not name:
        problem("name" if "name" in columns.index else "first_name", "the name is empty.")

    email = columns.cell(cells, "email").lower()
    if not email:
        problem("email", "the email is empty; every participant needs one.")
    elif not EMAIL_PATTERN.match(email):
        problem("email", f"{email!r} is not a valid email address.")

    limit = _read_limit(columns.cell(cells, "limit"), default_limit, max_limit, problem)

    limit_reset = columns.cell(cells, "limit_reset").lower() or default_limit_reset
    if limit_reset is not None and limit_reset not in LIMIT_RESETS:
        problem("limit_reset", f"{limit_reset!r} is not one of {', '.join(LIMIT_RESETS)}.")

    participant_id = columns.cell(cells, "id") or None
    if problems or limit is None:
        return None, problems
    return Participant(name, email, limit, limit_reset, row, participant_id), problems


def _read_limit(
    text: str,
    default_limit: float | None,
    max_limit: float,
    problem: Callable[[str, str], None],
) -> float | None:
    if not text:
        if default_limit is None:
            problem("limit", "no limit: fill in this cell, or give a default with --limit USD.")
        return default_limit
    try:
        limit = float(text.replace("$", "").replace("USD", "").strip())
    except ValueError:
        problem("limit", f"{text!r} is not a number of US dollars (write e.g. 2.50).")
        return None
    if not math.isfinite(limit) or limit <= 0:
        problem("limit", f"{text!r} must be a positive amount of US dollars.")
        return None
    if limit > max_limit:
        problem(
            "limit",
            f"{text!r} is above the maximum of {max_limit:g} USD per key "
            "(a typo for a smaller amount?). Fix the cell, or raise --max-limit.",
        )
        return None
    return limit
