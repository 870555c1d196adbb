"""What a server's answer says about its rate limit: its status and `X-RateLimit-*` headers."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Feedback:
    """What an answer says about the server's limit."""

    throttled: bool = False
    answered: bool = True
    """False when no answer came (network error) or the server failed (5xx): says nothing."""
    reset_in: float | None = None
    """Seconds until the server has capacity again, from `X-RateLimit-Reset`."""
    remaining: int | None = None
    """`X-RateLimit-Remaining`: requests left before the server throttles."""
    limit: int | None = None
    """`X-RateLimit-Limit`: requests the server allows per window, a window of unknown length
    (a token bucket's size, for the sandbox); see `pacing._limit_per_second`."""

    @classmethod
    def from_response(
        cls, status: int, headers: Mapping[str, str], *, now: float | None = None
    ) -> Feedback:
        """Read the status and any X-RateLimit-* headers (`now` is the epoch, for tests)."""
        if status >= 500:
            return NO_ANSWER
        return cls(
            throttled=status == 429,
            reset_in=parse_reset(headers.get("X-RateLimit-Reset"), now=now),
            remaining=_parse_int(headers.get("X-RateLimit-Remaining")),
            limit=_parse_int(headers.get("X-RateLimit-Limit")),
        )


NO_ANSWER = Feedback(answered=False)


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds until an `X-RateLimit-Reset`: epoch milliseconds (OpenRouter), epoch seconds, or a
    number of seconds from now, told apart by size."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    current = time.time() if now is None else now
    if number > 1e11:
        return max(0.0, number / 1000 - current)
    if number > 1e8:
        return max(0.0, number - current)
    return number


def _parse_int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None
