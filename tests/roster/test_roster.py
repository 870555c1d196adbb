from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from keyprov.errors import OptionError, RosterError
from keyprov.roster import read_roster
from keyprov.sandbox import Sandbox
from keyprov.status import ExitStatus
from tests.helpers import invoke, sandbox_env, write_csv


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


def one_limit(tmp_path: Path, text: str, *, delimiter: str = ",") -> float:
    path = tmp_path / "r.csv"
    cell = f'"{text}"' if delimiter in text else text
    path.write_text(
        f"name{delimiter}email{delimiter}limit\nAda{delimiter}a@x.org{delimiter}{cell}\n"
    )
    (person,) = read_roster(path, max_limit=10_000).participants
    return person.limit


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("2", 2.0),
        ("2.5", 2.5),
        ("2,50", 2.5),
        (".5", 0.5),
        ("$2.50", 2.5),
        ("2.50 USD", 2.5),
        ("US$ 3", 3.0),
        ("+4", 4.0),
        ("1,000.50", 1000.5),
        ("1.000,50", 1000.5),
        ("0.125", 0.125),
    ],
)
def test_limits_as_people_write_them(tmp_path: Path, text: str, limit: float) -> None:
    assert one_limit(tmp_path, text) == limit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,000", "ambiguous"),
        ("2.500", "ambiguous"),
        ("2 €", "not a number of US dollars"),
        ("1e2", "not a number of US dollars"),
        ("2.5.1", "not a number of US dollars"),
        ("\u22121", "must be a positive amount"),
        ("0", "must be a positive amount"),
        ("#N/A", "Excel error"),
    ],
)
def test_limits_that_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RosterError, match=message):
        one_limit(tmp_path, text)


@pytest.mark.parametrize(
    ("status", "skipped"),
    [
        ("Cancelled", True),
        ("canceled by attendee", True),
        ("Refunded", True),
        ("Not Attending", True),
        ("withdrawn", True),
        ("Waitlisted", True),
        ("On waitlist", True),
        ("Partially refunded", False),
        ("Attending", False),
        ("Checked In", False),
        ("pending", False),
        ("", False),
    ],
)
def test_status_decides_who_is_skipped(tmp_path: Path, status: str, skipped: bool) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "Registration status"),
        [("Ada Example", "ada@example.org", status), ("Bo Example", "bo@example.org", "")],
    )
    result = read_roster(roster, default_limit=1)
    assert [p.email for p in result.participants] == (
        ["bo@example.org"] if skipped else ["ada@example.org", "bo@example.org"]
    )
    if skipped:
        (notice,) = result.skipped
        assert notice.row == 2
        assert "Ada Example <ada@example.org> is not provisioned" in notice.message
        assert repr(status) in notice.message


def test_names_and_emails_are_normalised_in_one_place(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("name", "email"),
        [("  Zoe\u0308   Van\nDijk ", " ZOE\u200b.VanDijk@Example.ORG\u00a0")],
    )
    (person,) = read_roster(roster, default_limit=1).participants
    assert person.name == "Zo\u00eb Van Dijk"
    assert person.email == "zoe.vandijk@example.org"


def test_sheet_option_on_a_csv_is_refused(tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "r.csv", ("name", "email"), [("Ada", "ada@example.org")])
    with pytest.raises(RosterError, match="--sheet applies to Excel workbooks"):
        read_roster(roster, default_limit=1, sheet="Sheet1")


def test_unknown_column_field_is_an_option_error(tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "r.csv", ("name", "email"), [("Ada", "ada@example.org")])
    with pytest.raises(OptionError, match=r"^--column phone='Mobile': there is no field 'phone'"):
        read_roster(roster, default_limit=1, column_overrides={"phone": "Mobile"})


def test_column_override_wins_over_synonyms(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "Private mail"),
        [("Ada", "ada@work.example.org", "ada@example.org")],
    )
    (person,) = read_roster(
        roster, default_limit=1, column_overrides={"email": "private MAIL"}
    ).participants
    assert person.email == "ada@example.org"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"default_limit": 0}, "--limit 0: a limit must be more than 0 USD; give e.g. --limit 2."),
        ({"default_limit": -1.5}, "--limit -1.5: a limit must be more than 0 USD"),
        ({"default_limit": float("nan")}, "--limit nan: that is not an amount of US dollars"),
        ({"default_limit": 500}, "--limit 500: that is above --max-limit 100 USD per key"),
        ({"max_limit": 0}, "--max-limit 0: the maximum must be more than 0 USD"),
        ({"default_limit_reset": "yearly"}, "--limit-reset yearly: a limit resets daily, weekly"),
    ],
)
def test_a_bad_option_is_named_before_the_file_is_read(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    # The file does not even exist: the option is reported, not the roster.
    with pytest.raises(OptionError) as raised:
        read_roster(tmp_path / "not-there.csv", **options)
    assert str(raised.value).startswith(message)
    assert not isinstance(raised.value, RosterError)
    assert raised.value.exit_status == ExitStatus.BAD_INPUT


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            ["--limit", "0"],
            "error: --limit 0: a limit must be more than 0 USD; give e.g. --limit 2.",
        ),
        (["--max-limit", "-5"], "error: --max-limit -5: the maximum must be more than 0 USD"),
    ],
)
def test_the_command_reports_a_bad_option_as_the_option(
    tmp_path: Path, sandbox: Sandbox, management_key: str, option: list[str], message: str
) -> None:
    roster = write_csv(tmp_path / "r.csv", ("name", "email"), [("Ada", "ada@example.org")])
    done = invoke(
        ["provision", str(roster), "--dry-run", "--out", str(tmp_path / "out"), *option],
        env=sandbox_env(sandbox, management_key),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "the roster has" not in done.stderr
    assert sandbox.request_log == []
