"""Check, report, top up, rotate and revoke, against the sandbox (usage set by its test hook)."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
from matplotlib import image
from openpyxl import load_workbook

from keyprov import cli
from keyprov.api.client import OpenRouterClient
from keyprov.status import ExitStatus
from keyprov.workshop.journal import Ledger
from tests.clock import day
from tests.helpers import CliWorkshop, make_roster, write_csv


def check_lines(done) -> dict[str, str]:
    """Each participant's line of `keyprov check`, by email."""
    lines = {}
    for line in done.stdout.splitlines():
        emails = [word for word in line.split() if "@" in word]
        if line.split()[0] in ("ok", "FAIL") and emails:
            lines[emails[0]] = line
    return lines


def test_check_passes_on_a_ready_workshop(workshop: CliWorkshop) -> None:
    workshop.provisioned(3)
    done = workshop.keyprov("check", "ws.csv")
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[-1] == "ws: READY: 3 of 3 participants ready"
    lines = check_lines(done)
    assert len(lines) == 3
    for email, line in lines.items():
        mark, first, last, address, label = line.split()[:5]
        assert (mark, f"{first} {last}", address) == ("ok", f"Person {email[6]}", email)
        assert label.startswith("sk-or-v1-") and label.endswith(
            workshop.key_of(email)["label"][-3:]
        )
        assert line.endswith("1.00      1.00  ready")
    assert workshop.writes() == []
    assert workshop.audit_events()[-1] == "check"


def test_check_finds_every_kind_of_unreadiness(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    soon = day(1)
    workshop.provisioned(4, "--expires", soon)
    make_roster(workshop.roster, 5)  # person4: no key yet
    client.update_key(workshop.key_of("person1@example.org")["hash"], limit=7)  # wrong limit
    client.update_key(workshop.key_of("person2@example.org")["hash"], disabled=True)
    workshop.sandbox.set_credits(total_credits=2.5, total_usage=0)  # 3 live keys x 1 USD + 7

    # Expected to last longer than they do: expiring within --warn-days is a problem.
    later = day(30)
    done = workshop.keyprov("check", "ws.csv", "--warn-days", "2", "--expires", later)
    assert done.returncode == 1
    lines = check_lines(done)
    assert "expires soon" in lines["person0@example.org"]
    assert "limit is 7.00 USD, expected 1.00" in lines["person1@example.org"]
    assert "its key is disabled" in lines["person2@example.org"]
    assert "no key: run keyprov provision" in lines["person4@example.org"]
    assert "the remaining limits add up to 9.00 USD but the account has 2.50 USD" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "ws: NOT READY: 5 of 5 participants not ready, and 1 workshop problem"
    )

    done = workshop.keyprov("check", "ws.csv", "--expires", later, "--warn-days", "0")
    assert f"expected {later}T23:59:59Z" in check_lines(done)["person3@example.org"]


