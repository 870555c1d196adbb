"""Messages whose outcome is unknown, looked up in the provider's log before anything is sent.

None of the three HTTP providers has an idempotency key, so a message whose answer was lost
(a 5xx, a timeout, a dropped connection) may have been delivered, and sending it again would
queue a second copy. Where the provider's log can be searched (SMTP2GO's activity search,
Mailgun's events), a run first asks it: a message found there is recorded as sent and never
sent again. SendGrid's log needs a paid add-on, so there nothing can be looked up. A message
not found stays held (a provider's log lags behind it, so absence right after sending proves
little): `keyprov send --resend-unknown` sends it again when the user decides to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from keyprov.delivery.journal import DeliveryJournal
from keyprov.delivery.mailer import Attempt, Mailer, Reconciler
from keyprov.delivery.outcomes import DeliveryResult, Outcome, result_for
from keyprov.delivery.sender import DeliveryError
from keyprov.handouts import Handout

LOOKUP_INTERVAL = 1.0
"""Seconds between two searches: SMTP2GO allows 60 a minute."""


def reconcile_held(
    handouts: Sequence[Handout],
    journal: DeliveryJournal,
    sender: Mailer,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, DeliveryResult]:
    """For each held message: ALREADY_SENT when the provider's log shows it (journaled as
    sent), else UNKNOWN with what was found out. ConfigurationError when the account is
    refused."""
    results: dict[str, DeliveryResult] = {}
    next_lookup: float | None = None
    for handout in handouts:
        attempt = journal.held_attempt(handout.identity, handout.key_hash)
        if attempt is None:
            continue
        fields = {"message_id": attempt.keyprov_id}
        if attempt.transport != sender.transport or not isinstance(sender, Reconciler):
            detail = _cannot_look_up(attempt, sender)
            results[handout.identity] = result_for(
                handout, Outcome.UNKNOWN, detail=detail, **fields
            )
            continue
        if next_lookup is not None and clock() < next_lookup:
            sleep(next_lookup - clock())
        next_lookup = clock() + LOOKUP_INTERVAL
        try:
            provider_id = sender.find_sent(attempt)
        except DeliveryError as error:
            detail = f"{sender.title}'s log could not be searched ({error.detail})"
            results[handout.identity] = result_for(
                handout, Outcome.UNKNOWN, detail=detail, **fields
            )
            continue
        if provider_id is None:
            detail = (
                f"not in {sender.title}'s log {_after(attempt)} (a log can lag: the next run "
                "looks again)"
            )
            results[handout.identity] = result_for(
                handout, Outcome.UNKNOWN, detail=detail, **fields
            )
            continue
        journal.record_sent(
            handout.identity,
            handout.key_hash,
            key_label=handout.key_label,
            message_id=attempt.keyprov_id,
            provider_id=provider_id,
            reconciled=True,
        )
        results[handout.identity] = result_for(
            handout,
            Outcome.ALREADY_SENT,
            detail=f"its unanswered message was found in {sender.title}'s log: not sent again",
            provider_id=provider_id,
            **fields,
        )
    return results


def _cannot_look_up(attempt: Attempt, sender: Mailer) -> str:
    if attempt.transport != sender.transport:
        return (
            f"it went through {attempt.transport}, whose log alone could tell "
            f"(KEYPROV_MAIL={attempt.transport} looks it up)"
        )
    if sender.transport == "sendgrid":
        return (
            "SendGrid's log can be searched only with its paid Email Activity add-on, so "
            "keyprov cannot tell whether it was delivered"
        )
    return f"{sender.title}'s log cannot be searched"


def _after(attempt: Attempt) -> str:
    try:
        then = datetime.fromisoformat(attempt.at)
    except ValueError:
        return "now"
    minutes = (datetime.now(UTC) - then).total_seconds() / 60
    if minutes < 1:
        return "less than a minute after it was sent"
    return f"{minutes:.0f} min after it was sent"
