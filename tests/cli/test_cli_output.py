"""What the commands print against a real server (the sandbox): the dry run, the run's
summary and what it went through, --list and --quiet, revoke's order and counts."""

from __future__ import annotations

import re

from tests.clock import day
from tests.helpers import CliWorkshop, make_roster, write_csv


def id_roster(workshop: CliWorkshop, ids: list[str]) -> None:
    rows = [(i, f"Rich {i}", f"{i}@example.org") for i in ids]
    write_csv(workshop.roster, ("Student ID", "Name", "Email"), rows)


def test_a_dry_run_short_of_credits_exits_as_the_real_run_would_and_says_why(
    workshop: CliWorkshop,
) -> None:
    id_roster(workshop, ["rich1", "rich2"])
    workshop.sandbox.set_credits(total_credits=3.0, total_usage=0.0)
    last_day = day(30)
    options = ["--limit", "2", "--limit-reset", "weekly", "--expires", last_day]

    dry = workshop.provision("--dry-run", *options)

    assert dry.returncode == 2
    assert workshop.writes() == []
    lines = dry.stdout.splitlines()
    assert f"  new keys expire:      at the end of {last_day} (23:59:59 UTC)" in lines
    assert "  limits reset:         weekly" in lines
    assert "  create  rich1  Rich rich1  rich1@example.org  2.00 USD  weekly" in lines
    assert "  create  rich2  Rich rich2  rich2@example.org  2.00 USD  weekly" in lines
    assert "3.00 USD (NOT enough: the real run stops here" in dry.stdout
    assert "the real run would stop before creating any key (exit 2)" in dry.stderr

    real = workshop.provision(*options)
    assert real.returncode == dry.returncode, "the dry run's code is the real run's"
    assert workshop.calls("POST") == []
    assert workshop.provision("--dry-run", "--allow-overcommit", *options).returncode == 0


def test_the_summary_says_what_the_run_went_through(workshop: CliWorkshop, fast_retries) -> None:
    make_roster(workshop.roster, 20)
    workshop.sandbox.force(503, count=2, method="GET", path_prefix="/keys")
    workshop.sandbox.force(429, count=3, method="POST", retry_after="0")
    workshop.sandbox.force("drop_after_commit", count=2)

    done = workshop.provision()

    assert done.returncode == 0, done.stderr
    summary, took, retries, unanswered, *rest = done.stdout.splitlines()
    assert summary == "ws: 20 participants: 20 created"
    assert re.fullmatch(r"  took \d+(\.\d)? s", took), took  # tenths below 10 s
    assert re.fullmatch(
        r"  5 retries: 3 after HTTP 429, 2 after HTTP 503; "
        r"requests waited \d+(\.\d)? s in all on 429s",
        retries,
    ), retries
    assert unanswered == (
        "  2 creates got no answer; listing the server's keys showed it had made 2 of them "
        "(deleted: nobody had their secret); all were sent again"
    )
    # Nobody needs attention, so nobody is listed: no line per participant on stdout.
    assert [line.split(":")[0] for line in rest] == ["keys", "audit"]
    assert len(workshop.sandbox.keys()) == 20


def test_list_prints_every_participant_and_quiet_only_the_summary(workshop: CliWorkshop) -> None:
    write_csv(
        workshop.roster,
        ("name", "email", "status"),
        [(f"Person {i}", f"person{i}@example.org", "attending") for i in (1, 10, 2)]
        + [("Late", "late@example.org", "cancelled")],
    )
    listed = workshop.provision("--limit", "1", "--list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines() if "@example.org" in line]
    assert [row[:4] for row in rows] == [
        ["created", "Person", "1", "person1@example.org"],
        ["created", "Person", "2", "person2@example.org"],
        ["created", "Person", "10", "person10@example.org"],
    ]
    assert all(row[4].startswith("sk-or-v1-") for row in rows)

    quiet = workshop.provision("--limit", "1", "--quiet")
    assert quiet.returncode == 0
    assert quiet.stdout.splitlines() == ["ws: 3 participants: 3 present"]
    assert quiet.stderr == "", "no note about the cancelled row, no progress"

    both = workshop.provision("--limit", "1", "--quiet", "--list")
    assert both.returncode == 2 and "--quiet and --list" in both.stderr


def test_someone_who_needs_attention_is_named_on_stderr(workshop: CliWorkshop) -> None:
    id_roster(workshop, ["s1", "s2"])
    workshop.sandbox.create_key_directly("keyprov:ws:s2", limit=1)  # its secret is not ours
    done = workshop.provision("--limit", "1")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    (line,) = [line for line in lines if line.startswith("  ") and not line.startswith("  To ")]
    assert line.startswith("  Rich s2, s2@example.org, id s2: secret lost: a key exists")


def test_revoke_sorts_ids_as_a_person_does_and_counts_what_it_did(workshop: CliWorkshop) -> None:
    id_roster(workshop, ["rich0", "rich10", "rich1", "rich2"])
    assert workshop.provision("--limit", "1").returncode == 0

    dry = workshop.keyprov("revoke", "ws.csv", "--dry-run")
    assert dry.stdout.splitlines()[-1] == ("dry run: ws: 4 to disable; nothing was changed.")
    done = workshop.keyprov("revoke", "ws.csv", "--yes")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == ["rich0", "rich1", "rich2", "rich10"]
    assert (
        lines[-1]
        == "ws: 4 keys disabled; nobody can spend on them now (provision --reenable undoes it)"
    )
