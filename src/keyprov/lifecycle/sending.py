"""`keyprov send`: each chosen participant emailed their own current key, through the transport
KEYPROV_MAIL names (SMTP, or an HTTP provider), every step journaled (keyprov.delivery)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.delivery import (
    DEFAULT_RATE_PER_MINUTE,
    DeliveryJournal,
    DeliveryResult,
    DeliveryStopped,
    MailSettings,
    RetryPolicy,
    Template,
    plan_deliveries,
    send_all,
)
from keyprov.delivery import Outcome as Delivery
from keyprov.engine.session import Session, session
from keyprov.errors import ConfigurationError
from keyprov.handouts import Handout
from keyprov.lifecycle.recheck import still_unusable
from keyprov.lifecycle.selection import LeftOut, handouts_of
from keyprov.status import ExitStatus
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.registry import now
from keyprov.workshop.title import checked_title, remembering, title_of


@dataclass(frozen=True)
class Recipient:
    """One message to be sent (or already sent): who, which key (its label), and why."""

    identity: str
    name: str
    email: str
    key_label: str
    reason: str = ""
    replaces: str | None = None


@dataclass(frozen=True)
class SendPlan:
    """Who gets a message this run, and who has theirs already."""

    to_send: list[Recipient]
    already_sent: list[Recipient]
    preview: str = ""
    """For a dry run: the first message as its reader sees it, the key masked."""
    held: list[Recipient] = field(default_factory=list)
    """Messages an HTTP provider may have delivered (outcome unknown), not sent again."""
    addresses: int = 0
    """Addresses the messages to send go to (a participant may have several)."""


@dataclass(frozen=True)
class DailyQuota:
    per_day: int
    source: str
    used: int
    """Addresses sent to through this transport in the last 24 hours (this workshop)."""

    @property
    def left(self) -> int:
        return max(self.per_day - self.used, 0)


@dataclass
class Sending:
    """What `send_keys` did (or, for a dry run, would do). Holds no secret."""

    workshop: str
    mail_server: str
    """`smtp.example.org:587 (starttls)`, `SendGrid (https://api.sendgrid.com)`."""
    plan: SendPlan
    left_out: list[LeftOut]
    results: list[DeliveryResult] = field(default_factory=list)
    dry_run: bool = False
    transport: str = "smtp"
    sender: str = ""
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    quota: DailyQuota | None = None
    stopped: str = ""
    """Why the account refused to go on mid-run (exit 2), if it did."""

    @property
    def exit_status(self) -> ExitStatus:
        if self.dry_run:
            return ExitStatus.OK
        if self.stopped:
            return ExitStatus.BAD_INPUT
        complete = all(result.ok for result in self.results)
        missing = any(item.missing for item in self.left_out)
        return ExitStatus.OK if complete and not missing else ExitStatus.INCOMPLETE


def send_keys(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    template_path: Path | None = None,
    participants: list[str] | None = None,
    resend: bool = False,
    resend_unknown: bool = False,
    rate_per_minute: float | None = None,
    retry: RetryPolicy | None = None,
    dry_run: bool = False,
    quickstarts: tuple[str, ...] | None = None,
    on_plan: Callable[[Sending], None] | None = None,
    on_result: Callable[[DeliveryResult], None] | None = None,
    environ: Mapping[str, str] | None = None,
    title: str | None = None,
    claim: bool = False,
) -> Sending:
    """Email each chosen participant their own current key (see keyprov.delivery).

    With `claim`, the message carries the claim code and link instead, never the key (a
    template of one's own must then not use {key}).

    The mail settings (KEYPROV_MAIL and `KEYPROV_SMTP_*` or `KEYPROV_MAIL_*` in `environ`,
    default os.environ), the template and the options are checked before the server is asked
    anything and before any message is sent: ConfigurationError (exit 2). `on_plan` hears who
    is about to be sent a message, `on_result` each participant's outcome as it happens. A
    participant already sent their current key is skipped unless `resend` (which needs
    `participants`); one whose message an HTTP provider may have delivered is held unless
    `resend_unknown`. `rate_per_minute` defaults to the transport's documented pace. Each
    key is read again just before its message: one that stopped working is not mailed.
    `title` names the workshop in subjects (remembered; default: the remembered one).
    """
    settings = MailSettings.from_env(environ)
    template = Template.from_file(template_path) if template_path else None
    if claim and template is not None and "key" in template.fields:
        raise ConfigurationError(
            f"{template.source}: --claim sends the claim code, not the key: use {{claim_url}} "
            "and {claim_code} and leave {key} out."
        )
    if resend and not participants:
        raise ConfigurationError("--resend sends a key again: name who with --participant.")
    rate = rate_per_minute or default_rate(settings)
    if not rate > 0:
        raise ConfigurationError(f"--rate {rate_per_minute}: give more than 0 messages a minute.")
    mail_server = settings.description
    details = {"mail_server": mail_server, "transport": settings.transport}
    title = checked_title(title)
    with session(ref, client, "send", details=details) as held:
        held.remember = remembering(held.workshop.options, title)
        name = title_of(held.remember or held.workshop.options, held.workshop.name)
        handouts, left_out = handouts_of(held, participants=participants, quickstarts=quickstarts)
        journal = DeliveryJournal(held.workshop.folder)
        if claim:
            if not held.workshop.options.get("claim_url"):
                raise ConfigurationError(
                    "--claim: the workshop has no claim page address yet. Give it once with "
                    "keyprov provision ROSTER --claim-url https://HOST:PORT/claim, then run "
                    "this again."
                )
            template = template or Template.default_claim(name)
        template = template or Template.default(name)
        chosen = {handout.identity for handout in handouts} if resend else set()
        plan = _plan(
            handouts,
            journal,
            chosen,
            template,
            settings,
            name,
            preview=dry_run,
            resend_unknown=resend_unknown,
        )
        sending = Sending(
            held.workshop.name,
            mail_server,
            plan,
            left_out,
            dry_run=dry_run,
            transport=settings.transport,
            sender=settings.from_address,
            rate_per_minute=rate,
            quota=_quota(settings, journal),
        )
        if on_plan is not None:
            on_plan(sending)
        if dry_run:
            return sending
        by_identity = {handout.identity: handout for handout in handouts}

        def delivered(result: DeliveryResult) -> None:
            sending.results.append(result)
            held.audit.event(
                "delivery",
                participant=result.identity,
                recipient=result.email,
                label=result.key_label,
                message_id=result.message_id,
                outcome=result.outcome.value,
                reason=result.reason.value if result.reason else None,
                detail=result.detail,
            )
            _note_handed_out(held, journal, result, by_identity[result.identity])
            if on_result is not None:
                on_result(result)

        from keyprov.delivery.transports import mailer_for

        with contextlib.closing(mailer_for(settings)) as sender:
            try:
                send_all(
                    handouts,
                    journal,
                    sender,
                    template=template,
                    workshop=name,
                    rate_per_minute=rate,
                    resend=chosen,
                    resend_unknown=resend_unknown,
                    retry=retry,
                    quota=settings.quota,
                    on_result=delivered,
                    recheck=lambda handout: still_unusable(held, handout),
                )
            except DeliveryStopped as stopped:
                sending.stopped = str(stopped)
        held.exit_status = sending.exit_status
        return sending


def default_rate(settings: MailSettings) -> float:
    """Messages a minute when --rate is not given: the provider's documented pace."""
    return settings.api.provider.rate_per_minute if settings.api else DEFAULT_RATE_PER_MINUTE


def _quota(settings: MailSettings, journal: DeliveryJournal) -> DailyQuota | None:
    quota = settings.quota
    if quota is None:
        return None
    return DailyQuota(quota.per_day, quota.source, journal.sent_since(settings.transport))


def day_of(moment: str, *, time: bool = False) -> str:
    """'1 Dec 2026' (and '14:02 UTC'): keys.xlsx wraps a status at its spaces, and an ISO
    date broke at its last hyphen."""
    try:
        parsed = datetime.fromisoformat(moment).astimezone(UTC)
    except ValueError:
        return moment
    day = f"{parsed.day} {parsed:%b %Y}"
    return f"{day} {parsed:%H:%M} UTC" if time else day


def _note_handed_out(
    held: Session, journal: DeliveryJournal, result: DeliveryResult, handout: Handout
) -> None:
    """keys.xlsx's 'sent …': after each message, and for a message whose run was killed
    between the server's answer and this note (the delivery journal has it)."""
    if result.outcome is Delivery.SENT:
        held.ledger.record_update(result.identity, handed_out=f"sent {day_of(now(), time=True)}")
        return
    if result.outcome is not Delivery.ALREADY_SENT:
        return
    entry = held.ledger.get(result.identity)
    last = journal.last_sent(result.identity)
    if entry is None or (entry.handed_out or "").startswith("sent"):
        return
    if last is not None and last.key_hash == handout.key_hash:
        when = day_of(last.at, time=True) if last.at else ""
        held.ledger.record_update(result.identity, handed_out=f"sent {when}".strip())


def _plan(
    handouts: list[Handout],
    journal: DeliveryJournal,
    resend: set[str],
    template: Template,
    settings: MailSettings,
    workshop: str,
    *,
    preview: bool,
    resend_unknown: bool = False,
) -> SendPlan:
    from keyprov.delivery import compose_message, render_preview

    plan = plan_deliveries(handouts, journal, resend=resend, resend_unknown=resend_unknown)
    text = ""
    if preview and plan.to_send:
        first = plan.to_send[0]
        message = compose_message(
            first.handout,
            template,
            sender=settings.from_address,
            workshop=workshop,
            replaces=first.replaces,
            masked=True,
        )
        text = render_preview(message)
    return SendPlan(
        [
            Recipient(
                planned.handout.identity,
                planned.handout.name,
                ", ".join(planned.handout.addresses),
                planned.handout.key_label,
                planned.reason.value,
                planned.replaces,
            )
            for planned in plan.to_send
        ],
        [
            Recipient(
                handout.identity, handout.name, ", ".join(handout.addresses), handout.key_label
            )
            for handout in plan.already_sent
        ],
        text,
        [
            Recipient(
                handout.identity, handout.name, ", ".join(handout.addresses), handout.key_label
            )
            for handout in plan.held
        ],
        sum(len(planned.handout.addresses) for planned in plan.to_send),
    )
