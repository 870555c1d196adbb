"""The sandbox's hooks for rehearsing a workshop: simulated spend and a clock that moves.

A mixin of `Sandbox`, kept apart so that the server module stays about serving requests.
"""

from __future__ import annotations

import threading
from datetime import datetime

from keyprov.sandbox.rehearsal import Clock, Runner, Simulation, habits
from keyprov.sandbox.store import Store

DEFAULT_TICK = 1.0


class RehearsalHooks:
    """Spend over time (`simulate`, `simulate_step`, `stop_simulation`) and the clock
    (`now`, `advance_clock`)."""

    _store: Store

    def _init_rehearsal(self) -> None:
        self._clock = Clock(self._store.reset_windows)
        self._simulation: Simulation | None = None
        self._runner: Runner | None = None
        self._simulation_lock = threading.Lock()

    def now(self) -> datetime:
        """The sandbox's now (UTC): real time, moved on by `advance_clock`."""
        return self._clock.now()

    def advance_clock(self, seconds: float) -> datetime:
        """Move the sandbox's now forward by `seconds`. Crossing midnight UTC starts every
        key's daily usage again (a Monday its weekly, the 1st its monthly), as OpenRouter's
        windows do. Returns the new now."""
        return self._clock.advance(seconds)

    def simulate(
        self,
        *,
        name_prefix: str | None = None,
        seed: int | None = None,
        minutes: float = 30.0,
        tick: float | None = DEFAULT_TICK,
    ) -> dict[str, str]:
        """Start spending on the keys (those whose name starts with `name_prefix`, or all):
        each gets a habit (idle, steady, busy, or over: past its limit), and every `tick`
        seconds what the habit spends is added. With `tick` None nothing runs by itself:
        `simulate_step` moves it on. Replaces a simulation already running. Returns each
        key's habit by hash; raises ValueError when no key matches."""
        chosen = [
            key["hash"]
            for key in self._store.all_keys()[::-1]  # oldest first: a seed gives each key one habit
            if name_prefix is None or key["name"].startswith(name_prefix)
        ]
        if not chosen:
            which = (
                "no key" if name_prefix is None else f"no key's name starts with {name_prefix!r}"
            )
            raise ValueError(f"{which}; nothing to spend on")
        if minutes <= 0:
            raise ValueError("minutes must be > 0")
        self.stop_simulation()
        simulation = Simulation(habits(chosen, seed), minutes=minutes, seed=seed)
        with self._simulation_lock:
            self._simulation = simulation
            if tick is not None:
                self._runner = Runner(self.simulate_step, tick)
        return dict(simulation.habit)

    def simulate_step(self, seconds: float) -> dict[str, float]:
        """Spend what `seconds` of the simulated room spend; the USD added per key hash."""
        simulation = self._simulation
        if simulation is None:
            raise ValueError("no simulation: start one with simulate()")
        keys = self._store.all_keys()
        amounts = simulation.amounts(keys, seconds)
        self._store.add_spend(amounts)
        return amounts

    def stop_simulation(self) -> bool:
        """Stop the simulated spend (what was spent stays); False when none was running."""
        with self._simulation_lock:
            runner, self._runner = self._runner, None
            was = self._simulation is not None
            self._simulation = None
        if runner is not None:
            runner.stop()
        return was
