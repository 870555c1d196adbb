"""Write the roster corpus in tests/rosters/ and its expectations, expected.json.

Run it from the repository root after changing a case (tests/test_roster_corpus.py checks
that the committed files are what it writes):

    .venv/bin/python tests/rosters/make_corpus.py

Each case is one file as a registration tool or a spreadsheet app exports it, and what
keyprov must make of it: the participants ([name, email, limit, identity]) with their
spreadsheet row numbers, or the problems (substrings of the error lines; there must be exactly
that many). The binary files (xlsx, xls, UTF-16) are written with fixed timestamps, so running
this again gives the same bytes. The real .xls file needs the `xlwt` package; without it the
committed file is kept. All people are invented; all addresses are example.org / example.com.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent
FIXED_TIME = (2026, 1, 1, 0, 0, 0)
Writer = Callable[[Path], None]


@dataclass
class Case:
    file: str
    write: Writer
    options: list[str] = field(default_factory=list)
    participants: list[list[Any]] | None = None
    rows: list[int] | None = None
    errors: list[str] | None = None
    skipped: list[int] | None = None
    warnings: list[str] | None = None
    without_xlrd: dict[str, Any] | None = None
    emails: dict[str, list[str]] | None = None
    """identity -> every address, for the participants who have more than one."""

    def expectation(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key in ("options", "participants", "rows", "errors", "skipped", "warnings", "emails"):
            value = getattr(self, key)
            if value:
                result[key] = value
        if self.without_xlrd:
            result["without_xlrd"] = self.without_xlrd
        return result


CASES: list[Case] = []


def case(file: str, **expected: Any) -> Callable[[Writer], Writer]:
    def register(write: Writer) -> Writer:
        CASES.append(Case(file, write, **expected))
        return write

    return register


def person(name: str, email: str, limit: float, identity: str | None = None) -> list[Any]:
    return [name, email, limit, identity or email]


# --- writing helpers ----------------------------------------------------------------------


def text(content: str, encoding: str = "utf-8") -> Writer:
    def write(path: Path) -> None:
        path.write_bytes(content.encode(encoding))

    return write


def workbook(
    *sheets: tuple[str, Sequence[Sequence[Any]]], patch: Callable[[dict], None] | None = None
) -> Writer:
    """A workbook with the given sheets (title, rows); strings stay strings, even '=...'."""

    def write(path: Path) -> None:
        book = Workbook()
        book.remove(book.active)
        for title, rows in sheets:
            sheet = book.create_sheet(title)
            for row_number, row in enumerate(rows, start=1):
                for column, value in enumerate(row, start=1):
                    if value is None:
                        continue
                    cell = sheet.cell(row=row_number, column=column, value=value)
                    if isinstance(value, str) and value.startswith("="):
                        cell.data_type = "s"
                    if isinstance(value, datetime):
                        cell.number_format = "yyyy-mm-dd hh:mm"
        buffer = io.BytesIO()
        book.save(buffer)
        path.write_bytes(_reproducible_zip(buffer.getvalue(), patch))

    return write


def _reproducible_zip(data: bytes, patch: Callable[[dict], None] | None) -> bytes:
    """The same workbook gives the same bytes: fixed entry times and document dates."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    core = parts["docProps/core.xml"].decode()
    core = re.sub(r"(<dcterms:(?:created|modified)[^>]*>)[^<]*", r"\g<1>2026-01-01T00:00:00Z", core)
    parts["docProps/core.xml"] = core.encode()
    if patch is not None:
        patch(parts)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, content)
    return out.getvalue()


def replace_in(part: str, old: str, new: str) -> Callable[[dict], None]:
    def patch(parts: dict) -> None:
        content = parts[part].decode()
        assert old in content, (part, old)
        parts[part] = content.replace(old, new).encode()

    return patch


# --- good exports ---------------------------------------------------------------------------

# Google Forms, "Download responses (.csv)": every field quoted, free-text answers with commas
# and line breaks (one record, one spreadsheet row), and a "Zoë" typed with a combining
# diaeresis (NFD) that must come out NFC.
case(
    "google_forms.csv",
    options=["--limit", "2"],
    participants=[
        person("Amara Okafor", "amara.okafor@example.org", 2.0),
        person("Zoë Van Dijk", "zoe.vandijk@example.org", 2.0),
        person("Bjørn Halvorsen", "bjorn.halvorsen@example.com", 2.0),
    ],
    rows=[2, 3, 4],
)(
    text(
        '"Timestamp","Email Address","Full name","Affiliation","What do you hope to learn?"\n'
        '"2026/03/02 9:14:05 AM GMT+1","amara.okafor@example.org","Amara Okafor",'
        '"University of Example","Prompting, evaluation,\nand a little fine-tuning"\n'
        '"2026/03/02 9:20:41 AM GMT+1","Zoe.VanDijk@Example.org","Zoe\u0308 Van Dijk",'
        '"Example Institute","Everything about ""agents"""\n'
        '"2026/03/03 11:02:13 AM GMT+1","bjorn.halvorsen@example.com","Bjørn Halvorsen",'
        '"",""\n'
    )
)

# Google Sheets, "Download > Microsoft Excel (.xlsx)" of the form's response sheet.
case(
    "google_sheets.xlsx",
    options=["--limit", "1.5"],
    participants=[
        person("Chiara Bellini", "chiara.bellini@example.org", 1.5),
        person("Dương Minh Anh", "duong.minhanh@example.org", 1.5),
    ],
    rows=[2, 3],
)(
    workbook(
        (
            "Form Responses 1",
            [
                ["Timestamp", "Email Address", "Full name", "Course"],
                [datetime(2026, 3, 2, 9, 14), "chiara.bellini@example.org", "Chiara Bellini", "A"],
                [datetime(2026, 3, 2, 10, 1), "duong.minhanh@example.org", "Dương Minh Anh", "B"],
            ],
        )
    )
)

# Microsoft Forms, "Open results in Excel": ID is the response number, Email/Name are the
# respondent's account (anonymous here), the questions follow. --column picks the answers.
MS_FORMS_ROWS = [
    ["ID", "Start time", "Completion time", "Email", "Name", "Your name", "Your e-mail address"],
    [1, datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 1, 10, 2), "anonymous", None,
     "Elif Y\u0131ld\u0131z", "elif.yildiz@example.org"],
    [2, datetime(2026, 3, 1, 11, 0), datetime(2026, 3, 1, 11, 3), "anonymous", None,
     "Farid Haddad", "farid.haddad@example.com"],
]  # fmt: skip
case(
    "microsoft_forms.xlsx",
    options=[
        "--limit",
        "3",
        "--column",
        "name=Your name",
        "--column",
        "email=Your e-mail address",
    ],
    participants=[
        person("Elif Y\u0131ld\u0131z", "elif.yildiz@example.org", 3.0, "1"),
        person("Farid Haddad", "farid.haddad@example.com", 3.0, "2"),
    ],
    rows=[2, 3],
)(workbook(("Sheet1", MS_FORMS_ROWS)))

