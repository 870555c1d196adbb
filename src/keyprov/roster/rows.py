"""Read a participant roster (CSV, TSV or Excel) into validated participants.

Reading has three steps, each replaceable on its own: load the file into a grid of cells (the
values as the file stores them: text, numbers, dates), find the header row and map its columns
to fields, then validate every row. All problems are collected and raised together, so the user
fixes the file once; nothing is guessed where a guess could give someone a wrong key.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from keyprov.errors import RosterError, RosterProblem

LIMIT_RESETS = ("daily", "weekly", "monthly")
DEFAULT_MAX_LIMIT = 100.0
HEADER_SEARCH_ROWS = 100
"""How far down to look for the header: some exports put title or report lines above it
(Zoom lists the hosts and panelists of a webinar above its attendees)."""

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
SUFFIXES = (*TEXT_SUFFIXES, *WORKBOOK_SUFFIXES, ".xls")
DELIMITERS = (",", ";", "\t")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIELDS = ("name", "first_name", "last_name", "email", "limit", "limit_reset", "id", "status")
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    # Compared after normalise_header: no case, accents, spaces or punctuation; "#" is "number".
    "name": _words(
        "name fullname yourname yourfullname participant participantname attendeename student "
        "studentname firstandlastname firstnameandlastname nameandsurname nomcomplet "
        "nombrecompleto"
    ),
    "first_name": _words("firstname first givenname givennames forename prenom vorname"),
    "last_name": _words(
        "lastname last surname familyname nom nachname familienname apellido apellidos"
    ),
    "email": _words(
        "email emailaddress emailaddr mail mailaddress youremail youremailaddress useremail "
        "participantemail attendeeemail studentemail emailadresse mailadresse courriel "
        "adressecourriel adressedecourriel adresseemail correo correoelectronico"
    ),
    "limit": _words(
        # Not "credits": that is a course's ECTS credits in many university exports.
        "limit limitusd limitinusd usdlimit budget budgetusd budgetinusd usdbudget credit "
        "creditusd usd spendlimit spendinglimit keylimit apilimit apibudget"
    ),
    "limit_reset": _words("limitreset reset resets budgetreset resetperiod"),
    "id": _words(
        "id studentid studentnumber participantid userid sisuserid idnumber "
        "matriculationnumber matrikelnummer registrationid"
    ),
    "status": _words(
        "status state registrationstatus registrationstate attendeestatus approvalstatus "
        "orderstatus ticketstatus paymentstatus enrolmentstatus enrollmentstatus"
    ),
}
_FIELD_OF_HEADER = {synonym: name for name, synonyms in SYNONYMS.items() for synonym in synonyms}

SKIPPED_STATUS_WORDS = frozenset(
    _words(
        "cancelled canceled cancellation cancelation refunded withdrawn deleted rejected denied "
        "declined blocked void voided transferred suspended waitlisted waitlist"
    )
)
"""A status whose first word is one of these is a registration that must get no key."""
SKIPPED_STATUS_PHRASES = ("not attending", "not going", "waiting list", "wait list", "on waitlist")

_LOCAL_PART = r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
_DOMAIN_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
EMAIL_PATTERN = re.compile(
    rf"^{_LOCAL_PART}@(?:{_DOMAIN_LABEL}\.)+(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)$"
)
MAX_EMAIL_LENGTH = 254

_CURRENCY = re.compile(r"^(?:us\s*\$|\$|usd)?\s*(.*?)\s*(?:usd|us\s*\$|\$)?$", re.IGNORECASE)
_WHOLE = re.compile(r"\d+")
_AMBIGUOUS = re.compile(r"[1-9]\d{0,2}[.,]\d{3}")
"""'1,000' or '2.500': a thousands separator or a decimal point, depending on the locale."""
_ONE_SEPARATOR = re.compile(r"\d*[.,]\d+")
_COMMA_GROUPS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DOT_GROUPS = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_EXCEL_ERRORS = frozenset(
    {"#n/a", "#value!", "#ref!", "#div/0!", "#num!", "#name?", "#null!", "#spill!", "#calc!"}
)

_INVISIBLE = " \t\r\n\v\f\u00a0\u200b\u200c\u200d\u2060\ufeff"
"""Whitespace and the zero-width characters that copy and paste leaves at the ends of cells."""

Cell = str | int | float | bool | datetime | date | time | None
"""One cell as the file stores it: CSV gives text, workbooks give numbers and dates too."""


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
    skipped: list[RosterProblem] = field(default_factory=list)
    """Rows not provisioned on purpose (a cancelled or refunded registration), with the reason."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should check although the roster was read (e.g. a guessed encoding)."""


