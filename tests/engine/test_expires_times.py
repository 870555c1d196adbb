"""`--expires` as a time in UTC or a while from now: resolved once, when the run starts, and
remembered as the moment it came to, so a rerun never moves it."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from keyprov.expiry_option import Expiry, ExpiryFormatError, parse_expires
from keyprov.sandbox import Sandbox
from keyprov.values import parse_time
from tests.clock import day, now
from tests.helpers import CliWorkshop, make_roster


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path) -> CliWorkshop:
    return CliWorkshop(sandbox, management_key, tmp_path)


def expiries(workshop: CliWorkshop) -> set[str]:
    return {str(key["expires_at"]) for key in workshop.sandbox.keys() if not key["disabled"]}


def remembered(workshop: CliWorkshop) -> dict[str, object]:
    data = json.loads((workshop.folder / "output" / "ws" / "workshop.json").read_text())
    return data["options"]


def test_every_form_reads_as_the_moment_it_names() -> None:
    start = now().replace(microsecond=0)
    assert parse_expires(day(3), now=start) == Expiry.last_day(start.date() + timedelta(3))
    assert parse_expires(day(3), now=start).api == f"{day(3)}T23:59:59Z"
    assert parse_expires(f"{day(3)}T17:00Z", now=start).api == f"{day(3)}T17:00:00Z"
    assert parse_expires(f"{day(3)}T19:00+02:00", now=start).api == f"{day(3)}T17:00:00Z"
    assert parse_expires("7d", now=start) == Expiry(start + timedelta(days=7), duration="7d")
    assert parse_expires("36h", now=start).at == start + timedelta(hours=36)
    assert parse_expires("2 weeks", now=start).at == start + timedelta(weeks=2)
    assert parse_expires(f"{day(3)}T17:00Z", now=start).shown == f"{day(3)}T17:00Z"
    for wrong, said in [
        (f"{day(3)}T17:00", "says no time zone"),
        ("next friday", "is not a day"),
        ("0d", "is no time at all"),
        ("2025-02-30", "is not a day of the calendar"),  # a year gone: the calendar decides
    ]:
        with pytest.raises(ExpiryFormatError, match=said):
            parse_expires(wrong, now=start)


def test_a_while_from_now_is_resolved_once_and_a_rerun_keeps_it(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    before = now().replace(microsecond=0)
    done = workshop.provision("--expires", "36h")
    after = now()
    assert done.returncode == 0, done.stderr
    (stored,) = expiries(workshop)
    moment = parse_time(stored)
    assert moment is not None
    assert before + timedelta(hours=36) <= moment <= after + timedelta(hours=36)
    assert remembered(workshop)["expires"] == Expiry(moment).shown
    assert remembered(workshop)["expires_duration"] == "36h"

    # The same command line again (a cron job), and one without --expires: nothing moves.
    make_roster(workshop.roster, 3)
    for options in (("--expires", "36h"), ()):
        again = workshop.provision(*options)
        assert again.returncode == 0, again.stderr
        assert "rotate" not in again.stdout + again.stderr, "no expiry differs"
        assert expiries(workshop) == {stored}
        assert remembered(workshop)["expires"] == Expiry(moment).shown

    check = workshop.keyprov("check", "ws.csv")
    assert check.returncode == 0, check.stdout
    assert f"expiry:      {Expiry(moment).shown} (UTC, 36h after the run that set it)" in (
        check.stdout
    )


def test_a_time_with_an_offset_is_converted_to_utc(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 1)
    done = workshop.provision("--expires", f"{day(4)}T19:30+02:00")
    assert done.returncode == 0, done.stderr
    assert {parse_time(value) for value in expiries(workshop)} == {
        parse_time(f"{day(4)}T17:30:00Z")
    }
    assert remembered(workshop)["expires"] == f"{day(4)}T17:30Z"


def test_a_time_that_is_past_is_refused_before_any_request(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 1)
    past = (now() - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    done = workshop.provision("--expires", past)
    assert done.returncode == 2
    assert f"--expires {past}: that time is past" in done.stderr
    assert workshop.sandbox.request_log == []

    naive = workshop.provision("--expires", f"{day(2)}T09:00")
    assert naive.returncode == 2
    assert "says no time zone" in naive.stderr


def test_rotate_takes_a_while_from_now_too(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision("--expires", day(5)).returncode == 0
    before = now().replace(microsecond=0)
    done = workshop.keyprov("rotate", "ws.csv", "--all", "--yes", "--expires", "7d")
    after = now()
    assert done.returncode == 0, done.stderr
    (stored,) = expiries(workshop)
    moment = parse_time(stored)
    assert moment is not None
    assert before + timedelta(days=7) <= moment <= after + timedelta(days=7)
    assert remembered(workshop)["expires"] == Expiry(moment).shown
    assert workshop.keyprov("check", "ws.csv").returncode == 0
