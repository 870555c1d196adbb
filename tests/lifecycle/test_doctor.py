"""doctor: the credits left, no roster one `git add .` from a commit, the sandbox's folder not
taken for a workshop, and `doctor ROSTER` reading the roster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import REPO, CliWorkshop, invoke, write_csv


def repository(folder: Path, gitignore: str) -> Path:
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    (folder / ".gitignore").write_text(gitignore)
    (folder / "roster").mkdir()
    (folder / "roster" / "example.csv").write_text("name,email\nAda,ada@example.org\n")
    write_csv(
        folder / "roster" / "bssdh.csv",
        ("name", "email", "status"),
        [("Bo", "bo@example.org", "paid"), ("Cy", "cy@example.org", "waitlisted")],
    )
    return folder


def doctor(workshop: CliWorkshop, folder: Path, *args: str):
    return invoke(["doctor", *args], env=workshop.env, cwd=folder)


def test_a_roster_git_would_add_is_named_with_the_lines_that_ignore_it(
    workshop: CliWorkshop, tmp_path: Path
) -> None:
    folder = repository(tmp_path / "repo", "/output/*\n")
    done = doctor(workshop, folder)
    assert done.returncode == 1, done.stdout
    assert "git would add" in done.stdout and "roster/bssdh.csv" in done.stdout
    assert "example.csv" not in done.stdout.split("git would add")[1].split(":")[0]
    assert "/roster/*" in done.stdout


def test_with_the_projects_gitignore_the_rosters_are_safe_and_doctor_reads_one(
    workshop: CliWorkshop, tmp_path: Path
) -> None:
    ignore = (REPO / ".gitignore").read_text()
    folder = repository(tmp_path / "repo", ignore)
    sandbox_state = folder / "output" / ".sandbox"
    sandbox_state.mkdir(parents=True)
    os.chmod(sandbox_state, 0o755)  # as `make sandbox` leaves it

    done = doctor(workshop, folder, "roster/bssdh.csv")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "rosters git-ignored" in done.stdout
    assert "USD left on the account" in done.stdout
    assert ".sandbox" not in done.stdout
    assert "roster/bssdh.csv: 1 participant(s) to provision, 1 row(s) skipped on purpose" in (
        done.stdout
    )


def test_doctor_roster_says_what_is_wrong_with_a_roster(
    workshop: CliWorkshop, tmp_path: Path
) -> None:
    write_csv(tmp_path / "bad.csv", ("name", "phone"), [("Bo", "123")])
    done = doctor(workshop, tmp_path, "bad.csv")
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "bad.csv" in done.stdout