def normalise_header(text: str) -> str:
    """Header matching ignores case, accents, spacing and punctuation: 'E-mail Address' ->
    'emailaddress', 'Prénom' -> 'prenom', 'Attendee #' -> 'attendeenumber'."""
    decomposed = unicodedata.normalize("NFKD", text.replace("#", " number "))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\W_]+", "", plain.casefold())


def normalise_text(value: str) -> str:
    """The one normalisation of every cell's text: NFC, no invisible characters at the ends,
    and runs of whitespace (a line break inside a cell, say) as a single space."""
    return " ".join(unicodedata.normalize("NFC", value).strip(_INVISIBLE).split())


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
    field (name, first_name, last_name, email, limit, limit_reset, id, status) to the header
    text that holds it, overriding the built-in synonyms.
    """
    shown = str(path)
    matcher = _HeaderMatcher.build(column_overrides or {}, shown)
    table = _load_table(path, shown, sheet, matcher)
    header = _find_header(table, matcher, shown)
    columns, problems = _resolve_columns(header, matcher, table, shown)
    problems += _check_defaults(header, default_limit, default_limit_reset, max_limit, shown)
    if columns is None:
        raise RosterError(problems)
    reader = _RowReader(shown, columns, default_limit, default_limit_reset, max_limit)
    result = reader.read(table, header.index + 1)
    result.problems[:0] = problems
    if not result.participants and not result.problems:
        message = "the roster has a header but no participants."
        if result.skipped:
            message = (
                f"every row of the roster is skipped ({len(result.skipped)} cancelled or "
                "refunded registrations); there is no one to provision."
            )
        result.problems.append(RosterProblem(shown, None, None, message))
    if result.problems:
        raise RosterError(result.problems)
    return Roster(
        path=path,
        participants=result.participants,
        skipped=result.skipped,
        warnings=[*table.warnings, *columns.warnings],
    )


# --- Step 1: the file as a grid of cells -------------------------------------------------


@dataclass
class _Table:
    rows: list[Sequence[Cell]]
    """rows[i] is the row a spreadsheet app numbers i + 1."""
    sheets: tuple[str, ...] = ()
    """All sheet names of a workbook, for messages; empty for text files."""
    warnings: list[str] = field(default_factory=list)

    @staticmethod
    def row_number(index: int) -> int:
        return index + 1


def _fail(shown: str, message: str) -> RosterError:
    return RosterError([RosterProblem(shown, None, None, message)])


def _load_table(path: Path, shown: str, sheet: str | None, matcher: _HeaderMatcher) -> _Table:
    if not path.exists():
        raise _fail(shown, "no such file. Check the path.")
    if not path.is_file():
        raise _fail(shown, "this is a folder, not a roster file. Give the roster's file name.")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise _fail(
            shown,
            f"keyprov reads .csv, .tsv, .txt, .xlsx, .xlsm and .xls files, not {suffix!r}. "
            "Save the roster as CSV or Excel workbook (.xlsx) and try again.",
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _fail(shown, f"the file cannot be opened ({error.strerror}).") from error
    if not data.strip():
        raise _fail(shown, "the file is empty.")
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
            raise _fail(
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
        raise _fail(
            shown,
            f"the file cannot be read as {suffix}: it is not an Excel workbook "
            f"(it holds {_describe_content(data)}). Open it in Excel and save it as "
            "Excel Workbook (.xlsx), or give it the name it should have (e.g. .csv).",
        )
    if sheet is not None:
        raise _fail(
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


def _load_text(data: bytes, shown: str, matcher: _HeaderMatcher) -> _Table:
    text, warnings = _decode(data, shown)
    if "\x00" in text:
        raise _fail(shown, "the file holds binary data, not text. Export the roster as CSV.")
    head = text[:512].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<table", "<?xml")):
        raise _fail(
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
    return _Table(rows=_parse_delimited(text, delimiter, shown), warnings=warnings)


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
        raise _fail(
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
        raise _fail(
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
        raise _fail(
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


def _choose_delimiter(text: str, matcher: _HeaderMatcher) -> str:
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
    raise _fail(
        shown,
        f'row {len(rows) + 1} opens a quote (") that is never closed, so every line after it '
        "would be read as one cell. Close or remove that quote.",
    ) from failure


# --- workbooks ---


def _load_workbook(data: bytes, shown: str, sheet: str | None) -> _Table:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:
        # A zip that is not a workbook fails in many ways (KeyError, XML, zip errors); for the
        # user each means the same: this file is not a workbook keyprov can read.
        raise _fail(
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
        raise _fail(
            shown,
            f"the workbook cannot be read ({type(error).__name__}: {error}). "
            "Open it in Excel or LibreOffice and save it again as Excel Workbook (.xlsx).",
        ) from error
    finally:
        workbook.close()
    return _Table(rows=rows, sheets=names)


def _choose_sheet(
    names: tuple[str, ...], readable: tuple[str, ...], sheet: str | None, shown: str
) -> str:
    if not readable:
        raise _fail(shown, "the workbook has no worksheet with data.")
    if sheet is None:
        return readable[0]
    for candidate in readable:
        if candidate == sheet or candidate.strip().casefold() == sheet.strip().casefold():
            return candidate
    listed = ", ".join(repr(name) for name in names)
    raise _fail(shown, f"there is no sheet {sheet!r}; the workbook has {listed}. Fix --sheet.")


def _trim(row: Iterable[Cell]) -> tuple[Cell, ...]:
    """Drop the empty cells at the end of a row: formatted but empty columns cost nothing."""
    cells = tuple(row)
    end = len(cells)
    while end and (cells[end - 1] is None or cells[end - 1] == ""):
        end -= 1
    return cells[:end]


def _load_xls(data: bytes, shown: str, sheet: str | None) -> _Table:
    try:
        import xlrd  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise _fail(
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
        raise _fail(
            shown,
            f"the .xls workbook cannot be read ({type(error).__name__}: {error}). "
            "Open it in Excel or LibreOffice and save it as Excel Workbook (.xlsx).",
        ) from error
    return _Table(rows=rows, sheets=names)


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


# --- cells as text ---


def cell_text(value: Cell) -> str:
    """A cell as the user reads it in a spreadsheet app: 3 not 3.0, a date as 2026-03-01."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime) and value.time() == time(0, 0):
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _is_blank(cells: Sequence[Cell]) -> bool:
    """A row that looks empty in a spreadsheet app, even if it holds a zero-width space."""
    return all(
        cell is None or (isinstance(cell, str) and not cell.strip(_INVISIBLE)) for cell in cells
    )


