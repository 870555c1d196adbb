"""Client-side pacing: send as fast as the server allows, learned from its answers.

OpenRouter documents no rate limit for the key-management API, and a workshop may meet a limit of
5 or of 200 requests per second. So `AdaptiveLimiter` starts without one and learns it:

- Before the first 429 it bounds the requests in flight by a window, from `initial_window` to
  `max_window`, that grows by `slow_start` per answer (1: doubles every round trip, as TCP's slow
  start), by a fixed step per round trip above `linear_above`, and, with `whole_rounds`, frees
  no permit until a round's answers are all in. Every request in flight when an unknown limit
  runs out is answered 429: these keep that round small and stop the first successes of a round
  from sending more into a bucket its 429s were about to say is empty.
- A 429 means the server's bucket is empty. Between two 429s it went from empty to empty, so the
  answers in between are what it refilled, if it stayed empty meanwhile: over the time between
  the two reset times they name (`X-RateLimit-Reset`), the server's rate to within a few percent;
  over the time between the 429s, give or take one answer. It stayed empty only if the pace
  kept up with that rate: paced slower, or idle, for long enough to leave a bucketful unspent,
  it filled and spilled tokens nobody took. So the rate is measured from the earliest 429 since
  which no bucketful was left unspent; when there is none, the count is only a lower bound, and
  the limiter takes the middle between it and the rate just throttled, untrusted. It paces
  request starts at `headroom` times the rate (just under it: a token left over now is spent
  later, while a 429 costs its request a whole Retry-After). At the first 429 there is nothing
  to measure from yet, and the answers so far include the bucket's first burst, so it halves
  the rate it sent at, and takes no more than `X-RateLimit-Limit` a second, unless more were
  answered already than a Limit counting a second or more allows: then it is the size of a
  bucket refilled faster (`rate_estimates.limit_per_second`). (The bucket's size is no measure
  of its rate from below: after another command emptied it, few answers come before the first
  429.)
- One 429 episode cuts once: a 429 for a request sent before the last cut is old news. The window
  is halved too, but kept large enough for the paced rate.
- A rate measured over ten answers or more is trusted and held for `quiet` seconds, twice as long
  each time the next 429 confirms it; after that (and at once after a rougher guess) every answer
  raises the rate a little, faster the longer no 429 comes (`growth` per second at first), so
  capacity that was underestimated, or has grown, is found again.
- After a 429, no request starts until the server's next token is due: `X-RateLimit-Reset` when
  the server sends it, else one paced interval. The others need not wait the 429's `Retry-After`:
  a token bucket refills well within the one second that is the least it can say. Nor need the
  request that got it, while pacing: it goes again at that reset, first in line, up to twice
  (`retries.early_retry`); after a third 429 it waits the whole `Retry-After`.

Waiters are served first come, first served, except that a request sent again after a 429 goes
first, so none starves past the retry layer's deadline. All time comes from `clock`, so the logic
is tested without sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from keyprov.api.rate_estimates import (
    LIMIT_WINDOW_SECONDS,
    EmptyAt,
    events_per_second,
    first_cut_cap,
    measured_since,
    record,
    tokens_unspent,
)
from keyprov.api.rate_headers import NO_ANSWER, Feedback

TRUSTED_ANSWERS = 10
"""Answers between two 429s that measure the rate to within a tenth."""
MAX_BASELINE_SECONDS = 10.0
"""The rate is measured over about this long: longer is more precise, but the server's limit may
have changed meanwhile."""
MAX_QUIET_SECONDS = 30.0
"""The longest a confirmed rate is held before the limiter probes for more."""
MAX_CALM_SECONDS = 4.0
"""Growth stops accelerating after this long without a 429."""
INITIAL_WINDOW = 7
"""Requests in flight before the first answer: every request in flight when an unknown limit
runs out is answered 429, so the first round trip is kept small."""
MAX_HOLD_SECONDS = 10.0
"""The longest every worker is held back on the word of an `X-RateLimit-Reset` alone (a server
clock that is off must not stall the run)."""


@dataclass(frozen=True)
class Permit:
    """One request allowed to start; give it back to `AdaptiveLimiter.release`."""

    started: float


class Limiter(Protocol):
    """What the client needs from a pacing policy."""

    def acquire(self, *, retry: bool = False) -> Permit: ...

    def release(self, permit: Permit, feedback: Feedback = NO_ANSWER) -> None: ...


class AdaptiveLimiter:
    """Shared by every thread of one client: `acquire` before each request, `release` after."""

    def __init__(
        self,
        *,
        initial_window: int = 16,
        max_window: int = 64,
        min_rate: float = 0.5,
        headroom: float = 0.98,
        quiet: float = 3.0,
        growth: float = 0.05,
        use_rate_headers: bool = True,
        slow_start: float = 1.0,
        whole_rounds: bool = False,
        linear_above: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= initial_window <= max_window:
            raise ValueError("need 1 <= initial_window <= max_window")
        self.max_window = max_window
        self.min_rate = min_rate
        self.headroom = headroom
        self.quiet = quiet
        self.growth = growth
        self.use_rate_headers = use_rate_headers
        self.slow_start = slow_start
        """Window growth per answer before the first 429: 1 doubles it every round trip."""
        self.whole_rounds = whole_rounds
        self.linear_above = linear_above
        """Above this window, grow by about `slow_start` times this much per round trip (TCP's
        limited slow start, RFC 3742), not in proportion."""
        self._clock = clock
        self._round_left = initial_window
        self._first_round = True
        self._last_answer: float | None = None
        self._lock = threading.Lock()
        self._retries: deque[threading.Condition] = deque()
        self._waiters: deque[threading.Condition] = deque()
        self._window = float(initial_window)
        self._rate: float | None = None
        self._trusted = False
        self._quiet = quiet
        self._next_start = -math.inf
        self._last_cut = -math.inf
        self._in_flight = 0
        self._srtt: float | None = None
        self._min_rtt = math.inf
        self._bucket: int | None = None
        """The server's bucket size, as its last `X-RateLimit-Limit` said, if it did."""
        self._idle_total = 0.0
        """Seconds so far with nothing in flight and nobody waiting."""
        self._idle_since: float | None = None
        self._first_start: float | None = None
        self._answered = 0
        self._answers: deque[float] = deque()
        self._starts: deque[float] = deque()
        self._empty_at: deque[EmptyAt] = deque()
        """When the server said 429 (its bucket empty), how many answers had come by then, when
        it said its next token was due (`X-RateLimit-Reset`, on `clock`) if it did, the rate
        paced at from then on, and the idle seconds so far (`_idle_total`)."""
        self.throttled = 0
        """429s seen, for reports."""

    # -- what it has learned, for reports and tests ------------------------------------------

    @property
    def window(self) -> float:
        return self._window

    @property
    def rate(self) -> float | None:
        """Requests per second it paces at; None until the server first throttles."""
        return self._rate

    @property
    def holds_until_reset(self) -> bool:
        """Whether, after a 429, it holds every start until `X-RateLimit-Reset`: pacing, and
        reading the headers. Only then may the throttled request itself go at that reset."""
        return self.use_rate_headers and self._rate is not None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters) + len(self._retries)

    # -- the blocking interface ----------------------------------------------------------------

    def acquire(self, *, retry: bool = False) -> Permit:
        """Wait for this request's turn and return its permit.

        Turns are first come, first served, except that a request sent again after a 429 goes
        before the others: it has waited out its Retry-After already, and each further 429
        brings it closer to the retry layer giving up on it.
        """
        with self._lock:
            if not self._retries and not self._waiters:
                granted = self._try_grant(self._clock())
                if isinstance(granted, Permit):
                    return granted
            me = threading.Condition(self._lock)
            queue = self._retries if retry else self._waiters
            queue.append(me)
            try:
                while True:
                    if self._head() is not me:
                        me.wait()
                        continue
                    granted = self._try_grant(self._clock())
                    if isinstance(granted, Permit):
                        return granted
                    me.wait(None if granted == math.inf else granted)
            finally:
                queue.remove(me)
                self._wake_next()

    def release(self, permit: Permit, feedback: Feedback = NO_ANSWER) -> None:
        """Give the permit back with what the answer said."""
        with self._lock:
            self._learn(permit, feedback, self._clock())
            self._wake_next()

    # -- the logic, on an explicit clock -------------------------------------------------------

    def try_acquire(self) -> Permit | float:
        """A permit now, or the seconds to wait (inf: until a request in flight finishes).

        Not fair on its own: for callers that do their own queueing, such as a simulation.
        """
        with self._lock:
            return self._try_grant(self._clock())

    def _try_grant(self, now: float) -> Permit | float:
        if self._idle_since is not None:
            self._idle_total += max(0.0, now - self._idle_since)
            self._idle_since = None
        if self._in_flight >= max(1, math.floor(self._window)):
            return math.inf
        # A round ends when all its answers are in, used up or not; but the first lasts for up
        # to a round trip more, as the reads before a run's creates share it (a long-lived
        # client's next command, that soon, may wait for what it left).
        rounds = self.whole_rounds and self._rate is None and self._window < self.max_window
        if rounds and (
            self._round_left <= 0 or (not self._in_flight and not self._in_first_round(now))
        ):
            if self._in_flight:
                return math.inf
            self._round_left = max(1, math.floor(self._window))
            self._first_round = False
        if now < self._next_start:
            return self._next_start - now
        if rounds:
            # Only a request that starts uses the round: one told to wait has taken nothing.
            self._round_left -= 1
        self._in_flight += 1
        if self._first_start is None:
            self._first_start = now
        if self._rate is not None:
            # Spaced from the previous start, not from now: a late thread must not shift the
            # whole schedule, and an idle gap must not be saved up as a burst either.
            self._next_start = max(self._next_start, now - 1 / self._rate) + 1 / self._rate
        else:
            record(self._starts, now)
        return Permit(started=now)

    def _in_first_round(self, now: float) -> bool:
        if not self._first_round:
            return False
        return self._last_answer is None or now - self._last_answer < (self._srtt or 0.0)

    def _learn(self, permit: Permit, feedback: Feedback, now: float) -> None:
        self._in_flight -= 1
        if not self._in_flight and not self._waiters and not self._retries:
            self._idle_since = now
        if not feedback.answered:
            return
        reset_in = feedback.reset_in if self.use_rate_headers else None
        if feedback.throttled:
            self.throttled += 1
            if feedback.limit and self.use_rate_headers:
                self._bucket = feedback.limit
            due = None if reset_in is None else now + reset_in
            if permit.started >= self._last_cut:
                self._cut(now, due, feedback.limit if self.use_rate_headers else None)
            assert self._rate is not None
            self._empty_at.append(EmptyAt(now, self._answered, due, self._rate, self._idle_total))
            hold = 1 / self._rate if reset_in is None else min(reset_in, MAX_HOLD_SECONDS)
            self._next_start = max(self._next_start, now + hold)
            return
        rtt = now - permit.started
        self._last_answer = now
        self._srtt = rtt if self._srtt is None else 0.875 * self._srtt + 0.125 * rtt
        self._min_rtt = min(self._min_rtt, rtt)
        self._answered += 1
        record(self._answers, now)
        if self._rate is None:
            step = self.slow_start * min(1.0, self.linear_above / self._window)
            self._window = min(self.max_window, self._window + step)
        else:
            self._window = min(self.max_window, self._window + 1 / self._window)
            calm = now - self._last_cut - (self._quiet if self._trusted else 0.0)
            if calm > 0:
                # Per answer, so per second the rate grows by this fraction of itself.
                calm = min(calm, MAX_CALM_SECONDS)
                step = self.growth * (1 + calm * calm)
                # Never far above what the server has been answering: a rate that grew while
                # the callers had little to send must not let a sudden crowd through unpaced.
                ceiling = max(2 * self._per_second(self._answers, now), self._rate)
                self._rate = min(self._rate + step, ceiling)
        if self.use_rate_headers and feedback.remaining == 0 and reset_in is not None:
            self._next_start = max(self._next_start, now + min(reset_in, MAX_HOLD_SECONDS))

    def _cut(self, now: float, due: float | None, limit: int | None) -> None:
        was_trusted = self._trusted
        sent = self._rate if self._rate is not None else self._per_second(self._starts, now)
        estimate, self._trusted = self._estimate(now, due, sent)
        # Each measurement that confirms the last one earns a longer hold before the next
        # probe: a steady limit is probed rarely, so few requests pay a 429 to find nothing.
        if self._trusted and was_trusted:
            self._quiet = min(2 * self._quiet, MAX_QUIET_SECONDS)
        else:
            self._quiet = self.quiet
        if estimate is None:
            # No earlier 429 to measure from yet. The answers of the last second are no guide:
            # they include the full bucket's burst, which is what just ran out (trusting them
            # barely cut the rate, and the next round trip's requests were throttled too, each
            # then late by a whole Retry-After). Halve; the next 429 measures the rate.
            estimate = sent / 2
            capped = first_cut_cap(limit, self._answers, now, self._first_start, self._min_rtt)
            if capped is not None and capped < estimate:
                estimate = capped
                self._trusted = True
        self._rate = max(self.min_rate, min(sent, estimate * self.headroom))
        needed = self._rate * (self._srtt or 0.0) * 2
        self._window = max(1.0, self._window / 2, min(needed, self.max_window))
        self._last_cut = now

    def _estimate(self, now: float, due: float | None, sent: float) -> tuple[float | None, bool]:
        """The server's rate measured from an earlier 429, and whether to trust it; None when
        there is no earlier 429 to measure from."""
        # From the last 429 before the baseline window, or the first within it.
        while len(self._empty_at) > 1 and self._empty_at[1][0] <= now - MAX_BASELINE_SECONDS:
            self._empty_at.popleft()
        entries = list(self._empty_at)
        bound: float | None = None
        # Over the longest stretch the bucket stayed empty through: from the earliest 429 since
        # which the pace kept up with the rate measured (or fell short by less than a bucket).
        for index in range(len(entries)):
            measured = measured_since(entries[index], self._answered, now, due, self._srtt)
            if measured is None:
                break  # later baselines are shorter still
            count = self._answered - entries[index].answered
            unspent = tokens_unspent(entries[index:], now, self._idle_total, measured)
            if unspent <= self._bucket_size(measured):
                return measured, count >= TRUSTED_ANSWERS
            if bound is None:
                bound = measured
        if bound is None:
            return None, False
        # Paced slower than that, or idle, for long enough that the bucket may have filled and
        # spilled tokens nobody took: the server's rate is at least this, and below what was
        # just throttled. Take the middle, and let growth find the rest.
        return max(bound, (bound + sent) / 2), False

    def _bucket_size(self, rate: float) -> float:
        return self._bucket or rate * LIMIT_WINDOW_SECONDS

    def _per_second(self, times: deque[float], now: float) -> float:
        return events_per_second(times, now, self._first_start, self._srtt)

    def _head(self) -> threading.Condition | None:
        if self._retries:
            return self._retries[0]
        return self._waiters[0] if self._waiters else None

    def _wake_next(self) -> None:
        head = self._head()
        if head is not None:
            head.notify()


def client_limiter(pool_size: int, clock: Callable[[], float] = time.monotonic) -> AdaptiveLimiter:
    """The limiter an API client shares among its threads, at most `pool_size` in flight."""
    return AdaptiveLimiter(
        initial_window=min(INITIAL_WINDOW, pool_size),
        max_window=pool_size,
        slow_start=1.0,
        whole_rounds=True,
        linear_above=14,
        clock=clock,
    )
