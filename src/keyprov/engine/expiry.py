"""When keys stop working: the one reading of `--expires` that provision, rotate and check share.

A key given `--expires 2026-12-05` works through that whole day, UTC. OpenRouter cannot change
a key's expiry once it is made, so a wrong date is refused or flagged before any key carries it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from keyprov.errors import OptionError
from keyprov.expiry_option import Expiry
from keyprov.values import parse_time
from keyprov.workshop.options import as_expiry, expires_at

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
    """`2026-12-05` for a key that works through that day (UTC), else the moment itself as
    `--expires` takes it (`2026-12-14T17:00Z`)."""
    moment = parse_time(value)
    if moment is None:
        return "never"
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if (moment.hour, moment.minute, moment.second) == (23, 59, 59):
        return moment.date().isoformat()
    return Expiry(moment).shown


def refuse_past(
    value: Expiry | date | None, *, now: datetime | None = None, source: str = ""
) -> None:
    """Raise OptionError for an `--expires` day that is over (UTC), or a moment that is past:
    keys made with it would be dead on arrival, and their expiry could never be corrected.
    `source` says where the value came from when the user did not type it."""
    expiry = as_expiry(value)
    if expiry is None:
        return
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    today = moment.date()
    where = f" ({source})" if source else ""
    if not expiry.whole_day:
        if expiry.at > moment:
            return
        raise OptionError(
            f"--expires {expiry.shown}",
            f"that time is past{where}: it is {moment:%Y-%m-%dT%H:%M}Z now, so the keys "
            "would never work, and an expiry cannot be changed once a key is made. Give a "
            "later time, a day, or a while from now (7d); nothing was sent to the server.",
        )
    last_day = expiry.day
    if last_day >= today:
        return
    raise OptionError(
        f"--expires {last_day.isoformat()}",
        f"that day is over{where}: today is {today.isoformat()} (UTC), so the keys would never "
        "work, and an expiry cannot be changed once a key is made. Give the workshop's last "
        f"day, on or after {today.isoformat()}; nothing was sent to the server.",
    )


def expiry_warning(
    value: Expiry | date | None,
    *,
    now: datetime | None = None,
    warn_days: float = DEFAULT_WARN_DAYS,
) -> str | None:
    """A warning when keys given `--expires value` stop working within `warn_days`, else
    None. (`check` never calls a key that expires as asked "expires soon": the warning is
    now, while the expiry can still be chosen.)"""
    expiry = as_expiry(value)
    stops = parse_time(expires_at(expiry))
    if expiry is None or stops is None:
        return None
    moment = now or datetime.now(UTC)
    if stops > moment + timedelta(days=warn_days):
        return None
    when = "at the end of that day (UTC)" if expiry.whole_day else "then"
    last = "the workshop's last day" if expiry.whole_day else "when the workshop ends"
    return (
        f"--expires {expiry.shown}: the keys stop working {when}, within {warn_days:g} "
        f"days. Is that {last}? An expiry cannot be changed on a key once made: a later "
        "one means a new key for everyone."
    )