def _column_letter(position: int) -> str:
    letters = ""
    number = position + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


# --- Step 2: the header row and the columns ----------------------------------------------


@dataclass(frozen=True)
class _HeaderMatcher:
    """Says which field each header cell names: the user's --column first, then the synonyms."""

    overrides: Mapping[str, str]
    """field -> the header text the user gave."""
    override_keys: Mapping[str, str]
    """field -> that header text, normalised."""

    @classmethod
    def build(cls, overrides: Mapping[str, str], shown: str) -> _HeaderMatcher:
        problems = []
        keys = {}
        given: dict[str, str] = {}
        for raw_name, header in overrides.items():
            # 'first name' and 'first-name' mean first_name.
            name = re.sub(r"[\s-]+", "_", raw_name.strip().lower())
            given[name] = header
            if name not in FIELDS:
                problems.append(
                    RosterProblem(
                        shown,
                        None,
                        None,
                        f"--column {name}=...: there is no field {name!r}; "
                        f"use one of {', '.join(FIELDS)}.",
                    )
                )
            elif not normalise_header(header):
                problems.append(
                    RosterProblem(
                        shown, None, None, f"--column {name}={header!r}: the header is empty."
                    )
                )
            else:
                keys[name] = normalise_header(header)
        if problems:
            raise RosterError(problems)
        return cls(overrides=given, override_keys=keys)

    def candidates(self, cells: Sequence[Cell]) -> dict[str, list[int]]:
        """field -> the positions of the cells that could hold it."""
        found: dict[str, list[int]] = {}
        for position, cell in enumerate(cells):
            if not isinstance(cell, str):
                continue
            key = normalise_header(cell)
            if not key:
                continue
            chosen = [name for name, wanted in self.override_keys.items() if wanted == key]
            if not chosen:
                synonym_field = _FIELD_OF_HEADER.get(key)
                if synonym_field is not None and synonym_field not in self.override_keys:
                    chosen = [synonym_field]
            for name in chosen:
                found.setdefault(name, []).append(position)
        return found

    def score(self, cells: Sequence[Cell]) -> tuple[int, int]:
        """(is a complete header, how many fields it names): to rank candidate header rows."""
        found = self.candidates(cells)
        return int(_is_complete(found)), len(found)


