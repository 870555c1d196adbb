"""The distribution spreadsheet, keys.xlsx: who gets which key, with its limit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

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


def _new_sheet(title: str, columns: tuple[tuple[str, int], ...]) -> tuple[Workbook, Worksheet]:
    """A workbook whose one sheet has a bold, frozen header and set column widths."""
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    sheet.title = title
    sheet.append([name for name, _ in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, (_, width) in enumerate(columns, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = width
    sheet.freeze_panes = "A2"
    return workbook, sheet


def write_keys_workbook(path: Path, rows: list[DistributionRow]) -> None:
    """Write keys.xlsx atomically with mode 0600: text cells stay text, whatever they start with."""
    workbook, sheet = _new_sheet("keys", COLUMNS)
    for number, row in enumerate(rows, start=2):
        values: tuple[object, ...] = (
            row.name,
            row.email,
            row.secret or "",
            row.limit,
            row.limit_reset or "",
            row.expires_at or "",
            row.key_hash or "",
            row.status,
        )
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=number, column=column)
            if isinstance(value, str):
                _set_text(cell, value)
            else:
                cell.value = value
                cell.number_format = "0.00"
    with atomic_private_writer(path) as handle:
        workbook.save(handle)


def _set_text(cell: Cell, value: str) -> None:
    # openpyxl turns a string that starts with '=' into a formula; a participant named
    # '=HYPERLINK(…)' must stay a name, so the type is forced to text afterwards.
    cell.value = value
    cell.data_type = "s"
    cell.number_format = "@"


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
    workbook, sheet = _new_sheet("usage", REPORT_COLUMNS)
    for number, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=number, column=column)
            if isinstance(value, str):
                _set_text(cell, value)
            else:
                cell.value = value  # type: ignore[assignment]
                if isinstance(value, float):
                    cell.number_format = "0.00####"
    with atomic_private_writer(path) as handle:
        workbook.save(handle)
