"""Properties of the roster reader, over inputs no one would think to write by hand.

- A roster written as CSV (any delimiter, encoding and header spelling) or as xlsx (limits as
  numbers or as text) reads back as the same participants.
- Whatever the file holds, the reader returns a Roster or raises RosterError, nothing else;
  it raises OptionError exactly when an option is unusable, whatever the file.
"""

from __future__ import annotations

import csv
import io
import tempfile
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from keyprov.errors import OptionError, RosterError
from keyprov.roster import DEFAULT_MAX_LIMIT, normalise_header, normalise_text, read_roster

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Names: any printable text (letters of every script, punctuation, quotes, delimiters), but
# no control characters, which no spreadsheet cell holds.
names = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
        blacklist_characters="\ufffe\uffff",
    ),
    min_size=1,
    max_size=30,
).filter(lambda name: normalise_text(name) != "")
local_parts = st.from_regex(r"[A-Za-z0-9+_-]{1,10}(\.[A-Za-z0-9+_-]{1,8}){0,2}", fullmatch=True)
domains = st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,5})?\.(org|com|example\.org)", fullmatch=True)
emails = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)
cents = st.integers(min_value=1, max_value=10_000)
people = st.lists(
    st.tuples(names, emails, cents), min_size=1, max_size=15, unique_by=lambda p: p[1].lower()
)

NAME_HEADERS = ("name", "Name", "Full name", "PARTICIPANT", "Participant name")
EMAIL_HEADERS = ("email", "E-mail", "Email Address", "e_mail", "Mail")
LIMIT_HEADERS = ("limit", "Budget", "Credit (USD)", "USD")


def expected(rows: Sequence[tuple[str, str, int]]) -> list[tuple[str, str, float]]:
    return [(normalise_text(name), email.lower(), cents / 100) for name, email, cents in rows]


def read_back(path: Path) -> list[tuple[str, str, float]]:
    roster = read_roster(path)
    return [(p.name, p.email, p.limit) for p in roster.participants]


@SETTINGS
@given(
    rows=people,
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    headers=st.tuples(
        st.sampled_from(NAME_HEADERS),
        st.sampled_from(EMAIL_HEADERS),
        st.sampled_from(LIMIT_HEADERS),
    ),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_csv_round_trip(
    rows: list[tuple[str, str, int]],
    delimiter: str,
    encoding: str,
    headers: tuple[str, str, str],
    line_end: str,
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerow(headers)
    for name, email, cents in rows:
        amount = f"{cents / 100:.2f}"
        # A European spreadsheet writes decimal commas with semicolons.
        writer.writerow([name, email, amount.replace(".", ",") if delimiter == ";" else amount])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "roster.csv"
        path.write_bytes(buffer.getvalue().encode(encoding))
        assert read_back(path) == expected(rows)


@SETTINGS
@given(rows=people, as_text=st.booleans(), title_rows=st.integers(min_value=0, max_value=4))
def test_xlsx_round_trip(rows: list[tuple[str, str, int]], as_text: bool, title_rows: int) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for index in range(title_rows):
        sheet.append([f"Workshop roster, title line {index}" if index % 2 == 0 else None])
    sheet.append(["Name", "Email", "Limit"])
    for name, email, cents in rows:
        limit: float | str = f"{cents / 100:.2f}" if as_text else cents / 100
        sheet.append([name, email, limit])
        # openpyxl would store '=...' as a formula; the user's cell holds text.
        sheet.cell(row=sheet.max_row, column=1).data_type = "s"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "roster.xlsx"
        book.save(path)
        assert read_back(path) == expected(rows)


def reads_or_explains(path: Path, **options: Any) -> None:
    """The property: a Roster, or RosterError with at least one problem."""
    try:
        roster = read_roster(path, **options)
    except RosterError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.file == str(path)
            assert problem.message
    else:
        assert roster.participants


SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls")


@SETTINGS
@given(data=st.binary(max_size=2000), suffix=st.sampled_from(SUFFIXES))
def test_any_bytes_read_or_explain(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"roster{suffix}"
        path.write_bytes(data)
        reads_or_explains(path, default_limit=1)


cell_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["name", "Email", "limit", "id", "status", "Cancelled", "1,000", "-2", "$3", "x@y.org"]
    ),
    st.emails().map(str),
)


@SETTINGS
@given(
    grid=st.lists(st.lists(cell_text, max_size=6), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
    default_limit=st.none() | st.floats(min_value=-5, max_value=500, allow_nan=False),
    overrides=st.dictionaries(
        st.sampled_from(["name", "email", "limit", "id", "status", "bogus"]),
        st.text(max_size=8),
        max_size=2,
    ),
)
def test_any_csv_grid_reads_or_explains(
    grid: list[list[str]], delimiter: str, default_limit: float | None, overrides: dict[str, str]
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(grid)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "roster.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        options: dict[str, Any] = {"default_limit": default_limit, "column_overrides": overrides}
        if options_are_unusable(default_limit, overrides):
            with pytest.raises(OptionError, match=r"^--"):
                read_roster(path, **options)
        else:
            reads_or_explains(path, **options)


def options_are_unusable(default_limit: float | None, overrides: dict[str, str]) -> bool:
    bad_limit = default_limit is not None and not 0 < default_limit <= DEFAULT_MAX_LIMIT
    bad_column = any(
        field == "bogus" or not normalise_header(header) for field, header in overrides.items()
    )
    return bad_limit or bad_column


excel_values = st.one_of(
    st.none(),
    cell_text.map(lambda text: "".join(c for c in text if unicodedata.category(c) != "Cc")),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(2100, 1, 1)),
)


@SETTINGS
@given(grid=st.lists(st.lists(excel_values, max_size=6), max_size=12))
def test_any_xlsx_grid_reads_or_explains(grid: list[list[Any]]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    header = ["name", "email", "limit"]
    for row_number, row in enumerate([header, *grid], start=1):
        for column, value in enumerate(row, start=1):
            if value is not None:
                cell = sheet.cell(row=row_number, column=column, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "roster.xlsx"
        book.save(path)
        reads_or_explains(path)


@SETTINGS
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8))
def test_damaged_xlsx_reads_or_explains(flips: list[tuple[int, int]]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "email", "limit"])
    sheet.append(["Ada Example", "ada@example.org", 2])
    buffer = io.BytesIO()
    book.save(buffer)
    data = bytearray(buffer.getvalue())
    for position, value in flips:
        data[position % len(data)] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "roster.xlsx"
        path.write_bytes(bytes(data))
        reads_or_explains(path)
