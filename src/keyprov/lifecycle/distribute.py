"""The last mile: each participant handed their own key, on a slip, in a mail merge, by email
(`send` is `sending`'s, re-exported here).

Who is handed which key is `selection`'s choice (each their own current key, enabled on the
server now). What was handed out, and how, is journaled so keys.xlsx says it and
`--only new` can leave out who already has theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.engine.session import session
from keyprov.errors import ConfigurationError
from keyprov.handouts import Handout, write_mail_merge_csv
from keyprov.lifecycle.selection import ONLY_CHOICES, LeftOut, LeftOutKind, Only, handouts_of
from keyprov.lifecycle.sending import (
    DailyQuota,
    Recipient,
    Sending,
    SendPlan,
    day_of,
    default_rate,
    send_keys,
)
from keyprov.status import ExitStatus
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.keys_sheet import ON_SLIPS
from keyprov.workshop.registry import now
from keyprov.workshop.title import checked_title, remembering, title_of

HANDOUTS_FILE_NAME = "handouts.pdf"
MAIL_MERGE_FILE_NAME = "mail-merge.csv"

__all__ = [
    "HANDOUTS_FILE_NAME",
    "MAIL_MERGE_FILE_NAME",
    "ONLY_CHOICES",
    "DailyQuota",
    "HandoutFiles",
    "LeftOut",
    "LeftOutKind",
    "Only",
    "Recipient",
    "SendPlan",
    "Sending",
    "default_rate",
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
    title: str | None = None,
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
    title = checked_title(title)
    details = {"paper": paper, "only": only, "claim": claim}
    with session(ref, client, "handouts", details=details) as held:
        held.remember = remembering(held.workshop.options, title)
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
            name = title_of(held.remember or held.workshop.options, held.workshop.name)
            pages = write_handouts_pdf(files.pdf, handouts, paper=paper, title=name)
            files = replace(files, pages=pages)
            write_mail_merge_csv(files.mail_merge, handouts)
            moment = now()
            for handout in handouts:
                entry = held.ledger.get(handout.identity)
                # An email that reached them says more than a printed slip: it is kept.
                # A claim slip holds a claim code, not the key: the files then hold no key.
                slips: dict[str, str] = {} if claim else {"on_slips": day_of(moment)}
                if entry is None or not (entry.handed_out or "").startswith(("sent", "claimed")):
                    how = "claim slip" if claim else ON_SLIPS
                    slips["handed_out"] = f"{how} {day_of(moment)}"
                if slips:
                    held.ledger.record_update(handout.identity, **slips)
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
