from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from keyprov.errors import RosterError
from keyprov.roster import read_roster
from tests.helpers import write_csv


def test_reads_name_email_and_per_row_limit_with_default(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "E-mail", "Limit"),
        [(" Ada Lovelace ", "Ada@Example.ORG", "2.5"), ("Grace Hopper", "grace@example.org", "")],
    )
    participants = read_roster(roster, default_limit=1.0).participants
    assert [(p.name, p.email, p.limit, p.row) for p in participants] == [
        ("Ada Lovelace", "ada@example.org", 2.5, 2),
        ("Grace Hopper", "grace@example.org", 1.0, 3),
    ]
    assert participants[0].identity == "ada@example.org"


def test_first_and_last_name_columns_are_joined(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv", ("first_name", "last_name", "email"), [("Alan", "Turing", "a@x.org")]
    )
    (person,) = read_roster(roster, default_limit=1).participants
    assert person.name == "Alan Turing"


def test_xlsx_with_numbers_as_excel_stores_them(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["name", "email", "limit"])
    sheet.append(["Hedy Lamarr", "hedy@example.org", 3])
    sheet.append(["Claude Shannon", "claude@example.org", 0.5])
    workbook.save(tmp_path / "r.xlsx")
    participants = read_roster(tmp_path / "r.xlsx").participants
    assert [(p.name, p.limit, p.row) for p in participants] == [
        ("Hedy Lamarr", 3.0, 2),
        ("Claude Shannon", 0.5, 3),
    ]


def test_every_bad_row_is_reported_at_once_with_row_and_column(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "bad.csv",
        ("name", "email", "limit"),
        [
            ("Ada", "ada@example.org", "2"),
            ("", "nobody@example.org", "1"),
            ("Bob", "not-an-email", "1"),
            ("Carol", "carol@example.org", "two"),
            ("Dan", "dan@example.org", "-1"),
            ("Eve", "eve@example.org", "2000"),
            ("Ada again", "ADA@example.org", "1"),
        ],
    )
    with pytest.raises(RosterError) as raised:
        read_roster(roster, default_limit=1)
    lines = [str(problem) for problem in raised.value.problems]
    where = f"{roster}, row"
    assert lines[0].startswith(f"{where} 3, column 'name': the name is empty")
    assert lines[1].startswith(f"{where} 4, column 'email': 'not-an-email' is not a valid email")
    assert lines[2].startswith(f"{where} 5, column 'limit': 'two' is not a number")
    assert lines[3].startswith(f"{where} 6, column 'limit': '-1' must be a positive amount")
    assert lines[4].startswith(f"{where} 7, column 'limit': '2000' is above the maximum of 100")
    assert lines[5].startswith(f"{where} 8, column 'email': 'ada@example.org' is also on row 2")
    assert len(lines) == 6


def test_missing_limit_without_default_says_how_to_fix(tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "r.csv", ("name", "email"), [("Ada", "ada@example.org")])
    # One message for the file, not the same one on every row.
    with pytest.raises(RosterError, match=r"no limit column.*--limit USD"):
        read_roster(roster)


def test_missing_email_column_is_named(tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "r.csv", ("name", "address"), [("Ada", "ada@example.org")])
    with pytest.raises(RosterError, match=r"'email' column.*'name', 'address'"):
        read_roster(roster, default_limit=1)


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("r.pdf", b"%PDF-1.4", "not '.pdf'"),
        ("r.xlsx", b"this is not a workbook", "cannot be read"),
        ("r.csv", b"", "empty"),
        ("r.csv", b"name,email\n", "no participants"),
    ],
)
def test_unusable_files_get_a_clear_error(
    tmp_path: Path, file_name: str, content: bytes, message: str
) -> None:
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(RosterError, match=message):
        read_roster(path, default_limit=1)


def test_blank_lines_do_not_shift_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("name,email\nAda,ada@example.org\n\nBob,bob@\n", encoding="utf-8")
    with pytest.raises(RosterError, match="row 4, column 'email'"):
        read_roster(path, default_limit=1)
