"""One printable worksheet: typed cells, row colours, and a page set up for A4 or Letter.

Landscape, one page wide (as many tall as it takes), the header row repeated on every page,
an autofilter and a frozen header: what an instructor needs to open a file and print it.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # imported when a workbook is written: every command's start-up pays less
    import xlsxwriter
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

from keyprov.errors import ConfigurationError

Paper = Literal["A4", "Letter"]
PAPER_SIZES: dict[str, int] = {"A4": 9, "Letter": 1}
"""XlsxWriter's paper codes (Excel's ST_PaperSize)."""

MONOSPACE_FONT = "Courier New"
"""On every Windows and Mac, and metric-compatible with Liberation Mono (LibreOffice's stand-in
on Linux), so a key measured to fit its column fits in every app."""
DATE_FORMAT = 'yyyy-mm-dd hh:mm "UTC"'
MONEY_FORMAT = "0.00"
ROW_HEIGHT = 15
"""Points per line of the default font (Calibri 11), as Excel sets a row's default height."""

_MONO = {"num_format": "@", "valign": "top", "font_name": MONOSPACE_FONT}
STYLES: dict[str, dict[str, Any]] = {
    "header": {"bold": True, "text_wrap": True, "valign": "top", "bottom": 1},
    "text": {"num_format": "@", "valign": "top"},
    "short": {"num_format": "@", "valign": "top", "align": "center"},
    "wrap": {"num_format": "@", "valign": "top", "text_wrap": True},
    "mono": {**_MONO, "font_size": 9},
    "mono_small": {**_MONO, "font_size": 8},
    "money": {"num_format": MONEY_FORMAT, "valign": "top"},
    "date": {"num_format": DATE_FORMAT, "valign": "top"},
}
"""A column's style: how its cells are typed and shown."""
TINTS: dict[str | None, dict[str, Any]] = {
    None: {},
    "hand out": {"bg_color": "#FFF2CC"},
    "problem": {"bg_color": "#F4CCCC"},
    "inactive": {"font_color": "#7F7F7F"},
    "exhausted": {"bg_color": "#F4CCCC", "font_color": "#9C0006", "bold": True},
    "total": {"bold": True, "top": 1},
}
"""A row's (or one cell's) colouring on top of its column's style. The fills are light enough
to read through and print as distinct greys."""


@dataclass
class Sheet:
    name: str
    columns: tuple[tuple[str, int], ...]
    """(header, width in Excel's units: one digit of the default font)."""
    styles: tuple[str, ...]
    """One STYLES name per column."""
    rows: list[tuple[object, ...]]
    tints: list[str | None]
    """One TINTS name per row."""
    footer_rows: list[tuple[tuple[object, ...], str]] = field(default_factory=list)
    """Rows below the data, after a blank row and outside the autofilter, so sorting or
    filtering the data leaves them in place: (cells, 'total'), or ((text,), 'note')."""
    exhausted_column: int | None = None
    """The column whose figures at or below 0 are shown in red."""
    page_footer: str = ""


@dataclass(frozen=True)
class PlainSheet:
    """A further sheet of plain text cells (not laid out for printing)."""

    name: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


def workbook_bytes(
    sheet: Sheet, *, paper: Paper, title: str, extra: tuple[PlainSheet, ...] = ()
) -> bytes:
    """The one-sheet workbook as bytes; `title` heads every printed page.

    Text cells are text whatever they start with, numbers numbers, datetimes dates. XlsxWriter
    writes twice as fast as openpyxl (which still reads rosters): keys.xlsx is rebuilt on
    every run, and a workshop of 10,000 participants must not wait for it.
    Raises ConfigurationError for an unknown paper.
    """
    if paper not in PAPER_SIZES:
        raise ConfigurationError(f"paper size {paper!r} is not known: use one of A4, Letter.")
    buffer = io.BytesIO()
    # strings_to_* off: a participant named '=HYPERLINK(…)' or '+1 555' stays a string.
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    formats = _Formats(workbook)
    worksheet = workbook.add_worksheet(sheet.name)
    for column, (header, width) in enumerate(sheet.columns):
        worksheet.set_column(column, column, width)
        worksheet.write_string(0, column, header, formats("header"))
    # Wrapped headers keep the number columns narrow.
    header_lines = max(_wrapped_lines(header, width) for header, width in sheet.columns)
    worksheet.set_row(0, ROW_HEIGHT * header_lines)
    worksheet.freeze_panes(1, 0)
    for row_number, (values, tint) in enumerate(zip(sheet.rows, sheet.tints, strict=True), 1):
        lines = _lines_needed(sheet, values)
        if lines > 1:
            worksheet.set_row(row_number, ROW_HEIGHT * lines)
        for column, value in enumerate(values):
            cell_tint = "exhausted" if _exhausted(sheet, column, value) else tint
            _write_cell(
                worksheet, row_number, column, value, formats(sheet.styles[column], cell_tint)
            )
    _write_footer_rows(worksheet, sheet, formats, first=len(sheet.rows) + 2)
    _prepare_for_print(worksheet, sheet, paper, title)
    for plain in extra:
        other = workbook.add_worksheet(plain.name)
        # Hidden: not for printing or handing round (it holds the key-name secret), and
        # readable by keyprov all the same.
        other.hide()
        for column, header in enumerate(plain.header):
            other.set_column(column, column, 30 if column == 0 else 70)
            other.write_string(0, column, header, formats("header"))
        for row_number, cells in enumerate(plain.rows, 1):
            for column, text in enumerate(cells):
                other.write_string(row_number, column, text, formats("wrap"))
    workbook.close()
    return buffer.getvalue()


