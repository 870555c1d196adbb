"""One look at a workshop while it runs: each participant's key in its window, and the credits.

Spend in a key's window is `limit - limit_remaining`, as the server counts it (`usage` is
all-time and never resets); it can exceed the limit, since requests in flight finish. Windows
are UTC: the day from midnight, the week from Monday, the month from the 1st. One poll sends
one listing (its pages at once, through the client's pacer) and the credits read, together:
ceil(keys / 100) + 2 requests at most.
"""

from __future__ import annotations

import enum
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from keyprov.api.client import PAGE_SIZE, OpenRouterClient
from keyprov.engine.snapshot import owned_keys, with_naming
from keyprov.errors import ApiError
from keyprov.lifecycle.check import NOTHING_LEFT
from keyprov.models import ApiKey, Credits, window_usage
from keyprov.values import parse_time
from keyprov.workshop.folder import Workshop
from keyprov.workshop.journal import Ledger

LOW_SHARE = 0.2
"""A key with less than this share of its limit left is 'below 20 %'."""


@dataclass(frozen=True)
class Window:
    """The usage window a key's limit applies to, at one moment."""

    id: str
    """Names this window and no other: 'daily:2026-12-07', 'monthly:2026-12', 'total'."""
    label: str
    resets_at: datetime | None


def window_of(limit_reset: str | None, moment: datetime) -> Window:
    """The window of `limit_reset` that holds `moment` (UTC), and when the next one starts."""
    day = moment.astimezone(UTC).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if limit_reset == "daily":
        return Window(f"daily:{day}", f"{day} UTC", midnight + timedelta(days=1))
    if limit_reset == "weekly":
        monday = day - timedelta(days=day.weekday())
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        return Window(f"weekly:{monday}", f"week of {monday}", start + timedelta(days=7))
    if limit_reset == "monthly":
        following = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
        return Window(f"monthly:{day:%Y-%m}", f"{day:%B %Y}", following)
    return Window("total", "all time", None)


class Standing(enum.StrEnum):
    """Where a key stands, the first that applies."""

    DISABLED = "disabled"
    EXPIRED = "expired"
    OUT = "out of budget"
    LOW = "below 20 %"
    UNUSED = "not used yet"
    OK = "ok"


@dataclass(frozen=True)
class LiveKey:
    """A participant's current key as one poll saw it. Never the secret."""

    identity: str
    name: str
    hash: str
    label: str
    limit: float | None
    limit_reset: str | None
    spent: float
    """In the limit's window, as the server counts it; more than the limit when overspent."""
    spent_all: float
    left: float | None
    disabled: bool
    expires_at: str | None
    expired: bool
    window: Window

    @property
    def share(self) -> float | None:
        """Share of the limit spent in the window (above 1 when overspent)."""
        if self.limit is None or self.limit <= 0:
            return None
        return self.spent / self.limit

    @property
    def live(self) -> bool:
        return not self.disabled and not self.expired

    @property
    def out(self) -> bool:
        return self.live and self.left is not None and self.left < NOTHING_LEFT

    @property
    def low(self) -> bool:
        share = self.share
        return self.live and not self.out and share is not None and 1 - share < LOW_SHARE

    @property
    def unused(self) -> bool:
        return self.live and self.spent_all <= 0

    @property
    def standing(self) -> Standing:
        if self.disabled:
            return Standing.DISABLED
        if self.expired:
            return Standing.EXPIRED
        if self.out:
            return Standing.OUT
        if self.low:
            return Standing.LOW
        return Standing.UNUSED if self.unused else Standing.OK


@dataclass
class Poll:
    """What one poll read: the workshop's keys and the account's credits."""

    workshop: str
    at: datetime
    keys: list[LiveKey]
    spent_all: float
    """All-time usage of every key of the workshop, replaced ones too: what was spent."""
    credits: Credits | None
    credits_problem: str | None = None
    server_keys: list[ApiKey] = field(default_factory=list, repr=False)
    listed: int = 0
    """Keys the listing held (the whole account's): the next poll asks for that many pages."""
    closed: bool = False
    """The workshop is closed (`provision --closed`, `keyprov close`): its keys wait disabled
    until `keyprov open` or each participant's claim; that is not a fault."""

    @property
    def waiting(self) -> list[LiveKey]:
        """Keys disabled because the workshop is closed: they work once it opens."""
        return [key for key in self.keys if self.closed and key.disabled and not key.expired]

    @property
    def enabled(self) -> list[LiveKey]:
        return [key for key in self.keys if key.live]

    @property
    def spent_in_windows(self) -> float:
        return sum(key.spent for key in self.keys)

    @property
    def may_still_spend(self) -> float:
        """What the enabled keys can still spend: their limits left, never below 0."""
        return sum(max(0.0, key.left or 0.0) for key in self.enabled if key.limit is not None)

    @property
    def credits_left(self) -> float | None:
        return None if self.credits is None else self.credits.remaining

    def in_standing(self, standing: Standing) -> list[LiveKey]:
        return [key for key in self.keys if key.standing is standing]


def read_poll(
    workshop: Workshop, client: OpenRouterClient, moment: datetime, *, expected: int
) -> Poll:
    """One listing of every key (`expected` keys: that many pages asked for at once) and the
    credits read, sent together; the workshop's keys matched to participants by the state."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyprov-credits") as pool:
        credits = pool.submit(client.credits)
        listed = client.list_all_keys(include_disabled=True, expected=expected)
        try:
            balance: Credits | None = credits.result()
            problem = None
        except ApiError as error:
            balance, problem = None, f"credits could not be read: {error}"
    ledger = Ledger.open(workshop.state_path)
    named, _new = with_naming(workshop, ledger, listed)
    owned = owned_keys(named, ledger.entries(), listed)
    keys = [
        live_key(item.key, item.identity, item.entry.name if item.entry else "", moment)
        for item in owned
        if item.role == "current"
    ]
    return Poll(
        workshop=workshop.name,
        at=moment,
        keys=keys,
        spent_all=sum(item.key.usage for item in owned),
        credits=balance,
        credits_problem=problem,
        server_keys=listed,
        listed=len(listed),
        closed=ledger.replayed.closed,
    )


def live_key(key: ApiKey, identity: str, name: str, moment: datetime) -> LiveKey:
    window = window_of(key.limit_reset, moment)
    if key.limit is not None and key.limit_remaining is not None:
        spent = key.limit - key.limit_remaining
    else:
        spent = window_usage(key)
    expiry = parse_time(key.expires_at)
    return LiveKey(
        identity=identity,
        name=name or identity,
        hash=key.hash,
        label=key.label,
        limit=key.limit,
        limit_reset=key.limit_reset,
        spent=round(spent, 9),
        spent_all=key.usage,
        left=key.limit_remaining,
        disabled=key.disabled,
        expires_at=key.expires_at,
        expired=expiry is not None and expiry <= moment,
        window=window,
    )


def pages_for(listed: int) -> int:
    """Pages a listing of `listed` keys takes, the short last one included."""
    return listed // PAGE_SIZE + 1
