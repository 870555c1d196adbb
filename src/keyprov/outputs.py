"""The distribution spreadsheet, keys.xlsx: who gets which key, with its limit."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter

from keyprov.errors import StateWriteError
from keyprov.files import atomic_private_writer
from keyprov.ledger import LedgerEntry

KEYS_FILE_NAME = "keys.xlsx"
COLUMNS = (
    ("Name", 28),
    ("Email", 34),
    ("API key", 78),
    ("Limit USD", 11),
    ("Limit reset", 12),
    ("Expires", 26),
    ("Key hash", 66),
    ("Status", 40),
)


@dataclass(frozen=True)
class DistributionRow:
    name: str
    email: str
    secret: str | None
    limit: float | None
    limit_reset: str | None
    expires_at: str | None
    key_hash: str | None
    status: str

    @classmethod
    def for_entry(cls, entry: LedgerEntry, status: str) -> DistributionRow:
        """A participant's row as the local state knows their key."""
        return cls(
            entry.name,
            entry.email,
            entry.secret,
            entry.limit,
            entry.limit_reset,
            entry.expires_at,
            entry.hash,
            status,
        )


def _write_workbook(
    path: Path,
    title: str,
    columns: tuple[tuple[str, int], ...],
    rows: Iterable[Sequence[object]],
    number_format: str,
) -> None:
    """Write a one-sheet workbook atomically with mode 0600: a bold, frozen header, set column
    widths, text cells as text whatever they start with, numbers as numbers.

    XlsxWriter writes twice as fast as openpyxl (which still reads rosters): keys.xlsx is
    rebuilt on every run, and a workshop of 10,000 participants must not wait for it.
    """
    buffer = io.BytesIO()
    # strings_to_* off: a participant named '=HYPERLINK(…)' or '+1 555' stays a string.
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    sheet = workbook.add_worksheet(title)
    bold = workbook.add_format({"bold": True})
    text = workbook.add_format({"num_format": "@"})
    number = workbook.add_format({"num_format": number_format})
    for index, (name, width) in enumerate(columns):
        sheet.set_column(index, index, width)
        sheet.write_string(0, index, name, bold)
    sheet.freeze_panes(1, 0)
    for row_number, values in enumerate(rows, start=1):
        for column, value in enumerate(values):
            if isinstance(value, str):
                sheet.write_string(row_number, column, value, text)
            elif isinstance(value, bool):
                sheet.write_boolean(row_number, column, value)
            elif isinstance(value, int | float) and _fits_a_cell(value):
                sheet.write_number(row_number, column, value, number)
            elif value is not None:
                # Also NaN, infinity and ints beyond a double, which a cell cannot hold.
                sheet.write_string(row_number, column, str(value), text)
    workbook.close()
    with atomic_private_writer(path) as handle:
        handle.write(buffer.getvalue())


def _fits_a_cell(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a double
        return False


def write_keys_workbook(path: Path, rows: list[DistributionRow]) -> None:
    """Write keys.xlsx atomically with mode 0600: text cells stay text, whatever they start with.

    Call it only once the state holding these secrets is on disk. Raises StateWriteError.
    """
    try:
        _write_keys_workbook(path, rows)
    except OSError as error:
        raise StateWriteError(
            f"{path}: could not be written ({error}); the keys are saved in the local state, "
            "from which the next run writes it again. Free disk space or fix the disk, then "
            "run again."
        ) from error


def _write_keys_workbook(path: Path, rows: list[DistributionRow]) -> None:
    _write_workbook(
        path,
        "keys",
        COLUMNS,
        (
            (
                row.name,
                row.email,
                row.secret or "",
                row.limit,
                row.limit_reset or "",
                row.expires_at or "",
                row.key_hash or "",
                row.status,
            )
            for row in rows
        ),
        "0.00",
    )


REPORT_FILE_NAME = "report.xlsx"
REPORT_COLUMNS = (
    ("Participant", 34),
    ("Name", 28),
    ("Key", 22),
    ("Role", 10),
    ("Limit USD", 11),
    ("Limit reset", 12),
    ("Usage in window USD", 20),
    ("Usage all-time USD", 19),
    ("Remaining USD", 15),
    ("Disabled", 10),
    ("Expires", 26),
)


def write_report_workbook(path: Path, rows: list[tuple[object, ...]]) -> None:
    """report.xlsx: usage per key, no secrets (the key column holds the masked label)."""
    _write_workbook(path, "usage", REPORT_COLUMNS, rows, "0.00####")
