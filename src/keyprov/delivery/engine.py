"""Sending every participant their own current key, once, and safely again after a crash.

The rules, per participant (by identity) and their current key (by hash), from the journal:

| journal says                          | a run                                             |
|---------------------------------------|---------------------------------------------------|
| this key sent                         | skips it (unless the identity is in `resend`)      |
| nothing for this key, another sent    | sends it, saying it replaces the one sent before  |
| nothing at all                        | sends it                                          |
| `sending` without an outcome          | sends it again (it may or may not have left)      |
| failed                                | sends it again                                    |

Only enabled keys may be passed in: nothing here asks the server, and what is passed is sent.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from keyprov.delivery.compose import compose_message, message_id
from keyprov.delivery.journal import DeliveryJournal, Status
from keyprov.delivery.sender import (
    DeliveryError,
    PermanentFailure,
    SmtpSender,
    TemporaryFailure,
)
from keyprov.delivery.template import Template
from keyprov.errors import ConfigurationError
from keyprov.handouts import Handout
from keyprov.redaction import mask_secret

DEFAULT_RATE_PER_MINUTE = 30.0
"""Microsoft 365's limit for one mailbox, the strictest of the common providers."""
_LABEL = re.compile(r"sk-or-v1-[0-9a-f]{3}\.\.\.[0-9a-f]{3}")


class Reason(enum.StrEnum):
    NEW = "new key"
    ROTATED = "replaces an earlier key"
    UNCONFIRMED = "earlier sending not confirmed"
    RETRY = "failed before"
    RESEND = "resend asked for"


