"""When claims may be made: `--opens` and `--closes`, as moments in time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from keyprov.errors import OptionError

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def parse_moment(option: str, text: str, *, today: date | None = None) -> datetime:
    """`09:00` (today, this machine's time zone), or `2026-12-01T09:00` (with or without an
    offset such as `+01:00`); an aware datetime. OptionError for anything else."""
    value = text.strip()
    local_zone = datetime.now().astimezone().tzinfo
    match = _CLOCK.fullmatch(value)
    try:
        if match:
            moment = datetime.combine(
                today or datetime.now().astimezone().date(),
                time(int(match[1]), int(match[2])),
            )
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None:
        raise OptionError(f"{option} {value}", "give a time as HH:MM (today) or YYYY-MM-DDTHH:MM")
    return moment if moment.tzinfo else moment.replace(tzinfo=local_zone)


@dataclass(frozen=True)
class ClaimWindow:
    opens: datetime | None = None
    closes: datetime | None = None

    def __post_init__(self) -> None:
        if self.opens and self.closes and self.closes <= self.opens:
            raise OptionError(
                f"--closes {self.closes:%Y-%m-%d %H:%M}", "it must come after --opens"
            )

    def state(self, now: datetime) -> str:
        """'before', 'open' or 'after'."""
        if self.opens is not None and now < self.opens:
            return "before"
        if self.closes is not None and now >= self.closes:
            return "after"
        return "open"

    def until_open(self, now: datetime) -> timedelta | None:
        return self.opens - now if self.opens is not None and now < self.opens else None
