"""Who is sent a message and why, and what became of each: the records of a delivery run.

The rules, per participant (by identity) and their current key (by hash), from the journal:

| journal says                          | a run                                             |
|---------------------------------------|---------------------------------------------------|
| this key sent                         | skips it (unless the identity is in `resend`)      |
| nothing for this key, another sent    | sends it, saying it replaces the one sent before  |
| nothing at all                        | sends it                                          |
| `sending` over SMTP without an outcome | sends it again (it may or may not have left)     |
| outcome unknown at an HTTP provider   | holds it: looked up where the provider allows,     |
|                                       | sent again only with `resend_unknown`              |
| failed                                | sends it again                                    |
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from keyprov.delivery.journal import DeliveryJournal, Status
from keyprov.errors import ConfigurationError
from keyprov.handouts import Handout


class Reason(enum.StrEnum):
    NEW = "new key"
    ROTATED = "replaces an earlier key"
    UNCONFIRMED = "earlier sending not confirmed"
    RETRY = "failed before"
    RESEND = "resend asked for"
    RESEND_UNKNOWN = "outcome unknown; sent again as asked"


class Outcome(enum.StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"
    """The run stopped before this participant (server unreachable, account refused)."""
    UNKNOWN = "unknown"
    """The provider may have delivered it: held until looked up or asked for again."""
    OVER_QUOTA = "over quota"
    """Not sent: the day's quota is used up; the next day's run sends it."""
    WITHDRAWN = "not sent"
    """Read again just before its message, the key no longer worked (disabled, expired,
    replaced or deleted meanwhile): a key that does not work is never mailed."""


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
    held: tuple[Handout, ...] = ()
    """Messages whose outcome is unknown, not sent again in this run."""


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
    provider_id: str | None = None
    """The provider's id for an accepted message (HTTP providers)."""

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SENT, Outcome.ALREADY_SENT)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per message for temporary failures, with full-jitter exponential waits."""

    attempts: int = 4
    base_wait: float = 2.0
    max_wait: float = 60.0
    max_told_wait: float = 130.0
    """The longest wait a provider's 429 may ask for that is slept through; a longer one
    stops the run (exit 1) and says when to run again. (Mailgun's example asks 120 s.)"""


def plan_deliveries(
    handouts: Sequence[Handout],
    journal: DeliveryJournal,
    *,
    resend: Collection[str] = (),
    resend_unknown: bool = False,
) -> DeliveryPlan:
    """Who gets a message and why (see the module's table); ConfigurationError for a list
    that cannot be right (two entries for one participant or one key, an unknown resend)."""
    check_handouts(handouts, resend)
    to_send: list[PlannedDelivery] = []
    already_sent: list[Handout] = []
    held: list[Handout] = []
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
        if status is Status.HELD:
            if resend_unknown:
                to_send.append(PlannedDelivery(handout, Reason.RESEND_UNKNOWN, replaces))
            else:
                held.append(handout)
            continue
        reason = {
            Status.UNKNOWN: Reason.UNCONFIRMED,
            Status.FAILED: Reason.RETRY,
        }.get(status, Reason.ROTATED if replaces else Reason.NEW)
        to_send.append(PlannedDelivery(handout, reason, replaces))
    return DeliveryPlan(tuple(to_send), tuple(already_sent), tuple(held))


def check_handouts(handouts: Sequence[Handout], resend: Collection[str]) -> None:
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


def result_for(
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
