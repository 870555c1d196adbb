"""The last mile: each participant handed their own key, on a slip, in a mail merge, by email.

Handouts are built only from keys that are enabled on the server now, each from the state's
record of that participant's current key: nobody is ever handed someone else's key, or a key
that no longer works. What was handed out, and how, is journaled so keys.xlsx says it and
`--only new` can leave out who already has theirs.
"""

from __future__ import annotations

import contextlib
import enum
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from keyprov.client import OpenRouterClient
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
from keyprov.errors import ConfigurationError
from keyprov.handouts import Handout, write_mail_merge_csv
from keyprov.handouts.wording import parse_expiry
from keyprov.ledger import LedgerEntry
from keyprov.models import ApiKey
from keyprov.registry import now
from keyprov.session import Session, session
from keyprov.status import ExitStatus
from keyprov.workshop import WorkshopRef

HANDOUTS_FILE_NAME = "handouts.pdf"
MAIL_MERGE_FILE_NAME = "mail-merge.csv"
Only = Literal["new", "replaced"]
ONLY_CHOICES: tuple[Only, ...] = ("new", "replaced")


class LeftOutKind(enum.StrEnum):
    NO_KEY = "no usable key"
    """Should have had one, cannot: the command did not finish its job for them."""
    HANDED_OUT = "handed out already"
    NOT_REPLACED = "not replaced since handed out"
    NOT_IN_ROSTER = "not in the roster"


@dataclass(frozen=True)
class LeftOut:
    """A participant who was not included, and why (safe to print: no secret)."""

    identity: str
    name: str
    email: str
    kind: LeftOutKind
    detail: str = ""

    @property
    def missing(self) -> bool:
        """True when they should have been included and could not be."""
        return self.kind is LeftOutKind.NO_KEY


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

    @property
    def written(self) -> bool:
        """False when nobody was chosen: the files were then left as they were."""
        return bool(self.handouts)

    @property
    def exit_status(self) -> ExitStatus:
        missing = any(item.missing for item in self.left_out)
        return ExitStatus.INCOMPLETE if missing else ExitStatus.OK


def handouts_of(
    held: Session, *, participants: list[str] | None = None, only: Only | None = None
) -> tuple[list[Handout], list[LeftOut]]:
    """Each chosen participant's current, enabled key; and who was left out, and why.

    Without `participants`, everyone the state holds who was in the roster at the last
    provision; a participant named in `participants` is included even if not. In
    alphabetical order of their names.
    """
    current = held.snapshot()
    server = {key.hash: key for key in current.server_keys}
    entries = list(current.entries.values())
    wanted = _wanted(participants, entries)
    handouts: list[Handout] = []
    left_out: list[LeftOut] = []
    for entry in entries:
        if wanted is not None and entry.identity not in wanted:
            continue
        if wanted is None and entry.removed:
            # A cancelled registration keeps its key until --prune: it is not handed out.
            if entry.has_key:
                left_out.append(_left_out(entry, LeftOutKind.NOT_IN_ROSTER))
            continue
        key = server.get(entry.hash or "")
        problem = _unusable(entry, key)
        if problem is not None:
            left_out.append(_left_out(entry, LeftOutKind.NO_KEY, problem))
            continue
        assert key is not None
        if only == "new" and entry.handed_out:
            left_out.append(_left_out(entry, LeftOutKind.HANDED_OUT, entry.handed_out))
            continue
        if only == "replaced" and (not entry.retired or entry.handed_out):
            left_out.append(_left_out(entry, LeftOutKind.NOT_REPLACED))
            continue
        handouts.append(_handout(entry, key, server, held.workshop.options))
    # The state holds participants in the order their keys were made (concurrently): a pile
    # of slips is easier to hand out in alphabetical order.
    handouts.sort(key=_alphabetical)
    return handouts, left_out


_BASE_LETTERS = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "þ": "th"})
"""Latin letters that no decomposition takes back to a base letter."""


def _alphabetical(handout: Handout) -> tuple[str, str]:
    """Accents and case aside, as a reader looks for a name: Émile with the Es."""
    letters = unicodedata.normalize("NFKD", handout.name.casefold()).translate(_BASE_LETTERS)
    return "".join(char for char in letters if not unicodedata.combining(char)), handout.email


def _left_out(entry: LedgerEntry, kind: LeftOutKind, detail: str = "") -> LeftOut:
    return LeftOut(entry.identity, entry.name, entry.email, kind, detail)