def _is_complete(found: Mapping[str, list[int]]) -> bool:
    return "email" in found and any(name in found for name in ("name", "first_name", "last_name"))


@dataclass(frozen=True)
class _Header:
    index: int
    """Index of the header in table.rows."""
    row: int
    """Its spreadsheet row number."""
    cells: Sequence[Cell]
    found: dict[str, list[int]]


def _find_header(table: _Table, matcher: _HeaderMatcher, shown: str) -> _Header:
    best: tuple[int, int] | None = None
    for index, cells in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        found = matcher.candidates(cells)
        if _is_complete(found):
            return _Header(index, table.row_number(index), cells, found)
        if found and (best is None or len(found) > best[1]):
            best = (index, len(found))
    if all(_is_blank(row) for row in table.rows):
        raise _fail(shown, "the file is empty.")
    index = best[0] if best else next(i for i, row in enumerate(table.rows) if not _is_blank(row))
    searched = [matcher.candidates(cells) for cells in table.rows[:HEADER_SEARCH_ROWS]]
    unmatched = [
        _override_problem(shown, name, wanted, table.row_number(index), table.rows[index])
        for name, wanted in matcher.overrides.items()
        if not any(name in found for found in searched)
    ]
    if unmatched:
        # A --column the file does not have explains a missing header best.
        raise RosterError(unmatched)
    raise _fail(shown, _no_header_message(table, matcher, best))


def _override_problem(
    shown: str, name: str, wanted: str, row: int, cells: Sequence[Cell]
) -> RosterProblem:
    return RosterProblem(
        shown,
        row,
        None,
        f"--column {name}={wanted!r}: the header row has no such column (row {row} has: "
        f"{_listing(cells)}). Copy the header text exactly.",
    )


def _listing(cells: Sequence[Cell]) -> str:
    """The non-empty cells of a row, quoted, for messages."""
    return ", ".join(repr(text) for cell in cells if (text := cell_text(cell).strip()))


def _no_header_message(table: _Table, matcher: _HeaderMatcher, best: tuple[int, int] | None) -> str:
    sheets = ""
    if len(table.sheets) > 1:
        listed = ", ".join(repr(name) for name in table.sheets)
        sheets = f" The workbook has the sheets {listed}: choose one with --sheet NAME."
    how = 'Rename the column in the file, or name it with --column FIELD="Header".' + sheets
    if best is None:
        has = _listing(next(row for row in table.rows if not _is_blank(row)))
        return (
            "no header row with a name column ('name', or 'first name' and 'last name') and an "
            f"'email' column was found in the first {HEADER_SEARCH_ROWS} rows (the first row "
            f'has: {has}). Add a header row, or name the columns with --column FIELD="Header".'
            + sheets
        )
    index = best[0]
    cells = table.rows[index]
    has = _listing(cells)
    found = matcher.candidates(cells)
    if "email" not in found:
        missing = "no 'email' column", "an email ('email', 'e-mail', 'email address', 'mail')"
    else:
        missing = "no name column", "a name ('name', 'full name', or 'first name' + 'last name')"
    return (
        f"{missing[0]}: row {table.row_number(index)} looks like the header ({has}) but none "
        f"of its columns is named like {missing[1]}. {how}"
    )


@dataclass(frozen=True)
class _Columns:
    """Which grid column holds each field, and the header text the user wrote for it."""

    index: Mapping[str, int]
    header: Mapping[str, str]
    status: tuple[tuple[int, str], ...] = ()
    """(position, header) of every status column."""
    warnings: tuple[str, ...] = ()

    def cell(self, cells: Sequence[Cell], name: str) -> Cell:
        position = self.index.get(name)
        if position is None or position >= len(cells):
            return None
        return cells[position]

    def text(self, cells: Sequence[Cell], name: str) -> str:
        return normalise_text(cell_text(self.cell(cells, name)))

    def header_of(self, name: str) -> str | None:
        return self.header.get(name)


