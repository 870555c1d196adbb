"""`--expires`: a day that is over is refused, a wrong one is named, and rotate replaces it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keyprov.expiry import parse_time
from keyprov.sandbox import Sandbox
from tests.helpers import CliWorkshop


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path) -> CliWorkshop:
    return CliWorkshop(sandbox, management_key, tmp_path)


def day(offset: int) -> str:
    """The UTC date `offset` days from today, as --expires takes it."""
    return (datetime.now(UTC) + timedelta(days=offset)).date().isoformat()


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
