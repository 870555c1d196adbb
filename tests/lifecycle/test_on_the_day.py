"""On the day, by hand: report sorted and marked, set-limit for everyone running low, and
--participant by full name, against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyprov.lifecycle.charts import SpendBar, plan_spend_chart
from keyprov.sandbox import Sandbox
from keyprov.status import ExitStatus
from tests.helpers import CliWorkshop, make_roster, write_csv
from tests.lifecycle.watching import provision_room, spend


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path) -> CliWorkshop:
    room = CliWorkshop(sandbox, management_key, tmp_path)
    provision_room(room)
    return room


def table_rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if "@example.org" in line]


def test_report_sorts_by_share_used_and_marks_out_low_and_not_used(workshop: CliWorkshop) -> None:
    spend(workshop, "ada@example.org", 0.5)
    spend(workshop, "grace@example.org", 1.1)
    spend(workshop, "alan@example.org", 0.9)
    done = workshop.keyprov("report", "ws.csv")
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert [row[0] for row in rows] == [
        "grace@example.org", "alan@example.org", "ada@example.org", "emile@example.org"
    ]  # fmt: skip
    assert [row[-1] for row in rows] == ["OUT", "low", "0.50", "used"]
    assert rows[-1][-2:] == ["not", "used"]

    by_left = table_rows(workshop.keyprov("report", "ws.csv", "--sort", "left").stdout)
    assert [row[0] for row in by_left][:2] == ["grace@example.org", "alan@example.org"]
    by_name = table_rows(workshop.keyprov("report", "ws.csv", "--sort", "name").stdout)
    assert [row[1] for row in by_name] == ["Ada", "Alan", "Émile", "Grace"]


def test_a_report_after_revoke_says_every_key_is_disabled(workshop: CliWorkshop) -> None:
    spend(workshop, "ada@example.org", 0.5)
    assert workshop.keyprov("revoke", "ws.csv", "--yes").returncode == 0
    done = workshop.keyprov("report", "ws.csv")
    assert done.returncode == 0, done.stderr
    assert all(row[-2:] == ["—", "disabled"] for row in table_rows(done.stdout))
    assert (
        "every key of the workshop is disabled (4 keys, as after keyprov revoke): nothing more "
        "can be spent."
    ) in done.stdout.splitlines()


def test_the_chart_always_counts_who_has_not_used_their_key() -> None:
    bars = [SpendBar(f"P{n}", 0.5 if n % 4 else 0.0, 1.0, bool(n % 4)) for n in range(40)]
    plan = plan_spend_chart(bars)
    assert plan.not_used == 10 and plan.histogram is not None  # 40 > 30 bars: still said


def test_set_limit_below_tops_up_everyone_running_low_in_one_go(workshop: CliWorkshop) -> None:
    spend(workshop, "ada@example.org", 0.8)
    spend(workshop, "grace@example.org", 1.2)
    spend(workshop, "alan@example.org", 0.5)
    done = workshop.keyprov("set-limit", "ws.csv", "--below", "0.25", "--add", "1")
    assert done.returncode == 0, done.stderr
    everyone = ("ada@example.org", "grace@example.org", "alan@example.org", "emile@example.org")
    limits = {email: workshop.key_of(email)["limit"] for email in everyone}
    assert limits == {
        "ada@example.org": 2.0,
        "grace@example.org": 2.0,
        "alan@example.org": 1.0,
        "emile@example.org": 1.0,
    }
    nothing = workshop.keyprov("set-limit", "ws.csv", "--below", "0.25", "--add", "1")
    assert (
        nothing.stdout.strip() == "no enabled key has less than 0.25 USD left: nothing to top up."
    )


def test_participant_by_full_name_ignoring_case_and_accents(workshop: CliWorkshop) -> None:
    done = workshop.keyprov("set-limit", "ws.csv", "--participant", "emile  BOREL", "--limit", "3")
    assert done.returncode == 0, done.stderr
    assert workshop.key_of("emile@example.org")["limit"] == 3.0
    assert workshop.key_of("ada@example.org")["limit"] == 1.0


def test_a_name_two_participants_share_lists_them_and_changes_nothing(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    room = CliWorkshop(sandbox, management_key, tmp_path)
    rows = [("Maria García", "maria.g@example.org", 1), ("María Garcia", "mgarcia@example.org", 1)]
    write_csv(room.roster, ("name", "email", "limit"), rows)
    assert room.provision().returncode == 0
    done = room.keyprov("rotate", "ws.csv", "--participant", "maria garcia")
    assert done.returncode == ExitStatus.BAD_INPUT
    assert (
        "--participant 'maria garcia' names 2 participants: Maria García (maria.g@example.org); "
        "María Garcia (mgarcia@example.org). Name one by email (or id)."
    ) in done.stderr
    assert room.writes() == []


def test_handouts_take_a_full_name_too(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    room = CliWorkshop(sandbox, management_key, tmp_path)
    make_roster(room.roster, 3)
    assert room.provision().returncode == 0
    done = room.keyprov("handouts", "ws.csv", "--participant", "person 2")
    assert done.returncode == 0, done.stderr
    assert "1 slip" in done.stdout or "1 participant" in done.stdout, done.stdout