def _resolve_columns(
    header: _Header, matcher: _HeaderMatcher, table: _Table, shown: str
) -> tuple[_Columns | None, list[RosterProblem]]:
    """The columns to read, or None and the problems that make the header unusable."""
    found = header.found
    problems: list[RosterProblem] = []

    def label(position: int) -> str:
        return f"{cell_text(header.cells[position]).strip()!r} (column {_column_letter(position)})"

    problems.extend(
        _override_problem(shown, name, wanted, header.row, header.cells)
        for name, wanted in matcher.overrides.items()
        if name not in found
    )
    used = ["email", "limit", "limit_reset", "id"]
    used += ["name"] if "name" in found else ["first_name", "last_name"]
    index: dict[str, int] = {}
    for name in used:
        positions = found.get(name, [])
        if len(positions) > 1:
            listed = " and ".join(label(position) for position in positions)
            example = cell_text(header.cells[positions[-1]]).strip()
            problems.append(
                RosterProblem(
                    shown,
                    header.row,
                    None,
                    f"the columns {listed} could each be the {name.replace('_', ' ')}. Say which "
                    f'one with --column {name}="{example}", or rename the other.',
                )
            )
        elif positions:
            index[name] = positions[0]
    if problems:
        return None, problems
    headers = {name: cell_text(header.cells[position]).strip() for name, position in index.items()}
    warnings: list[str] = []
    if "id" in index and _column_is_empty(table, header.index, index["id"]):
        # An all-empty id column (Moodle's 'ID number', often) identifies no one: use emails.
        warnings.append(
            f"{shown}: the column {headers['id']!r} is empty in every row, so participants are "
            "identified by their email."
        )
        del index["id"]
    status = tuple(
        (position, cell_text(header.cells[position]).strip())
        for position in found.get("status", ())
    )
    columns = _Columns(index=index, header=headers, status=status, warnings=tuple(warnings))
    return columns, []


def _column_is_empty(table: _Table, header_index: int, position: int) -> bool:
    return all(
        position >= len(cells) or not cell_text(cells[position]).strip()
        for cells in table.rows[header_index + 1 :]
    )


def _check_defaults(
    header: _Header,
    default_limit: float | None,
    default_limit_reset: str | None,
    max_limit: float,
    shown: str,
) -> list[RosterProblem]:
    problems: list[RosterProblem] = []
    if default_limit is not None and not (0 < default_limit <= max_limit):
        problems.append(
            RosterProblem(
                shown,
                None,
                None,
                f"--limit {default_limit:g} must be more than 0 and at most --max-limit "
                f"{max_limit:g} USD.",
            )
        )
    if default_limit_reset is not None and default_limit_reset not in LIMIT_RESETS:
        problems.append(
            RosterProblem(
                shown,
                None,
                None,
                f"--limit-reset {default_limit_reset!r} must be one of {', '.join(LIMIT_RESETS)}.",
            )
        )
    if default_limit is None and "limit" not in header.found:
        problems.append(
            RosterProblem(
                shown,
                header.row,
                None,
                "the roster has no limit column ('limit', 'budget', 'credit', 'usd') and no "
                "--limit was given. Give every key's budget with --limit USD, or add a "
                "'limit' column.",
            )
        )
    return problems


# --- Step 3: every row -------------------------------------------------------------------


@dataclass
class _Result:
    participants: list[Participant] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)
    skipped: list[RosterProblem] = field(default_factory=list)


