"""A budget that resets is a budget per window: the dry run states it and the most the keys
can spend until they expire, and the credit check counts that larger figure."""

from __future__ import annotations

from datetime import UTC, datetime

from keyprov.engine.exposure import windows_until
from tests.clock import day, now
from tests.helpers import CliWorkshop, make_roster


def test_the_dry_run_counts_every_window_until_expiry_against_the_credits(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 10, limit=2)
    workshop.sandbox.set_credits(total_credits=50.0, total_usage=0.0)  # 20 a day, 60 in all
    options = ("--limit-reset", "daily", "--expires", day(2))

    dry = workshop.provision(*options, "--dry-run")

    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert "new budget 20.00 USD per window" in dry.stdout
    assert "most spent by expiry:      60.00 USD (20.00 USD per window" in dry.stdout
    assert "NOT enough" in dry.stdout
    assert "the new keys can spend 60.00 USD until they expire (20.00 USD per window)" in (
        dry.stderr
    )
    real = workshop.provision(*options)
    assert real.returncode == 2 and workshop.writes() == [], "refused before any key"
    assert "60.00 USD until they expire" in real.stderr

    workshop.sandbox.set_credits(total_credits=60.0, total_usage=0.0)
    assert workshop.provision(*options).returncode == 0


def test_without_an_expiry_a_reset_budget_has_no_most_and_the_run_says_so(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 3, limit=2)
    workshop.sandbox.set_credits(total_credits=5.0, total_usage=0.0)
    dry = workshop.provision("--limit-reset", "weekly", "--dry-run")
    assert "most spent by expiry:      no end" in dry.stdout
    assert "6.00 USD per window, with no end (they never expire" in dry.stderr


def test_windows_are_counted_as_the_server_resets_them() -> None:
    start = now()
    monday = datetime(2024, 1, 1, 12, tzinfo=UTC)  # a Monday in a calendar gone by
    assert windows_until(None, start, None) == 1
    assert windows_until("daily", start, None) is None
    assert windows_until("daily", monday, monday) == 1
    assert windows_until("weekly", monday, datetime(2024, 1, 7, 23, tzinfo=UTC)) == 1
    assert windows_until("weekly", monday, datetime(2024, 1, 8, 0, tzinfo=UTC)) == 2
    assert windows_until("monthly", monday, datetime(2024, 3, 1, tzinfo=UTC)) == 3
