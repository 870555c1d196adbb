"""The spreadsheets keyprov writes: keys.xlsx (who gets which key) and report.xlsx (usage).

Both are made to be opened in a spreadsheet app and printed (see keyprov.printable): money to the
cent, dates as dates, keys in a monospace font so that 0 and O, 1 and l can be told apart.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from keyprov.errors import KeyprovError, StateWriteError
from keyprov.files import atomic_private_writer
from keyprov.ledger import LedgerEntry
from keyprov.printable import (
    Paper,
    PlainSheet,
    Sheet,
    as_utc_datetime,
    fits_a_cell,
    workbook_bytes,
)

KEYS_FILE_NAME = "keys.xlsx"
# Widths in Excel's units (one digit of the default font). The key, 73 characters of 9 pt
# Courier New, takes the most room; the rest is as narrow as it can be while the whole row
# still prints across a landscape A4 or Letter page at about 75 % (8 pt text).
COLUMNS = (
    ("Name", 20),
    ("Email", 30),
    ("API key", 74),
    ("Limit USD", 7),
    ("Limit reset", 8),
    ("Expires", 18),
    ("Key hash", 9),
    ("Status", 18),
)
_KEY_STYLES = ("wrap", "wrap", "mono", "money", "short", "date", "mono_small", "wrap")


class StatusCategory(StrEnum):
    """What a keys.xlsx row asks of the instructor; it colours the row."""

    NONE = ""
    HAND_OUT = "hand out"
    """A new or replaced key: give it to the participant (again). Light yellow."""
    PROBLEM = "problem"
    """No working key for someone in the roster (failed, unknown). Light red."""
    INACTIVE = "inactive"
    """The key no longer works or is no longer needed (disabled, not in roster). Grey text."""


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
    category: StatusCategory = StatusCategory.NONE

    @classmethod
    def for_entry(
        cls, entry: LedgerEntry, status: str, category: StatusCategory = StatusCategory.NONE
    ) -> DistributionRow:
        """A participant's row as the local state knows their key."""
        return cls(
            entry.name,
            ", ".join(entry.addresses),
            entry.secret,
            entry.limit,
            entry.limit_reset,
            entry.expires_at,
            entry.hash,
            status,
            category,
        )


KEYS_LAYOUT = 1
"""Bump when keys.xlsx is laid out differently from the same rows, so that a rerun after the
change rewrites it (a new release does anyway: its version is in `keys_fingerprint`)."""


def keys_fingerprint(
    rows: Sequence[DistributionRow],
    *,
    paper: Paper = "A4",
    title: str = "",
    about: PlainSheet | None = None,
) -> str:
    """A digest of everything `write_keys_workbook` makes keys.xlsx from.

    Building a workbook of 10,000 rows takes over a second, and a rerun that changed nothing
    would write the very same file again: with this digest recorded beside the file's own
    (`Ledger.record_sheet`), a run can tell that the file on disk is already what it would
    write. The rows are frozen dataclasses of plain values, so their repr is the same for the
    same rows in every run.
    """
    from keyprov import tool_version

    made_of = (KEYS_LAYOUT, tool_version(), paper, title, list(rows), about)
    return hashlib.sha256(repr(made_of).encode()).hexdigest()


def write_keys_workbook(
    path: Path,
    rows: list[DistributionRow],
    *,
    paper: Paper = "A4",
    title: str = "",
    about: PlainSheet | None = None,
) -> None:
    """Write keys.xlsx atomically with mode 0600, ready to print on `paper` ("A4" or "Letter").

    `title` (the workshop, say) heads every printed page. Call it only once the state holding
    these secrets is on disk. Raises StateWriteError, or ConfigurationError for an unknown paper.
    """
    cells = [
        (
            row.name,
            row.email,
            row.secret or "",
            row.limit,
            row.limit_reset or "",
            as_utc_datetime(row.expires_at),
            row.key_hash or "",
            row.status,
        )
        for row in rows
    ]
    tints = [_CATEGORY_TINTS[StatusCategory(row.category)] for row in rows]
    sheet = Sheet("keys", COLUMNS, _KEY_STYLES, cells, tints)
    sheet.page_footer = "Private: these are API keys. Hand each one only to its owner."
    content = workbook_bytes(sheet, paper=paper, title=title, extra=(about,) if about else ())
    try:
        with atomic_private_writer(path) as handle:
            handle.write(content)
    except OSError as error:
        raise StateWriteError(
            f"{path}: could not be written ({error}); the keys are saved in the local state, "
            "from which the next run writes it again. Free disk space or fix the disk, then "
            "run again."
        ) from error


REPORT_FILE_NAME = "report.xlsx"
REPORT_COLUMNS = (
    ("Participant", 28),
    ("Name", 22),
    ("Key", 19),
    ("Role", 8),
    ("Limit USD", 8),
    ("Limit reset", 8),
    ("Usage in window USD", 11),
    ("Usage all-time USD", 11),
    ("Remaining USD", 10),
    ("Disabled", 8),
    ("Expires", 18),
)
_REPORT_STYLES = ("text", "wrap", "text", "short", "money", "short")
_REPORT_STYLES += ("money", "money", "money", "short", "date")
_REMAINING_COLUMN = 8


