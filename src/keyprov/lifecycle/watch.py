"""`keyprov watch`: the room's spend, poll after poll; alerts that fire once; top-ups by rule.

A poll reads (live.read_poll), decides what to tell (alerts) and journals it in events.jsonl
before it is delivered (notify), then makes the rule's top-ups (topups). The watch holds its
own lock (one watch per workshop) but the workshop's only while it tops up, so set-limit,
rotate or a provision can run beside it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.engine.fanout import DEFAULT_CONCURRENCY
from keyprov.engine.snapshot import expected_keys
from keyprov.files import ensure_private_dir
from keyprov.lifecycle.alerts import (
    DEFAULT_THRESHOLDS,
    Alert,
    CreditsWarning,
    Pace,
    credit_warnings,
    money,
    new_alerts,
    short_names,
)
from keyprov.lifecycle.live import Poll, read_poll
from keyprov.lifecycle.notify import Notifier
from keyprov.lifecycle.topups import TopUp, TopUpRule, after_top_ups, apply_top_ups
from keyprov.lifecycle.watch_journal import EventJournal
from keyprov.workshop.folder import Workshop, WorkshopRef
from keyprov.workshop.journal import Ledger
from keyprov.workshop.locate import find_workshop
from keyprov.workshop.lock import exclusive_lock

WATCH_LOCK_NAME = ".watch.lock"
GIVE_UP_AFTER = timedelta(days=1)
"""A digest still undelivered after this long is not tried again (it is in events.jsonl)."""


@dataclass(frozen=True)
class WatchOptions:
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    top_up: TopUpRule | None = None
    concurrency: int = DEFAULT_CONCURRENCY


@dataclass
class PollReport:
    """One poll and all that came of it, for the view, the JSON lines and the exit code."""

    poll: Poll
    alerts: list[Alert] = field(default_factory=list)
    warnings: list[CreditsWarning] = field(default_factory=list)
    """Credit warnings in force now (`new_warnings`: those told for the first time)."""
    new_warnings: list[CreditsWarning] = field(default_factory=list)
    top_ups: list[TopUp] = field(default_factory=list)
    delivery_problems: list[str] = field(default_factory=list)
    digest_id: str | None = None

    @property
    def needs_attention(self) -> bool:
        """For cron: something to report (an alert, a credits warning, a key out of budget)."""
        return bool(self.alerts or self.warnings or any(key.out for key in self.poll.keys))


class Watch:
    """One workshop watched: `poll()` as often as wanted; the journal remembers across runs."""

    def __init__(
        self,
        ref: WorkshopRef,
        client: OpenRouterClient,
        options: WatchOptions,
        notifier: Notifier,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.ref = ref
        self.client = client
        self.options = options
        self.notifier = notifier
        self.now = now or (lambda: datetime.now(UTC))
        self.workshop: Workshop = find_workshop(ref, client)
        self._pace = Pace()
        self._expected = expected_keys(Ledger.open(self.workshop.state_path))
        self._stack = contextlib.ExitStack()
        self.journal: EventJournal

    def __enter__(self) -> Watch:
        folder = ensure_private_dir(self.workshop.folder)
        self._stack.enter_context(
            exclusive_lock(folder / WATCH_LOCK_NAME, what=f"a watch of {self.workshop.name}")
        )
        self.journal = self._stack.enter_context(EventJournal(folder))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def poll(self) -> PollReport:
        moment = self.now()
        poll = read_poll(self.workshop, self.client, moment, expected=self._expected)
        # The next poll asks for as many pages as this one found, all at once.
        self._expected = poll.listed
        report = PollReport(poll)
        if poll.credits is not None:
            self._pace.add(moment, poll.credits.total_usage)
        report.warnings = credit_warnings(poll, self._pace.per_minute())
        report.new_warnings = self._journal_warnings(report.warnings, moment)
        remembered = self.journal.remembered
        report.alerts = new_alerts(poll, self.options.thresholds, remembered.fired)
        if report.alerts or report.new_warnings:
            report.digest_id = self._journal_digest(report)
        if self.options.top_up is not None:
            report.top_ups = apply_top_ups(
                self.ref,
                self.client,
                poll,
                self.options.top_up,
                self.journal,
                concurrency=self.options.concurrency,
            )
            poll.keys = after_top_ups(poll.keys, report.top_ups)
        report.delivery_problems = self._deliver(moment)
        return report

    def _journal_warnings(
        self, warnings: list[CreditsWarning], at: datetime
    ) -> list[CreditsWarning]:
        warned = self.journal.remembered.warned
        now_kinds = {warning.kind for warning in warnings}
        fresh = [warning for warning in warnings if warning.kind not in warned]
        cleared = [kind for kind in warned if kind not in now_kinds]
        events = [("credits_warning", _warning_fields(w)) for w in fresh]
        events += [("credits_cleared", {"kind": kind}) for kind in cleared]
        if events:
            self.journal.write_many(events, at=at)
        return fresh

    def _journal_digest(self, report: PollReport) -> str:
        """Every alert (each threshold it fired for) and the digest to deliver, in one write."""
        poll = report.poll
        shorts = short_names(poll.keys)
        digest_id = uuid.uuid4().hex[:12]
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "alert",
                {
                    "participant": alert.identity,
                    "hash": alert.hash,
                    "threshold": threshold,
                    "window": alert.window,
                    "spent": money(alert.spent),
                    "limit": alert.limit,
                    "digest": digest_id,
                },
            )
            for alert in report.alerts
            for threshold in alert.passed
        ]
        digest = {
            "id": digest_id,
            "workshop": self.workshop.name,
            "polled_at": poll.at.isoformat(timespec="seconds"),
            "channels": self.notifier.channels,
            "alerts": [
                {
                    "participant": alert.identity,
                    "name": alert.name,
                    "short": shorts.get(alert.identity, alert.name),
                    "threshold": alert.threshold,
                    "spent": money(alert.spent),
                    "limit": alert.limit,
                    "window": alert.window_label,
                }
                for alert in report.alerts
            ],
            "credits": [_warning_fields(w) for w in report.new_warnings],
        }
        events.append(("digest", digest))
        self.journal.write_many(events, at=poll.at)
        return digest_id

    def _deliver(self, moment: datetime) -> list[str]:
        """Every digest still to go, to the channels configured now; why any did not go."""
        problems = []
        configured = set(self.notifier.channels)
        for digest in list(self.journal.remembered.undelivered.values()):
            if _older_than(digest, moment, GIVE_UP_AFTER):
                self.journal.write("delivery_given_up", at=moment, id=digest["id"])
                self.journal.remembered.undelivered.pop(digest["id"], None)
                continue
            for channel in [c for c in digest["pending"] if c in configured]:
                problem = self.notifier.deliver(digest, channel)
                if problem is None:
                    self.journal.write("delivered", at=moment, id=digest["id"], channel=channel)
                else:
                    self.journal.write(
                        "delivery_failed", at=moment, id=digest["id"], channel=channel,
                        problem=problem,
                    )  # fmt: skip
                    problems.append(f"{channel}: {problem} (tried again at the next poll)")
        return problems


def _warning_fields(warning: CreditsWarning) -> dict[str, Any]:
    return {
        "kind": warning.kind,
        "credits_left": money(warning.credits_left),
        "may_still_spend": money(warning.may_still_spend),
        "minutes_left": None if warning.minutes_left is None else round(warning.minutes_left),
    }


def _older_than(digest: dict[str, Any], moment: datetime, age: timedelta) -> bool:
    try:
        made = datetime.fromisoformat(str(digest["polled_at"]))
    except ValueError:
        return False
    return moment - made > age


@contextlib.contextmanager
def watching(
    ref: WorkshopRef,
    client: OpenRouterClient,
    options: WatchOptions,
    notifier: Notifier,
    *,
    now: Callable[[], datetime] | None = None,
) -> Iterator[Watch]:
    """A watch of the workshop, its lock and journal held until the block ends."""
    with Watch(ref, client, options, notifier, now=now) as watch:
        yield watch