class _RowReader:
    """Validates rows one by one, and the roster as a whole (no participant twice)."""

    def __init__(
        self,
        shown: str,
        columns: _Columns,
        default_limit: float | None,
        default_limit_reset: str | None,
        max_limit: float,
    ) -> None:
        self.shown = shown
        self.columns = columns
        self.default_limit = default_limit
        self.default_limit_reset = default_limit_reset
        self.max_limit = max_limit

    def read(self, table: _Table, start: int) -> _Result:
        result = _Result()
        first_row_of: dict[str, int] = {}
        first_row_of_email: dict[str, int] = {}
        for index in range(start, len(table.rows)):
            cells = table.rows[index]
            if _is_blank(cells):
                continue
            row = table.row_number(index)
            skip = self._skip_reason(cells, row)
            if skip is not None:
                result.skipped.append(skip)
                continue
            participant, problems = self._read_row(cells, row)
            result.problems.extend(problems)
            if participant is None:
                continue
            duplicate = self._duplicate(participant, first_row_of, first_row_of_email)
            if duplicate is not None:
                result.problems.append(duplicate)
                continue
            first_row_of[participant.identity] = row
            first_row_of_email[participant.email] = row
            result.participants.append(participant)
        return result

    def _problem(self, row: int, name: str | None, message: str) -> RosterProblem:
        column = self.columns.header_of(name) if name is not None else None
        return RosterProblem(self.shown, row, column, message)

    def _skip_reason(self, cells: Sequence[Cell], row: int) -> RosterProblem | None:
        for position, header in self.columns.status:
            status = normalise_text(cell_text(cells[position] if position < len(cells) else None))
            if _is_skipped_status(status):
                who = f"{self._name(cells)} <{self.columns.text(cells, 'email').lower()}>"
                return RosterProblem(
                    self.shown,
                    row,
                    header,
                    f"{who} is not provisioned: the status is {status!r}, a registration that "
                    "was cancelled, refunded or withdrawn. Change the status to provision them.",
                )
        return None

    def _duplicate(
        self,
        participant: Participant,
        first_row_of: dict[str, int],
        first_row_of_email: dict[str, int],
    ) -> RosterProblem | None:
        identity = participant.identity
        if identity in first_row_of:
            name = "id" if participant.participant_id else "email"
            return self._problem(
                participant.row,
                name,
                f"{identity!r} is also on row {first_row_of[identity]}; each participant may "
                "appear once. Delete one of the two rows.",
            )
        if participant.email in first_row_of_email:
            # With ids as identity, one email on two rows is still almost surely one person
            # registered twice; two keys would go to the same inbox.
            return self._problem(
                participant.row,
                "email",
                f"{participant.email!r} is also on row {first_row_of_email[participant.email]} "
                "(with another id); each participant may appear once. Delete one of the two "
                "rows, or correct the email.",
            )
        return None

    def _read_row(
        self, cells: Sequence[Cell], row: int
    ) -> tuple[Participant | None, list[RosterProblem]]:
        problems: list[RosterProblem] = []
        columns = self.columns
        if self._repeats_header(cells):
            message = (
                "this row repeats the header (a second table or section in the export?). "
                "keyprov reads one table: delete this row and the rows that are not participants."
            )
            return None, [self._problem(row, None, message)]
        name = self._name(cells)
        raw_email = columns.text(cells, "email")
        if not name and not raw_email:
            has = _listing(cells)
            message = (
                f"this row has no name and no email (it has: {has}). Fill them in, or delete "
                "the row if it is not a participant."
            )
            return None, [self._problem(row, None, message)]
        if not name:
            field_name = "name" if "name" in columns.index else "first_name"
            if field_name not in columns.index:
                field_name = "last_name"
            problems.append(
                self._problem(row, field_name, "the name is empty. Fill it in; keys.xlsx lists it.")
            )
        email = self._email(raw_email, row, problems)
        limit = self._limit(columns.cell(cells, "limit"), row, problems)
        limit_reset = self._limit_reset(columns.text(cells, "limit_reset"), row, problems)
        participant_id = self._id(cells, row, problems)
        if problems or limit is None or email is None:
            return None, problems
        return Participant(name, email, limit, limit_reset, row, participant_id), problems

    def _repeats_header(self, cells: Sequence[Cell]) -> bool:
        key = normalise_header(self.columns.text(cells, "email"))
        own = normalise_header(self.columns.header_of("email") or "")
        return bool(key) and (key == own or _FIELD_OF_HEADER.get(key) == "email")

    def _name(self, cells: Sequence[Cell]) -> str:
        name = self.columns.text(cells, "name")
        if name or "name" in self.columns.index:
            return name
        parts = (self.columns.text(cells, "first_name"), self.columns.text(cells, "last_name"))
        return " ".join(part for part in parts if part)

    def _email(self, text: str, row: int, problems: list[RosterProblem]) -> str | None:
        # Invisible characters (zero-width spaces from copy and paste) are never part of an
        # address; everything else that is odd is reported, not repaired.
        email = "".join(char for char in text if unicodedata.category(char) != "Cf").lower()
        if not email:
            problems.append(
                self._problem(
                    row,
                    "email",
                    "the email is empty; every participant needs one. Fill it in, or delete "
                    "the row if it is not a participant.",
                )
            )
            return None
        if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
            problems.append(
                self._problem(
                    row,
                    "email",
                    f"{text!r} is not a valid email address. Correct it (one address, like "
                    "name@example.org).",
                )
            )
            return None
        return email

    def _limit(self, cell: Cell, row: int, problems: list[RosterProblem]) -> float | None:
        text = normalise_text(cell_text(cell))
        if not text:
            # Without a limit column the file-level problem says it once, not on every row.
            if self.default_limit is None and "limit" in self.columns.index:
                problems.append(
                    self._problem(
                        row,
                        "limit",
                        "no limit: fill in this cell, or give a default with --limit USD.",
                    )
                )
            return self.default_limit
        amount = _parse_amount(cell, text)
        if isinstance(amount, str):
            problems.append(self._problem(row, "limit", f"{text!r} {amount}"))
            return None
        if amount <= 0:
            problems.append(
                self._problem(
                    row,
                    "limit",
                    f"{text!r} must be a positive amount of US dollars. Write e.g. 2.50, or "
                    "leave the cell empty for the --limit default.",
                )
            )
            return None
        if amount > self.max_limit:
            problems.append(
                self._problem(
                    row,
                    "limit",
                    f"{text!r} is above the maximum of {self.max_limit:g} USD per key "
                    "(a typo for a smaller amount?). Fix the cell, or raise --max-limit.",
                )
            )
            return None
        return amount

    def _limit_reset(self, text: str, row: int, problems: list[RosterProblem]) -> str | None:
        if not text:
            return self.default_limit_reset
        value = text.lower()
        if value in LIMIT_RESETS:
            return value
        problems.append(
            self._problem(
                row,
                "limit_reset",
                f"{text!r} is not one of {', '.join(LIMIT_RESETS)}. Write one of them, or leave "
                "the cell empty for the --limit-reset default.",
            )
        )
        return None

    def _id(self, cells: Sequence[Cell], row: int, problems: list[RosterProblem]) -> str | None:
        if "id" not in self.columns.index:
            return None
        participant_id = self.columns.text(cells, "id")
        if not participant_id:
            problems.append(
                self._problem(
                    row,
                    "id",
                    "the id is empty, but the roster identifies participants by this column. "
                    "Fill it in (or remove the whole column to identify them by email).",
                )
            )
            return None
        return participant_id


