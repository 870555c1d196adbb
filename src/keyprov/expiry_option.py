"""What `--expires` says: a last day, a moment in UTC, or a while from now.

- `2026-12-05`: the keys work through that whole day, UTC (to 23:59:59).
- `2026-12-14T17:00Z`, `2026-12-14T19:00+02:00`: until that moment, converted to UTC.
- `7d`, `36h`, `2w` (or `7 days`): that long after the run starts.

A while from now is resolved once, when the command starts, to the moment it names; that
moment is what a workshop remembers. So a rerun (by hand, or a cron job given the same
`--expires 7d`) keeps the moment the first run set, instead of moving it a day each day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_DURATION = re.compile(r"(\d+)\s*(w|weeks?|d|days?|h|hours?)", re.IGNORECASE)
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
END_OF_DAY = time(23, 59, 59)
FORMS = "a day (2026-12-05), a time in UTC (2026-12-14T17:00Z) or a while from now (7d, 36h)"


class ExpiryFormatError(ValueError):
    """The text is none of the forms `--expires` takes; the message says which it takes."""


@dataclass(frozen=True)
class Expiry:
    """When new keys stop working: the last moment they work, in UTC."""

    at: datetime
    """UTC, to the second."""
    whole_day: bool = False
    """Given as a day: the keys work through it (`at` is its 23:59:59)."""
    duration: str | None = None
    """The while from now it was given as ('7d'), normalised; None for a day or a time."""

    @classmethod
    def last_day(cls, day: date) -> Expiry:
        return cls(datetime.combine(day, END_OF_DAY, tzinfo=UTC), whole_day=True)

    @property
    def day(self) -> date:
        return self.at.date()

    @property
    def api(self) -> str:
        """As the API takes it: `2026-12-05T23:59:59Z`."""
        return self.at.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def shown(self) -> str:
        """As `--expires` takes it again: `2026-12-05`, or `2026-12-14T17:00Z`."""
        if self.whole_day:
            return self.day.isoformat()
        return self.at.strftime("%Y-%m-%dT%H:%M:%SZ" if self.at.second else "%Y-%m-%dT%H:%MZ")

    @property
    def in_words(self) -> str:
        """For what a command says it checks: 'the end of 2026-12-05 (23:59:59 UTC)'."""
        if self.whole_day:
            return f"the end of {self.day.isoformat()} (23:59:59 UTC)"
        made = f", {self.duration} after the run that set it" if self.duration else ""
        return f"{self.shown} (UTC{made})"

    def to_json(self) -> str:
        """A day stays a day (as workshops remembered it before times were allowed)."""
        return self.shown

    @classmethod
    def from_json(cls, value: str, duration: str | None = None) -> Expiry:
        parsed = parse_expires(value, now=datetime.now(UTC))
        return cls(parsed.at, parsed.whole_day, duration)


def parse_expires(text: str, *, now: datetime) -> Expiry:
    """Read `--expires`; a while from now counts from `now`. ExpiryFormatError if it is none
    of the forms. A moment that is past is read all the same: `refuse_past` says so."""
    value = text.strip()
    if _DAY.fullmatch(value):
        try:
            return Expiry.last_day(date.fromisoformat(value))
        except ValueError as error:
            raise ExpiryFormatError(f"{text!r} is not a day of the calendar.") from error
    duration = _DURATION.fullmatch(value)
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2)[0].lower()
        if amount <= 0:
            raise ExpiryFormatError(f"{text!r} is no time at all; give e.g. 7d.")
        moment = now.astimezone(UTC).replace(microsecond=0) + amount * _UNITS[unit]
        return Expiry(moment, duration=f"{amount}{unit}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ExpiryFormatError(f"{text!r} is not {FORMS}.") from error
    if moment.tzinfo is None:
        raise ExpiryFormatError(
            f"{text!r} says no time zone: write {value}Z for UTC, or its offset "
            f"({value}+02:00); keys stop at one moment everywhere."
        )
    return Expiry(moment.astimezone(UTC).replace(microsecond=0))
