"""The test suite's one clock: every date a test needs is computed here, from today (UTC).

No test writes a date later than today by hand, and none reads the real date any other way
(`test_suite_clock.py` checks both), so the suite passes on any day, and moved months ahead
with `make test-ahead` (tests/travel) too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().date()


def day(offset: int) -> str:
    """The UTC date `offset` days from today, as `--expires` takes it (YYYY-MM-DD)."""
    return (today() + timedelta(days=offset)).isoformat()


def end_of_day(offset: int) -> str:
    """The last second of the UTC day `offset` days from today, as OpenRouter writes it."""
    return f"{day(offset)}T23:59:59Z"