@dataclass(frozen=True)
class ReportRow:
    """One key of the workshop as the server reports it (role: current, retired or unknown)."""

    identity: str
    name: str
    label: str
    role: str
    limit: float | None
    limit_reset: str | None
    usage_window: float
    usage_total: float
    remaining: float | None
    disabled: bool
    expires_at: str | None

    @classmethod
    def from_cells(cls, cells: Sequence[Any]) -> ReportRow:
        """The tuple callers used to pass, in REPORT_COLUMNS order ('yes'/'no', '' for none)."""
        (identity, name, label, role, limit, reset, window, total, remaining, off, expires) = cells
        disabled = off if isinstance(off, bool) else str(off).strip().lower() == "yes"
        return cls(
            identity, name, label, role, limit, reset or None, window, total, remaining,
            disabled, expires or None,
        )  # fmt: skip


@dataclass(frozen=True)
class ReportTotals:
    """The report's totals: usage of every key listed; limits and remaining of enabled keys.

    A disabled key (revoked, or replaced by rotation) can spend nothing more, but what it spent
    was spent. A figure is None when a row's figure is not a number (a server answering NaN).
    """

    keys: int
    enabled_keys: int
    limit: float | None
    usage_window: float | None
    usage_total: float | None
    remaining: float | None


def report_totals(rows: Sequence[ReportRow]) -> ReportTotals:
    enabled = [row for row in rows if not row.disabled]
    return ReportTotals(
        keys=len(rows),
        enabled_keys=len(enabled),
        limit=_total(row.limit for row in enabled),
        usage_window=_total(row.usage_window for row in rows),
        usage_total=_total(row.usage_total for row in rows),
        remaining=_total(row.remaining for row in enabled),
    )


def write_report_workbook(
    path: Path,
    rows: Sequence[ReportRow | Sequence[object]],
    *,
    paper: Paper = "A4",
    title: str = "",
) -> ReportTotals:
    """Write report.xlsx (mode 0600): usage per key, a totals row, and no secrets (the key
    column holds the masked label). Remaining at or below 0 is red; disabled keys are grey.

    Rows may still be tuples in REPORT_COLUMNS order. Returns the totals it wrote. Raises
    KeyprovError when the file cannot be written.
    """
    report_rows = [row if isinstance(row, ReportRow) else ReportRow.from_cells(row) for row in rows]
    totals = report_totals(report_rows)
    cells: list[tuple[object, ...]] = [
        (
            row.identity,
            row.name,
            row.label,
            row.role,
            row.limit,
            row.limit_reset or "",
            row.usage_window,
            row.usage_total,
            row.remaining,
            "yes" if row.disabled else "no",
            as_utc_datetime(row.expires_at),
        )
        for row in report_rows
    ]
    tints: list[str | None] = ["inactive" if row.disabled else None for row in report_rows]
    sheet = Sheet("usage", REPORT_COLUMNS, _REPORT_STYLES, cells, tints)
    sheet.footer_rows = _totals_rows(totals)
    sheet.exhausted_column = _REMAINING_COLUMN
    content = workbook_bytes(sheet, paper=paper, title=title)
    try:
        with atomic_private_writer(path) as handle:
            handle.write(content)
    except OSError as error:
        raise KeyprovError(
            f"{path}: could not be written ({error}); nothing on the server was changed. "
            "Free disk space or fix the disk, then run the report again."
        ) from error
    return totals


def _totals_rows(totals: ReportTotals) -> list[tuple[tuple[object, ...], str]]:
    """The totals, and a note saying what they count."""
    noun = "key" if totals.keys == 1 else "keys"
    figures = (
        "Total",
        f"{totals.keys} {noun}, {totals.enabled_keys} enabled",
        "",
        "",
        _or_unknown(totals.limit),
        "",
        _or_unknown(totals.usage_window),
        _or_unknown(totals.usage_total),
        _or_unknown(totals.remaining),
        "",
        None,
    )
    note = (
        "The usage totals add up every key listed, disabled and replaced ones included: what "
        "was spent. Limit and Remaining add up enabled keys only: what can still be spent. "
        "Red: nothing left to spend (Remaining 0 or less). Grey: disabled keys."
    )
    return [(figures, "total"), ((note,), "note")]


_CATEGORY_TINTS: dict[StatusCategory, str | None] = {
    StatusCategory.NONE: None,
    StatusCategory.HAND_OUT: "hand out",
    StatusCategory.PROBLEM: "problem",
    StatusCategory.INACTIVE: "inactive",
}


def _total(values: Iterable[object]) -> float | None:
    numbers = [value for value in values if value is not None]
    if not all(isinstance(n, int | float) and fits_a_cell(n) for n in numbers):
        return None
    return math.fsum(numbers)  # type: ignore[arg-type]


def _or_unknown(value: float | None) -> float | str:
    return "unknown" if value is None else value
