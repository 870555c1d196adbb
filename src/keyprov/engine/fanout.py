"""One call per item, many at once: how every command sends its per-key requests.

Concurrency is all this module adds. Pacing is the client's: every request waits for the
shared AdaptiveLimiter (keyprov.api.transport), so a command fanned out here keeps to the
server's rate limit exactly as provision does. Journaling stays with the calls themselves:
each writes its own record once its answer is in, so whatever finished is on disk whichever
way the run ends.

Ctrl-C (or SIGTERM, which keyprov.cli.interrupts turns into KeyboardInterrupt) and any error
a call raises stop the fan-out the same way: no further call starts, the ones in flight are
waited for (their answers journaled), and the error is raised again, so the command exits
130 with a state its rerun can finish.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TypeVar

DEFAULT_CONCURRENCY = 64
"""Requests in flight at once: provision's default, and the client's connection pool size."""

Item = TypeVar("Item")
Result = TypeVar("Result")


class _NotStarted(Exception):
    """A call that a worker picked up after the fan-out was told to stop: never sent."""


def fan_out(
    items: Sequence[Item],
    call: Callable[[Item], Result],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: threading.Event | None = None,
    on_stopping: Callable[[int], None] | None = None,
) -> list[Result]:
    """`call(item)` for every item, up to `concurrency` at once; the results in `items`' order.

    `stop` is set when the fan-out stops early, so that calls (and whoever shares the event)
    can tell; setting it from outside does not stop anything by itself (the Creator lets its
    calls answer "not attempted" instead). `on_stopping(in_flight)` is told at Ctrl-C, before
    the wait for the calls in flight begins.

    Each call runs in a copy of the caller's context: a call's `set_subject` stays its own.
    """
    if not items:
        return []
    halted = threading.Event()

    def guarded(item: Item) -> Result:
        # Between a stop and the executor's cancelling of what is queued, a worker may still
        # take an item: it must not send a request the user asked not to be sent.
        if halted.is_set():
            raise _NotStarted
        return call(item)

    workers = max(1, min(concurrency, len(items)))
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keyprov")
    futures: list[Future[Result]] = []
    try:
        for item in items:
            futures.append(executor.submit(contextvars.copy_context().run, guarded, item))
        for future in as_completed(futures):
            future.result()  # a call's error stops the others as Ctrl-C does
    except BaseException as error:
        halted.set()
        if stop is not None:
            stop.set()
        if isinstance(error, KeyboardInterrupt) and on_stopping is not None:
            executor.shutdown(wait=False, cancel_futures=True)  # what is queued never starts
            on_stopping(sum(future.running() for future in futures))
        _wait_for_in_flight(executor)
        raise
    executor.shutdown(wait=True)
    return [future.result() for future in futures]


def _wait_for_in_flight(executor: ThreadPoolExecutor) -> None:
    """Wait for the calls in flight, whatever happens meanwhile.

    A second Ctrl-C must not cut this short: the command's lock would be released, and its
    state saved, while requests it sent are still changing keys. (The CLI's handler raises
    only once; this guards callers in-process, such as tests or a notebook.)
    """
    while True:
        try:
            executor.shutdown(wait=True, cancel_futures=True)
            return
        except KeyboardInterrupt:
            continue
