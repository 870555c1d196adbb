"""How the one retry layer waits, and what it reports about each retry.

Kept apart from the HTTP code so that the policy's numbers and the words a retry is reported
in are in one small place; `transport.HttpTransport` applies them.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from keyprov.api.rate_headers import Feedback

KIND_PHRASES = {
    "refused": "connection refused",
    "dns": "its host name does not resolve",
    "tls": "the TLS handshake failed",
    "connect_timeout": "no connection within the timeout",
    "proxy": "the proxy cannot be reached",
    "connect_failed": "no connection",
    "no_answer": "no answer",
    "rate_limited": "rate limited",
    "server_error": "a server error",
    "malformed": "an answer that is not OpenRouter's API",
    "inconsistent_listing": "the listing changed while it was read",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; the defaults suit an unattended run."""

    max_attempts: int = 6
    max_total_seconds: float = 120.0
    base_wait: float = 0.5
    max_wait: float = 8.0
    max_retry_after: float = 120.0
    """A Retry-After longer than this is surfaced rather than slept through."""
    first_contact_attempts: int = 4
    """Attempts while no request has succeeded yet and nothing answered like the API: more
    likely a wrong address than an outage, so the user hears about it within seconds."""
    first_contact_seconds: float = 10.0


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen, for the audit log and the terminal."""

    operation: str
    attempt: int
    status: int | None
    error: str
    wait: float
    kind: str = "error"
    """What went wrong, in one word: "refused", "dns", "tls", "rate_limited", "malformed"..."""
    ever_succeeded: bool = True
    """False while no request on this client has succeeded: the server may not be there."""

    def message(self, base_url: str) -> str:
        """One line for the terminal, e.g. "waiting for the server at ... (connection refused)"."""
        why = KIND_PHRASES.get(self.kind, self.error)
        if self.status is not None and self.kind in ("server_error", "malformed"):
            why = f"{why}, {self.status}"
        then = f"trying again in {self.wait:.1f} s (attempt {self.attempt + 1})"
        if not self.ever_succeeded:
            return f"waiting for the server at {base_url} ({why}); {then}..."
        return f"retrying {self.operation} ({why}); {then}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header given as seconds or as an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff(policy: RetryPolicy, attempt: int) -> float:
    """Full jitter over an exponential ceiling (tenacity's wait_random_exponential)."""
    ceiling = min(policy.max_wait, policy.base_wait * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def after_retry_after(retry_after: float, attempt: int) -> float:
    """The server's wait, plus jitter so that requests told the same instant do not return in
    lockstep. Small at first, as a throttled request is late by all of it (and at a run's end
    that is the run's tail), doubling each time the same request is sent back again."""
    spread = 0.02 * 2 ** (attempt - 1) * max(retry_after, 1.0)
    return retry_after + random.uniform(0, min(1.0, spread))


EARLY_RETRIES = 2
"""Retries of one request that may go at `X-RateLimit-Reset` rather than after Retry-After."""


def early_retry(feedback: Feedback, attempt: int, *, pacing: bool) -> float | None:
    """How soon a request answered 429 may go again, if sooner than its Retry-After: when
    `X-RateLimit-Reset` says the server's next token is due. None: wait the whole Retry-After.

    Only a request's first EARLY_RETRIES retries, and only while the limiter paces: it then
    holds every start until that same moment and lets the retry go first, so the retry meets a
    token rather than a crowd. (Retry-After counts whole seconds, at least one: a run's last
    requests, throttled, each made it a second longer than the server needed.) A second early
    retry is for the one that lost its token to a request sent before the server said it was
    empty and arriving a little after it. A request throttled more often waits its whole
    Retry-After, in case the reset was wrong.
    """
    if attempt > EARLY_RETRIES or not pacing or not feedback.throttled:
        return None
    return feedback.reset_in
