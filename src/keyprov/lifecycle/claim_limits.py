"""Failure budgets: how many wrong codes a device, and the whole room, may send.

Each client address may send `per_client` wrong codes within `period`; past that it waits
`backoff` seconds, and every further wrong code from it doubles the wait (up to `longest`)
until it has sent none for a whole `period`. The room as a whole has the same rule with
`overall`: many devices guessing together pause every claim. A claim with a right code costs
nothing. A code of 12 symbols from 21 has about 53 bits, so within these budgets guessing any
code of a room of thousands is out of reach.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ROOM = "*"
"""The budget every wrong code counts against, whoever sent it."""


@dataclass(frozen=True)
class Budgets:
    per_client: int = 10
    overall: int = 100
    period: float = 600.0
    backoff: float = 30.0
    longest: float = 3600.0


@dataclass
class _Account:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0
    last: float = 0.0


class FailureBudget:
    """Thread-safe: claims are decided in worker threads."""

    def __init__(
        self, budgets: Budgets | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budgets = budgets or Budgets()
        self.clock = clock
        self._accounts: dict[str, _Account] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> tuple[float, bool]:
        """Seconds before `client` may try a code (0: now), and whether the room's budget is
        the one that is spent."""
        now = self.clock()
        with self._lock:
            room = self._accounts.get(ROOM)
            if room is not None and room.locked_until > now:
                return room.locked_until - now, True
            own = self._accounts.get(client)
            if own is not None and own.locked_until > now:
                return own.locked_until - now, False
        return 0.0, False

    def failed(self, client: str) -> None:
        """A wrong code from `client`: counted against it and the room."""
        now = self.clock()
        with self._lock:
            self._forget_quiet(now)
            self._count(client, self.budgets.per_client, now)
            self._count(ROOM, self.budgets.overall, now)

    def _count(self, name: str, allowed: int, now: float) -> None:
        budgets = self.budgets
        account = self._accounts.setdefault(name, _Account())
        account.last = now
        account.failures = [t for t in account.failures if now - t < budgets.period]
        account.failures.append(now)
        # After a lockout every further wrong code locks again, for twice as long.
        if len(account.failures) >= (allowed if account.lockouts == 0 else 1):
            wait = min(budgets.backoff * 2**account.lockouts, budgets.longest)
            account.locked_until = now + wait
            account.lockouts += 1
            account.failures = []

    def _forget_quiet(self, now: float) -> None:
        """Accounts with no wrong code for a whole period start again (and take no memory)."""
        quiet = [
            name
            for name, account in self._accounts.items()
            if now - account.last >= self.budgets.period and account.locked_until <= now
        ]
        for name in quiet:
            del self._accounts[name]
