"""The messages a new user meets first say what is wrong and what to do, readably."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import CliWorkshop, invoke, write_csv


def test_a_mistyped_roster_path_suggests_the_file_that_is_there(workshop: CliWorkshop) -> None:
    roster = workshop.folder / "roster"
    roster.mkdir()
    write_csv(roster / "bssdh.csv", ("name", "email"), [("Ada", "ada@example.org")])
    done = workshop.keyprov("provision", "roster/bsdh.csv", "--limit", "2")
    assert done.returncode == 2
    assert "roster/bsdh.csv: no such file. Did you mean roster/bssdh.csv?" in done.stderr
    assert workshop.sandbox.request_log == []


def test_the_missing_key_message_is_short_lines_that_say_how_to_set_it(tmp_path: Path) -> None:
    write_csv(tmp_path / "ws.csv", ("name", "email"), [("Ada", "ada@example.org")])
    done = invoke(["provision", "ws.csv", "--limit", "2"], env={}, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0] == "error: OPENROUTER_PROVISIONING_KEY is not set."
    export = "  export OPENROUTER_PROVISIONING_KEY=...      (paste it from your password manager)"
    assert export in lines
    assert max(len(line) for line in lines) <= 100


def test_each_skipped_status_is_explained_as_what_it_is(workshop: CliWorkshop) -> None:
    rows = [
        ("Ada", "ada@example.org", "confirmed"),
        ("Bo", "bo@example.org", "waitlisted"),
        ("Cy", "cy@example.org", "declined"),
        ("Di", "di@example.org", "not attending"),
        ("Ed", "ed@example.org", "refunded"),
    ]
    write_csv(workshop.roster, ("name", "email", "status"), rows)
    done = workshop.provision("--limit", "2", "--dry-run")
    text = done.stdout + done.stderr
    assert "'waitlisted', a place on the waiting list" in text
    assert "'declined', a registration that was declined" in text
    assert "'not attending', someone who is not coming" in text
    assert "'refunded', a registration that was cancelled, refunded or withdrawn" in text
