"""The last mile: each participant handed their own key, on a slip, in a mail merge, by email.

Who is handed which key is `selection`'s choice (each their own current key, enabled on the
server now). What was handed out, and how, is journaled so keys.xlsx says it and
`--only new` can leave out who already has theirs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.delivery import (
    DEFAULT_RATE_PER_MINUTE,
    DeliveryJournal,
    DeliveryResult,
    RetryPolicy,
    SmtpSender,
    SmtpSettings,
    Template,
    plan_deliveries,
    send_all,
)
from keyprov.delivery import Outcome as Delivery
from keyprov.engine.session import Session, session
from keyprov.errors import ConfigurationError
from keyprov.handouts import Handout, write_mail_merge_csv
from keyprov.lifecycle.selection import ONLY_CHOICES, LeftOut, LeftOutKind, Only, handouts_of
from keyprov.status import ExitStatus
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.registry import now

HANDOUTS_FILE_NAME = "handouts.pdf"
MAIL_MERGE_FILE_NAME = "mail-merge.csv"

__all__ = [
    "HANDOUTS_FILE_NAME",
    "MAIL_MERGE_FILE_NAME",
    "ONLY_CHOICES",
    "HandoutFiles",
    "LeftOut",
    "LeftOutKind",
    "Only",
    "Recipient",
    "SendPlan",
    "Sending",
    "handouts_of",
    "send_keys",
    "write_handouts",
]


@dataclass(frozen=True)
class HandoutFiles:
    workshop: str
    pdf: Path
    mail_merge: Path
    paper: str
    handouts: list[Handout]
    left_out: list[LeftOut]
    pages: int = 0
    """Pages of handouts.pdf (0: not written)."""
    claim: bool = False
    """Claim slips: each participant's claim code instead of their key."""

    @property
    def written(self) -> bool:
        """False when nobody was chosen: the files were then left as they were."""
        return bool(self.handouts)

    @property
    def exit_status(self) -> ExitStatus:
        missing = any(item.missing for item in self.left_out)
        return ExitStatus.INCOMPLETE if missing else ExitStatus.OK


def write_handouts(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    paper: str = "a4",
    participants: list[str] | None = None,
    only: Only | None = None,
    quickstarts: tuple[str, ...] | None = None,
    claim: bool = False,
) -> HandoutFiles:
    """handouts.pdf and mail-merge.csv in the workshop folder (0600), for the chosen.

    With `claim`, the slips carry each participant's claim code and a QR code of the claim
    page (the workshop's --claim-url) instead of the key, and mail-merge.csv has no key:
    participants fetch their key on the claim page (keyprov claim).
    When nobody is chosen, no file is written (an earlier handouts.pdf stays as it was).
    Raises ConfigurationError for an unknown paper size or participant, before any file.
    """
    # fpdf2 is slow to import: only here, not for `send`.
    from keyprov.handouts.pdf import PAPER_SIZES, write_handouts_pdf

    if paper not in PAPER_SIZES:
        raise ConfigurationError(
            f"unknown paper size {paper!r}: use one of {', '.join(PAPER_SIZES)}."
        )
    details = {"paper": paper, "only": only, "claim": claim}
    with session(ref, client, "handouts", details=details) as held:
        handouts, left_out = handouts_of(
            held, participants=participants, only=only, quickstarts=quickstarts
        )
        if claim:
            refuse_without_claim_url(held.workshop.options)
            handouts = [replace(handout, secret="") for handout in handouts]
        folder = held.workshop.folder
        files = HandoutFiles(
            held.workshop.name,
            folder / HANDOUTS_FILE_NAME,
            folder / MAIL_MERGE_FILE_NAME,
            paper,
            handouts,
            left_out,
            claim=claim,
        )
        held.exit_status = files.exit_status
        if handouts:
            pages = write_handouts_pdf(files.pdf, handouts, paper=paper, title=held.workshop.name)
            files = replace(files, pages=pages)
            write_mail_merge_csv(files.mail_merge, handouts)
            moment = now()
            for handout in handouts:
                entry = held.ledger.get(handout.identity)
                # An email that reached them says more than a printed slip: it is kept.
                if entry is None or not (entry.handed_out or "").startswith(("sent", "claimed")):
                    how = "claim slip" if claim else "handed out"
                    held.ledger.record_update(handout.identity, handed_out=f"{how} {_day(moment)}")
        held.audit.event(
            "handouts",
            participants=len(handouts),
            keys=[handout.key_label for handout in handouts],
            files=[str(files.pdf), str(files.mail_merge)] if handouts else [],
            left_out=[_audited(item) for item in left_out],
        )
        return files


