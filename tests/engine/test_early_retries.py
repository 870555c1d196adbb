"""Every retry a command's client reports is in its audit log once: those from before the log
was open (held), and those that come while it is being handed the held ones."""

from __future__ import annotations

import threading

from keyprov.api.retries import RetryEvent
from keyprov.engine.early_retries import EarlyRetries


def retry(attempt: int) -> RetryEvent:
    return RetryEvent("list keys", attempt, 503, "Service Unavailable", 0.01)


def test_retries_reported_while_the_log_takes_over_are_each_recorded_once() -> None:
    told: list[RetryEvent] = []
    early = EarlyRetries(told.append)
    recorded: list[RetryEvent] = []
    reported = 0
    taken_over = threading.Event()

    def report() -> None:
        nonlocal reported
        # Reports before, during and after the hand-over, from the client's own thread.
        while not taken_over.is_set() or reported < 2000:
            reported += 1
            early(retry(reported))

    reporter = threading.Thread(target=report)
    reporter.start()
    while reported < 1000:
        pass
    early.hand_over(recorded.append)
    taken_over.set()
    reporter.join()
    early.finish()
    early(retry(0))  # after the run: told to the command, no longer recorded

    assert [event.attempt for event in recorded] == list(range(1, reported + 1))
    assert len(told) == reported + 1