def _is_skipped_status(status: str) -> bool:
    words = re.sub(r"[\W_]+", " ", status.casefold()).split()
    if not words:
        return False
    return words[0] in SKIPPED_STATUS_WORDS or " ".join(words).startswith(SKIPPED_STATUS_PHRASES)


def _without_currency(text: str) -> str:
    matched = _CURRENCY.match(text)
    return matched.group(1) if matched else text.strip()


def _parse_amount(cell: Cell, text: str) -> float | str:
    """US dollars from a cell: a number as stored, or text like '2.50', '$2', '2,50 USD'.

    Returns the amount, or the end of a message saying why it is not one.
    """
    not_a_number = "is not a number of US dollars. Write e.g. 2.50."
    if isinstance(cell, bool):
        return not_a_number
    if isinstance(cell, int | float):
        return round(float(cell), 6) if math.isfinite(cell) else not_a_number
    if isinstance(cell, datetime | date | time):
        return "is a date or time, not an amount. Write the amount in US dollars, e.g. 2.50."
    if text.lower() in _EXCEL_ERRORS:
        return "is an Excel error, not an amount. Fix the formula, or type the amount."
    sign = 1.0
    body = _without_currency(text)
    if body[:1] in ("-", "\u2212", "+"):
        sign = 1.0 if body[0] == "+" else -1.0
        body = _without_currency(body[1:])
    if _AMBIGUOUS.fullmatch(body):
        return (
            "is ambiguous: a thousands separator or a decimal point? Write it without "
            "separators (e.g. 2.5 or 2500)."
        )
    if _WHOLE.fullmatch(body) or _ONE_SEPARATOR.fullmatch(body):
        value = float(body.replace(",", "."))
    elif _COMMA_GROUPS.fullmatch(body):
        value = float(body.replace(",", ""))
    elif _DOT_GROUPS.fullmatch(body):
        value = float(body.replace(".", "").replace(",", "."))
    else:
        return not_a_number
    return round(sign * value, 6)
