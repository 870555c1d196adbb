"""The spreadsheets keyprov writes, read back as a spreadsheet app and a printer will see them."""

from __future__ import annotations

import hashlib
import stat
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from keyprov.errors import ConfigurationError
from keyprov.lifecycle.report_sheet import (
    REPORT_COLUMNS,
    ReportRow,
    report_totals,
    write_report_workbook,
)
from keyprov.printable import MONOSPACE_FONT
from keyprov.workshop.keys_sheet import (
    COLUMNS,
    DistributionRow,
    StatusCategory,
    write_keys_workbook,
)

A4, LETTER = 9, 1  # Excel's paper codes
EXHAUSTED_FILL = "FFF4CCCC"


def distribution_row(index: int, **overrides: object) -> DistributionRow:
    secret = f"sk-or-v1-{index:064x}"
    fields: dict[str, object] = {
        "name": f"Person {index}",
        "email": f"person{index}@example.org",
        "secret": secret,
        "limit": 2.5,
        "limit_reset": "daily",
        "expires_at": "2026-12-05T23:59:59+00:00",
        "key_hash": hashlib.sha256(secret.encode()).hexdigest(),
        "status": "unchanged",
    }
    fields.update(overrides)
    return DistributionRow(**fields)  # type: ignore[arg-type]


def keys_sheet(tmp_path: Path, rows: list[DistributionRow], **options: object) -> Worksheet:
    path = tmp_path / "keys.xlsx"
    write_keys_workbook(path, rows, **options)  # type: ignore[arg-type]
    return load_workbook(path).active


def column(name: str, columns: tuple[tuple[str, int], ...] = COLUMNS) -> int:
    """The 1-based column number of a header."""
    return [header for header, _width in columns].index(name) + 1


def assert_prints_landscape_one_page_wide(sheet: Worksheet, paper: int, last_row: int) -> None:
    setup = sheet.page_setup
    assert setup.orientation == "landscape"
    assert int(setup.paperSize) == paper
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    # An omitted fitToWidth is 1 (the OOXML default), which XlsxWriter leaves out.
    assert (1 if setup.fitToWidth is None else int(setup.fitToWidth)) == 1
    assert int(setup.fitToHeight) == 0, "as many pages tall as it takes"
    assert sheet.print_title_rows == "$1:$1", "the header row on every page"
    assert sheet.freeze_panes == "A2"
    last_column = sheet.cell(1, sheet.max_column).column_letter
    assert sheet.auto_filter.ref == f"A1:{last_column}{last_row}"


@pytest.mark.parametrize(("paper", "code"), [("A4", A4), ("Letter", LETTER)])
def test_keys_xlsx_prints_landscape_one_page_wide_with_its_header_on_every_page(
    tmp_path: Path, paper: str, code: int
) -> None:
    sheet = keys_sheet(tmp_path, [distribution_row(i) for i in range(8)], paper=paper)
    assert_prints_landscape_one_page_wide(sheet, code, last_row=9)


def test_keys_xlsx_is_a4_unless_told_otherwise_and_refuses_an_unknown_paper(
    tmp_path: Path,
) -> None:
    assert int(keys_sheet(tmp_path, [distribution_row(0)]).page_setup.paperSize) == A4
    with pytest.raises(ConfigurationError, match="'A3' is not known: use one of A4, Letter"):
        keys_sheet(tmp_path, [distribution_row(0)], paper="A3")


def test_a_key_is_text_in_a_monospace_font_and_expires_is_a_utc_date(tmp_path: Path) -> None:
    row = distribution_row(7, expires_at="2026-12-06T01:59:59+02:00")
    sheet = keys_sheet(tmp_path, [row])

    key = sheet.cell(2, column("API key"))
    assert (key.value, key.data_type) == (row.secret, "s")
    assert key.font.name == MONOSPACE_FONT
    assert sheet.cell(2, column("Key hash")).font.name == MONOSPACE_FONT
    assert sheet.cell(2, column("Name")).font.name != MONOSPACE_FONT

    expires = sheet.cell(2, column("Expires"))
    assert expires.is_date and expires.value == datetime(2026, 12, 5, 23, 59, 59)
    assert expires.number_format == 'yyyy-mm-dd hh:mm "UTC"'
    limit = sheet.cell(2, column("Limit USD"))
    assert (limit.value, limit.number_format) == (2.5, "0.00")


def test_an_expiry_that_is_not_a_timestamp_is_kept_as_text(tmp_path: Path) -> None:
    sheet = keys_sheet(tmp_path, [distribution_row(0, expires_at="never"), distribution_row(1)])
    assert sheet.cell(2, column("Expires")).value == "never"
    assert sheet.cell(3, column("Expires")).is_date