def refuse_without_claim_url(options: Mapping[str, object]) -> None:
    if not options.get("claim_url"):
        raise ConfigurationError(
            "--claim: the workshop has no claim page address yet. Give it once with "
            "keyprov provision ROSTER --claim-url https://HOST:PORT/claim (where keyprov claim "
            "will serve; see docs/claim.md), then run this again."
        )


def _audited(item: LeftOut) -> dict[str, str]:
    return {"participant": item.identity, "reason": item.kind.value, "detail": item.detail}


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


@dataclass(frozen=True)
class Sending:
    """What `send_keys` did (or, for a dry run, would do). Holds no secret."""

    workshop: str
    mail_server: str
    """`smtp.example.org:587 (starttls)`."""
    plan: SendPlan
    left_out: list[LeftOut]
    results: list[DeliveryResult] = field(default_factory=list)
    dry_run: bool = False

    @property
    def exit_status(self) -> ExitStatus:
        if self.dry_run:
            return ExitStatus.OK
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
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
    retry: RetryPolicy | None = None,
    dry_run: bool = False,
    quickstarts: tuple[str, ...] | None = None,
    on_plan: Callable[[Sending], None] | None = None,
    on_result: Callable[[DeliveryResult], None] | None = None,
    environ: Mapping[str, str] | None = None,
    claim: bool = False,
) -> Sending:
    """Email each chosen participant their own current key (see keyprov.delivery).

    The SMTP settings (`KEYPROV_SMTP_*` in `environ`, default os.environ), the template and
    the options are checked before the server is asked anything and before any message is
    sent: ConfigurationError (exit 2). `on_plan` hears who is about to be sent a message,
    `on_result` each participant's outcome as it happens. A participant already sent their
    current key is skipped unless `resend` (which needs `participants`).
    """
    settings = SmtpSettings.from_env(environ)
    template = Template.from_file(template_path) if template_path else None
    if claim and template is not None and "key" in template.fields:
        raise ConfigurationError(
            f"{template.source}: --claim sends the claim code, not the key: use {{claim_url}} "
            "and {claim_code} and leave {key} out."
        )
    if resend and not participants:
        raise ConfigurationError("--resend sends a key again: name who with --participant.")
    if not rate_per_minute > 0:
        raise ConfigurationError(f"--rate {rate_per_minute}: give more than 0 messages a minute.")
    mail_server = f"{settings.host}:{settings.port} ({settings.security})"
    with session(ref, client, "send", details={"mail_server": mail_server}) as held:
        handouts, left_out = handouts_of(held, participants=participants, quickstarts=quickstarts)
        journal = DeliveryJournal(held.workshop.folder)
        if claim:
            refuse_without_claim_url(held.workshop.options)
            template = template or Template.default_claim(held.workshop.name)
        template = template or Template.default(held.workshop.name)
        chosen = {handout.identity for handout in handouts} if resend else set()
        plan = _plan(handouts, journal, chosen, template, settings, held, preview=dry_run)
        sending = Sending(held.workshop.name, mail_server, plan, left_out, dry_run=dry_run)
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

        with contextlib.closing(SmtpSender(settings)) as sender:
            send_all(
                handouts,
                journal,
                sender,
                template=template,
                workshop=held.workshop.name,
                rate_per_minute=rate_per_minute,
                resend=chosen,
                retry=retry,
                on_result=delivered,
            )
        held.exit_status = sending.exit_status
        return sending


def _day(moment: str, *, time: bool = False) -> str:
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
        held.ledger.record_update(result.identity, handed_out=f"sent {_day(now(), time=True)}")
        return
    if result.outcome is not Delivery.ALREADY_SENT:
        return
    entry = held.ledger.get(result.identity)
    last = journal.last_sent(result.identity)
    if entry is None or (entry.handed_out or "").startswith("sent"):
        return
    if last is not None and last.key_hash == handout.key_hash:
        when = _day(last.at, time=True) if last.at else ""
        held.ledger.record_update(result.identity, handed_out=f"sent {when}".strip())


def _plan(
    handouts: list[Handout],
    journal: DeliveryJournal,
    resend: set[str],
    template: Template,
    settings: SmtpSettings,
    held: Session,
    *,
    preview: bool,
) -> SendPlan:
    from keyprov.delivery import compose_message, render_preview

    plan = plan_deliveries(handouts, journal, resend=resend)
    text = ""
    if preview and plan.to_send:
        first = plan.to_send[0]
        message = compose_message(
            first.handout,
            template,
            sender=settings.from_address,
            workshop=held.workshop.name,
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
    )
