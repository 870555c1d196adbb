"""When keys stop working: the one reading of `--expires` that provision, rotate and check share.

A key given `--expires 2026-12-05` works through that whole day, UTC. OpenRouter cannot change
a key's expiry once it is made, so a wrong date is refused or flagged before any key carries it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from keyprov.errors import OptionError
from keyprov.values import parse_time
from keyprov.workshop.options import expires_at

__all__ = [
    "DEFAULT_WARN_DAYS",
    "describe_expiry",
    "expires_at",
    "expiry_warning",
    "parse_time",
    "refuse_past",
    "same_expiry",
]

DEFAULT_WARN_DAYS = 2.0
"""A key that stops working within this many days is "expiring soon" (check --warn-days)."""


def same_expiry(first: str | None, second: str | None) -> bool:
    """Whether two `expires_at` values are one moment (the server may write it its own way)."""
    return parse_time(first) == parse_time(second)


def describe_expiry(value: str | None) -> str:
    """`2026-12-05` for a key that works through that day (UTC), else the moment itself."""
    moment = parse_time(value)
    if moment is None:
        return "never"
    moment = moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second) == (23, 59, 59):
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def refuse_past(last_day: date | None, *, now: datetime | None = None, source: str = "") -> None:
    """Raise OptionError for an `--expires` day that is over (UTC): keys made with it would
    be dead on arrival, and their expiry could never be corrected. `source` says where the
    value came from when the user did not type it."""
    if last_day is None:
        return
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    if last_day >= today:
        return
    where = f" ({source})" if source else ""
    raise OptionError(
        f"--expires {last_day.isoformat()}",
        f"that day is over{where}: today is {today.isoformat()} (UTC), so the keys would never "
        "work, and an expiry cannot be changed once a key is made. Give the workshop's last "
        f"day, on or after {today.isoformat()}; nothing was sent to the server.",
    )


def expiry_warning(
    last_day: date | None, *, now: datetime | None = None, warn_days: float = DEFAULT_WARN_DAYS
) -> str | None:
    """A warning when keys given `--expires last_day` stop working within `warn_days` (the
    rule by which `check` calls a key "expires soon"), else None."""
    stops = parse_time(expires_at(last_day))
    if stops is None:
        return None
    moment = now or datetime.now(UTC)
    if stops > moment + timedelta(days=warn_days):
        return None
    assert last_day is not None
    return (
        f"--expires {last_day.isoformat()}: the keys stop working at the end of that day "
        f'(UTC), within {warn_days:g} days (`keyprov check` calls them "expires soon"). '
        "Is that the workshop's last day? An expiry cannot be changed on a key once made."
    )
