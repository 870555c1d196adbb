"""A workshop rehearsed on the sandbox: spend that happens over time, and a clock that moves.

The sandbox serves no inference, so nothing spends its keys by itself. `Simulation` spends for
the participants: each key gets a habit from a seeded draw (some busy, most steady, some never
start, a few overshoot their limit as requests in flight do on OpenRouter), and every step adds
what each habit spends in that time, on every usage window at once, as real spend does. A key
at its limit stops (OpenRouter answers it 403) unless it is one of the few that overshoot; a
top-up lets it go on. `Clock` is the sandbox's idea of now: moving it past midnight UTC starts
the daily windows again (Monday the weekly ones, the 1st the monthly ones).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

IDLE, STEADY, BUSY, OVER = "idle", "steady", "busy", "over"
HABIT_SHARES = ((IDLE, 0.12), (BUSY, 0.2), (OVER, 0.06), (STEADY, 0.62))
"""How a rehearsed room spends: who never starts, who spends fast, who overshoots."""
SPEED = {IDLE: 0.0, STEADY: 0.45, BUSY: 1.6, OVER: 2.0}
"""Share of the limit each habit spends in `minutes` (the simulation's pace)."""
UNCAPPED_LIMIT = 5.0
"""A key without a limit spends as if its limit were this."""
OVERSHOOT = (1.05, 1.25)
"""How far past its limit an overshooting key gets before it stops: in-flight requests."""


def habits(hashes: Sequence[str], seed: int | None) -> dict[str, str]:
    """Each key's habit: the same keys, the same seed, the same room."""
    rng = random.Random(seed)
    names = [name for name, _ in HABIT_SHARES]
    weights = [share for _, share in HABIT_SHARES]
    return {key_hash: rng.choices(names, weights)[0] for key_hash in hashes}


@dataclass
class Simulation:
    """Spend over time on chosen keys. `step(seconds)` adds what `seconds` of the room spend."""

    habit: dict[str, str]
    minutes: float = 30.0
    """A steady key spends its whole limit in about `minutes` / 0.45."""
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)
    _stop_at: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        for key_hash, habit in sorted(self.habit.items()):
            if habit == OVER:
                self._stop_at[key_hash] = self._rng.uniform(*OVERSHOOT)

    def amounts(self, keys: Sequence[Mapping[str, Any]], seconds: float) -> dict[str, float]:
        """USD each key spends in the next `seconds`, given the keys as the API shows them."""
        spent: dict[str, float] = {}
        for key in keys:
            habit = self.habit.get(key["hash"])
            if habit is None or habit == IDLE or key["disabled"]:
                continue
            limit = key["limit"] if key["limit"] is not None else UNCAPPED_LIMIT
            if limit <= 0:
                continue
            window_spend = limit - (key["limit_remaining"] if key["limit"] is not None else 0)
            if key["limit"] is None:
                window_spend = key["usage"]
            ceiling = limit * self._stop_at.get(key["hash"], 1.0)
            room = ceiling - window_spend
            if room <= 0:
                continue  # blocked: OpenRouter answers 403 until a top-up or the reset
            jitter = self._rng.uniform(0.3, 1.7)
            amount = limit * SPEED[habit] * jitter * seconds / (self.minutes * 60)
            spent[key["hash"]] = round(min(amount, room), 6)
        return spent


class Clock:
    """The sandbox's now: real time plus an offset that only moves forward."""

    def __init__(self, on_new_windows: Callable[[list[str]], None]) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()
        self._on_new_windows = on_new_windows

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move now forward; the windows whose boundary it crosses start again. Returns now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            before = datetime.now(UTC) + self._offset
            self._offset += timedelta(seconds=seconds)
            after = before + timedelta(seconds=seconds)
        crossed = windows_crossed(before, after)
        if crossed:
            self._on_new_windows(crossed)
        return after


def windows_crossed(before: datetime, after: datetime) -> list[str]:
    """The usage windows that start again between two moments (UTC)."""
    crossed = []
    if after.date() != before.date():
        crossed.append("daily")
    if after.isocalendar()[:2] != before.isocalendar()[:2]:
        crossed.append("weekly")
    if (after.year, after.month) != (before.year, before.month):
        crossed.append("monthly")
    return crossed


class Runner:
    """Steps a simulation every `tick` seconds in a thread of its own, until stopped."""

    def __init__(self, step: Callable[[float], None], tick: float) -> None:
        self._step = step
        self._tick = tick
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-simulation", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._tick):
            try:
                self._step(self._tick)
            except ValueError:
                return  # stopped between two ticks

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