def test_a_long_status_gets_a_taller_row_instead_of_printing_over_the_next(
    tmp_path: Path,
) -> None:
    status = "failed: the server answered 500 three times; run again to continue"
    sheet = keys_sheet(tmp_path, [distribution_row(0, status=status), distribution_row(1)])
    status_cell = sheet.cell(2, column("Status"))
    assert status_cell.value == status and status_cell.alignment.wrap_text
    assert sheet.row_dimensions[2].height >= 4 * 15, "four lines of an 18-wide column"
    assert sheet.row_dimensions[3].height is None, "a short row keeps the default height"


def test_rows_are_coloured_by_what_they_ask_of_the_instructor(tmp_path: Path) -> None:
    rows = [
        distribution_row(0, status="replaced — send again", category=StatusCategory.HAND_OUT),
        distribution_row(1, status="failed", category=StatusCategory.PROBLEM),
        distribution_row(2, status="not in roster", category=StatusCategory.INACTIVE),
        distribution_row(3),  # a caller that passes no category
    ]
    sheet = keys_sheet(tmp_path, rows)
    fills = [sheet.cell(r, column("Email")).fill.fgColor.rgb for r in range(2, 6)]
    assert fills[0] != fills[1] and fills[:2] == [
        sheet.cell(r, column("Status")).fill.fgColor.rgb for r in (2, 3)
    ], "the whole row is coloured"
    assert sheet.cell(2, column("Status")).fill.fill_type == "solid"
    assert sheet.cell(5, column("Status")).fill.fill_type is None
    assert sheet.cell(4, column("Name")).font.color.rgb == "FF7F7F7F"


def test_keys_xlsx_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.xlsx"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_keys_workbook(path, [distribution_row(0)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def report_row(identity: str, **overrides: object) -> ReportRow:
    fields: dict[str, object] = {
        "identity": identity,
        "name": identity.split("@")[0].title(),
        "label": "sk-or-v1-abc...123",
        "role": "current",
        "limit": 2.0,
        "limit_reset": "daily",
        "usage_window": 0.5,
        "usage_total": 1.25,
        "remaining": 1.5,
        "disabled": False,
        "expires_at": "2026-12-05T23:59:59+00:00",
    }
    fields.update(overrides)
    return ReportRow(**fields)  # type: ignore[arg-type]


REPORT_ROWS = [
    report_row("ada@example.org"),
    # Overspent: the server does not clamp the remaining limit at 0.
    report_row("bob@example.org", usage_window=2.16, usage_total=3.0, remaining=-0.16),
    report_row("cy@example.org", usage_window=2.0, usage_total=2.0, remaining=0.0),
    # Ada's key before a rotation: disabled, but what it spent was spent.
    report_row("ada@example.org", role="retired", disabled=True, usage_window=0.25, remaining=1.75),
    report_row("dee@example.org", limit=None, remaining=None, limit_reset=None),
]


def report_sheet(tmp_path: Path, rows: list[ReportRow], **options: object) -> Worksheet:
    path = tmp_path / "report.xlsx"
    write_report_workbook(path, rows, **options)  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return load_workbook(path).active


def report_cell(sheet: Worksheet, row: int, header: str) -> object:
    return sheet.cell(row, column(header, REPORT_COLUMNS))


def test_the_totals_row_counts_every_keys_usage_and_the_enabled_keys_limits(
    tmp_path: Path,
) -> None:
    sheet = report_sheet(tmp_path, REPORT_ROWS)
    totals_row = len(REPORT_ROWS) + 3  # header, the rows, a blank row
    assert sheet.cell(totals_row - 1, 1).value is None
    figures = {header: report_cell(sheet, totals_row, header).value for header, _ in REPORT_COLUMNS}
    assert figures["Participant"] == "Total"
    assert figures["Name"] == "5 keys, 4 enabled"
    assert figures["Limit USD"] == pytest.approx(2.0 * 3)  # dee's key has no limit
    assert figures["Usage in window USD"] == pytest.approx(0.5 + 2.16 + 2.0 + 0.25 + 0.5)
    assert figures["Usage all-time USD"] == pytest.approx(1.25 + 3.0 + 2.0 + 1.25 + 1.25)
    assert figures["Remaining USD"] == pytest.approx(1.5 - 0.16 + 0.0)
    note = str(sheet.cell(totals_row + 1, 1).value)
    assert "every key listed, disabled and replaced ones included" in note
    assert "Limit and Remaining add up enabled keys only" in note

    totals = report_totals(REPORT_ROWS)
    assert (totals.limit, totals.remaining) == (figures["Limit USD"], figures["Remaining USD"])


