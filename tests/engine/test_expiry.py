"""`--expires`: a day that is over is refused, a wrong one is named, and rotate replaces it."""

from __future__ import annotations

from datetime import datetime

from keyprov.engine.expiry import parse_time
from keyprov.engine.planner import Action, make_plan
from keyprov.models import ApiKey
from keyprov.roster import Participant
from keyprov.workshop.journal import LedgerEntry
from tests.clock import day
from tests.helpers import CliWorkshop, make_roster


def expiry_day(key: dict[str, object]) -> str:
    moment = parse_time(str(key["expires_at"]))
    assert moment is not None
    return moment.date().isoformat()


def test_a_day_that_is_over_is_refused_before_any_request(workshop: CliWorkshop) -> None:
    workshop.roster.write_text("name,email,limit\nAda,ada@example.org,2\n")
    for options in ((), ("--dry-run",)):
        done = workshop.provision("--expires", day(-1), *options)
        assert done.returncode == 2, done.stderr
        assert f"--expires {day(-1)}: that day is over" in done.stderr
        assert f"today is {day(0)} (UTC)" in done.stderr
        assert workshop.sandbox.request_log == [], "refused before anything is sent"
    assert workshop.sandbox.keys() == []


def test_today_and_tomorrow_are_accepted_with_a_warning(workshop: CliWorkshop) -> None:
    workshop.roster.write_text("name,email,limit\nAda,ada@example.org,2\n")
    dry = workshop.provision("--expires", day(1), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"warning: --expires {day(1)}: the keys stop working" in dry.stderr
    assert "within 2 days" in dry.stderr

    done = workshop.provision("--expires", day(0))
    assert done.returncode == 0, done.stderr
    assert f"warning: --expires {day(0)}" in done.stderr
    assert expiry_day(workshop.key_of("ada@example.org")) == day(0)

    later = workshop.provision("--expires", day(0))
    assert "you asked for" not in later.stderr, "the keys expire as asked"


def test_a_date_beyond_the_warning_window_is_not_warned_about(workshop: CliWorkshop) -> None:
    workshop.roster.write_text("name,email,limit\nAda,ada@example.org,2\n")
    done = workshop.provision("--expires", day(3))
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr


def test_a_rerun_with_another_expiry_names_it_and_rotate_replaces_every_key(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--expires", day(30)).returncode == 0
    old = {key["hash"] for key in workshop.sandbox.keys()}
    mismatch = (
        f"3 keys expire {day(30)}, you asked for {day(60)}; expiry cannot be changed on an "
        "existing key."
    )
    fix = f"keyprov rotate ws.csv --all --expires {day(60)}"

    dry = workshop.provision("--expires", day(60), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert mismatch in dry.stdout and fix in dry.stdout
    rerun = workshop.provision("--expires", day(60))
    assert rerun.returncode == 0, rerun.stderr
    assert mismatch in rerun.stderr and fix in rerun.stderr
    assert workshop.writes() == [], "an expiry cannot be PATCHed, and nothing is created"

    done = workshop.keyprov(*fix.split()[1:], "--yes")  # no terminal here to ask on
    assert done.returncode == 0, done.stdout + done.stderr
    for i in range(3):
        key = workshop.key_of(f"person{i}@example.org")
        assert key["hash"] not in old and expiry_day(key) == day(60)
        assert key["limit"] == 1, "nothing was spent, so the whole limit is carried over"
    assert all(k["disabled"] for k in workshop.sandbox.keys() if k["hash"] in old)
    assert len(workshop.sandbox.keys()) == 6
    # Never handed out, so nothing to replace in anyone's hands: each new key is simply "new".
    assert [row[7] for row in workshop.sheet()] == ["new"] * 3
    assert [row[5] for row in workshop.sheet()] == [
        datetime.fromisoformat(f"{day(60)}T23:59:59")
    ] * 3

    again = workshop.keyprov(*fix.split()[1:])
    assert again.returncode == 0 and workshop.writes() == [], "a rerun replaces nothing"
    assert again.stdout.count(f"already expires {day(60)}: not replaced") == 3
    settled = workshop.provision("--expires", day(60))
    assert settled.returncode == 0 and workshop.writes() == []
    assert "you asked for" not in settled.stderr
    assert workshop.keyprov("check", "ws.csv", "--expires", day(60)).returncode == 0


def test_a_stopped_rotate_all_is_finished_by_its_rerun(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--expires", day(30)).returncode == 0
    # One successor's create is refused for an hour: that participant keeps the old key.
    workshop.sandbox.force(429, count=1, method="POST", retry_after="3600")
    first = workshop.keyprov("rotate", "ws.csv", "--all", "--yes", "--expires", day(60))
    assert first.returncode == 1
    assert first.stdout.count("the old key stays enabled") == 1
    enabled = [k for k in workshop.sandbox.keys() if not k["disabled"]]
    assert len(enabled) == 3 and sorted(expiry_day(k) for k in enabled) == [
        day(30),
        day(60),
        day(60),
    ]

    second = workshop.keyprov("rotate", "ws.csv", "--all", "--yes", "--expires", day(60))
    assert second.returncode == 0, second.stdout
    assert len(workshop.calls("POST")) == 1, "only the one left is replaced"
    enabled = [k for k in workshop.sandbox.keys() if not k["disabled"]]
    assert len(enabled) == 3 and {expiry_day(k) for k in enabled} == {day(60)}


def test_rotate_refuses_an_expiry_that_is_over_before_any_request(workshop: CliWorkshop) -> None:
    workshop.provisioned(1)
    done = workshop.keyprov("rotate", "ws.csv", "--all", "--yes", "--expires", day(-1))
    assert done.returncode == 2 and f"--expires {day(-1)}: that day is over" in done.stderr
    assert workshop.sandbox.request_log == []


def planned_key(email: str, *, limit: float, expires_at: str | None, disabled: bool = False):
    key = ApiKey.from_json(
        {
            "hash": email,
            "name": f"keyprov:w:{email}",
            "label": "sk-or-v1-abc...xyz",
            "disabled": disabled,
            "limit": limit,
            "expires_at": expires_at,
        }
    )
    entry = LedgerEntry(
        email, key.name, email=email, hash=key.hash, secret="sk-or-v1-x", roster_limit=limit
    )
    return key, entry


def test_the_plan_flags_enabled_keys_that_expire_otherwise_and_still_updates_limits() -> None:
    wanted = "2026-12-05T23:59:59Z"
    keys = {
        "same@x.org": planned_key("same@x.org", limit=1, expires_at="2026-12-05T23:59:59+00:00"),
        "early@x.org": planned_key("early@x.org", limit=1, expires_at="2025-06-01T23:59:59Z"),
        "never@x.org": planned_key("never@x.org", limit=1, expires_at=None),
        "raised@x.org": planned_key("raised@x.org", limit=2, expires_at="2025-06-01T23:59:59Z"),
        "off@x.org": planned_key("off@x.org", limit=1, expires_at=None, disabled=True),
    }
    people = [Participant(email, email, 1.0, None, row) for row, email in enumerate(keys, 2)]
    entries = {email: entry for email, (_, entry) in keys.items()}
    server = [key for key, _ in keys.values()]

    plan = make_plan("w", people, entries, server, expires_at=wanted)
    flagged = {item.participant.email: item for item in plan.expiry_mismatches}
    assert sorted(flagged) == ["early@x.org", "never@x.org", "raised@x.org"]
    assert flagged["never@x.org"].note.startswith("its key never expires, not 2026-12-05")
    raised = flagged["raised@x.org"]
    assert raised.action is Action.UPDATE and dict(raised.patch) == {"limit": 1.0}
    assert "expires 2025-06-01, not 2026-12-05" in raised.note
    assert make_plan("w", people, entries, server).expiry_mismatches == [], "none asked for"