# Eventbrite attendee summary: "Attendee #" is no name, "Buyer Email" is no email, and the
# "Attendee Status" of refunded or not attending tickets skips them. UTF-8 with BOM, CRLF.
case(
    "eventbrite.csv",
    participants=[
        person("Greta Lindqvist", "greta.lindqvist@example.org", 2.0),
        person("Hamish McAllister", "hamish.mcallister@example.org", 2.0),
    ],
    rows=[2, 4],
    skipped=[3, 5],
    options=["--limit", "2"],
)(
    text(
        "\ufeffOrder #,Order Date,First Name,Last Name,Email,Quantity,Ticket Type,Attendee #,"
        "Buyer First Name,Buyer Last Name,Buyer Email,Attendee Status,Total Paid\r\n"
        "1001,2026-02-10,Greta,Lindqvist,greta.lindqvist@example.org,1,General,5001,Greta,"
        "Lindqvist,greta.lindqvist@example.org,Attending,25.00\r\n"
        "1002,2026-02-11,Ines,Carvalho,ines.carvalho@example.org,1,General,5002,Ines,Carvalho,"
        "ines.carvalho@example.org,Refunded,0.00\r\n"
        "1003,2026-02-11,Hamish,McAllister,hamish.mcallister@example.org,1,General,5003,"
        "Jonas,Petraitis,jonas.petraitis@example.org,Checked In,25.00\r\n"
        "1004,2026-02-12,Kalani,Akana,kalani.akana@example.org,1,General,5004,Kalani,Akana,"
        "kalani.akana@example.org,Not Attending,25.00\r\n"
    )
)

# Zoom meeting registration report: report lines above the header; denied and cancelled
# registrations are skipped, pending ones are kept.
case(
    "zoom_registration.csv",
    options=["--limit", "2"],
    participants=[
        person("Lucía Fernández", "lucia.fernandez@example.org", 2.0),
        person("Nadia Kowalczyk", "nadia.kowalczyk@example.org", 2.0),
    ],
    rows=[7, 9],
    skipped=[8, 10],
)(
    text(
        "Registration Report\n"
        'Report Generated:,"Mar 3, 2026 10:12 AM"\n'
        "Topic,ID,Start Time,Duration (Minutes),# Registered,# Cancelled\n"
        'LLM workshop,812 3456 7890,"Mar 5, 2026 09:00 AM",180,4,1\n'
        "\n"
        "First Name,Last Name,Email,Registration Time,Approval Status,Organization\n"
        'Lucía,Fernández,lucia.fernandez@example.org,"Mar 1, 2026 8:00 AM",approved,Example U\n'
        'Mateo,Rossi,mateo.rossi@example.org,"Mar 1, 2026 9:00 AM",denied,Example U\n'
        'Nadia,Kowalczyk,nadia.kowalczyk@example.org,"Mar 2, 2026 8:00 AM",pending,\n'
        'Oskar,Nieminen,oskar.nieminen@example.org,"Mar 2, 2026 9:30 AM",cancelled,\n'
    )
)

# Zoom webinar attendee report: a host section above the attendee section. The host's header
# names no name column keyprov knows, so the attendee header is the table.
case(
    "zoom_attendee_report.csv",
    options=["--limit", "1"],
    participants=[person("Priya Raman", "priya.raman@example.org", 1.0)],
    rows=[9],
)(
    text(
        "Attendee Report\n"
        'Report Generated:,"Mar 5, 2026 12:40 PM"\n'
        "Topic,Webinar ID,Actual Start Time,Actual Duration (minutes)\n"
        'LLM workshop,812 3456 7890,"Mar 5, 2026 09:00 AM",182\n'
        "Host Details\n"
        "Attended,User Name (Original Name),Email,Join Time,Leave Time\n"
        'Yes,Workshop Host,host@example.com,"Mar 5, 2026 08:50 AM","Mar 5, 2026 12:05 PM"\n'
        "Attended,First Name,Last Name,Email,Join Time,Leave Time\n"
        'Yes,Priya,Raman,priya.raman@example.org,"Mar 5, 2026 08:58 AM","Mar 5, 2026 12:01 PM"\n'
    )
)

# Moodle participants download (CSV): "ID number" is empty for everyone, so emails identify
# people (with a warning); a suspended enrolment is skipped.
case(
    "moodle_participants.csv",
    options=["--limit", "5"],
    participants=[
        person("Quentin Dubois", "quentin.dubois@example.org", 5.0),
        person("Rania Mansour", "rania.mansour@example.org", 5.0),
    ],
    rows=[2, 3],
    skipped=[4],
    warnings=["is empty in every row"],
)(
    text(
        "First name,Last name,ID number,Email address,Roles,Groups,Status\n"
        "Quentin,Dubois,,quentin.dubois@example.org,Student,Group A,Active\n"
        "Rania,Mansour,,rania.mansour@example.org,Student,Group B,Active\n"
        "Søren,Kjær,,soren.kjaer@example.org,Student,Group A,Suspended\n"
    )
)

# Moodle grades export (Excel): "Surname" and numeric ID numbers, which become the identity.
case(
    "moodle_grades.xlsx",
    options=["--limit", "2"],
    participants=[
        person("Tomasz Wiśniewski", "tomasz.wisniewski@example.org", 2.0, "20231001"),
        person("Uma Krishnan", "uma.krishnan@example.org", 2.0, "20231002"),
    ],
    rows=[2, 3],
)(
    workbook(
        (
            "Grades",
            [
                [
                    "First name",
                    "Surname",
                    "ID number",
                    "Institution",
                    "Department",
                    "Email address",
                    "Quiz 1 (Real)",
                    "Last downloaded from this course",
                ],
                [
                    "Tomasz",
                    "Wiśniewski",
                    20231001,
                    "Example U",
                    "History",
                    "tomasz.wisniewski@example.org",
                    7.5,
                    1772380800,
                ],
                [
                    "Uma",
                    "Krishnan",
                    20231002,
                    "Example U",
                    "Linguistics",
                    "uma.krishnan@example.org",
                    9,
                    1772380800,
                ],
            ],
        )
    )
)

# Canvas provisioning report (users.csv): full_name beats first/last, the SIS user_id is the
# identity, and a deleted user is skipped.
case(
    "canvas_users.csv",
    options=["--limit", "2"],
    participants=[
        person("Viktor Horvat", "viktor.horvat@example.org", 2.0, "S1001"),
        person("Wen Li", "wen.li@example.org", 2.0, "S1002"),
    ],
    rows=[2, 3],
    skipped=[4],
)(
    text(
        "canvas_user_id,user_id,integration_id,login_id,first_name,last_name,full_name,"
        "sortable_name,short_name,email,status,created_by_sis\n"
        '101,S1001,,vhorvat,Viktor,Horvat,Viktor Horvat,"Horvat, Viktor",Viktor,'
        "viktor.horvat@example.org,active,true\n"
        '102,S1002,,wli,Wen,Li,Wen Li,"Li, Wen",Wen,wen.li@example.org,active,true\n'
        '103,S1003,,xmoreau,Xavier,Moreau,Xavier Moreau,"Moreau, Xavier",Xavier,'
        "xavier.moreau@example.org,deleted,true\n"
    )
)

# Indico registrations export (Excel): the registration ID is the identity; withdrawn and
# rejected registrations are skipped.
case(
    "indico_registrations.xlsx",
    options=["--limit", "4"],
    participants=[
        person("Yasmin Aziz", "yasmin.aziz@example.org", 4.0, "1"),
        person("Ahmed Saleh", "ahmed.saleh@example.com", 4.0, "4"),
    ],
    rows=[2, 5],
    skipped=[3, 4],
)(
    workbook(
        (
            "Registrations",
            [
                [
                    "ID",
                    "Name",
                    "Email",
                    "Affiliation",
                    "Registration date",
                    "Registration state",
                    "Price",
                ],
                [
                    1,
                    "Yasmin Aziz",
                    "yasmin.aziz@example.org",
                    "Example U",
                    datetime(2026, 2, 1, 9, 0),
                    "Completed",
                    0,
                ],
                [
                    2,
                    "Bruno Keller",
                    "bruno.keller@example.org",
                    "Example U",
                    datetime(2026, 2, 2, 9, 0),
                    "Withdrawn",
                    0,
                ],
                [
                    3,
                    "Camille Laurent",
                    "camille.laurent@example.org",
                    "Example U",
                    datetime(2026, 2, 3, 9, 0),
                    "Rejected",
                    0,
                ],
                [
                    4,
                    "Ahmed Saleh",
                    "ahmed.saleh@example.com",
                    "Example Lab",
                    datetime(2026, 2, 4, 9, 0),
                    "Pending",
                    0,
                ],
            ],
        )
    )
)

