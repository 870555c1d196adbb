"""What a server's answers say about its rate (the last second's, those between two 429s,
those before the first): pure functions of what `pacing.AdaptiveLimiter` recorded, so they
are read (and tested) on their own."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

MEASURE_SECONDS = 1.0
"""The window of the fallback measurement: the answers of the last second."""
MEASURE_EVENTS = 10
"""...or of the last ten answers when a second holds fewer (a slow server's rate)."""

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


def first_cut_cap(
    limit: int | None,
    answers: Iterable[float],
    now: float,
    first_start: float | None,
    min_rtt: float,
) -> float | None:
    """`limit_per_second` over the answers (their times) of the last second, or since the
    first request when that is sooner."""
    first = now if first_start is None else first_start
    since = max(now - LIMIT_WINDOW_SECONDS, first)
    answered = sum(1 for at in answers if at >= since)
    took = now - since
    if since == first and not math.isinf(min_rtt):
        # From the first's arrival to this 429's: a round trip less than the client saw.
        took = max(0.0, took - min_rtt)
    return limit_per_second(limit, answered, took)


def record(times: deque[float], now: float) -> None:
    """Add an event at `now`, keeping the last MEASURE_SECONDS, or the last MEASURE_EVENTS."""
    times.append(now)
    while len(times) > MEASURE_EVENTS and times[0] < now - MEASURE_SECONDS:
        times.popleft()


def events_per_second(
    times: deque[float], now: float, first_start: float | None, srtt: float | None
) -> float:
    """Events per second over the last MEASURE_SECONDS, or over the last MEASURE_EVENTS
    events when that is longer."""
    while len(times) > MEASURE_EVENTS and times[0] < now - MEASURE_SECONDS:
        times.popleft()
    if not times or first_start is None:
        return 0.0
    if times[0] >= now - MEASURE_SECONDS:
        # Never over more time than there has been: right after the start, that would read
        # a burst of answers as a trickle.
        elapsed = max(now - first_start, srtt or 0.0, 1e-3)
        return len(times) / min(MEASURE_SECONDS, elapsed)
    return (len(times) - 1) / (now - times[0])
