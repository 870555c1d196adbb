"""What a run shows while it works, on stderr: a bar on a terminal, numbered lines otherwise.

The Reporter only decides when to write and where; every text comes from `keyprov.render`.
Its methods are the progress events of `keyprov.provision.provision` (on_listing, on_plan,
on_result, on_stopping); on_result comes from the worker threads, hence the lock.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from keyprov.engine.outcomes import ParticipantResult
from keyprov.engine.planner import Plan
from keyprov.render.progress import (
    bar_line,
    eta_seconds,
    listing_line,
    progress_line,
    stopping_line,
)
from keyprov.render.text import fit

ETA_WINDOW = 50
"""Results the ETA is measured over: the pace of the latest creates, not of the instant
'present' participants at the start."""
CLEAR_LINE = "\r\x1b[K"


class Reporter:
    """Progress on `stream` (default stderr): a bar on a terminal, one line per result
    otherwise, nothing at all when quiet."""

    def __init__(
        self,
        *,
        quiet: bool,
        label: str = "provisioning",
        stream: TextIO | None = None,
        interactive: bool | None = None,
        width: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            interactive = self.stream.isatty()
        self.interactive = interactive and not quiet
        self.label = label
        self._width = width
        self._clock = clock
        self._lock = threading.RLock()
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._times: deque[float] = deque(maxlen=ETA_WINDOW)
        self._line_open = False
        """A terminal line is being redrawn in place (the bar, the listing, stopping)."""
        self._in_flight: int | None = None
        """Creates still awaited after Ctrl-C; None while the run is not stopping."""

    def listing(self, keys: int, pages: int, done: bool) -> None:
        if self.quiet:
            return
        with self._lock:
            if self.interactive:
                self._redraw(listing_line(keys, pages, done))
                if done:
                    self._end_line()
            elif done or pages == 0:
                self._write_line(listing_line(keys, pages, done))

    def plan(self, plan: Plan) -> None:
        with self._lock:
            self._total = len(plan.items)
            self._started = self._clock()
            if self.interactive and self._total:
                self._redraw(self._bar())

    def result(self, result: ParticipantResult) -> None:
        if self.quiet:
            return
        with self._lock:
            self._done += 1
            self._times.append(self._clock())
            if self._in_flight is not None:
                self._in_flight = max(0, self._in_flight - 1)
            if not self.interactive:
                self._write_line(progress_line(self._done, self._total, result))
            elif self._in_flight is not None:
                self._redraw(stopping_line(self._in_flight))
            else:
                self._redraw(self._bar())

    def start(self, total: int) -> None:
        """A per-key command (set-limit, rotate, revoke) knows how many keys it changes."""
        with self._lock:
            self._total, self._done = total, 0
            self._started = self._clock()
            self._times.clear()
            if self.interactive and self._total:
                self._redraw(self._bar())

    def step(self, identity: str, label: str, ok: bool, detail: str) -> None:
        """One key of a per-key command done: the bar moves, or a numbered line."""
        from keyprov.lifecycle import Change
        from keyprov.render.changes import progress_step_line

        if self.quiet:
            return
        with self._lock:
            self._done += 1
            self._times.append(self._clock())
            if self.interactive:
                self._redraw(self._bar())
            else:
                change = Change(identity, label, ok, detail)
                self._write_line(progress_step_line(self._done, self._total, change))

    def stopping(self, in_flight: int) -> None:
        """Ctrl-C: at once, say what the run is waiting for (even when quiet: it was asked)."""
        with self._lock:
            self._in_flight = in_flight
            if self.interactive:
                self._end_line()
                self._redraw(stopping_line(in_flight))
            else:
                self._write_line(stopping_line(in_flight))

    def interrupted_again(self) -> None:
        """A further Ctrl-C while the run waits for its creates in flight."""
        with self._lock:
            if self._in_flight is None:
                return
            if self.interactive:
                self._redraw(stopping_line(self._in_flight, again=True))
            else:
                self._write_line(stopping_line(self._in_flight, again=True))

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave the bar at its last state on its own line, so what follows starts clean."""
        with self._lock:
            if self.interactive and self._line_open and self._in_flight is None and self._total:
                self._redraw(self._bar(finished=self._done >= self._total))
            self._end_line()

    def _columns(self) -> int:
        return self._width or shutil.get_terminal_size((80, 24)).columns

    def _bar(self, *, finished: bool = False) -> str:
        now = self._clock()
        width = self._columns() - 1
        if finished:
            elapsed = now - self._started
            return bar_line(self.label, self._done, self._total, width=width, elapsed=elapsed)
        eta = eta_seconds(list(self._times), now, self._total - self._done)
        return bar_line(self.label, self._done, self._total, width=width, eta=eta)

    def _redraw(self, text: str) -> None:
        # Never wider than the terminal: a wrapped line cannot be redrawn in place.
        text = fit(text, self._columns() - 1)
        self.stream.write(f"{CLEAR_LINE}{text}")
        self.stream.flush()
        self._line_open = True

    def _end_line(self) -> None:
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False

    def _write_line(self, text: str) -> None:
        self.stream.write(f"{text}\n")
        self.stream.flush()
