"""Ctrl-C and SIGTERM: from the first line of `main` to the process's very end, exit 130.

Installed before anything heavy is imported, so that a signal during start-up is not the
interpreter's (exit -2 or -15). The first signal raises KeyboardInterrupt, which unwinds the
command through its session: the creates in flight are waited for and journaled, the state is
saved, the lock released. Further signals never raise again, so they cannot cut that short
(the lock would go while keys are still being made); they only say what is being waited for.
Once a command has its outcome (`settle`), a signal only changes the exit code to 130: the
outcome is still printed whole.

This module imports nothing of keyprov's but the exit codes: it runs before the rest loads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from keyprov.status import ExitStatus

INTERRUPTED = (
    "interrupted: what was done so far is saved (keys made, messages sent); run the same "
    "command again to continue."
)
SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)
)
"""Ctrl-C everywhere; SIGTERM (kill, systemd, cron's timeout) where it exists; Ctrl-Break on a
Windows console."""


class _State:
    interrupted = False
    settled = False
    """The command has its outcome: a signal changes the exit code and nothing else."""
    leaving = False
    own_process = False
    """main() runs as the process's entry point and ends the process itself."""
    on_repeat: Callable[[], None] | None = None
    previous: dict[int, Any] = {}  # noqa: RUF012 (one state per process, on purpose)


def install() -> None:
    """Take SIGNALS over for one command."""
    _State.interrupted = _State.settled = _State.leaving = _State.own_process = False
    _State.on_repeat = None
    _State.previous = {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}


def on_repeat(callback: Callable[[], None] | None) -> None:
    """Call `callback` (from the signal handler) on every signal after the first."""
    _State.on_repeat = callback


def settle() -> None:
    """The command's work is done and its outcome about to be printed: from now on a signal
    raises nothing (it would only cut the outcome short); the exit code becomes 130."""
    _State.settled = True


def interrupted() -> ExitStatus:
    """Say that the command was interrupted; its exit code."""
    _State.interrupted = True
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        print(INTERRUPTED, file=sys.stderr, flush=True)
    return ExitStatus.INTERRUPTED


def leave(code: int, *, own_process: bool) -> None:
    """End the command with `code`, or 130 if a signal came at any moment.

    As the process's entry point, flush and end the process at once: the interpreter's
    teardown runs Python code too, and a signal during it could not make the exit code 130.
    Called in-process (tests, a caller of `main(argv)`), restore the signal handlers and
    raise SystemExit.
    """
    _State.own_process = own_process
    _State.settled = _State.leaving = True
    if _State.interrupted:
        code = ExitStatus.INTERRUPTED
    if own_process:
        _flush()
        os._exit(int(code))
    for signum, handler in _State.previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    sys.exit(int(code))


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    if _State.settled:
        _State.interrupted = True
        if _State.leaving and _State.own_process:
            _flush()
            os._exit(ExitStatus.INTERRUPTED)
        return
    if _State.interrupted:
        if _State.on_repeat is not None:
            with contextlib.suppress(Exception):
                _State.on_repeat()
        return
    _State.interrupted = True
    raise KeyboardInterrupt


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (`keyprov ... | head`), or a flush the handler interrupted.
        with contextlib.suppress(Exception):
            stream.flush()
