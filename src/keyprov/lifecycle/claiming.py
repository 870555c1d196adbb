"""What a claim does, whatever carries it: a code in, a key (or a plain refusal) out.

The order is what makes it safe to kill at any moment: the claim is reserved in claims.jsonl
(fsynced) before the key is enabled or shown, so no other device can ever be shown that key,
and a reserved claim whose key was not yet enabled is finished when the page starts again.
The same device (its cookie's hash is in the reservation) may see its key again; every other
client is told it was claimed already. Nothing here lists participants or reveals whose a code
is to anyone but its holder.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from keyprov.engine.session import Session
from keyprov.errors import ApiError
from keyprov.guardrails.guarding import remembered_policy
from keyprov.handouts import first_name_of
from keyprov.handouts.quickstarts import chosen_quickstarts
from keyprov.lifecycle.claim_limits import FailureBudget
from keyprov.lifecycle.claim_window import ClaimWindow
from keyprov.models import ApiKey
from keyprov.workshop.audit import set_subject
from keyprov.workshop.claimcodes import (
    ALPHABET,
    CODE_LENGTH,
    claim_code,
    claim_pseudonym,
    normalise_code,
)
from keyprov.workshop.claims import Claim, ClaimJournal, ensure_claim_secret
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.options import DesiredOptions


class Refusal(enum.StrEnum):
    WRONG_CODE = "wrong code"
    ALREADY_CLAIMED = "already claimed"
    NOT_YET = "not open yet"
    OVER = "closed"
    THROTTLED = "too many wrong codes"
    NO_KEY = "no key"
    UNAVAILABLE = "not enabled yet"


@dataclass(frozen=True)
class ShownKey:
    """What the page shows its holder: their key and what it allows. Never logged."""

    first_name: str
    secret: str = field(repr=False)
    label: str
    limit: float | None
    limit_reset: str | None
    expires_at: str | None
    models: tuple[str, ...]
    quickstarts: tuple[str, ...]
    """The first calls to show (the workshop's --quickstart)."""
    again: bool
    """This device claimed it before: shown again."""


@dataclass(frozen=True)
class ClaimOutcome:
    shown: ShownKey | None = None
    refusal: Refusal | None = None
    retry_after: float = 0.0
    """For THROTTLED: seconds before this client may try again."""
    room_throttled: bool = False
    when: datetime | None = None
    """For NOT_YET and OVER: when claims open (or closed)."""


@dataclass(frozen=True)
class ClaimCounts:
    participants: int
    claimed: int
    waiting: int
    """Claimed, but the key not yet seen enabled (a restart finishes them)."""


def device_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(char in ALPHABET for char in code)


class ClaimService:
    """The claims of one workshop, decided while its session is held (lock, state, audit)."""

    def __init__(
        self,
        held: Session,
        *,
        window: ClaimWindow | None = None,
        budget: FailureBudget | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.held = held
        self.window = window or ClaimWindow()
        self.budget = budget or FailureBudget()
        self.now = now
        self.journal = ClaimJournal.of(held.workshop.folder)
        self._identities: dict[str, str] = {}
        """pseudonym -> identity, for every participant who may claim."""
        self._lock = threading.Lock()
        self.secret = ""

    # -- starting -------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Read the workshop, store the codes' hashes, finish claims a stop left half-done.

        Returns what could not be finished (key label: why), for the terminal.
        """
        held = self.held
        held.snapshot()
        secret = self.secret = ensure_claim_secret(held.ledger)
        codes = {}
        for entry in held.ledger.entries():
            if entry.removed:
                continue
            pseudonym = claim_pseudonym(secret, entry.identity)
            self._identities[pseudonym] = entry.identity
            codes[pseudonym] = claim_code(secret, entry.identity)
        self.journal.put_codes(codes)
        problems = []
        for claim in self.journal.unfinished():
            try:
                self._enable(claim)
            except ApiError as error:
                problems.append(f"{claim.pseudonym}: {error}")
        self.note_claimed()
        return problems

    def note_claimed(self) -> None:
        """keys.xlsx's status: 'claimed' for every current key claimed (at start and stop)."""
        moment = self.now()
        day = f"{moment.day} {moment:%b %Y}"
        for entry in self.held.ledger.entries():
            claim = self.journal.claim_of(entry.hash or "")
            if claim is not None and not (entry.handed_out or "").startswith("claimed"):
                self.held.ledger.record_update(entry.identity, handed_out=f"claimed {day}")

    # -- claiming -------------------------------------------------------------------------

    def claim(self, typed: str, device: str, client: str) -> ClaimOutcome:
        """One claim: `typed` as the participant typed it, `device` the hash of their
        cookie, `client` their address (for the budgets and the audit log)."""
        state = self.window.state(self.now())
        if state == "before":
            return ClaimOutcome(refusal=Refusal.NOT_YET, when=self.window.opens)
        if state == "after":
            return ClaimOutcome(refusal=Refusal.OVER, when=self.window.closes)
        wait, room = self.budget.wait(client)
        if wait > 0:
            return ClaimOutcome(refusal=Refusal.THROTTLED, retry_after=wait, room_throttled=room)
        code = normalise_code(typed)
        pseudonym = self.journal.pseudonym_of(code) if well_formed(code) else None
        identity = self._identities.get(pseudonym or "")
        if pseudonym is None or identity is None:
            self.budget.failed(client)
            wait, room = self.budget.wait(client)
            if wait > 0:
                self.held.audit.event("claims_throttled", client=client, room=room)
            return ClaimOutcome(refusal=Refusal.WRONG_CODE)
        entry = self.held.ledger.get(identity)
        key = self._current_key(entry)
        if entry is None or key is None or entry.secret is None:
            return ClaimOutcome(refusal=Refusal.NO_KEY)
        claim, new = self.journal.reserve(key.hash, pseudonym, device)
        if claim.device != device:
            return ClaimOutcome(refusal=Refusal.ALREADY_CLAIMED)
        if new:
            self.held.audit.event("claimed", hash=key.hash, pseudonym=pseudonym, client=client)
        try:
            key = self._enable(claim)
        except ApiError as error:
            self.held.audit.event("claim_not_enabled", hash=key.hash, error=str(error))
            return ClaimOutcome(refusal=Refusal.UNAVAILABLE)
        return ClaimOutcome(shown=self._shown(entry, key, again=not new))

    def _current_key(self, entry: LedgerEntry | None) -> ApiKey | None:
        if entry is None or entry.hash is None:
            return None
        return (self.held.server or {}).get(entry.hash)

    def _enable(self, claim: Claim) -> ApiKey:
        """Enable the claimed key if it is disabled (a closed workshop); journal that it is."""
        key = (self.held.server or {}).get(claim.key_hash)
        if key is None:
            raise ApiError("the claimed key is not on the server any more")
        if key.disabled and not claim.enabled:
            set_subject(claim.pseudonym)
            key = self.held.client.update_key(claim.key_hash, disabled=False)
            self.held.saw(key)
            self.held.audit.event(
                "key_enabled", hash=key.hash, pseudonym=claim.pseudonym, reason="claimed"
            )
        self.journal.mark_enabled(claim.key_hash)
        return key

    def _shown(self, entry: LedgerEntry, key: ApiKey, *, again: bool) -> ShownKey:
        assert entry.secret is not None
        models = remembered_policy(self.held.workshop.options).models
        return ShownKey(
            first_name=first_name_of(entry.name),
            secret=entry.secret,
            label=key.label,
            limit=key.limit,
            limit_reset=key.limit_reset,
            expires_at=key.expires_at,
            models=tuple(models),
            quickstarts=chosen_quickstarts(
                DesiredOptions.from_json(self.held.workshop.options).quickstarts
            ),
            again=again,
        )

    # -- for the organiser ----------------------------------------------------------------

    def counts(self) -> ClaimCounts:
        claimed = self.journal.claimed()
        current = [
            entry.hash
            for entry in self.held.ledger.entries()
            if not entry.removed and entry.has_key
        ]
        done = sum(1 for key_hash in current if key_hash in claimed)
        waiting = len(self.journal.unfinished())
        return ClaimCounts(len(current), done, waiting)


__all__ = [
    "ClaimCounts",
    "ClaimOutcome",
    "ClaimService",
    "Refusal",
    "ShownKey",
    "device_hash",
]