# A hand-made Excel roster: per-row limits as numbers, one row falls back to --limit.
case(
    "excel_simple.xlsx",
    options=["--limit", "1"],
    participants=[
        person("Daria Volkova", "daria.volkova@example.org", 3.0),
        person("Emeka Nwosu", "emeka.nwosu@example.org", 0.5),
        person("Fatima Zahra", "fatima.zahra@example.org", 1.0),
    ],
    rows=[2, 3, 4],
)(
    workbook(
        (
            "Sheet1",
            [
                ["Name", "Email", "Limit"],
                ["Daria Volkova", "daria.volkova@example.org", 3],
                ["Emeka Nwosu", "emeka.nwosu@example.org", 0.5],
                ["Fatima Zahra", "fatima.zahra@example.org", None],
            ],
        )
    )
)


def _title_rows_workbook(path: Path) -> None:
    """Title and blank rows above the header, numbers stored as text, formatted empty cells."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Roster"
    sheet["A1"] = "BSSDH 2026 - API keys for the LLM workshop"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = "Prepared by the organisers"
    rows = [
        ["Participant", "E-mail", "Budget (USD)", "Notes"],
        ["Gabriel Souza", "gabriel.souza@example.org", "2.50", "number stored as text"],
        ["Hana Takahashi", "hana.takahashi@example.org", " 3 ", None],
        [None, None, None, None],
        ["Ivan Petrov", "ivan.petrov@example.org", 1.25, None],
    ]
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=4 + offset, column=column, value=value)
    # Trailing rows and columns that only carry formatting, as Excel leaves them.
    for row in range(9, 40):
        sheet.cell(row=row, column=8).font = Font(italic=True)
    sheet.cell(row=4, column=12).font = Font(bold=True)
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(_reproducible_zip(buffer.getvalue(), None))


case(
    "excel_title_rows.xlsx",
    participants=[
        person("Gabriel Souza", "gabriel.souza@example.org", 2.5),
        person("Hana Takahashi", "hana.takahashi@example.org", 3.0),
        person("Ivan Petrov", "ivan.petrov@example.org", 1.25),
    ],
    rows=[5, 6, 8],
)(_title_rows_workbook)

# The roster on the second sheet, chosen with --sheet.
case(
    "excel_second_sheet.xlsx",
    options=["--sheet", "Participants", "--limit", "2"],
    participants=[person("Julia Novak", "julia.novak@example.org", 2.0)],
    rows=[2],
)(
    workbook(
        ("Info", [["Workshop", "LLMs for historians"], ["Date", datetime(2026, 3, 5)]]),
        ("Participants", [["name", "email"], ["Julia Novak", "julia.novak@example.org"]]),
    )
)

# Without --sheet, the first sheet is read even when others follow.
case(
    "excel_first_sheet.xlsx",
    options=["--limit", "2"],
    participants=[person("Kofi Mensah", "kofi.mensah@example.org", 2.0)],
    rows=[2],
)(
    workbook(
        ("Attendees", [["name", "email"], ["Kofi Mensah", "kofi.mensah@example.org"]]),
        ("Waiting list", [["name", "email"], ["Lena Vogel", "lena.vogel@example.org"]]),
    )
)

# A writer that stores a wrong (too small) sheet dimension: every row is still read.
case(
    "excel_wrong_dimension.xlsx",
    participants=[
        person("Marek Dvořák", "marek.dvorak@example.org", 2.0),
        person("Nia Roberts", "nia.roberts@example.org", 2.0),
        person("Omar Farouk", "omar.farouk@example.org", 2.0),
    ],
    rows=[2, 3, 4],
)(
    workbook(
        (
            "Sheet1",
            [
                ["name", "email", "limit"],
                ["Marek Dvořák", "marek.dvorak@example.org", 2],
                ["Nia Roberts", "nia.roberts@example.org", 2],
                ["Omar Farouk", "omar.farouk@example.org", 2],
            ],
        ),
        patch=replace_in("xl/worksheets/sheet1.xml", 'ref="A1:C4"', 'ref="A1:B2"'),
    )
)

# A macro-enabled workbook (.xlsm).
case(
    "excel_macros.xlsm",
    participants=[person("Paula Jiménez", "paula.jimenez@example.org", 1.0)],
    rows=[2],
)(
    workbook(
        (
            "Sheet1",
            [["Name", "Email", "Credit"], ["Paula Jiménez", "paula.jimenez@example.org", 1]],
        ),
        patch=replace_in(
            "[Content_Types].xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        ),
    )
)

# Numbers and dates as Excel stores them: a float limit, an integer student number, dates and
# booleans in other columns.
case(
    "excel_numbers_and_dates.xlsx",
    participants=[
        person("Rafael Costa", "rafael.costa@example.org", 0.75, "1234567"),
        person("Sakura Ito", "sakura.ito@example.org", 10.0, "A-77"),
    ],
    rows=[2, 3],
)(
    workbook(
        (
            "Sheet1",
            [
                ["Student ID", "First name", "Last name", "Email", "USD", "Registered", "Paid"],
                [
                    1234567,
                    "Rafael",
                    "Costa",
                    "rafael.costa@example.org",
                    0.75,
                    datetime(2026, 1, 5),
                    True,
                ],
                [
                    "A-77",
                    "Sakura",
                    "Ito",
                    "sakura.ito@example.org",
                    10,
                    datetime(2026, 1, 6),
                    False,
                ],
            ],
        )
    )
)

# Excel "Save as > Unicode Text (*.txt)": UTF-16 LE with BOM, tabs, CRLF, and the decimal
# commas of a European locale.
case(
    "excel_unicode_text.txt",
    participants=[
        person("Théo Girard", "theo.girard@example.org", 2.5),
        person("Ülkü Demir", "ulku.demir@example.org", 1.0),
    ],
    rows=[2, 3],
)(
    text(
        "\ufeffName\tE-Mail\tLimit\r\n"
        "Théo Girard\ttheo.girard@example.org\t2,5\r\n"
        "Ülkü Demir\tulku.demir@example.org\t1\r\n",
        "utf-16-le",
    )
)

# UTF-16 without a BOM (some tools strip it).
case(
    "utf16_without_bom.txt",
    options=["--limit", "1"],
    participants=[person("Vera Lindgren", "vera.lindgren@example.org", 1.0)],
    rows=[2],
)(text("name\temail\r\nVera Lindgren\tvera.lindgren@example.org\r\n", "utf-16-le"))

# A European Excel's CSV: semicolons, decimal commas, thousands dots.
case(
    "european_semicolon.csv",
    participants=[
        person("Wiebke Schröder", "wiebke.schroeder@example.org", 2.5),
        person("Xènia Puig", "xenia.puig@example.org", 0.75),
        person("Yannick Weber", "yannick.weber@example.org", 3.0),
    ],
    rows=[2, 3, 4],
)(
    text(
        "Vorname;Nachname;E-Mail;Budget\n"
        "Wiebke;Schröder;wiebke.schroeder@example.org;2,50\n"
        "Xènia;Puig;xenia.puig@example.org;0,75\n"
        "Yannick;Weber;yannick.weber@example.org;3\n"
    )
)

# Excel's "sep=;" first line: Excel hides it, so the header is row 1 as the user sees it.
case(
    "excel_sep_line.csv",
    participants=[person("Zeynep Kaya", "zeynep.kaya@example.org", 1.5)],
    rows=[2],
)(text("sep=;\r\nname;email;limit\r\nZeynep Kaya;zeynep.kaya@example.org;1,5\r\n"))

# An old Excel "CSV (Comma delimited)" save on Windows: Windows-1252, read with a warning.
case(
    "windows_1252.csv",
    options=["--limit", "2"],
    participants=[
        person("José Muñoz", "jose.munoz@example.org", 2.0),
        person("Françoise Lefèvre", "francoise.lefevre@example.org", 2.0),
    ],
    rows=[2, 3],
    warnings=["Windows-1252"],
)(
    text(
        "Name,Email\r\nJosé Muñoz,jose.munoz@example.org\r\n"
        "Françoise Lefèvre,francoise.lefevre@example.org\r\n",
        "cp1252",
    )
)

# A .tsv file.
case(
    "tabs.tsv",
    participants=[
        person("Aino Virtanen", "aino.virtanen@example.org", 2.0),
        person("Benedikt Huber", "benedikt.huber@example.org", 4.0),
    ],
    rows=[2, 3],
)(
    text(
        "Full Name\tEmail Address\tLimit USD\n"
        "Aino Virtanen\taino.virtanen@example.org\t2\n"
        "Benedikt Huber\tbenedikt.huber@example.org\t4.00\n"
    )
)

# Old Mac line endings (CR only).
case(
    "mac_line_endings.csv",
    participants=[person("Cora Whitfield", "cora.whitfield@example.org", 2.0)],
    rows=[2],
)(text("name,email,limit\rCora Whitfield,cora.whitfield@example.org,2\r"))

# Blank rows and a multi-line quoted cell: row numbers as a spreadsheet app shows them.
case(
    "blank_rows_and_multiline.csv",
    participants=[
        person("Dmitri Sokolov", "dmitri.sokolov@example.org", 1.0),
        person("Esther Cohen", "esther.cohen@example.org", 2.0),
        person("Finn O'Brien", "finn.obrien@example.org", 3.0),
    ],
    rows=[2, 4, 6],
)(
    text(
        "name,email,limit,notes\n"
        'Dmitri Sokolov,dmitri.sokolov@example.org,1,"first line\nsecond line\nthird line"\n'
        ",,,\n"
        "Esther Cohen,esther.cohen@example.org,2,\n"
        "\n"
        "Finn O'Brien,finn.obrien@example.org,3,\n"
        "\n\n"
    )
)

# Per-row limit resets, and the --limit-reset default for empty cells.
case(
    "limit_resets.csv",
    options=["--limit-reset", "monthly"],
    participants=[
        person("Gustavo Lima", "gustavo.lima@example.org", 1.0),
        person("Helga Brandt", "helga.brandt@example.org", 1.0),
        person("Ikaika Kahale", "ikaika.kahale@example.org", 1.0),
    ],
    rows=[2, 3, 4],
)(
    text(
        "name,email,limit,limit_reset\n"
        "Gustavo Lima,gustavo.lima@example.org,1,Daily\n"
        "Helga Brandt,helga.brandt@example.org,1,WEEKLY\n"
        "Ikaika Kahale,ikaika.kahale@example.org,1,\n"
    )
)

# Student IDs as text, with leading zeros kept: they are the identity.
case(
    "student_ids.csv",
    options=["--limit", "2"],
    participants=[
        person("Jana Horáková", "jana.horakova@example.org", 2.0, "00123"),
        person("Karim Benali", "karim.benali@example.org", 2.0, "00124"),
    ],
    rows=[2, 3],
)(
    text(
        "Student ID,Given name,Family name,E-mail\n"
        "00123,Jana,Horáková,jana.horakova@example.org\n"
        "00124,Karim,Benali,karim.benali@example.org\n"
    )
)

# Headers no synonym covers, named with --column.
case(
    "column_override.csv",
    options=[
        "--limit",
        "2",
        "--column",
        "email=Contact (institutional e-mail)",
        "--column",
        "name=What should we call you?",
    ],
    participants=[person("Leila Haddad", "leila.haddad@example.org", 2.0)],
    rows=[2],
)(
    text(
        "What should we call you?,Contact (institutional e-mail),Dietary needs\n"
        "Leila Haddad,leila.haddad@example.org,none\n"
    )
)

# Odd spacing and case in headers and cells, non-breaking and zero-width spaces.
case(
    "whitespace_and_case.csv",
    participants=[
        person("Mika Salonen", "mika.salonen@example.org", 2.0),
        person("Nora Ahlberg", "nora.ahlberg@example.org", 1.0),
    ],
    rows=[2, 3],
)(
    text(
        "  NAME , E-Mail Address ,  LIMIT\n"
        "  Mika   Salonen ,  Mika.Salonen@EXAMPLE.org  , 2 \n"
        "\u00a0Nora Ahlberg\u00a0,\u200bnora.ahlberg@example.org\u200b,1\n"
    )
)

# Limits written with a currency: $, USD, US$, and a decimal comma in a quoted field.
case(
    "currency_amounts.csv",
    participants=[
        person("Olu Adeyemi", "olu.adeyemi@example.org", 2.5),
        person("Pia Hoffmann", "pia.hoffmann@example.org", 3.0),
        person("Quinn Murphy", "quinn.murphy@example.org", 1.0),
        person("Rosa Castillo", "rosa.castillo@example.org", 1.5),
    ],
    rows=[2, 3, 4, 5],
)(
    text(
        "name,email,limit\n"
        "Olu Adeyemi,olu.adeyemi@example.org,$2.50\n"
        "Pia Hoffmann,pia.hoffmann@example.org,3 USD\n"
        "Quinn Murphy,quinn.murphy@example.org,US$1\n"
        'Rosa Castillo,rosa.castillo@example.org,"1,5"\n'
    )
)

# Names that look like spreadsheet formulas are read as plain text (keys.xlsx stores them as
# text too).
case(
    "formula_like_names.csv",
    options=["--limit", "1"],
    participants=[
        person('=HYPERLINK("http://example.com")', "formula.one@example.org", 1.0),
        person("+Sam Plus", "sam.plus@example.org", 1.0),
        person("-Dash Minus", "dash.minus@example.org", 1.0),
        person("@At Sign", "at.sign@example.org", 1.0),
    ],
    rows=[2, 3, 4, 5],
)(
    text(
        "name,email\n"
        '"=HYPERLINK(""http://example.com"")",formula.one@example.org\n'
        "+Sam Plus,sam.plus@example.org\n"
        "-Dash Minus,dash.minus@example.org\n"
        "@At Sign,at.sign@example.org\n"
    )
)

# French Moodle: "Prénom", "Nom", "Adresse de courriel".
case(
    "moodle_french.csv",
    options=["--limit", "2"],
    participants=[person("Sébastien Morel", "sebastien.morel@example.org", 2.0)],
    rows=[2],
)(text("Prénom,Nom,Adresse de courriel\nSébastien,Morel,sebastien.morel@example.org\n"))

# An Excel workbook someone saved with a .csv name: read as a workbook, with a warning.
case(
    "workbook_named_csv.csv",
    options=["--limit", "2"],
    participants=[person("Tarek Nasser", "tarek.nasser@example.org", 2.0)],
    rows=[2],
    warnings=["is an Excel workbook although its name ends in .csv"],
)(workbook(("Sheet1", [["name", "email"], ["Tarek Nasser", "tarek.nasser@example.org"]])))

# An "Excel" export that is really tab-separated text with an .xls name (older LMS exports).
case(
    "text_named_xls.xls",
    options=["--limit", "2"],
    participants=[person("Ursula Brenner", "ursula.brenner@example.org", 2.0)],
    rows=[2],
    warnings=["is really delimited text"],
)(text("First Name\tLast Name\tEmail\nUrsula\tBrenner\tursula.brenner@example.org\n"))


def _xls(path: Path) -> None:
    """A real Excel 97-2003 workbook, if xlwt is there to write one; else keep the old file."""
    try:
        import xlwt  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        committed = HERE / path.name
        if not committed.exists():
            sys.exit(f"{path.name}: install xlwt to write it once")
        if committed != path:
            path.write_bytes(committed.read_bytes())
        return
    book = xlwt.Workbook()
    sheet = book.add_sheet("Attendees")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    rows = [
        ["Name", "Email", "Limit", "Registered"],
        ["Viola Marchetti", "viola.marchetti@example.org", 2, datetime(2026, 2, 1)],
        ["Walter Graf", "walter.graf@example.org", 1.5, datetime(2026, 2, 2)],
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write(r, c, value, date_style)
            else:
                sheet.write(r, c, value)
    book.save(str(path))


# A real .xls: read when the optional xlrd is installed, else a clear message to re-save.
case(
    "excel_97.xls",
    participants=[
        person("Viola Marchetti", "viola.marchetti@example.org", 2.0),
        person("Walter Graf", "walter.graf@example.org", 1.5),
    ],
    rows=[2, 3],
    without_xlrd={"errors": ["Excel 97-2003 workbook (.xls), which this installation"]},
)(_xls)
# Microsoft Forms "anyone can respond", as exported: the account columns hold "anonymous" and
# nothing, so the answers are read without --column (with a note saying which and why).
case(
    "microsoft_forms_no_column.xlsx",
    options=["--limit", "3"],
    participants=[
        person("Elif Y\u0131ld\u0131z", "elif.yildiz@example.org", 3.0, "1"),
        person("Farid Haddad", "farid.haddad@example.com", 3.0, "2"),
    ],
    rows=[2, 3],
    warnings=[
        "the email is read from 'Your e-mail address' (column G), because 'Email' (column D) "
        "holds no email address ('anonymous' in every row)",
        "the name is read from 'Your name' (column F), because 'Name' (column E) is empty in "
        "every row",
    ],
)(workbook(("Sheet1", MS_FORMS_ROWS)))

# The same kind of form asking for first and last name: the empty "Name" gives way to them.
case(
    "microsoft_forms_anyone.xlsx",
    options=["--limit", "2"],
    participants=[
        person("Gulnara Sadykova", "gulnara.sadykova@example.org", 2.0, "1"),
        person("Henrik Aalto", "henrik.aalto@example.com", 2.0, "2"),
        person("Imani Otieno", "imani.otieno@example.org", 2.0, "3"),
    ],
    rows=[2, 3, 4],
    warnings=[
        "the email is read from 'Your e-mail address' (column F), because 'Email' (column D) "
        "holds no email address ('anonymous' in every row)",
        "the name is read from 'First name' (column G) and 'Last name' (column H), because "
        "'Name' (column E) is empty in every row",
    ],
)(
    workbook(
        (
            "Sheet1",
            [
                [
                    "ID",
                    "Start time",
                    "Completion time",
                    "Email",
                    "Name",
                    "Your e-mail address",
                    "First name",
                    "Last name",
                    "Which session?",
                ],
                [
                    1,
                    datetime(2026, 3, 1, 10, 0),
                    datetime(2026, 3, 1, 10, 2),
                    "anonymous",
                    None,
                    "gulnara.sadykova@example.org",
                    "Gulnara",
                    "Sadykova",
                    "Morning",
                ],
                [
                    2,
                    datetime(2026, 3, 1, 11, 0),
                    datetime(2026, 3, 1, 11, 3),
                    "anonymous",
                    None,
                    "Henrik.Aalto@example.com",
                    "Henrik",
                    "Aalto",
                    "Afternoon",
                ],
                [
                    3,
                    datetime(2026, 3, 2, 9, 0),
                    datetime(2026, 3, 2, 9, 4),
                    "anonymous",
                    None,
                    "imani.otieno@example.org ",
                    "Imani",
                    "Otieno",
                    "Morning",
                ],
            ],
        )
    )
)

# Google Forms collecting "Email Address" and asking "Email" as well: the two agree (the
# question was optional, one person left it empty), so either gives the same participants.
case(
    "google_forms_two_emails.csv",
    options=["--limit", "2"],
    participants=[
        person("Jasper de Vries", "jasper.devries@example.org", 2.0),
        person("Keiko Tanaka", "keiko.tanaka@example.org", 2.0),
    ],
    rows=[2, 3],
    warnings=[
        "the email is read from 'Email Address' (column B); 'Email' (column D) agrees with it "
        "wherever both hold an email address",
    ],
)(
    text(
        '"Timestamp","Email Address","Full name","Email"\n'
        '"2026/03/02 9:14:05 AM GMT+1","jasper.devries@example.org","Jasper de Vries",'
        '"Jasper.deVries@example.org"\n'
        '"2026/03/02 9:20:41 AM GMT+1","keiko.tanaka@example.org","Keiko Tanaka",""\n'
    )
)

# Moodle participants download with teachers, who have no "ID number", and students, who have
# one: students are identified by their ID number, teachers by their email.
MOODLE_TEACHERS = [
    ["First name", "Last name", "ID number", "Email address", "Roles", "Groups",
     "Last access to course", "Status"],
    ["Lorenzo", "Bianchi", "", "lorenzo.bianchi@example.org", "Teacher", "No groups",
     "2 hours 5 mins", "Active"],
    ["Maya", "Goldberg", "", "maya.goldberg@example.org", "Non-editing teacher",
     "Group A, Group B", "1 day 3 hours", "Active"],
    ["Nikolai", "Ivanov", "2024117", "nikolai.ivanov@example.org", "Student", "Group A",
     "3 days", "Active"],
    ["Olga", "Nowak", "2024118", "olga.nowak@example.org", "Student", "Group B", "Never",
     "Active"],
    ["Pedro", "Alves", "2024119", "pedro.alves@example.org", "Student", "Group A", "5 days",
     "Suspended"],
    ["Quynh", "Tran", "02024120", "quynh.tran@example.org", "Student", "Group B", "1 hour",
     "Active"],
]  # fmt: skip
MOODLE_TEACHERS_PARTICIPANTS = [
    person("Lorenzo Bianchi", "lorenzo.bianchi@example.org", 5.0),
    person("Maya Goldberg", "maya.goldberg@example.org", 5.0),
    person("Nikolai Ivanov", "nikolai.ivanov@example.org", 5.0, "2024117"),
    person("Olga Nowak", "olga.nowak@example.org", 5.0, "2024118"),
    person("Quynh Tran", "quynh.tran@example.org", 5.0, "02024120"),
]
MOODLE_TEACHERS_NOTE = (
    "2 of 5 participants have no 'ID number' (rows 2, 3), so they are identified by their "
    "email and the others by their id"
)


def delimited(rows: Sequence[Sequence[str]], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


case(
    "moodle_teachers_without_id.csv",
    options=["--limit", "5"],
    participants=MOODLE_TEACHERS_PARTICIPANTS,
    rows=[2, 3, 4, 5, 7],
    skipped=[6],
    warnings=[MOODLE_TEACHERS_NOTE],
)(text(delimited(MOODLE_TEACHERS, ",")))

# The same from a European Moodle: semicolons, UTF-8 with BOM, and commas inside cells.
case(
    "moodle_teachers_without_id_semicolon.csv",
    options=["--limit", "5"],
    participants=MOODLE_TEACHERS_PARTICIPANTS,
    rows=[2, 3, 4, 5, 7],
    skipped=[6],
    warnings=[MOODLE_TEACHERS_NOTE],
)(text("\ufeff" + delimited(MOODLE_TEACHERS, ";")))

# Canvas users.csv where the teacher and a TA were added by hand: no SIS user_id, so they are
# identified by their email and the students by their SIS id.
case(
    "canvas_users_partial_sis.csv",
    options=["--limit", "2"],
    participants=[
        person("Rhea Kapoor", "rhea.kapoor@example.org", 2.0),
        person("Stefan Popescu", "stefan.popescu@example.org", 2.0, "S2001"),
        person("Tendai Moyo", "tendai.moyo@example.org", 2.0),
        person("Ugo Ferrari", "ugo.ferrari@example.org", 2.0, "S2002"),
    ],
    rows=[2, 3, 4, 5],
    warnings=[
        "2 of 4 participants have no 'user_id' (rows 2, 4), so they are identified by their email",
    ],
)(
    text(
        "canvas_user_id,user_id,integration_id,login_id,first_name,last_name,full_name,"
        "sortable_name,short_name,email,status,created_by_sis\n"
        '201,,,rkapoor,Rhea,Kapoor,Rhea Kapoor,"Kapoor, Rhea",Rhea,rhea.kapoor@example.org,'
        "active,false\n"
        '202,S2001,,spopescu,Stefan,Popescu,Stefan Popescu,"Popescu, Stefan",Stefan,'
        "stefan.popescu@example.org,active,true\n"
        '203,,,tmoyo,Tendai,Moyo,Tendai Moyo,"Moyo, Tendai",Tendai,tendai.moyo@example.org,'
        "active,false\n"
        '204,S2002,,uferrari,Ugo,Ferrari,Ugo Ferrari,"Ferrari, Ugo",Ugo,'
        "ugo.ferrari@example.org,active,true\n"
    )
)

# --- bad files: every problem is named, with row and column as the user sees them ---------

case(
    "bad_rows.csv",
    options=["--limit", "1"],
    errors=[
        "row 3, column 'Name': the name is empty",
        "row 4: this row has no name and no email (it has: 'just a note')",
        "row 5, column 'Email': 'bob-at-example.org' is not a valid email address",
        "row 6, column 'Limit': 'two' is not a number of US dollars",
        "row 7, column 'Limit': '-1' must be a positive amount",
        "row 8, column 'Limit': '0' must be a positive amount",
        "row 9, column 'Limit': '2000' is above the maximum of 100 USD",
        "row 10, column 'Reset': 'yearly' is not one of daily, weekly, monthly",
        "row 11, column 'Email': 'ada.example@example.org' is also on row 2",
        "row 12, column 'Email': the email is empty",
        # Row 13 ('two@example.org; three@example.org') is one participant with two
        # addresses since issue 29: see two_addresses_*.
    ],
)(
    text(
        "Name,Email,Limit,Reset,Notes\n"
        "Ada Example,ada.example@example.org,2,,\n"
        ",nobody@example.org,1,,\n"
        ",,,,just a note\n"
        "Bob Example,bob-at-example.org,1,,\n"
        "Carol Example,carol@example.org,two,,\n"
        "Dan Example,dan@example.org,-1,,\n"
        "Erin Example,erin@example.org,0,,\n"
        "Eve Example,eve@example.org,2000,,\n"
        "Fay Example,fay@example.org,1,yearly,\n"
        "Ada Again,ADA.example@example.org,1,,\n"
        "Gil Example,,1,,\n"
        "Two People,two@example.org; three@example.org,1,,\n"
        ",,,\u200b,\u00a0\n"
    )
)

# The same kinds of problem in a workbook, below title rows (so the row numbers are shifted),
# with Excel values: a date and an error in the limit column, a zero, a negative number.
case(
    "bad_rows.xlsx",
    errors=[
        "row 5, column 'E-mail': 'hugo@example' is not a valid email address",
        "row 6, column 'Budget': '2026-03-01' is a date or time, not an amount",
        "row 7, column 'Budget': '#N/A' is an Excel error",
        "row 8, column 'Budget': '0' must be a positive amount",
        "row 9, column 'Budget': '-5' must be a positive amount",
        "row 10, column 'Budget': '250' is above the maximum of 100 USD",
        "row 11, column 'Participant': the name is empty",
    ],
)(
    workbook(
        (
            "Roster",
            [
                ["Workshop roster"],
                [],
                ["Participant", "E-mail", "Budget"],
                ["Ines Ok", "ines.ok@example.org", 2],
                ["Hugo Bad", "hugo@example", 2],
                ["Ida Date", "ida.date@example.org", datetime(2026, 3, 1)],
                ["Jon Error", "jon.error@example.org", "#N/A"],
                ["Kim Zero", "kim.zero@example.org", 0],
                ["Lou Negative", "lou.negative@example.org", -5],
                ["Max Typo", "max.typo@example.org", 250],
                [None, "no.name@example.org", 1],
            ],
        )
    )
)

# Errors after blank rows and multi-line cells keep spreadsheet row numbers.
case(
    "bad_row_numbers.csv",
    options=["--limit", "1"],
    errors=[
        "row 5, column 'email': 'nadia@' is not a valid email address",
        "row 8, column 'email': 'omar at example.org' is not a valid email address",
    ],
)(
    text(
        "name,email,comment\n"
        'Lara Fine,lara.fine@example.org,"a comment\nover two lines"\n'
        "\n"
        "Mo Fine,mo.fine@example.org,\n"
        "Nadia Bad,nadia@,\n"
        "\n"
        'Ola Fine,ola.fine@example.org,"one\ntwo\nthree"\n'
        "Omar Bad,omar at example.org,\n"
    )
)

case(
    "semicolon_bad_amounts.csv",
    errors=[
        "row 3, column 'Limit': '0,00' must be a positive amount",
        "row 4, column 'Limit': 'zwei' is not a number",
        "row 5, column 'Limit': '1.000,50' is above the maximum of 100 USD",
        "row 6, column 'Limit': '2.500' is ambiguous",
    ],
)(
    text(
        "Name;Email;Limit\n"
        "Paul Gut;paul.gut@example.org;2,50\n"
        "Petra Null;petra.null@example.org;0,00\n"
        "Peter Text;peter.text@example.org;zwei\n"
        "Pia Viel;pia.viel@example.org;1.000,50\n"
        "Pit Unklar;pit.unklar@example.org;2.500\n"
    )
)

case(
    "ambiguous_amounts.csv",
    options=["--max-limit", "5000"],
    errors=["row 2, column 'limit': '1,000' is ambiguous"],
)(text('name,email,limit\nRay Comma,ray.comma@example.org,"1,000"\n'))

case(
    "limit_above_max_limit.csv",
    options=["--max-limit", "5"],
    errors=["row 3, column 'limit': '10' is above the maximum of 5 USD"],
)(text("name,email,limit\nSam Low,sam.low@example.org,5\nSue High,sue.high@example.org,10\n"))

# Row 6 has no id: it is identified by its email (not an error since ids may be partial).
case(
    "duplicates.csv",
    options=["--limit", "1"],
    errors=[
        "row 4, column 'Student ID': 'S-1' is also on row 2",
        "row 5, column 'Email': 'tara@example.org' is also on row 3 (with another id)",
    ],
)(
    text(
        "Student ID,Name,Email\n"
        "S-1,Tom One,tom@example.org\n"
        "S-2,Tara Two,tara@example.org\n"
        "S-1,Tom Again,tom.other@example.org\n"
        "S-3,Tara Twice,Tara@example.org\n"
        ",Uli NoId,uli@example.org\n"
    )
)

case(
    "missing_email_header.csv",
    options=["--limit", "1"],
    errors=["no 'email' column: row 1 looks like the header ('Name', 'Address', 'Limit')"],
)(text("Name,Address,Limit\nVal Example,val@example.org,1\n"))

case(
    "missing_name_header.csv",
    options=["--limit", "1"],
    errors=["no name column: row 1 looks like the header ('Email', 'Affiliation')"],
)(text("Email,Affiliation\nval@example.org,Example U\n"))

case(
    "no_header.csv",
    options=["--limit", "1"],
    errors=["no header row with a name column"],
)(text("Wes Example,wes@example.org\nXia Example,xia@example.org\n"))

case("empty.csv", options=["--limit", "1"], errors=["the file is empty"])(text(""))

case("blank_lines_only.csv", options=["--limit", "1"], errors=["the file is empty"])(
    text("\n\n  \n")
)

case(
    "header_only.csv",
    options=["--limit", "1"],
    errors=["the roster has a header but no participants"],
)(text("name,email\n"))

case(
    "everyone_cancelled.csv",
    options=["--limit", "1"],
    errors=["every row of the roster is skipped (2 cancelled or refunded registrations)"],
)(
    text(
        "name,email,status\n"
        "Yara Gone,yara.gone@example.org,Cancelled\n"
        "Zack Gone,zack.gone@example.org,Refunded\n"
    )
)

# No limit anywhere is said once for the file; the rows are still checked.
case(
    "no_limit_no_default.csv",
    errors=[
        "row 1: the roster has no limit column",
        "row 3, column 'email': 'abe@example' is not a valid email address",
    ],
)(text("name,email\nAbe Example,abe@example.org\nAbe Typo,abe@example\n"))


def _binary(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)


case("binary.csv", options=["--limit", "1"], errors=["not a text roster"])(_binary)

case("roster.pdf", options=["--limit", "1"], errors=["not '.pdf'"])(
    text("%PDF-1.4\n% not really a roster\n")
)

case(
    "text_named_xlsx.xlsx",
    options=["--limit", "1"],
    errors=["it is not an Excel workbook (it holds plain text"],
)(text("name,email\nBea Example,bea@example.org\n"))


def _truncated_workbook(path: Path) -> None:
    buffer = io.BytesIO()
    workbook(("Sheet1", [["name", "email"], ["Cy Example", "cy@example.org"]]))(path)
    buffer.write(path.read_bytes()[:300])
    path.write_bytes(buffer.getvalue())


case(
    "truncated.xlsx",
    options=["--limit", "1"],
    errors=["cannot be read as an Excel workbook"],
)(_truncated_workbook)


def _encrypted(path: Path) -> None:
    # An encrypted workbook is an OLE2 compound file, not a zip; its header is enough here.
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)


case("password_protected.xlsx", options=["--limit", "1"], errors=["password-protected"])(_encrypted)

case(
    "html_named_xls.xls",
    options=["--limit", "1"],
    errors=["a web page or XML document, not a CSV roster"],
)(
    text(
        "<html><body><table><tr><td>name</td><td>email</td></tr>"
        "<tr><td>Dee Example</td><td>dee@example.org</td></tr></table></body></html>\n"
    )
)

case(
    "not_utf8_nor_cp1252.csv",
    options=["--limit", "1"],
    errors=["neither UTF-8 nor Windows-1252"],
)(lambda path: path.write_bytes(b"name,email\nEd \x81\x8d,ed@example.org\n"))

case(
    "unclosed_quote.csv",
    options=["--limit", "1"],
    errors=['row 3 opens a quote (") that is never closed'],
)(
    text(
        "name,email,notes\n"
        "Flo Example,flo@example.org,fine\n"
        'Gus Example,gus@example.org,"forgot to close\n'
        "Hal Example,hal@example.org,fine\n"
    )
)

case(
    "ambiguous_email.csv",
    options=["--limit", "1"],
    errors=[
        "the columns 'Email' (column B) and 'E-mail address' (column C) could each be the email",
    ],
)(text("Name,Email,E-mail address\nIda Example,ida@example.org,ida.work@example.org\n"))

# Microsoft Forms of an organisation-only form: "Email" and "Name" are the respondent's
# account, the questions ask again, and some people answered with another address or name.
# Both columns hold the field and they disagree, so keyprov asks which one to use.
case(
    "microsoft_forms_ambiguous.xlsx",
    options=["--limit", "3"],
    errors=[
        "'Email' (column D) and 'Your e-mail address' (column G) could each be the email "
        "(they differ on row 3: 'farid.haddad@example.com' and 'farid@example.net')",
        "'Name' (column E) and 'Your name' (column F) could each be the name (they differ on "
        "row 2: 'Elif Yildiz' and 'Elif Y\u0131ld\u0131z')",
    ],
)(
    workbook(
        (
            "Sheet1",
            [
                MS_FORMS_ROWS[0],
                [
                    1,
                    datetime(2026, 3, 1, 10, 0),
                    datetime(2026, 3, 1, 10, 2),
                    "elif.yildiz@example.org",
                    "Elif Yildiz",
                    "Elif Y\u0131ld\u0131z",
                    "elif.yildiz@example.org",
                ],
                [
                    2,
                    datetime(2026, 3, 1, 11, 0),
                    datetime(2026, 3, 1, 11, 3),
                    "farid.haddad@example.com",
                    "Farid Haddad",
                    "Farid Haddad",
                    "farid@example.net",
                ],
            ],
        )
    )
)

# Google Forms where the collected "Email Address" and the question "Email" disagree: keyprov
# cannot know which inbox is the participant's, so it asks, naming the row.
case(
    "google_forms_two_emails_differ.csv",
    options=["--limit", "2"],
    errors=[
        "'Email Address' (column B) and 'Email' (column D) could each be the email (they "
        "differ on row 3: 'keiko.tanaka@example.org' and 'keiko@example.net')",
    ],
)(
    text(
        '"Timestamp","Email Address","Full name","Email"\n'
        '"2026/03/02 9:14:05 AM GMT+1","jasper.devries@example.org","Jasper de Vries",'
        '"jasper.devries@example.org"\n'
        '"2026/03/02 9:20:41 AM GMT+1","keiko.tanaka@example.org","Keiko Tanaka",'
        '"keiko@example.net"\n'
    )
)

# Eventbrite when the buyer has not yet filled in the other attendees: their cells say
# "Info Requested". One problem of three rows is reported once, with the rows.
case(
    "eventbrite_info_requested.csv",
    options=["--limit", "2"],
    errors=[
        "column 'Email': 3 rows (3, 4, 6) hold 'Info Requested', which is not a valid email "
        "address",
    ],
)(
    text(
        "Order #,Order Date,First Name,Last Name,Email,Quantity,Ticket Type,Attendee #,"
        "Buyer First Name,Buyer Last Name,Buyer Email,Attendee Status\r\n"
        "2001,2026-02-10,Vanessa,Okoro,vanessa.okoro@example.org,3,General,6001,Vanessa,Okoro,"
        "vanessa.okoro@example.org,Attending\r\n"
        "2001,2026-02-10,Info Requested,Info Requested,Info Requested,3,General,6002,Vanessa,"
        "Okoro,vanessa.okoro@example.org,Attending\r\n"
        "2001,2026-02-10,Info Requested,Info Requested,Info Requested,3,General,6003,Vanessa,"
        "Okoro,vanessa.okoro@example.org,Attending\r\n"
        "2002,2026-02-11,Wiremu,Ngata,wiremu.ngata@example.org,2,General,6004,Wiremu,Ngata,"
        "wiremu.ngata@example.org,Attending\r\n"
        "2002,2026-02-11,Info Requested,Info Requested,Info Requested,2,General,6005,Wiremu,"
        "Ngata,wiremu.ngata@example.org,Attending\r\n"
    )
)


def _budgets_mostly_empty(path: Path) -> None:
    """A hand-made roster where only some budgets were filled in, and no --limit given."""
    filled = {2: 5, 8: 3, 13: 2.5, 17: 4, 21: 2, 26: 3, 29: 1}
    rows: list[list[Any]] = [["Participant", "E-mail", "Budget (USD)"]]
    for row in range(2, 32):
        rows.append([f"Person {row:02d}", f"person{row:02d}@example.org", filled.get(row)])
    workbook(("Participants", rows))(path)


case(
    "budgets_mostly_empty.xlsx",
    errors=[
        "column 'Budget (USD)': 23 rows (3, 4, 5, … 31) have no limit: fill in these cells, or "
        "give a default with --limit USD.",
    ],
)(_budgets_mostly_empty)

case(
    "missing_sheet.xlsx",
    options=["--sheet", "Roster", "--limit", "1"],
    errors=["there is no sheet 'Roster'; the workbook has 'Sheet1', 'Notes'"],
)(
    workbook(
        ("Sheet1", [["name", "email"], ["Jo Example", "jo@example.org"]]),
        ("Notes", [["nothing here"]]),
    )
)

case(
    "column_override_not_found.csv",
    options=["--limit", "1", "--column", "email=Work e-mail"],
    errors=["--column email='Work e-mail': the header row has no such column"],
)(text("name,email,contact mail\nKai Example,kai@example.org,kai@example.com\n"))

# Two exports pasted one below the other: the second header is reported, not read as a person.
case(
    "concatenated_exports.csv",
    options=["--limit", "1"],
    errors=[
        "row 4: this row repeats the header",
        "row 5, column 'email': 'lea@example.org' is also on row 2",
    ],
)(text("name,email\nLea Example,lea@example.org\n\nName,Email\nLea Example,lea@example.org\n"))


# --- a list of addresses, several addresses in a cell, a given name beside a surname --------

# participants_emails.txt as an instructor keeps it: one address per line, no header, a BOM,
# blank lines, CRLF, and one address typed again in capitals (read once, with a note).
case(
    "participants_emails.txt",
    options=["--limit", "2"],
    participants=[
        person("", "anna.berzina@example.org", 2.0),
        person("", "janis.ozols@example.com", 2.0),
        person("", "liga.kalnina@example.org", 2.0),
    ],
    rows=[1, 2, 4],
    warnings=["row 6 repeats an address of an earlier row (in any case)"],
)(
    text(
        "\ufeffanna.berzina@example.org\r\njanis.ozols@example.com\r\n\r\n"
        "Liga.Kalnina@Example.org\r\n\r\nANNA.BERZINA@example.org\r\n\r\n"
    )
)

# The same as a one-column CSV with a header line, and one line with two addresses.
case(
    "participants_emails_header.csv",
    options=["--limit", "1"],
    participants=[
        person("", "marta.liepa@example.org", 1.0),
        person("", "rudolfs.kalns@example.org", 1.0),
    ],
    rows=[2, 3],
    emails={"rudolfs.kalns@example.org": ["rudolfs.kalns@example.org", "rk@example.com"]},
)(text('E-mail\nmarta.liepa@example.org\n"rudolfs.kalns@example.org, rk@example.com"\n'))

# A list with a typo: the typo is reported on its row, as in any roster.
case(
    "participants_emails_typo.txt",
    options=["--limit", "1"],
    errors=["row 2: 'edgars-at-example.org' is not a valid email address"],
)(text("ilze.sproge@example.org\nedgars-at-example.org\nkarlis.berzs@example.org\n"))

# A Latvian workbook: Vārds + Uzvārds make the full name; the E-pasts cell sometimes holds
# two addresses, split on commas, slashes or spaces, the first being the identity.
case(
    "two_addresses_latvian.xlsx",
    options=["--limit", "2"],
    participants=[
        person("Anna Bērziņa", "anna.berzina@example.lv", 2.0),
        person("Jānis Ozols", "janis.ozols@example.lv", 2.0),
        person("Līga Kalniņa", "liga@example.lv", 2.0),
        person("Pēteris Zariņš", "peteris@example.lv", 2.0),
    ],
    rows=[2, 3, 4, 5],
    emails={
        "anna.berzina@example.lv": ["anna.berzina@example.lv", "anna.b@example.com"],
        "janis.ozols@example.lv": ["janis.ozols@example.lv", "janis@example.com"],
        "liga@example.lv": ["liga@example.lv", "liga.k@example.com", "lk@example.net"],
    },
)(
    workbook(
        (
            "Dalībnieki",
            [
                ["Vārds", "Uzvārds", "E-pasts", "Iestāde"],
                ["Anna", "Bērziņa", "anna.berzina@example.lv, Anna.B@example.com", "LU"],
                ["Jānis", "Ozols", "janis.ozols@example.lv / janis@example.com", "RTU"],
                ["Līga", "Kalniņa", "liga@example.lv liga.k@example.com;lk@example.net", None],
                ["Pēteris", "Zariņš", "peteris@example.lv", "LU"],
            ],
        )
    )
)

# An address given in two rows, once as the second address of a cell: both rows are named.
case(
    "two_addresses_duplicate.csv",
    options=["--limit", "1"],
    errors=["row 3, column 'Email': 'oskars@example.com' is also on row 2"],
)(
    text(
        "Name,Surname,Email\n"
        'Oskars,Liepa,"oskars.liepa@example.org, oskars@example.com"\n'
        "Oskars,Liepa,oskars@example.com\n"
    )
)

# One of two addresses in a cell is not an address.
case(
    "two_addresses_bad.csv",
    options=["--limit", "1"],
    errors=["row 2, column 'E-mail': 'zane@example.org; zane-at-example.com' holds several"],
)(text("Name,E-mail\nZane Example,zane@example.org; zane-at-example.com\n"))

# Name + Surname (English), and Name + Last name where Name already holds the full name.
case(
    "name_surname.csv",
    options=["--limit", "1"],
    participants=[
        person("Anna Bērziņa", "anna@example.org", 1.0),
        person("Kārlis Ozols", "karlis@example.org", 1.0),
    ],
    rows=[2, 3],
)(text("Name,Surname,Email\nAnna,Bērziņa,anna@example.org\nKārlis,Ozols,karlis@example.org\n"))

case(
    "name_family_name_full.csv",
    options=["--limit", "1"],
    participants=[person("Ada Lovelace", "ada@example.org", 1.0)],
    rows=[2],
)(text("Name,Family name,Email\nAda Lovelace,Lovelace,ada@example.org\n"))

# Lithuanian (Vardas, Pavardė, El. paštas) and Estonian (Eesnimi, Perekonnanimi, E-post).
case(
    "lithuanian.csv",
    options=["--limit", "1"],
    participants=[person("Jūratė Kazlauskienė", "jurate@example.lt", 1.0)],
    rows=[2],
)(text("Vardas;Pavardė;El. paštas\nJūratė;Kazlauskienė;jurate@example.lt\n"))

case(
    "estonian.xlsx",
    options=["--limit", "1"],
    participants=[person("Mari Tamm", "mari.tamm@example.ee", 1.0)],
    rows=[2],
)(
    workbook(
        (
            "Leht1",
            [["Eesnimi", "Perekonnanimi", "E-post"], ["Mari", "Tamm", "mari.tamm@example.ee"]],
        )
    )
)


# --- writing it all --------------------------------------------------------------------------


def main(folder: Path = HERE) -> None:
    expected: dict[str, Any] = {}
    for entry in CASES:
        entry.write(folder / entry.file)
        expected[entry.file] = entry.expectation()
    (folder / "expected.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"{len(CASES)} roster files and expected.json written")
