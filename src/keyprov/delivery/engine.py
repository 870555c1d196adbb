"""Sending every participant their own current key, once, and safely again after a crash,
through any `Mailer` (SMTP or an HTTP provider); who is sent what is `outcomes`' plan.

Per message: journaled (`sending`) before it is handed over, then `sent` with the provider's
id, `failed`, or `unknown`. Only enabled keys may be passed in: nothing here asks the
OpenRouter server, and what is passed is sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity import wait_random_exponential as exponential

from keyprov.delivery.compose import compose_message, message_id
from keyprov.delivery.journal import DeliveryJournal
from keyprov.delivery.mail_settings import Quota
from keyprov.delivery.mailer import Accepted, Mailer, OutcomeUnknown, Outgoing, RateLimited
from keyprov.delivery.outcomes import (
    DeliveryPlan,
    DeliveryResult,
    Outcome,
    PlannedDelivery,
    Reason,
    RetryPolicy,
    plan_deliveries,
    result_for,
)
from keyprov.delivery.reconcile import reconcile_held
from keyprov.delivery.sender import DeliveryError, PermanentFailure, TemporaryFailure
from keyprov.delivery.template import Template
from keyprov.errors import ConfigurationError
from keyprov.handouts import Handout
from keyprov.redaction import mask_secret

__all__ = [
    "DEFAULT_RATE_PER_MINUTE",
    "DeliveryPlan",
    "DeliveryResult",
    "DeliveryStopped",
    "Outcome",
    "PlannedDelivery",
    "Reason",
    "RetryPolicy",
    "plan_deliveries",
    "send_all",
]

DEFAULT_RATE_PER_MINUTE = 30.0
"""Microsoft 365's limit for one mailbox, the strictest of the common providers."""
UNKNOWN_IN_A_ROW = 3
"""Messages in a row without a clear answer after which a run stops: an outage should leave
few messages in doubt."""
_LABEL = re.compile(r"sk-or-v1-[0-9a-f]{3}\.\.\.[0-9a-f]{3}")
Recheck = Callable[[Handout], "str | None"]
"""Asked just before each message: why this key must not be sent now, or None."""


class DeliveryStopped(ConfigurationError):
    """The mail account refused to go on (a refused key, sender or credits) mid-run: nothing
    more was sent. `results` has every participant's outcome, the rest NOT_ATTEMPTED."""

    def __init__(self, message: str, results: list[DeliveryResult]) -> None:
        super().__init__(message)
        self.results = results


