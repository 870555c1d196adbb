"""What the answers between two 429s say about a server's rate: pure functions of what
`pacing.AdaptiveLimiter` recorded, so they are read (and tested) on their own."""

from __future__ import annotations

from typing import NamedTuple

LIMIT_WINDOW_SECONDS = 1.0
"""The shortest window an `X-RateLimit-Limit` is taken to count over: a server allowing that
many per window of a second or more allows no more per second, so at the first 429 the rate
is taken to be at most that."""
MIN_DUE_GAP = 0.05
"""Two reset times this far apart (or more) measure the rate to within a few percent."""


class EmptyAt(NamedTuple):
    """One 429: the server's bucket was empty."""

    at: float
    answered: int
    """Answers the limiter had had by then."""
    due: float | None
    """When the server said its next token was due (`X-RateLimit-Reset`, on the limiter's
    clock), if it did."""
    paced: float
    """The rate paced at from then on."""
    idle: float
    """The limiter's idle seconds so far: nothing in flight, nobody waiting."""


def measured_since(
    baseline: EmptyAt, answered: int, now: float, due: float | None, srtt: float | None
) -> float | None:
    """The rate the `answered - baseline.answered` answers since `baseline` measure, if the
    bucket stayed empty; None when too little time has passed to tell."""
    count = answered - baseline.answered
    if due is not None and baseline.due is not None and count and due - baseline.due >= MIN_DUE_GAP:
        # Each answer in between took the token due next, so the server's next token moved
        # on by one interval per answer, whatever the round trips did meanwhile.
        return count / (due - baseline.due)
    if now - baseline.at < (srtt or 0.0):
        return None
    # The bucket was empty at both ends, so it refilled between count - 1 and count + 1
    # requests; the upper end errs towards a few more 429s, never towards idling.
    return (count + 1) / (now - baseline.at)


def tokens_unspent(entries: list[EmptyAt], now: float, idle_now: float, rate: float) -> float:
    """The most tokens a server refilling at `rate` may have had left over since the first
    of `entries`: the shortfall of the pace below it, and all of it while idle."""
    unspent = 0.0
    for index, entry in enumerate(entries):
        later = entries[index + 1] if index + 1 < len(entries) else None
        end, idle_after = (now, idle_now) if later is None else (later.at, later.idle)
        # The pace is this stretch's least: the rate only grows between two 429s.
        idle = idle_after - entry.idle
        unspent += max(0.0, rate - entry.paced) * max(0.0, end - entry.at - idle) + rate * idle
    return unspent


def limit_per_second(limit: int | None, answered: int, elapsed: float) -> float | None:
    """The most an `X-RateLimit-Limit` allows a second, unless the server has answered more
    than that allows already; else None.

    A server allowing `limit` per window of a second or more answers at most `limit` at once
    (a full bucket) and `limit` a second after that, so what it `answered` over `elapsed`
    seconds (at most one) is at most limit * (1 + elapsed), give or take one. More, and the
    Limit is the size of a bucket refilled faster than that (as the sandbox's `--burst` is).
    A fixed window's counter may answer twice its limit across a window's end: taken for a
    faster server, it costs some 429s, where a Limit believed too low would crawl.
    """
    if not limit or limit <= 0:
        return None
    per_second = limit / LIMIT_WINDOW_SECONDS
    if answered > per_second * (1 + min(elapsed, LIMIT_WINDOW_SECONDS)) + 1:
        return None
    return per_second
