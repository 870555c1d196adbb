"""The last mile: each participant handed their own key, on a slip, in a mail merge, by email.

Handouts are built only from keys that are enabled on the server now, each from the state's
record of that participant's current key: nobody is ever handed someone else's key, or a key
that no longer works. What was handed out, and how, is journaled so keys.xlsx says it and
`--only new` can leave out who already has theirs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from keyprov.client import OpenRouterClient
from keyprov.delivery import (
    DeliveryJournal,
    DeliveryResult,
    SmtpSender,
    SmtpSettings,
    Template,
    send_all,
)
from keyprov.delivery import Outcome as Delivery
from keyprov.errors import ConfigurationError
from keyprov.guarding import remembered_policy
from keyprov.handouts import Handout, write_mail_merge_csv
from keyprov.ledger import LedgerEntry
from keyprov.models import ApiKey
from keyprov.registry import now
from keyprov.session import Session, session
from keyprov.status import ExitStatus
from keyprov.workshop import WorkshopRef

HANDOUTS_FILE_NAME = "handouts.pdf"
MAIL_MERGE_FILE_NAME = "mail-merge.csv"
Only = Literal["new", "replaced"]


@dataclass(frozen=True)
class HandoutFiles:
    pdf: Path
    mail_merge: Path
    handouts: list[Handout]
    left_out: list[str]
    """Who was not included, and why (no enabled key, already handed out)."""


def handouts_of(
    held: Session, *, participants: list[str] | None = None, only: Only | None = None
) -> tuple[list[Handout], list[str]]:
    """Each chosen participant's current, enabled key; and who was left out, in words."""
    current = held.snapshot()
    server = {key.hash: key for key in current.server_keys}
    wanted = _wanted(participants, list(current.entries.values()))
    handouts: list[Handout] = []
    left_out: list[str] = []
    for entry in current.entries.values():
        if wanted is not None and entry.identity not in wanted:
            continue
        key = server.get(entry.hash or "")
        if not entry.has_key or key is None or key.disabled:
            if wanted is not None or entry.has_key:
                left_out.append(f"{entry.email or entry.identity}: no enabled key")
            continue
        if only == "new" and entry.handed_out:
            left_out.append(f"{entry.email}: handed out already ({entry.handed_out})")
            continue
        if only == "replaced" and (not entry.retired or entry.handed_out):
            continue
        handouts.append(_handout(entry, key, server, held.workshop.options))
    return handouts, left_out


def _wanted(participants: list[str] | None, entries: list[LedgerEntry]) -> set[str] | None:
    if participants is None:
        return None
    asked = {value.strip().lower() for value in participants}
    found = {e.identity for e in entries if {e.identity.lower(), e.email.lower()} & asked}
    known = {e.identity.lower() for e in entries} | {e.email.lower() for e in entries}
    missing = sorted(asked - known)
    if missing:
        raise ConfigurationError(
            f"no participant {', '.join(missing)} in this workshop's state; check the email "
            "(or id), or provision them first."
        )
    return found


def _handout(
    entry: LedgerEntry, key: ApiKey, server: dict[str, ApiKey], options: Mapping[str, Any]
) -> Handout:
    assert entry.secret is not None and entry.hash is not None
    replaced = server.get(entry.retired[-1]) if entry.retired else None
    models = remembered_policy(options).models
    return Handout(
        identity=entry.identity,
        name=entry.name,
        email=entry.email,
        secret=entry.secret,
        key_label=key.label,
        key_hash=entry.hash,
        limit=key.limit,
        limit_reset=key.limit_reset,
        expires_at=key.expires_at,
        models=models,
        replaces=replaced.label if replaced is not None else None,
    )


def write_handouts(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    paper: str = "a4",
    participants: list[str] | None = None,
    only: Only | None = None,
) -> HandoutFiles:
    """handouts.pdf and mail-merge.csv in the workshop folder (0600), for the chosen."""
    from keyprov.handouts import write_handouts_pdf  # fpdf2 is slow to import

    with session(ref, client, "handouts") as held:
        handouts, left_out = handouts_of(held, participants=participants, only=only)
        folder = held.workshop.folder
        files = HandoutFiles(
            folder / HANDOUTS_FILE_NAME, folder / MAIL_MERGE_FILE_NAME, handouts, left_out
        )
        if not handouts:
            return files
        write_handouts_pdf(files.pdf, handouts, paper=paper, title=held.workshop.name)
        write_mail_merge_csv(files.mail_merge, handouts)
        moment = now()
        for handout in handouts:
            held.ledger.record_update(handout.identity, handed_out=f"handed out {moment[:10]}")
        held.audit.event(
            "handouts",
            participants=len(handouts),
            keys=[handout.key_label for handout in handouts],
            files=[str(files.pdf), str(files.mail_merge)],
        )
        return files


@dataclass(frozen=True)
class SendPlan:
    """What `send --dry-run` shows: the first message (key masked) and who would get one."""

    preview: str
    recipients: list[str]
    already_sent: list[str]


def send_keys(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    template_path: Path | None = None,
    participants: list[str] | None = None,
    resend: bool = False,
    rate_per_minute: float = 30.0,
    dry_run: bool = False,
    on_result: Callable[[DeliveryResult], None] | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[list[DeliveryResult], SendPlan | None, ExitStatus]:
    """Email each chosen participant their own current key (see keyprov.delivery).

    The SMTP settings and the template are checked before anything is sent (exit 2).
    """
    settings = SmtpSettings.from_env(environ)
    template = Template.from_file(template_path) if template_path else None
    if resend and not participants:
        raise ConfigurationError("--resend sends a key again: name who with --participant.")
    with session(ref, client, "send") as held:
        handouts, _left_out = handouts_of(held, participants=participants)
        journal = DeliveryJournal(held.workshop.folder)
        template = template or Template.default(held.workshop.name)
        chosen = {handout.identity for handout in handouts}
        if dry_run:
            return [], _preview(handouts, journal, template, settings, held), ExitStatus.OK
        results: list[DeliveryResult] = []

        def delivered(result: DeliveryResult) -> None:
            results.append(result)
            held.audit.event(
                "delivery",
                participant=result.identity,
                recipient=result.email,
                label=result.key_label,
                message_id=result.message_id,
                outcome=result.outcome.value,
                detail=result.detail,
            )
            if result.outcome is Delivery.SENT:
                held.ledger.record_update(result.identity, handed_out=f"sent {now()[:16]}")
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
                resend=chosen if resend else (),
                on_result=delivered,
            )
        status = ExitStatus.OK if all(r.ok for r in results) else ExitStatus.INCOMPLETE
        held.exit_status = status
        return results, None, status


def _preview(
    handouts: list[Handout],
    journal: DeliveryJournal,
    template: Template,
    settings: SmtpSettings,
    held: Session,
) -> SendPlan:
    from keyprov.delivery import compose_message, plan_deliveries, render_preview

    plan = plan_deliveries(handouts, journal)
    preview = ""
    if plan.to_send:
        first = plan.to_send[0]
        message = compose_message(
            first.handout,
            template,
            sender=settings.envelope_sender,
            workshop=held.workshop.name,
            replaces=first.replaces,
            masked=True,
        )
        preview = render_preview(message)
    return SendPlan(
        preview,
        [planned.handout.email for planned in plan.to_send],
        [handout.email for handout in plan.already_sent],
    )