class Outcome(enum.StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"
    """The run stopped before this participant: the mail server could not be reached."""


@dataclass(frozen=True)
class PlannedDelivery:
    handout: Handout
    reason: Reason
    replaces: str | None
    """The label of the key this one replaces, for the message's first line."""


@dataclass(frozen=True)
class DeliveryPlan:
    to_send: tuple[PlannedDelivery, ...]
    already_sent: tuple[Handout, ...]


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one participant's message: safe to print and to audit (no secret)."""

    identity: str
    email: str
    key_label: str
    key_hash: str
    outcome: Outcome
    reason: Reason | None = None
    message_id: str | None = None
    detail: str = ""
    permanent: bool = False
    """For FAILED: True when sending again will not help (a bad address), False when a rerun
    may succeed."""
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SENT, Outcome.ALREADY_SENT)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per message for temporary failures, with full-jitter exponential waits."""

    attempts: int = 4
    base_wait: float = 2.0
    max_wait: float = 60.0


def plan_deliveries(
    handouts: Sequence[Handout], journal: DeliveryJournal, *, resend: Collection[str] = ()
) -> DeliveryPlan:
    """Who gets a message and why (see the module's table); ConfigurationError for a list
    that cannot be right (two entries for one participant or one key, an unknown resend)."""
    _check(handouts, resend)
    to_send: list[PlannedDelivery] = []
    already_sent: list[Handout] = []
    for handout in handouts:
        status = journal.status(handout.identity, handout.key_hash)
        previous = journal.last_sent(handout.identity)
        replaces = handout.replaces
        if replaces is None and previous is not None and previous.key_hash != handout.key_hash:
            replaces = previous.key_label
        if status is Status.SENT:
            if handout.identity in resend:
                to_send.append(PlannedDelivery(handout, Reason.RESEND, replaces))
            else:
                already_sent.append(handout)
            continue
        reason = {
            Status.UNKNOWN: Reason.UNCONFIRMED,
            Status.FAILED: Reason.RETRY,
        }.get(status, Reason.ROTATED if replaces else Reason.NEW)
        to_send.append(PlannedDelivery(handout, reason, replaces))
    return DeliveryPlan(tuple(to_send), tuple(already_sent))


def send_all(
    handouts: Sequence[Handout],
    journal: DeliveryJournal,
    sender: SmtpSender,
    *,
    template: Template | None = None,
    workshop: str | None = None,
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
    resend: Collection[str] = (),
    retry: RetryPolicy | None = None,
    on_result: Callable[[DeliveryResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[DeliveryResult]:
    """Email each participant their own current key; return one result per handout, in order.

    Pass only enabled keys. Messages start at most `rate_per_minute` a minute; a temporary
    failure is retried with backoff (`retry`), a permanent one is reported for that
    participant and the others go on. If the server cannot be reached, the run stops and the
    rest are NOT_ATTEMPTED. Raises ConfigurationError (nothing more is sent: bad list, server
    unusable) and StateWriteError (the journal cannot be written).
    """
    if not rate_per_minute > 0:
        raise ConfigurationError(f"a rate of {rate_per_minute} messages a minute sends nothing.")
    template = template or Template.default(workshop)
    retry = retry or RetryPolicy()
    plan = plan_deliveries(handouts, journal, resend=resend)
    results: dict[str, DeliveryResult] = {}

    def report(result: DeliveryResult) -> None:
        results[result.identity] = result
        if on_result is not None:
            on_result(result)

    for handout in plan.already_sent:
        report(_result(handout, Outcome.ALREADY_SENT))
    pace = _Pacer(60.0 / rate_per_minute, sleep, clock)
    stopped: str | None = None
    if plan.to_send:
        try:
            sender.connect()
        except TemporaryFailure as error:
            stopped = error.detail
    for planned in plan.to_send:
        if stopped is not None:
            report(_result(planned.handout, Outcome.NOT_ATTEMPTED, planned, detail=stopped))
            continue
        try:
            report(_deliver(planned, journal, sender, template, workshop, retry, pace, sleep))
        except _Unreachable as unreachable:
            report(unreachable.result)
            stopped = f"not attempted: the mail server could not be reached ({unreachable})"
    return [results[handout.identity] for handout in handouts]


class _Unreachable(Exception):
    """The server could not be reached even after retries: the run stops."""

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _deliver(
    planned: PlannedDelivery,
    journal: DeliveryJournal,
    sender: SmtpSender,
    template: Template,
    workshop: str | None,
    retry: RetryPolicy,
    pace: _Pacer,
    sleep: Callable[[float], None],
) -> DeliveryResult:
    handout = planned.handout
    problem = _unsendable(handout)
    message = None
    if problem is None:
        try:
            message = compose_message(
                handout,
                template,
                sender=sender.settings.from_address,
                workshop=workshop,
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
        return _result(handout, Outcome.FAILED, planned, detail=problem, permanent=True)

    identifier = message_id(message)
    journal.record_sending(
        handout.identity,
        handout.key_hash,
        key_label=handout.key_label,
        email=", ".join(handout.addresses),
        message_id=identifier,
    )
    attempts = 0
    refused: list[str] = []

    def attempt() -> None:
        nonlocal attempts
        attempts += 1
        pace.wait()
        # One message to all of a participant's addresses: one key, one Message-ID in the
        # journal, and "sent" means the same as for anyone else.
        refused[:] = sender.send(message, handout.addresses)

    try:
        Retrying(
            stop=stop_after_attempt(retry.attempts),
            wait=wait_random_exponential(multiplier=retry.base_wait, max=retry.max_wait),
            retry=retry_if_exception_type(TemporaryFailure),
            sleep=sleep,
            reraise=True,
        )(attempt)
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
        result = _result(
            handout,
            Outcome.FAILED,
            planned,
            message_id=identifier,
            detail=error.detail,
            permanent=permanent,
            attempts=attempts,
        )
        if isinstance(error, TemporaryFailure) and error.connection:
            raise _Unreachable(result) from error
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
    journal.record_sent(
        handout.identity, handout.key_hash, key_label=handout.key_label, message_id=identifier
    )
    detail = f"not to every address: {'; '.join(refused)}" if refused else ""
    return _result(
        handout, Outcome.SENT, planned, message_id=identifier, attempts=attempts, detail=detail
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


def _check(handouts: Sequence[Handout], resend: Collection[str]) -> None:
    seen: dict[str, set[str]] = {"identity": set(), "key hash": set(), "key": set()}
    for handout in handouts:
        for kind, value in (
            ("identity", handout.identity),
            ("key hash", handout.key_hash),
            ("key", handout.secret),
        ):
            if value in seen[kind]:
                shown = handout.key_label if kind == "key" else value
                raise ConfigurationError(
                    f"two participants in the list share one {kind} ({shown}); nothing was "
                    "sent. Each participant must appear once, with a key of their own."
                )
            seen[kind].add(value)
    unknown = sorted(set(resend) - seen["identity"])
    if unknown:
        raise ConfigurationError(
            f"cannot resend to {', '.join(unknown)}: not among the participants to send to."
        )


def _result(
    handout: Handout,
    outcome: Outcome,
    planned: PlannedDelivery | None = None,
    **fields: object,
) -> DeliveryResult:
    return DeliveryResult(
        identity=handout.identity,
        email=", ".join(handout.addresses),
        key_label=handout.key_label,
        key_hash=handout.key_hash,
        outcome=outcome,
        reason=planned.reason if planned else None,
        **fields,  # type: ignore[arg-type]
    )


class _Pacer:
    """At most one message start per `interval` seconds."""

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