def test_remaining_at_or_below_zero_is_highlighted(tmp_path: Path) -> None:
    sheet = report_sheet(tmp_path, REPORT_ROWS)
    fills = {
        row.identity + row.role: report_cell(sheet, number, "Remaining USD").fill
        for number, row in enumerate(REPORT_ROWS, start=2)
    }
    assert fills["bob@example.orgcurrent"].fgColor.rgb == EXHAUSTED_FILL, "overspent"
    assert fills["cy@example.orgcurrent"].fgColor.rgb == EXHAUSTED_FILL, "exactly 0 left"
    for left in ("ada@example.orgcurrent", "ada@example.orgretired", "dee@example.orgcurrent"):
        assert fills[left].fill_type is None, left
    assert report_cell(sheet, 3, "Remaining USD").font.b


def test_the_totals_remaining_is_highlighted_when_nothing_is_left(tmp_path: Path) -> None:
    rows = [report_row("bob@example.org", usage_window=2.5, remaining=-0.5)]
    sheet = report_sheet(tmp_path, rows)
    assert report_cell(sheet, 4, "Remaining USD").fill.fgColor.rgb == EXHAUSTED_FILL


@pytest.mark.parametrize(("paper", "code"), [("A4", A4), ("Letter", LETTER)])
def test_report_xlsx_prints_like_keys_xlsx_and_its_totals_stay_out_of_the_filter(
    tmp_path: Path, paper: str, code: int
) -> None:
    sheet = report_sheet(tmp_path, REPORT_ROWS, paper=paper)
    assert_prints_landscape_one_page_wide(sheet, code, last_row=len(REPORT_ROWS) + 1)


def test_money_has_two_decimals_and_expires_is_a_date_in_the_report(tmp_path: Path) -> None:
    sheet = report_sheet(tmp_path, [report_row("ada@example.org", usage_window=0.0042)])
    for header in ("Limit USD", "Usage in window USD", "Usage all-time USD", "Remaining USD"):
        for row in (2, 4):  # the key's row and the totals row
            assert report_cell(sheet, row, header).number_format == "0.00", (header, row)
    assert report_cell(sheet, 2, "Usage in window USD").value == 0.0042, "the exact figure"
    assert report_cell(sheet, 2, "Expires").is_date


def test_the_former_tuple_rows_are_still_accepted(tmp_path: Path) -> None:
    rows = [
        ("ada@example.org", "Ada", "sk-or-v1-abc...123", "current", 2.0, "daily"),
        ("bob@example.org", "Bob", "sk-or-v1-def...456", "retired", 2.0, ""),
    ]
    cells = [(0.5, 1.0, 1.5, "no", ""), (1.0, 1.0, 1.0, "yes", "2026-12-05T23:59:59Z")]
    path = tmp_path / "report.xlsx"
    totals = write_report_workbook(path, [r + c for r, c in zip(rows, cells, strict=True)])

    assert (totals.keys, totals.enabled_keys, totals.remaining) == (2, 1, 1.5)
    sheet = load_workbook(path).active
    assert report_cell(sheet, 3, "Disabled").value == "yes"
    assert report_cell(sheet, 3, "Expires").value == datetime(2026, 12, 5, 23, 59, 59)
    assert report_cell(sheet, 2, "Expires").value is None


def test_a_figure_a_spreadsheet_cannot_hold_as_a_number_is_written_as_text(
    tmp_path: Path,
) -> None:
    # A server answering NaN, Infinity or a huge int (Python's json reads all three) must not
    # cost the report.
    path = tmp_path / "report.xlsx"
    row = ("ada@example.org", "Ada", "sk-or-v1-abc...xyz", "current", 2.0, None)
    row += (float("nan"), float("inf"), 10**400, False, "")
    write_report_workbook(path, [row])

    sheet = load_workbook(path).active
    cells, _blank, total = sheet.iter_rows(min_row=2, max_row=4, values_only=True)
    by_column = dict(zip((name for name, _ in REPORT_COLUMNS), cells, strict=True))
    assert by_column["Usage in window USD"] == "nan"
    assert by_column["Usage all-time USD"] == "inf"
    assert by_column["Remaining USD"] == str(10**400)
    assert by_column["Limit USD"] == 2.0
    totals = dict(zip((name for name, _ in REPORT_COLUMNS), total, strict=True))
    assert totals["Limit USD"] == 2.0
    assert totals["Usage in window USD"] == totals["Remaining USD"] == "unknown"
