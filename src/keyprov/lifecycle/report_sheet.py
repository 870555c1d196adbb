"""report.xlsx: what each key of a workshop has spent, and the totals, ready to print.

Made like keys.xlsx (see keyprov.printable): money to the cent, dates as dates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyprov.files import write_report_file
from keyprov.printable import (
    Paper,
    Sheet,
    as_utc_datetime,
    fits_a_cell,
    workbook_bytes,
)

REPORT_FILE_NAME = "report.xlsx"
REPORT_AGAIN = (
    "nothing on the server was changed. Free disk space or fix the disk, then run the report again."
)
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
            "—" if row.disabled else row.remaining,  # a disabled key can spend nothing more
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
    write_report_file(path, content, then=REPORT_AGAIN)
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


def _total(values: Iterable[object]) -> float | None:
    numbers = [value for value in values if value is not None]
    if not all(isinstance(n, int | float) and fits_a_cell(n) for n in numbers):
        return None
    return math.fsum(numbers)  # type: ignore[arg-type]


def _or_unknown(value: float | None) -> float | str:
    return "unknown" if value is None else value