def as_utc_datetime(text: str | None) -> datetime | str | None:
    """An ISO timestamp as a naive UTC datetime (a cell has no time zone); other text as is."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def fits_a_cell(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a double
        return False


class _Formats:
    """One XlsxWriter format per (style, tint) pair, made when first needed."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self._workbook = workbook
        self._made: dict[tuple[str, str | None], Format] = {}

    def __call__(self, style: str, tint: str | None = None) -> Format:
        if (style, tint) not in self._made:
            properties = {**STYLES[style], **TINTS[tint]}
            self._made[style, tint] = self._workbook.add_format(properties)
        return self._made[style, tint]


def _write_footer_rows(worksheet: Worksheet, sheet: Sheet, formats: _Formats, first: int) -> None:
    for row, (values, kind) in enumerate(sheet.footer_rows, start=first):
        if kind == "note":
            last_column = len(sheet.columns) - 1
            note_format = formats("wrap", "inactive")
            worksheet.merge_range(row, 0, row, last_column, str(values[0]), note_format)
            # A merged cell's height is never fitted to its text.
            width = sum(width for _header, width in sheet.columns)
            worksheet.set_row(row, ROW_HEIGHT * _wrapped_lines(str(values[0]), width))
            continue
        for column, value in enumerate(values):
            tint = "exhausted" if _exhausted(sheet, column, value) else "total"
            _write_cell(worksheet, row, column, value, formats(sheet.styles[column], tint))


def _write_cell(worksheet: Worksheet, row: int, column: int, value: object, fmt: Format) -> None:
    if isinstance(value, str):
        worksheet.write_string(row, column, value, fmt)
    elif isinstance(value, bool):
        worksheet.write_boolean(row, column, value, fmt)
    elif isinstance(value, datetime):
        worksheet.write_datetime(row, column, value, fmt)
    elif isinstance(value, int | float) and fits_a_cell(value):
        worksheet.write_number(row, column, value, fmt)
    elif value is None:
        worksheet.write_blank(row, column, None, fmt)  # keeps the row's colour
    else:
        # Also NaN, infinity and ints beyond a double, which a cell cannot hold.
        worksheet.write_string(row, column, str(value), fmt)


def _lines_needed(sheet: Sheet, values: tuple[object, ...]) -> int:
    """How many lines the row's wrapped cells take, as a spreadsheet app will wrap them.

    Neither Excel nor LibreOffice fits a row's height to wrapped text written by another
    program: without this, a long status or name would print over the row below.
    """
    lines = 1
    for value, style, (_header, width) in zip(values, sheet.styles, sheet.columns, strict=False):
        if style == "wrap" and isinstance(value, str):
            lines = max(lines, _wrapped_lines(value, width))
    return lines


def _wrapped_lines(text: str, width: int) -> int:
    # A unit of width is one digit of the default font, and letters are about as wide on
    # average: this errs towards a line too many (white space) rather than too few (hidden).
    # Apps break lines at spaces and after hyphens, and cut a longer piece where it ends.
    capacity = max(1, width - 1)
    lines, used = 1, 0
    for word in text.split():
        for index, piece in enumerate(re.findall(r"[^-]+-?|-", word)):
            gap = 1 if index == 0 and used else 0
            if used and used + gap + len(piece) > capacity:
                lines, used, gap = lines + 1, 0, 0
            length = len(piece)
            used += gap
            while used + length > capacity:
                lines, length, used = lines + 1, length - (capacity - used), 0
            used += length
    return lines


def _exhausted(sheet: Sheet, column: int, value: object) -> bool:
    return (
        column == sheet.exhausted_column
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and value <= 0
    )


def _prepare_for_print(worksheet: Worksheet, sheet: Sheet, paper: Paper, title: str) -> None:
    worksheet.set_paper(PAPER_SIZES[paper])
    worksheet.set_landscape()
    worksheet.fit_to_pages(1, 0)  # one page wide, as many tall as it takes
    worksheet.repeat_rows(0)
    worksheet.set_margins(left=0.3, right=0.3, top=0.6, bottom=0.6)
    worksheet.autofilter(0, 0, max(len(sheet.rows), 1), len(sheet.columns) - 1)
    worksheet.set_header(f"&L{_header_text(title)}&RPage &P of &N")
    if sheet.page_footer:
        worksheet.set_footer(f"&L{_header_text(sheet.page_footer)}")


def _header_text(text: str) -> str:
    # '&' starts a code in a page header; a header may hold at most 255 characters.
    return text.replace("&", "&&")[:200]
