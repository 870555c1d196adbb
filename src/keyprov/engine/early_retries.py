"""Retries from before a command's audit log is open, kept so that the log still tells them.

The audit log lives in the workshop's folder, which GET /key must first say (the account);
that request, and the reads provision sends alongside it, may be retried before there is a
log to write to.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from keyprov.api.client import OpenRouterClient, RetryEvent


class EarlyRetries:
    """Told every retry the client reports: holds them until `hand_over`, then records them
    as they come until `finish`; passes each on to whoever was told before, throughout."""

    def __init__(self, passed_to: Callable[[RetryEvent], None] | None) -> None:
        self._passed_to = passed_to
        self._lock = threading.Lock()
        self._held: list[RetryEvent] | None = []
        self._record: Callable[[RetryEvent], None] | None = None

    def __call__(self, event: RetryEvent) -> None:
        with self._lock:
            # Under the lock, so none falls between those held and those recorded.
            if self._held is not None:
                self._held.append(event)
            elif self._record is not None:
                self._record(event)
        if self._passed_to is not None:
            self._passed_to(event)

    def hand_over(self, record: Callable[[RetryEvent], None]) -> None:
        """Record the retries so far with `record`, and each later one, until `finish`."""
        with self._lock:
            for event in self._held or []:
                record(event)
            self._held, self._record = None, record

    def finish(self) -> None:
        with self._lock:
            self._held, self._record = None, None


@contextlib.contextmanager
def holding_retries(client: OpenRouterClient) -> Iterator[EarlyRetries]:
    previous = client.on_retry
    early = EarlyRetries(previous)
    client.on_retry = early
    try:
        yield early
    finally:
        client.on_retry = previous