def send_all(
    handouts: Sequence[Handout],
    journal: DeliveryJournal,
    sender: Mailer,
    *,
    template: Template | None = None,
    workshop: str | None = None,
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
    resend: Collection[str] = (),
    resend_unknown: bool = False,
    retry: RetryPolicy | None = None,
    quota: Quota | None = None,
    on_result: Callable[[DeliveryResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    recheck: Recheck | None = None,
) -> list[DeliveryResult]:
    """Email each participant their own current key; return one result per handout, in order.

    Pass only enabled keys; `recheck` reads each again just before its message, and one that
    no longer works is WITHDRAWN, not sent. Messages start at most `rate_per_minute` a
    minute (and no sooner than the provider asks); a temporary failure is retried with
    backoff (`retry`), a permanent one is reported for that participant and the others go
    on. Messages whose
    outcome an HTTP provider left unknown are looked up first where it allows, and sent again
    only with `resend_unknown`. The run stops, leaving the rest NOT_ATTEMPTED (or
    OVER_QUOTA), when the server cannot be reached, when the `quota` for the last 24 hours is
    used up, or after UNKNOWN_IN_A_ROW unknown outcomes. Raises ConfigurationError (nothing
    sent: bad list, server unusable), DeliveryStopped (the account refused mid-run) and
    StateWriteError (the journal cannot be written).
    """
    if not rate_per_minute > 0:
        raise ConfigurationError(f"a rate of {rate_per_minute} messages a minute sends nothing.")
    template = template or Template.default(workshop)
    retry = retry or RetryPolicy()
    plan_deliveries(handouts, journal, resend=resend)  # refuses a bad list before any request
    looked_up = reconcile_held(handouts, journal, sender, sleep=sleep, clock=clock)
    plan = plan_deliveries(handouts, journal, resend=resend, resend_unknown=resend_unknown)
    results: dict[str, DeliveryResult] = {}

    def report(result: DeliveryResult) -> None:
        results[result.identity] = result
        if on_result is not None:
            on_result(result)

    for handout in plan.already_sent:
        report(looked_up.get(handout.identity) or result_for(handout, Outcome.ALREADY_SENT))
    for handout in plan.held:
        report(looked_up.get(handout.identity) or result_for(handout, Outcome.UNKNOWN))
    run = _Run(
        journal, sender, template, workshop, retry, _Pacer(60 / rate_per_minute, sleep, clock)
    )
    left = None if quota is None else quota.per_day - journal.sent_since(sender.transport)
    if plan.to_send:
        try:
            sender.connect()
        except TemporaryFailure as error:
            run.stopped = error.detail
    for planned in plan.to_send:
        handout = planned.handout
        if run.stopped is not None:
            report(result_for(handout, run.stopped_as, planned, detail=run.stopped))
            continue
        withdrawn = recheck(handout) if recheck is not None else None
        if withdrawn is not None:
            report(result_for(handout, Outcome.WITHDRAWN, planned, detail=withdrawn))
            continue
        needed = len(handout.addresses)
        if left is not None and left < needed:
            assert quota is not None
            run.stop(_quota_words(quota), Outcome.OVER_QUOTA)
            report(result_for(handout, Outcome.OVER_QUOTA, planned, detail=run.stopped))
            continue
        try:
            result = run.deliver(planned, sleep)
        except _Stop as stop:
            report(stop.result)
            run.stop(stop.why)
            continue
        except ConfigurationError as error:
            # The account refused: every later request would be refused too.
            report(result_for(handout, Outcome.FAILED, planned, detail=str(error)))
            run.stop(
                f"not attempted: the run stopped at {sender.title}'s refusal (the error below)"
            )
            for later in plan.to_send[plan.to_send.index(planned) + 1 :]:
                report(result_for(later.handout, Outcome.NOT_ATTEMPTED, later, detail=run.stopped))
            done = [results[h.identity] for h in handouts if h.identity in results]
            raise DeliveryStopped(str(error), done) from error
        if left is not None and result.outcome in (Outcome.SENT, Outcome.UNKNOWN):
            left -= needed
        report(result)
        run.count_unknown(result, sender)
    return [results[handout.identity] for handout in handouts]


def _quota_words(quota: Quota) -> str:
    return (
        f"over the daily quota: {quota.per_day} a day ({quota.source}) is used up for the "
        "last 24 hours; run keyprov send again tomorrow"
    )


class _Stop(Exception):
    """This message's outcome, and the reason the run sends nothing more."""

    def __init__(self, result: DeliveryResult, why: str) -> None:
        super().__init__(why)
        self.result = result
        self.why = why


class _Run:
    """What one run shares between messages: where it sends, its pace, and whether it stopped."""

    def __init__(
        self,
        journal: DeliveryJournal,
        sender: Mailer,
        template: Template,
        workshop: str | None,
        retry: RetryPolicy,
        pace: _Pacer,
    ) -> None:
        self.journal = journal
        self.sender = sender
        self.template = template
        self.workshop = workshop
        self.retry = retry
        self.pace = pace
        self.stopped: str | None = None
        self.stopped_as = Outcome.NOT_ATTEMPTED
        self.unknown_in_a_row = 0

    def stop(self, why: str, outcome: Outcome = Outcome.NOT_ATTEMPTED) -> None:
        self.stopped, self.stopped_as = why, outcome

    def count_unknown(self, result: DeliveryResult, sender: Mailer) -> None:
        self.unknown_in_a_row = (
            self.unknown_in_a_row + 1 if result.outcome is Outcome.UNKNOWN else 0
        )
        if self.unknown_in_a_row >= UNKNOWN_IN_A_ROW:
            self.stop(
                f"not attempted: {self.unknown_in_a_row} messages in a row got no clear answer "
                f"from {sender.description}; the run stopped so that no more are in doubt"
            )

    def deliver(self, planned: PlannedDelivery, sleep: Callable[[float], None]) -> DeliveryResult:
        handout = planned.handout
        journal = self.journal
        recipients = handout.addresses
        problem = _unsendable(handout)
        message = None
        if problem is None:
            try:
                message = compose_message(
                    handout,
                    self.template,
                    sender=self.sender.from_address,
                    workshop=self.workshop,
                    replaces=planned.replaces,
                )
            except ValueError as error:
                problem = f"not sent: {error}"
        if message is None:
            problem = problem or "not sent"
            journal.record_failed(
                handout.identity,
                handout.key_hash,
                key_label=handout.key_label,
                message_id=None,
                reason=problem,
                permanent=True,
            )
            return result_for(handout, Outcome.FAILED, planned, detail=problem, permanent=True)

        identifier = message_id(message)
        journal.record_sending(
            handout.identity,
            handout.key_hash,
            key_label=handout.key_label,
            email=handout.email,
            message_id=identifier,
            transport=self.sender.transport,
            recipients=recipients,
        )
        outgoing = Outgoing(message, recipients, identifier)
        attempts = 0

        def attempt() -> Accepted:
            nonlocal attempts
            attempts += 1
            self.pace.wait()
            accepted = self.sender.deliver(outgoing)
            self.pace.hold(accepted.wait_before_next)
            return accepted

        fields = {"message_id": identifier}
        try:
            accepted = self._retrying(sleep)(attempt)
        except OutcomeUnknown as error:
            journal.record_unknown(
                handout.identity,
                handout.key_hash,
                key_label=handout.key_label,
                message_id=identifier,
                reason=error.detail,
            )
            return result_for(
                handout, Outcome.UNKNOWN, planned, detail=error.detail, attempts=attempts, **fields
            )
        except DeliveryError as error:
            permanent = isinstance(error, PermanentFailure)
            journal.record_failed(
                handout.identity,
                handout.key_hash,
                key_label=handout.key_label,
                message_id=identifier,
                reason=error.detail,
                permanent=permanent,
            )
            result = result_for(
                handout,
                Outcome.FAILED,
                planned,
                detail=error.detail,
                permanent=permanent,
                attempts=attempts,
                **fields,
            )
            if isinstance(error, RateLimited):
                raise _Stop(result, f"not attempted: {error.detail}") from error
            if isinstance(error, TemporaryFailure) and error.connection:
                reason = f"not attempted: the mail server could not be reached ({error.detail})"
                raise _Stop(result, reason) from error
            return result
        except ConfigurationError as error:
            journal.record_failed(
                handout.identity,
                handout.key_hash,
                key_label=handout.key_label,
                message_id=identifier,
                reason=str(error),
                permanent=False,
            )
            raise
        provider_id = accepted.provider_id
        journal.record_sent(
            handout.identity,
            handout.key_hash,
            key_label=handout.key_label,
            message_id=identifier,
            provider_id=provider_id,
        )
        result = result_for(handout, Outcome.SENT, planned, attempts=attempts, **fields)
        return replace(result, provider_id=provider_id, detail=accepted.note)

    def _retrying(self, sleep: Callable[[float], None]) -> Retrying:
        retry = self.retry
        backoff = exponential(multiplier=retry.base_wait, max=retry.max_wait)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return error.wait if isinstance(error, RateLimited) else backoff(state)

        def worth_retrying(error: BaseException) -> bool:
            if isinstance(error, RateLimited):
                # A wait longer than this is said, not slept through.
                return error.wait <= retry.max_told_wait
            return isinstance(error, TemporaryFailure)

        return Retrying(
            stop=stop_after_attempt(retry.attempts),
            wait=wait,
            retry=retry_if_exception(worth_retrying),
            sleep=sleep,
            reraise=True,
        )


def _unsendable(handout: Handout) -> str | None:
    """Why this handout must not be sent, if it must not."""
    if _LABEL.fullmatch(handout.key_label) and mask_secret(handout.secret) != handout.key_label:
        # The secret is not the key the label names: sending it could hand someone a key
        # that is not theirs.
        return (
            f"the stored key does not match its label {handout.key_label}; not sent. "
            "The local state may be damaged."
        )
    return None


class _Pacer:
    """At most one message start per `interval` seconds, and none before a provider's say."""

    def __init__(
        self, interval: float, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> None:
        self._interval = interval
        self._sleep = sleep
        self._clock = clock
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval

    def hold(self, seconds: float) -> None:
        """The provider asks for `seconds` before the next request (its rate headers)."""
        if seconds > 0:
            self._next = max(self._next or 0.0, self._clock() + seconds)
