"""The spreadsheets keyprov writes: cell types as a spreadsheet app will show them."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from keyprov.outputs import REPORT_COLUMNS, write_report_workbook


def test_a_figure_a_spreadsheet_cannot_hold_as_a_number_is_written_as_text(
    tmp_path: Path,
) -> None:
    # A server answering NaN, Infinity or a huge int (Python's json reads all three) must not
    # cost the report.
    path = tmp_path / "report.xlsx"
    row = ("ada@example.org", "Ada", "sk-or-v1-abc...xyz", "current", 2.0, None)
    row += (float("nan"), float("inf"), 10**400, False, "")
    write_report_workbook(path, [row])

    (cells,) = load_workbook(path).active.iter_rows(min_row=2, values_only=True)
    by_column = dict(zip((name for name, _ in REPORT_COLUMNS), cells, strict=True))
    assert by_column["Usage in window USD"] == "nan"
    assert by_column["Usage all-time USD"] == "inf"
    assert by_column["Remaining USD"] == str(10**400)
    assert by_column["Limit USD"] == 2.0
