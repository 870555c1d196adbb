"""Columns chosen by what they hold, ids that are only partly filled, and one problem of many
rows reported once: the roster shapes people export without thinking to fix them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keyprov.errors import RosterError
from keyprov.roster import read_roster
from tests.helpers import write_csv


def problems(path: Path, **options: Any) -> list[str]:
    with pytest.raises(RosterError) as raised:
        read_roster(path, **options)
    return [str(problem) for problem in raised.value.problems]


def test_an_email_column_of_placeholders_gives_way_to_one_of_addresses(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "Your e-mail address"),
        [("Ada", "anonymous", "ada@example.org"), ("Bo", "", "bo@example.org")],
    )
    result = read_roster(roster, default_limit=1)
    assert [p.email for p in result.participants] == ["ada@example.org", "bo@example.org"]
    (note,) = result.warnings
    assert "the email is read from 'Your e-mail address' (column C)" in note
    assert "'Email' (column B) holds no email address ('anonymous' only)" in note


def test_an_empty_name_column_gives_way_to_first_and_last_name(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "First name", "Last name"),
        [("", "ada@example.org", "Ada", "Lovelace"), ("", "bo@example.org", "Bo", "Zhang")],
    )
    result = read_roster(roster, default_limit=1)
    assert [p.name for p in result.participants] == ["Ada Lovelace", "Bo Zhang"]
    (note,) = result.warnings
    assert "'First name' (column C) and 'Last name' (column D)" in note
    assert "'Name' (column A) is empty in every row" in note


def test_first_and_last_name_fill_in_a_row_whose_name_is_empty(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("full_name", "first_name", "last_name", "email"),
        [("Ada King", "Ada", "Lovelace", "ada@example.org"), ("", "Bo", "Zhang", "bo@x.org")],
    )
    result = read_roster(roster, default_limit=1)
    # The name column is the one read; first and last name only where it is empty.
    assert [p.name for p in result.participants] == ["Ada King", "Bo Zhang"]
    assert result.warnings == []


def test_two_email_columns_that_agree_are_one(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "E-mail address"),
        [("Ada", "", "ada@example.org"), ("Bo", "BO@example.org", "bo@example.org")],
    )
    result = read_roster(roster, default_limit=1)
    assert [p.email for p in result.participants] == ["ada@example.org", "bo@example.org"]
    (note,) = result.warnings
    # The fuller column is read; the other holds the same where it holds anything.
    assert "the email is read from 'E-mail address' (column C)" in note
    assert "'Email' (column B) agrees with it wherever both hold an email address" in note


def test_two_email_columns_that_disagree_are_asked_about_naming_the_row(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "E-mail address"),
        [("Ada", "ada@example.org", "ada@example.org"), ("Bo", "bo@work.org", "bo@home.org")],
    )
    (line,) = problems(roster, default_limit=1)
    assert "'Email' (column B) and 'E-mail address' (column C) could each be the email" in line
    assert "they differ on row 3: 'bo@work.org' and 'bo@home.org'" in line
    assert '--column email="E-mail address"' in line


def test_when_no_candidate_holds_the_field_keyprov_asks(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "Mail"),
        [("Ada", "anonymous", "n/a"), ("Bo", "anonymous", "")],
    )
    (line,) = problems(roster, default_limit=1)
    assert "could each be the email (no email address in any of them)" in line


def test_a_column_given_with_column_is_read_whatever_it_holds(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "Your e-mail address"),
        [(f"P{i}", "anonymous", f"p{i}@example.org") for i in range(4)],
    )
    lines = problems(roster, default_limit=1, column_overrides={"email": "Email"})
    # The user's choice stands; the four rows with one problem are one line.
    assert lines == [
        f"{roster}, column 'Email': 4 rows (2, 3, 4, 5) hold 'anonymous', which is not a valid "
        "email address. Correct them (one address each, like name@example.org)."
    ]


def test_a_partly_filled_id_column_identifies_the_others_by_email(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("First name", "Last name", "ID number", "Email address", "Roles"),
        [
            ("Tea", "Cher", "", "tea.cher@example.org", "Teacher"),
            ("Stu", "Dent", "2024001", "stu.dent@example.org", "Student"),
            ("Ann", "Other", "2024002", "ann.other@example.org", "Student"),
        ],
    )
    result = read_roster(roster, default_limit=1)
    assert [
        (p.identity, p.participant_id, p.identity_is_email_fallback) for p in result.participants
    ] == [
        ("tea.cher@example.org", None, True),
        ("2024001", "2024001", False),
        ("2024002", "2024002", False),
    ]
    (note,) = result.warnings
    assert "1 of 3 participants has no 'ID number' (rows 2), so they are identified" in note


def test_without_an_id_column_no_identity_is_a_fallback(tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "r.csv", ("name", "email"), [("Ada", "ada@example.org")])
    (person,) = read_roster(roster, default_limit=1).participants
    assert person.identity == "ada@example.org"
    assert not person.identity_is_email_fallback


def test_an_email_with_and_without_an_id_is_still_one_person(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Student ID", "Name", "Email"),
        [("S-1", "Ada", "ada@example.org"), ("", "Ada Again", "ADA@example.org")],
    )
    (line,) = problems(roster, default_limit=1)
    assert line == (
        f"{roster}, row 3, column 'Email': 'ada@example.org' is also on row 2; each "
        "participant may appear once. Delete one of the two rows, or correct the email."
    )


def test_one_problem_of_many_rows_is_reported_once_where_it_first_occurs(tmp_path: Path) -> None:
    rows = [(f"Person {i}", f"p{i}@example.org", "") for i in range(2, 32)]
    rows[0] = ("Person 2", "p2@example.org", "2")
    rows[5] = ("Person 7", "p7-at-example.org", "1")
    rows[10] = ("", "p12@example.org", "3")
    rows[11] = ("", "p13@example.org", "3")
    roster = write_csv(tmp_path / "r.csv", ("Participant", "E-mail", "Budget (USD)"), rows)
    assert problems(roster) == [
        f"{roster}, column 'Budget (USD)': 26 rows (3, 4, 5, … 31) have no limit: fill in "
        "these cells, or give a default with --limit USD.",
        f"{roster}, row 7, column 'E-mail': 'p7-at-example.org' is not a valid email address. "
        "Correct it (one address, like name@example.org).",
        # Two rows with one problem are still two lines, each with its row.
        f"{roster}, row 12, column 'Participant': the name is empty. Fill it in; keys.xlsx "
        "lists it.",
        f"{roster}, row 13, column 'Participant': the name is empty. Fill it in; keys.xlsx "
        "lists it.",
    ]


def test_a_folded_problem_lists_every_row_it_stands_for(tmp_path: Path) -> None:
    rows = [(f"Person {i}", f"p{i}@example.org", "TBD") for i in range(9)]
    roster = write_csv(tmp_path / "r.csv", ("name", "email", "limit"), rows)
    with pytest.raises(RosterError) as raised:
        read_roster(roster)
    (problem,) = raised.value.problems
    assert problem.rows == tuple(range(2, 11))
    assert problem.row == 2
    assert problem.column == "limit"
    assert "9 rows (2, 3, 4, … 10) hold 'TBD', which is not a number of US dollars" in str(problem)


def test_first_and_last_name_named_with_column_win_over_a_name_column(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "Given", "Family"),
        [("ada.l", "ada@example.org", "Ada", "Lovelace")],
    )
    overrides = {"first_name": "Given", "last_name": "Family"}
    (person,) = read_roster(roster, default_limit=1, column_overrides=overrides).participants
    assert person.name == "Ada Lovelace"


def test_an_empty_name_column_named_with_column_is_still_the_name(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "First name", "Last name"),
        [("", f"p{i}@example.org", "", "") for i in range(3)],
    )
    assert problems(roster, default_limit=1, column_overrides={"name": "Name"}) == [
        f"{roster}, column 'Name': 3 rows (2, 3, 4) have no name. Fill them in; keys.xlsx "
        "lists them."
    ]


def test_a_column_partly_of_placeholders_that_agrees_elsewhere_gives_way(tmp_path: Path) -> None:
    roster = write_csv(
        tmp_path / "r.csv",
        ("Name", "Email", "Your e-mail address"),
        [("Ada", "ada@example.org", "ada@example.org"), ("Bo", "anonymous", "bo@example.org")],
    )
    result = read_roster(roster, default_limit=1)
    assert [p.email for p in result.participants] == ["ada@example.org", "bo@example.org"]
    (note,) = result.warnings
    assert "the email is read from 'Your e-mail address' (column C)" in note
