"""Step 1 of reading a roster: the file as a grid of cells.

What the bytes are decides how they are read, not the file's name: a workbook saved as .csv
is still read as a workbook (with a warning), and a web page saved as .xls is refused with a
message that says what it is. Text files are decoded and split into records the way a
spreadsheet app would; the delimiter is the one under which the header step finds a header
row soonest, which is why loading takes the header matcher.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import io
import re
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from keyprov.errors import RosterError
from keyprov.roster.headers import HEADER_SEARCH_ROWS, HeaderMatcher
from keyprov.roster.table import Cell, Table, fail

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
SUFFIXES = (*TEXT_SUFFIXES, *WORKBOOK_SUFFIXES, ".xls")
DELIMITERS = (",", ";", "\t")


def _did_you_mean(path: Path) -> str:
    """' Did you mean roster/bssdh.csv?': the closest roster file in the same folder."""
    folder = path.parent
    try:
        names = [p.name for p in folder.iterdir() if p.suffix.lower() in SUFFIXES]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f" Did you mean {folder / close[0]}?" if close else ""


def load_table(path: Path, shown: str, sheet: str | None, matcher: HeaderMatcher) -> Table:
    if not path.exists():
        raise fail(shown, f"no such file.{_did_you_mean(path)} Check the path.")
    if not path.is_file():
        raise fail(shown, "this is a folder, not a roster file. Give the roster's file name.")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise fail(
            shown,
            f"keyprov reads .csv, .tsv, .txt, .xlsx, .xlsm and .xls files, not {suffix!r}. "
            "Save the roster as CSV or Excel workbook (.xlsx) and try again.",
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise fail(shown, f"the file cannot be opened ({error.strerror}).") from error
    if not data.strip():
        raise fail(shown, "the file is empty.")
    kind = _sniff(data)
    if kind == "zip":
        table = _load_workbook(data, shown, sheet)
        if suffix not in WORKBOOK_SUFFIXES:
            table.warnings.append(
                f"{shown}: this file is an Excel workbook although its name ends in {suffix}; "
                "it was read as a workbook. Rename it to .xlsx to avoid confusion."
            )
        return table
    if kind == "ole2":
        if suffix in WORKBOOK_SUFFIXES:
            raise fail(
                shown,
                "the workbook is password-protected (encrypted), so it cannot be read. Open it, "
                "remove the password (File > Info > Protect Workbook) and save it again.",
            )
        table = _load_xls(data, shown, sheet)
        if suffix != ".xls":
            table.warnings.append(
                f"{shown}: this file is an Excel 97-2003 workbook although its name ends in "
                f"{suffix}; it was read as a workbook. Rename it to .xls to avoid confusion."
            )
        return table
    if suffix in WORKBOOK_SUFFIXES:
        raise fail(
            shown,
            f"the file cannot be read as {suffix}: it is not an Excel workbook "
            f"(it holds {_describe_content(data)}). Open it in Excel and save it as "
            "Excel Workbook (.xlsx), or give it the name it should have (e.g. .csv).",
        )
    if sheet is not None:
        raise fail(
            shown, "--sheet applies to Excel workbooks; this is a text (CSV) file. Drop --sheet."
        )
    table = _load_text(data, shown, matcher)
    if suffix == ".xls":
        table.warnings.append(
            f"{shown}: this '.xls' file is really delimited text; it was read as text."
        )
    return table


def _sniff(data: bytes) -> str:
    """What the bytes are, whatever the file is called: 'zip' (xlsx), 'ole2' (xls) or 'text'."""
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole2"
    return "text"


def _describe_content(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "a PDF document"
    if head.startswith((b"<!doctype html", b"<html", b"<table")):
        return "a web page (HTML)"
    if head.startswith(b"<?xml"):
        return "XML"
    if _looks_binary(data):
        return "binary data"
    return "plain text: a CSV file with the wrong name?"


# --- text files: encoding, delimiter, quoting ---


def _load_text(data: bytes, shown: str, matcher: HeaderMatcher) -> Table:
    text, warnings = _decode(data, shown)
    if "\x00" in text:
        raise fail(shown, "the file holds binary data, not text. Export the roster as CSV.")
    head = text[:512].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<table", "<?xml")):
        raise fail(
            shown,
            "the file is a web page or XML document, not a CSV roster (a download link that "
            "returned a login page, or an 'Excel' export that is really HTML?). Open it in "
            "Excel or LibreOffice and save it as Excel Workbook (.xlsx) or CSV.",
        )
    forced = re.match(r"sep=(.)\r?\n", text)
    if forced:
        # Excel honours a first line 'sep=;' and hides it: the header below it is row 1.
        text = text[forced.end() :]
    delimiter = forced.group(1) if forced else _choose_delimiter(text, matcher)
    return Table(rows=_parse_delimited(text, delimiter, shown), warnings=warnings)


def _decode(data: bytes, shown: str) -> tuple[str, list[str]]:
    """UTF-8 (with or without BOM), UTF-16 (Excel's 'Unicode text'), else Windows-1252."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if data.startswith(bom):
            return _decode_as(data[len(bom) :], encoding, shown), []
    if data.startswith(codecs.BOM_UTF16_BE):
        return _decode_as(data[2:], "utf-16-be", shown), []
    utf16 = _utf16_without_bom(data)
    if utf16:
        return _decode_as(data, utf16, shown), []
    if _looks_binary(data):
        raise fail(
            shown,
            f"the file is not a text roster (it holds {_describe_content(data)}). "
            "Export the roster as CSV, or as Excel Workbook (.xlsx).",
        )
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise fail(
            shown,
            "the file is neither UTF-8 nor Windows-1252 text, so its names cannot be read "
            "safely. Save it again as 'CSV UTF-8' (Excel) or 'Text CSV, UTF-8' (LibreOffice).",
        ) from error
    warning = (
        f"{shown}: the file is not UTF-8; it was read as Windows-1252 (Western European). "
        "Check accented names in keys.xlsx; to be sure, save the roster as 'CSV UTF-8'."
    )
    return text, [warning]


def _decode_as(data: bytes, encoding: str, shown: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise fail(
            shown,
            f"the file claims to be {encoding.upper()} but is not valid {encoding.upper()} at "
            f"byte {error.start}. Export the roster again, as 'CSV UTF-8'.",
        ) from error


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as ASCII with a zero byte beside every character."""
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    threshold = 0.4 * len(even)
    if odd.count(0) > threshold and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) > threshold and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _looks_binary(data: bytes) -> bool:
    sample = data[:65536]
    if b"\x00" in sample or sample.lstrip().startswith(b"%PDF"):
        return True
    controls = sum(sample.count(bytes([byte])) for byte in (*range(1, 9), *range(14, 32)))
    return controls > len(sample) // 100


def _choose_delimiter(text: str, matcher: HeaderMatcher) -> str:
    """The delimiter that shows a header row earliest (and fullest); else the most regular one."""

    def score(delimiter: str) -> tuple[int, int, int, int]:
        sample = _sample(text, delimiter)
        widths = [len(row) for row in sample if len(row) > 1]
        regular = max((widths.count(width) for width in set(widths)), default=0)
        scores = [matcher.score(row) for row in sample[:HEADER_SEARCH_ROWS]]
        for index, (complete, fields) in enumerate(scores):
            if complete:
                return 1, -index, fields, regular
        return 0, 0, max((fields for _, fields in scores), default=0), regular

    return max(DELIMITERS, key=score)


def _sample(text: str, delimiter: str) -> list[list[str]]:
    rows: list[list[str]] = []
    # An unclosed quote stops the sample early; the rows before it are sample enough, and
    # parsing the whole file reports the quote.
    with contextlib.suppress(csv.Error):
        rows.extend(islice(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 200))
    return rows


def _parse_delimited(text: str, delimiter: str, shown: str) -> list[Sequence[Cell]]:
    """Records, not lines: a quoted field with line breaks stays in its row, as in Excel."""
    rows: list[Sequence[Cell]] = []
    try:
        rows.extend(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
        return rows
    except csv.Error as error:
        failure = error
    if "end of data" not in str(failure):
        # Spreadsheet apps read a stray quote inside a field ('"Ada" Lovelace') as text; so
        # does the lenient parser, used only when the strict one objects.
        rows = []
        try:
            rows.extend(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
            return rows
        except csv.Error as error:
            failure = error
    # Either the text ended inside quotes, or a cell grew past csv's 128 KB limit: both are a
    # quote that was never closed.
    raise fail(
        shown,
        f'row {len(rows) + 1} opens a quote (") that is never closed, so every line after it '
        "would be read as one cell. Close or remove that quote.",
    ) from failure


# --- workbooks ---


def _load_workbook(data: bytes, shown: str, sheet: str | None) -> Table:
    try:
        # Imported here: openpyxl costs every keyprov command 0.2 s at start-up otherwise.
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:
        # A zip that is not a workbook fails in many ways (KeyError, XML, zip errors); for the
        # user each means the same: this file is not a workbook keyprov can read.
        raise fail(
            shown,
            f"the file cannot be read as an Excel workbook ({type(error).__name__}: {error}). "
            "Open it in Excel or LibreOffice and save it as Excel Workbook (.xlsx).",
        ) from error
    try:
        names = tuple(workbook.sheetnames)
        worksheets = {ws.title: ws for ws in workbook.worksheets}
        chosen = _choose_sheet(names, tuple(worksheets), sheet, shown)
        worksheet: Any = worksheets[chosen]
        # The stored dimension can be wrong (too small, or the whole sheet): ignore it.
        worksheet.reset_dimensions()
        rows = [_trim(row) for row in worksheet.iter_rows(values_only=True)]
    except RosterError:
        raise
    except Exception as error:
        raise fail(
            shown,
            f"the workbook cannot be read ({type(error).__name__}: {error}). "
            "Open it in Excel or LibreOffice and save it again as Excel Workbook (.xlsx).",
        ) from error
    finally:
        workbook.close()
    return Table(rows=rows, sheets=names)


def _choose_sheet(
    names: tuple[str, ...], readable: tuple[str, ...], sheet: str | None, shown: str
) -> str:
    if not readable:
        raise fail(shown, "the workbook has no worksheet with data.")
    if sheet is None:
        return readable[0]
    for candidate in readable:
        if candidate == sheet or candidate.strip().casefold() == sheet.strip().casefold():
            return candidate
    listed = ", ".join(repr(name) for name in names)
    raise fail(shown, f"there is no sheet {sheet!r}; the workbook has {listed}. Fix --sheet.")


def _trim(row: Iterable[Cell]) -> tuple[Cell, ...]:
    """Drop the empty cells at the end of a row: formatted but empty columns cost nothing."""
    cells = tuple(row)
    end = len(cells)
    while end and (cells[end - 1] is None or cells[end - 1] == ""):
        end -= 1
    return cells[:end]


def _load_xls(data: bytes, shown: str, sheet: str | None) -> Table:
    try:
        import xlrd  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise fail(
            shown,
            "this is an old-style Excel 97-2003 workbook (.xls), which this installation of "
            "keyprov cannot read. Open it in Excel or LibreOffice and save it as Excel "
            "Workbook (.xlsx) or CSV (or install the optional 'xlrd' package).",
        ) from None
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
        names = tuple(book.sheet_names())
        chosen = _choose_sheet(names, names, sheet, shown)
        worksheet = book.sheet_by_name(chosen)
        rows = [
            _trim(_xls_cell(cell, book.datemode, xlrd) for cell in worksheet.row(index))
            for index in range(worksheet.nrows)
        ]
    except RosterError:
        raise
    except Exception as error:
        raise fail(
            shown,
            f"the .xls workbook cannot be read ({type(error).__name__}: {error}). "
            "Open it in Excel or LibreOffice and save it as Excel Workbook (.xlsx).",
        ) from error
    return Table(rows=rows, sheets=names)


def _xls_cell(cell: Any, datemode: int, xlrd: Any) -> Cell:
    kind = cell.ctype
    if kind == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate_as_datetime(cell.value, datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return float(cell.value)  # a date Excel cannot show either: keep the number
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERROR")
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    value: Cell = cell.value
    return value
