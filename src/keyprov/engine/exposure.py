"""What new keys can spend: their budget for one window, and the most until they expire.

A daily limit of 2 USD on a key that works for three days can spend 6 USD, not 2: a limit
that resets is a budget per window, and the credits must cover every window until expiry.
Without an expiry a resetting budget has no end; the credit check then counts one window and
says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from keyprov.engine.planner import Action, Plan
from keyprov.values import parse_time


@dataclass(frozen=True)
class Exposure:
    per_window: float
    """USD the new keys can spend in one window (their limits added up)."""
    most: float | None
    """USD they can spend until they expire; None: no end (a reset and no expiry)."""
    resets: bool
    """Some new key's limit resets (so `most` may differ from `per_window`)."""

    @property
    def needed(self) -> float:
        """What the credits must cover: the most until expiry, else one window."""
        return self.most if self.most is not None else self.per_window


def windows_until(limit_reset: str | None, now: datetime, end: datetime | None) -> int | None:
    """How many of `limit_reset`'s windows a key working from `now` through `end` spends in
    (the current one counted); 1 without a reset; None for a reset without an end."""
    if limit_reset is None:
        return 1
    if end is None:
        return None
    first, last = now.astimezone(UTC).date(), end.astimezone(UTC).date()
    if last < first:
        return 1
    if limit_reset == "daily":
        return (last - first).days + 1
    if limit_reset == "weekly":
        return (_monday(last) - _monday(first)).days // 7 + 1
    if limit_reset == "monthly":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return 1


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def exposure(plan: Plan, expires_at: str | None, now: datetime | None = None) -> Exposure:
    """The new keys' budget per window and the most they can spend until they expire."""
    moment = now or datetime.now(UTC)
    per_window = 0.0
    most: float | None = 0.0
    resets = False
    for item in plan.with_action(Action.CREATE):
        limit, reset = item.participant.limit, item.participant.limit_reset
        per_window += limit
        resets = resets or reset is not None
        windows = windows_until(reset, moment, parse_time(item.expires_at or expires_at))
        most = None if most is None or windows is None else most + limit * windows
    return Exposure(round(per_window, 6), None if most is None else round(most, 6), resets)