def _unusable(entry: LedgerEntry, key: ApiKey | None) -> str | None:
    """Why this participant's key cannot be handed out, in words that say what to do."""
    if entry.hash is None:
        return "no key yet: run keyprov provision"
    if entry.secret is None:
        return (
            "the key's secret is not in the local state: replace the key with keyprov rotate "
            f"--participant {entry.email or entry.identity}"
        )
    if key is None:
        return "the key is not on the server any more: run keyprov provision"
    if key.disabled:
        return "the key is disabled on the server (keyprov provision --reenable enables it)"
    if key.expires_at is not None:
        with contextlib.suppress(ValueError):
            if parse_expiry(key.expires_at) <= datetime.now(UTC):
                return f"the key expired on {key.expires_at[:10]}: replace it with keyprov rotate"
    return None


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
    models = tuple(options.get("models") or ())
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
    """handouts.pdf and mail-merge.csv in the workshop folder (0600), for the chosen.

    When nobody is chosen, no file is written (an earlier handouts.pdf stays as it was).
    Raises ConfigurationError for an unknown paper size or participant, before any file.
    """
    # fpdf2 is slow to import: only here, not for `send`.
    from keyprov.handouts.pdf import PAPER_SIZES, SLIPS_PER_PAGE, write_handouts_pdf

    if paper not in PAPER_SIZES:
        raise ConfigurationError(
            f"unknown paper size {paper!r}: use one of {', '.join(PAPER_SIZES)}."
        )
    with session(ref, client, "handouts", details={"paper": paper, "only": only}) as held:
        handouts, left_out = handouts_of(held, participants=participants, only=only)
        folder = held.workshop.folder
        files = HandoutFiles(
            held.workshop.name,
            folder / HANDOUTS_FILE_NAME,
            folder / MAIL_MERGE_FILE_NAME,
            paper,
            handouts,
            left_out,
            pages=-(-len(handouts) // SLIPS_PER_PAGE),
        )
        held.exit_status = files.exit_status
        if handouts:
            write_handouts_pdf(files.pdf, handouts, paper=paper, title=held.workshop.name)
            write_mail_merge_csv(files.mail_merge, handouts)
            moment = now()
            for handout in handouts:
                entry = held.ledger.get(handout.identity)
                # An email that reached them says more than a printed slip: it is kept.
                if entry is None or not (entry.handed_out or "").startswith("sent"):
                    held.ledger.record_update(
                        handout.identity, handed_out=f"handed out {moment[:10]}"
                    )
        held.audit.event(
            "handouts",
            participants=len(handouts),
            keys=[handout.key_label for handout in handouts],
            files=[str(files.pdf), str(files.mail_merge)] if handouts else [],
            left_out=[_audited(item) for item in left_out],
        )
        return files


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
    on_plan: Callable[[Sending], None] | None = None,
    on_result: Callable[[DeliveryResult], None] | None = None,
    environ: Mapping[str, str] | None = None,
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
    if resend and not participants:
        raise ConfigurationError("--resend sends a key again: name who with --participant.")
    if not rate_per_minute > 0:
        raise ConfigurationError(f"--rate {rate_per_minute}: give more than 0 messages a minute.")
    mail_server = f"{settings.host}:{settings.port} ({settings.security})"
    with session(ref, client, "send", details={"mail_server": mail_server}) as held:
        handouts, left_out = handouts_of(held, participants=participants)
        journal = DeliveryJournal(held.workshop.folder)
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


def _note_handed_out(
    held: Session, journal: DeliveryJournal, result: DeliveryResult, handout: Handout
) -> None:
    """keys.xlsx's 'sent …': after each message, and for a message whose run was killed
    between the server's answer and this note (the delivery journal has it)."""
    if result.outcome is Delivery.SENT:
        held.ledger.record_update(result.identity, handed_out=f"sent {now()[:16]}")
        return
    if result.outcome is not Delivery.ALREADY_SENT:
        return
    entry = held.ledger.get(result.identity)
    last = journal.last_sent(result.identity)
    if entry is None or (entry.handed_out or "").startswith("sent"):
        return
    if last is not None and last.key_hash == handout.key_hash:
        held.ledger.record_update(result.identity, handed_out=f"sent {last.at[:16]}".strip())


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
                planned.handout.email,
                planned.handout.key_label,
                planned.reason.value,
                planned.replaces,
            )
            for planned in plan.to_send
        ],
        [
            Recipient(handout.identity, handout.name, handout.email, handout.key_label)
            for handout in plan.already_sent
        ],
        text,
    )
