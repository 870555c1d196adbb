"""A limit cut for one window, and given back when the window is over.

A rotated key on a daily (weekly, monthly) budget gets only what was left of the current
window, so a leaked key never buys a second budget; from the next reset on, its regular limit
is back. The cut is journaled with the successor (its regular limit and when its window
ends); the first command on the workshop after that moment PATCHes the regular limit back and
journals it, and `check` names a limit still cut after its window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from keyprov.errors import ApiError
from keyprov.models import ApiKey
from keyprov.workshop.audit import set_subject
from keyprov.workshop.journal_records import LedgerEntry

if TYPE_CHECKING:
    from keyprov.engine.session import Session

WINDOW_WORDS = {"daily": "today", "weekly": "this week", "monthly": "this month"}
NEXT_WINDOW = {"daily": "tomorrow", "weekly": "next week", "monthly": "next month"}


def utc_now() -> datetime:
    """Now, in UTC: the one clock the cuts are read by (tests move it)."""
    return datetime.now(UTC)


def window_end(limit_reset: str, moment: datetime) -> datetime | None:
    """When the window of `limit_reset` that holds `moment` ends: the next 00:00 UTC, the
    next Monday's, the next 1st of a month's (OpenRouter's resets). None: no such window."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if limit_reset == "daily":
        return day + timedelta(days=1)
    if limit_reset == "weekly":
        return day + timedelta(days=7 - day.weekday())
    if limit_reset == "monthly":
        return (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return None


def cut_is_over(entry: LedgerEntry, moment: datetime | None = None) -> bool:
    """The entry's limit was cut for a window that has ended."""
    if entry.cut_until is None or entry.full_limit is None:
        return False
    return datetime.fromisoformat(entry.cut_until) <= (moment or utc_now())


def cut_in_force(entry: LedgerEntry, moment: datetime | None = None) -> bool:
    """The entry's limit is cut for the window now running."""
    return (
        entry.cut_until is not None
        and entry.full_limit is not None
        and not cut_is_over(entry, moment)
    )


def restore_cut_limits(held: Session, keys: Sequence[ApiKey]) -> list[ApiKey]:
    """Give each key whose cut window is over its regular limit back, journaled and
    audited; `keys` with the server's answers in place. A key that could not be patched
    keeps its cut (the next command tries again; `check` names it)."""
    by_hash = {key.hash: key for key in keys}
    moment = utc_now()
    due = [
        entry
        for entry in held.ledger.entries()
        if cut_is_over(entry, moment) and entry.hash in by_hash
    ]
    for entry in due:
        assert entry.hash is not None and entry.full_limit is not None
        key = by_hash[entry.hash]
        if key.disabled:
            continue  # revoked or replaced: nothing to give back
        set_subject(entry.identity)
        try:
            patched = held.client.update_key(entry.hash, limit=entry.full_limit)
        except ApiError:
            continue
        held.ledger.record_update(
            entry.identity, limit=patched.limit, full_limit=None, cut_until=None
        )
        held.audit.event(
            "limit_restored",
            participant=entry.identity,
            hash=entry.hash,
            old=key.limit,
            new=patched.limit,
            window_ended=entry.cut_until,
        )
        by_hash[entry.hash] = patched
    return [by_hash.get(key.hash, key) for key in keys]