def test_keys_that_end_with_the_workshop_as_asked_are_ready_the_morning_of(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    tomorrow = day(1)
    workshop.provisioned(2, "--expires", tomorrow)
    done = workshop.keyprov("check", "ws.csv")  # the default --warn-days is 2
    assert done.returncode == 0, done.stdout
    assert "expires soon" not in done.stdout


def test_check_finds_keys_with_nothing_left_not_ready(workshop: CliWorkshop) -> None:
    workshop.provisioned(3, "--limit-reset", "daily")
    workshop.sandbox.set_usage(workshop.key_of("person0@example.org")["hash"], daily=1.0)
    workshop.sandbox.set_usage(workshop.key_of("person1@example.org")["hash"], daily=1.16)

    done = workshop.keyprov("check", "ws.csv", "--limit-reset", "daily")

    assert done.returncode == 1
    lines = check_lines(done)
    assert lines["person0@example.org"].startswith("FAIL")
    assert (
        "1.00      0.00  nothing left to spend until its daily reset: 0.00 of 1.00 USD; "
        in (lines["person0@example.org"])
    )
    assert (
        "top up with keyprov set-limit --workshop ws --participant person0@example.org --add USD"
        in (lines["person0@example.org"])
    )
    assert "-0.16 of 1.00 USD" in lines["person1@example.org"]
    assert lines["person2@example.org"].endswith("1.00      1.00  ready")
    assert done.stdout.splitlines()[-1] == "ws: NOT READY: 2 of 3 participants not ready"


def test_report_figures_equal_the_servers_numbers(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--limit-reset", "monthly").returncode == 0
    usage = {"person0@example.org": (0.25, 0.75), "person1@example.org": (0.9, 4.5)}
    for email, (monthly, total) in usage.items():
        workshop.sandbox.set_usage(workshop.key_of(email)["hash"], usage=total, monthly=monthly)

    done = workshop.keyprov("report", "ws.csv")
    assert done.returncode == 0, done.stderr
    assert workshop.writes() == []
    rows = list(
        load_workbook(workshop.folder / "output" / "ws" / "report.xlsx").active.iter_rows(
            min_row=2, values_only=True
        )
    )
    by_email = {row[0]: row for row in rows}
    email_of = {workshop.key_name(str(row[0])): str(row[0]) for row in rows if row[0]}
    for key in workshop.sandbox.keys():
        row = by_email[email_of[key["name"]]]
        assert row[2] == key["label"] and row[4] == key["limit"]
        assert row[6] == key["usage_monthly"] and row[7] == key["usage"]
        assert row[8] == pytest.approx(key["limit_remaining"])
    assert by_email["person1@example.org"][8] == pytest.approx(0.1)
    # The table: names, money to the cent, and report.xlsx's totals, which add up.
    lines = done.stdout.splitlines()
    (person1,) = [line for line in lines if line.startswith("person1@example.org")]
    assert person1.split()[1:3] == ["Person", "1"]
    assert person1.split()[-5:] == ["1.00", "0.90", "4.50", "0.10", "low"]
    (total,) = [line for line in lines if line.startswith("total")]
    assert total.split()[1:] == ["3", "keys,", "3", "enabled", "3.00", "1.15", "5.25", "1.85"]
    assert by_email["Total"][4] - by_email["Total"][6] == pytest.approx(by_email["Total"][8])
    assert [round(by_email["Total"][i], 2) for i in (4, 6, 7, 8)] == [3.00, 1.15, 5.25, 1.85]

    chart = workshop.folder / "output" / "ws" / "spend.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.imread(chart).shape[0] > 100
    secrets = [e.secret for e in Ledger.open(workshop.folder / "output/ws/state.jsonl").entries()]
    report_bytes = (workshop.folder / "output" / "ws" / "report.xlsx").read_bytes()
    assert all(s not in done.stdout and s.encode() not in report_bytes for s in secrets)


def test_report_totals_say_what_they_count_when_a_key_was_replaced(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(2)
    old = workshop.key_of("person0@example.org")
    workshop.sandbox.set_usage(old["hash"], usage=0.4)
    assert (
        workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org").returncode == 0
    )
    workshop.sandbox.set_usage(workshop.key_of("person0@example.org")["hash"], usage=0.1)

    done = workshop.keyprov("report", "ws.csv")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    person0 = [line for line in lines if line.startswith("person0@example.org")]
    current, replaced = person0
    # The successor got what was left of the budget (rotate --carry-spend, the default).
    assert current.split()[-4:] == ["0.60", "0.10", "0.10", "0.50"]
    # A disabled key can spend nothing more: its "left" is a dash, not what its limit had left.
    assert replaced.split()[-6:] == ["1.00", "0.40", "0.40", "—", "replaced,", "disabled"]
    (total,) = [line for line in lines if line.startswith("total")]
    # Limit and left of the 2 enabled keys; what was spent by all 3.
    assert total.split()[1:] == ["3", "keys,", "2", "enabled", "1.60", "0.50", "0.50", "1.50"]
    assert (
        "limit and left add up the 2 enabled keys (what can still be spent); window and "
        "all-time add up all 3 keys, disabled and replaced ones too (what was spent)."
    ) in lines


def test_rotate_replaces_the_key_and_disables_the_old_one(workshop: CliWorkshop) -> None:
    soon = day(9)
    workshop.provisioned(2, "--expires", soon, "--limit-reset", "weekly")
    old = workshop.key_of("person0@example.org")

    done = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert done.returncode == 0, done.stdout + done.stderr
    new = workshop.key_of("person0@example.org")
    assert new["hash"] != old["hash"]
    assert (new["limit"], new["limit_reset"], new["expires_at"]) == (
        old["limit"],
        old["limit_reset"],
        old["expires_at"],
    )
    stored_old = next(k for k in workshop.sandbox.keys() if k["hash"] == old["hash"])
    assert stored_old["disabled"]
    enabled = [k for k in workshop.sandbox.keys() if not k["disabled"]]
    assert sorted(k["name"] for k in enabled) == sorted(
        workshop.key_name(f"person{i}@example.org") for i in range(2)
    )
    row = next(r for r in workshop.sheet() if r[1] == "person0@example.org")
    assert hashlib.sha256(row[2].encode()).hexdigest() == new["hash"]
    assert "rotated" in workshop.audit_events()

    rerun = workshop.provision("--limit-reset", "weekly")
    assert rerun.returncode == 0 and workshop.writes() == [], "a rerun accepts the rotation"


def test_rotate_keeps_the_old_key_when_the_successor_cannot_be_created(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(1)
    old = workshop.key_of("person0@example.org")
    workshop.sandbox.force(429, count=1, method="POST", retry_after="3600")

    done = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert done.returncode == 1
    assert "the old key stays enabled" in done.stdout
    assert workshop.key_of("person0@example.org")["hash"] == old["hash"]
    assert len(workshop.sandbox.keys()) == 1
    row = workshop.sheet()[0]
    assert hashlib.sha256(row[2].encode()).hexdigest() == old["hash"]


def test_revoke_disables_every_key_and_a_second_revoke_changes_nothing(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(3)
    make_roster(workshop.roster, 2)  # a key of someone no longer in the roster is revoked too

    dry = workshop.keyprov("revoke", "ws.csv", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("would be disabled") == 3
    assert workshop.writes() == []

    done = workshop.keyprov("revoke", "ws.csv", "--yes")
    assert done.returncode == 0
    assert len([r for r in workshop.sandbox.request_log if r.method == "PATCH"]) == 3
    assert all(k["disabled"] for k in workshop.sandbox.keys())
    assert {r[7] for r in workshop.sheet()} == {"disabled"}

    again = workshop.keyprov("revoke", "ws.csv", "--yes")
    assert again.returncode == 0 and workshop.writes() == []
    assert "already disabled" in again.stdout


def test_revoke_delete_needs_yes(workshop: CliWorkshop) -> None:
    workshop.provisioned(2)
    refused = workshop.keyprov("revoke", "ws.csv", "--delete")
    assert refused.returncode == 2 and workshop.writes() == []
    done = workshop.keyprov("revoke", "ws.csv", "--delete", "--yes")
    assert done.returncode == 0
    assert workshop.sandbox.keys() == []


def test_set_limit_add_adds_to_the_current_limit_and_survives_a_rerun(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    write_csv(
        workshop.roster,
        ("name", "email", "limit"),
        [("Ada", "ada@example.org", "1.5"), ("Bob", "bob@example.org", "3")],
    )
    assert workshop.provision().returncode == 0
    client.update_key(workshop.key_of("bob@example.org")["hash"], limit=4)  # dashboard top-up

    done = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert workshop.key_of("ada@example.org")["limit"] == 3.5
    assert workshop.key_of("bob@example.org")["limit"] == 6
    done = workshop.keyprov(
        "set-limit", "ws.csv", "--participant", "ada@example.org", "--limit", "5"
    )
    assert done.returncode == 0 and workshop.key_of("ada@example.org")["limit"] == 5

    rerun = workshop.provision()
    assert rerun.returncode == 0 and workshop.writes() == [], "top-ups are not reverted"
    assert workshop.keyprov("check", "ws.csv").returncode == 0, "check expects the top-ups"
    assert [r[3] for r in workshop.sheet()] == [5, 6]


def test_lifecycle_commands_need_a_provisioned_workshop(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 1)
    done = workshop.keyprov("revoke", "ws.csv", "--yes")
    assert done.returncode == 2 and "never provisioned" in done.stderr, done.stderr
    assert not (workshop.folder / "output").exists(), "no folder made for a workshop that is not"


def test_a_rotation_killed_after_its_create_is_resolved_by_the_next_run(
    workshop: CliWorkshop,
) -> None:
    """The successor was committed on the server but its answer never stored: undelivered."""
    workshop.provisioned(1)
    state = workshop.folder / "output" / "ws" / "state.jsonl"
    with Ledger.open(state) as ledger:
        ledger.record_intent("person0@example.org", "keyprov:ws:person0@example.org")
    _, orphan = workshop.sandbox.create_key_directly("keyprov:ws:person0@example.org", limit=1)

    done = workshop.provision()
    assert done.returncode == 0, done.stderr
    assert [r.method for r in workshop.writes()] == ["DELETE"]
    assert orphan["hash"] not in {k["hash"] for k in workshop.sandbox.keys()}
    assert workshop.provision().returncode == 0 and workshop.writes() == []


def test_an_unanswered_second_rotation_never_deletes_the_first_key(workshop: CliWorkshop) -> None:
    workshop.provisioned(1)
    first = workshop.key_of("person0@example.org")
    assert (
        workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org").returncode == 0
    )
    workshop.sandbox.force("drop_after_commit", count=1)
    done = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert done.returncode == 0, done.stdout + done.stderr
    hashes = {k["hash"] for k in workshop.sandbox.keys()}
    assert first["hash"] in hashes, "a key handed out earlier is disabled, never deleted"
    enabled = [k for k in workshop.sandbox.keys() if not k["disabled"]]
    assert len(enabled) == 1 and len(workshop.calls("DELETE")) == 1


def test_reenabling_or_changing_the_reset_keeps_a_top_up(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    workshop.provisioned(1)
    hash_ = workshop.key_of("person0@example.org")["hash"]
    assert workshop.keyprov("set-limit", "ws.csv", "--all", "--limit", "5", "--yes").returncode == 0
    client.update_key(hash_, disabled=True)
    assert workshop.provision("--reenable").returncode == 0
    assert workshop.key_of("person0@example.org")["limit"] == 5

    assert workshop.provision("--limit-reset", "daily").returncode == 0
    key = workshop.key_of("person0@example.org")
    assert (key["limit"], key["limit_reset"]) == (5, "daily")


def test_check_reports_a_key_without_a_spending_limit(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    workshop.provisioned(1)
    client.update_key(workshop.key_of("person0@example.org")["hash"], limit=None)
    done = workshop.keyprov("check", "ws.csv")
    assert done.returncode == 1
    assert "the key has no spending limit, expected 1.00 USD" in done.stdout
    assert "FAIL  the remaining limits" not in done.stdout, "no balance covers no limit"


def test_a_keys_xlsx_that_cannot_be_written_is_a_clear_error_and_the_state_keeps_the_change(
    workshop: CliWorkshop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workshop.provisioned(1)
    real_replace = os.replace

    def full_disk(source: object, target: object) -> None:
        if Path(str(target)).name == "keys.xlsx":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", full_disk)
    monkeypatch.chdir(workshop.folder)
    for name, value in workshop.env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        cli.main(["rotate", "ws.csv", "--participant", "person0@example.org"])

    assert exited.value.code == ExitStatus.INCOMPLETE
    err = capsys.readouterr().err
    assert "keys.xlsx: could not be written" in err and "internal error" not in err, err
    monkeypatch.undo()
    assert workshop.provision().returncode == 0, "the next run writes keys.xlsx from the state"
    (row,) = workshop.sheet()
    successor = workshop.key_of("person0@example.org")
    assert hashlib.sha256(row[2].encode()).hexdigest() == successor["hash"]
