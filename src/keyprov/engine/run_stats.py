"""What a run went through on the way, beyond each participant's outcome: retries, waits,
unanswered creates. Worker threads add to it; the audit log's run summary and the closing
lines read it."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keyprov.api.retries import RetryEvent


@dataclass
class RunStats:
    """What a run went through on the way, beyond each participant's outcome."""

    retries: Counter[str] = field(default_factory=Counter)
    """Requests sent again, by what failed: '429', '503', 'TransportError', ..."""
    waited_on_429_s: float = 0.0
    unanswered_creates: int = 0
    """Creates whose answer never came (the key may or may not exist)."""
    made_by_unanswered: int = 0
    """Of those, keys the server had made: nobody held their secret."""
    deleted_undelivered: int = 0
    disabled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "retries": dict(self.retries),
                "waited_on_429_s": round(self.waited_on_429_s, 3),
                "unanswered_creates": self.unanswered_creates,
                "made_by_unanswered": self.made_by_unanswered,
                "deleted_undelivered": self.deleted_undelivered,
                "disabled": self.disabled,
            }

    def retried(self, event: RetryEvent) -> None:
        reason = str(event.status) if event.status is not None else event.error
        with self._lock:
            self.retries[reason] += 1
            if event.status == 429:
                self.waited_on_429_s += event.wait
