"""The base values read one way everywhere: a key's spend in its window, API times, numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyprov.models import ApiKey, window_usage
from keyprov.values import is_number, parse_time


def key(limit_reset: str | None) -> ApiKey:
    return ApiKey.from_json(
        {
            "hash": "h",
            "limit": 5,
            "limit_reset": limit_reset,
            "usage": 9.0,
            "usage_daily": 1.0,
            "usage_weekly": 2.0,
            "usage_monthly": 3.0,
            "created_at": "2026-01-01T00:00:00Z",
        }
    )


@pytest.mark.parametrize(
    ("reset", "spent"),
    [("daily", 1.0), ("weekly", 2.0), ("monthly", 3.0), (None, 9.0), ("yearly", 9.0)],
)
def test_the_spend_in_a_limits_window_and_all_time_for_a_reset_not_known(reset, spent) -> None:
    # An unknown reset counts everything the key spent: a budget from it errs on the side of less.
    assert window_usage(key(reset)) == spent


def test_api_times_are_read_in_utc_whatever_their_form() -> None:
    moment = datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)
    assert parse_time("2026-01-01T23:59:59Z") == moment
    assert parse_time("2026-01-02T00:59:59+01:00") == moment
    assert parse_time("2026-01-01T23:59:59") == moment
    assert parse_time(None) is None and parse_time("") is None


def test_json_numbers_are_finite_ints_and_floats_not_bools() -> None:
    assert is_number(2) and is_number(2.5)
    assert not any(is_number(value) for value in (True, float("nan"), float("inf"), "2", None))
