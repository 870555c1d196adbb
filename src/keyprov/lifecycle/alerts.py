"""Alerts: a key crossing a share of its limit, once per key per threshold per window, and
the credits running short. Pure: what to tell, from a poll and what was told before.

What identifies a participant in a message that leaves this machine (a webhook posts into a
Slack channel, a third party, read by whoever is in it) is their short name: first name and
the initial of the last ("Ada L."), enough for an organiser in the room, and no email, no id,
never a key. Two participants with one short name get their full names (an organiser must
know which). The organiser's own email and events.jsonl (owner-only) carry full names.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from keyprov.lifecycle.live import LiveKey, Poll

DEFAULT_THRESHOLDS = (80, 100)
RUNNING_OUT_MINUTES = 30.0
"""Credits that last less than this at the pace of the last polls are 'about to run out'."""
PACE_SPAN = 600.0
"""Seconds of polls the pace of spend is measured over."""
PACE_AT_LEAST = 60.0
"""Seconds of polls needed before a pace is believed: two polls a moment apart say nothing."""
CREDITS_SHORT = "credits_short"
CREDITS_RUNNING_OUT = "credits_running_out"


@dataclass(frozen=True)
class Alert:
    """A key that reached `threshold` % of its limit in this window (the highest it reached
    in this poll; the lower ones it passed at once are journaled as fired too)."""

    identity: str
    name: str
    hash: str
    threshold: int
    spent: float
    limit: float
    window: str
    window_label: str
    passed: tuple[int, ...]
    """Every threshold this alert fires (journaled so that none fires again this window)."""


@dataclass(frozen=True)
class CreditsWarning:
    kind: str
    """CREDITS_SHORT or CREDITS_RUNNING_OUT."""
    credits_left: float
    may_still_spend: float
    minutes_left: float | None
    """At the pace of the last polls; None when not measured (or no spend)."""


def parse_thresholds(text: str) -> tuple[int, ...]:
    """'50,80,100' -> (50, 80, 100); ValueError saying what is wrong."""
    values = []
    for part in text.split(","):
        part = part.strip().rstrip("%").strip()
        if not part.isdigit() or not 1 <= int(part) <= 1000:
            raise ValueError(
                f"{part!r} is not a percentage of the limit; give whole numbers from 1 to "
                "1000 separated by commas, like 50,80,100"
            )
        values.append(int(part))
    return tuple(sorted(set(values)))


def new_alerts(
    poll: Poll, thresholds: Sequence[int], fired: set[tuple[str, int, str]]
) -> list[Alert]:
    """The thresholds each enabled key with a limit reached in its window and has not alerted
    for yet (there), one alert per key."""
    alerts = []
    for key in poll.keys:
        share = key.share
        if not key.live or share is None or key.limit is None:
            continue
        reached = [t for t in thresholds if share * 100 >= t - 1e-9]
        passed = tuple(t for t in reached if (key.hash, t, key.window.id) not in fired)
        if passed:
            alerts.append(
                Alert(
                    identity=key.identity,
                    name=key.name,
                    hash=key.hash,
                    threshold=max(passed),
                    spent=round(key.spent, 6),
                    limit=key.limit,
                    window=key.window.id,
                    window_label=key.window.label,
                    passed=passed,
                )
            )
    return sorted(alerts, key=lambda alert: (-alert.threshold, alert.name.casefold()))


class Pace:
    """Spend per minute over the last polls, from the credits' usage (the whole account's)."""

    def __init__(self) -> None:
        self._seen: list[tuple[datetime, float]] = []

    def add(self, at: datetime, total_usage: float) -> None:
        self._seen.append((at, total_usage))
        newest = self._seen[-1][0]
        self._seen = [(t, u) for t, u in self._seen if (newest - t).total_seconds() <= PACE_SPAN]

    def per_minute(self) -> float | None:
        if len(self._seen) < 2:
            return None
        (first, used_then), (last, used_now) = self._seen[0], self._seen[-1]
        seconds = (last - first).total_seconds()
        if seconds < PACE_AT_LEAST:
            return None
        return (used_now - used_then) / (seconds / 60)


def credit_warnings(poll: Poll, pace: float | None) -> list[CreditsWarning]:
    """What is wrong with the credits now: less left than the enabled keys may still spend;
    about to run out (then every key answers 402)."""
    left = poll.credits_left
    if left is None:
        return []
    may = poll.may_still_spend
    minutes = left / pace if pace and pace > 0 and left > 0 else None
    warnings = []
    if left < may:
        warnings.append(CreditsWarning(CREDITS_SHORT, left, may, minutes))
    if left <= 0 or (minutes is not None and minutes < RUNNING_OUT_MINUTES):
        warnings.append(CreditsWarning(CREDITS_RUNNING_OUT, left, may, minutes))
    return warnings


def short_names(keys: Iterable[LiveKey]) -> dict[str, str]:
    """Each participant's name as a message leaving this machine gives it: 'Ada L.', or the
    full name when two would read the same."""
    people = {key.identity: key.name for key in keys}
    short = {identity: _short(name) for identity, name in people.items()}
    clashes = Counter(short.values())
    return {
        identity: people[identity] if clashes[name] > 1 else name
        for identity, name in short.items()
    }


def _short(name: str) -> str:
    words = name.split()
    if len(words) < 2 or "@" in name:
        return words[0].split("@")[0] if words else "?"
    return f"{words[0]} {words[-1][0]}."


def money(value: float) -> float:
    """USD to the cent, for a message (never -0.0)."""
    rounded = round(value, 2)
    return 0.0 if math.isclose(rounded, 0.0, abs_tol=1e-9) else rounded
