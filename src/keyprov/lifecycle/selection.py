"""Who is handed a key: each chosen participant's current, enabled key, and who is left out.

Only a key that is enabled on the server now is handed out, built from the state's record of
that participant's current key: nobody is ever handed someone else's key, or a key that no
longer works. The same choice serves the slips, the mail merge and the email.
"""

from __future__ import annotations

import contextlib
import enum
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from keyprov.engine.budget_cuts import cut_in_force
from keyprov.engine.session import Session
from keyprov.errors import ConfigurationError
from keyprov.guardrails.guarding import remembered_policy
from keyprov.handouts import Handout
from keyprov.handouts.quickstarts import chosen_quickstarts
from keyprov.handouts.wording import parse_expiry
from keyprov.lifecycle.who import resolve_names
from keyprov.models import ApiKey
from keyprov.workshop.claimcodes import claim_code, claim_link, display_code
from keyprov.workshop.claims import ensure_claim_secret
from keyprov.workshop.journal import LedgerEntry

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


def handouts_of(
    held: Session,
    *,
    participants: list[str] | None = None,
    only: Only | None = None,
    quickstarts: tuple[str, ...] | None = None,
) -> tuple[list[Handout], list[LeftOut]]:
    """Each chosen participant's current, enabled key; and who was left out, and why.

    Without `participants`, everyone the state holds who was in the roster at the last
    provision; a participant named in `participants` is included even if not. In
    alphabetical order of their names. `quickstarts` overrides the workshop's remembered
    `--quickstart` for these handouts.
    """
    remembered = held.workshop.options.get("quickstarts") or ()
    kinds = chosen_quickstarts(quickstarts or remembered)
    current = held.snapshot()
    server = {key.hash: key for key in current.server_keys}
    entries = list(current.entries.values())
    codes = ClaimCodes(ensure_claim_secret(held.ledger), held.workshop.options.get("claim_url"))
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
        problem = _unusable(entry, key, closed=current.closed)
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
        handouts.append(_handout(entry, key, server, held.workshop.options, kinds, codes))
    # The state holds participants in the order their keys were made (concurrently): a pile
    # of slips is easier to hand out in alphabetical order.
    handouts.sort(key=_alphabetical)
    return handouts, left_out


_BASE_LETTERS = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "þ": "th"})
"""Latin letters that no decomposition takes back to a base letter."""


def _alphabetical(handout: Handout) -> tuple[str, str]:
    """Accents and case aside, as a reader looks for a name: Émile with the Es."""
    letters = unicodedata.normalize("NFKD", handout.who.casefold()).translate(_BASE_LETTERS)
    return "".join(char for char in letters if not unicodedata.combining(char)), handout.email


def _left_out(entry: LedgerEntry, kind: LeftOutKind, detail: str = "") -> LeftOut:
    return LeftOut(entry.identity, entry.name, entry.email, kind, detail)


def _unusable(entry: LedgerEntry, key: ApiKey | None, *, closed: bool = False) -> str | None:
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
    if key.disabled and not closed:  # a closed workshop's keys wait, disabled, on purpose
        return "the key is disabled on the server (keyprov provision --reenable enables it)"
    if key.expires_at is not None:
        with contextlib.suppress(ValueError):
            if parse_expiry(key.expires_at) <= datetime.now(UTC):
                return f"the key expired on {key.expires_at[:10]}: replace it with keyprov rotate"
    return None


def _wanted(participants: list[str] | None, entries: list[LedgerEntry]) -> set[str] | None:
    if participants is None:
        return None
    asked = {value.strip().lower() for value in resolve_names(participants, entries)}
    found = {e.identity for e in entries if {e.identity.lower(), e.email.lower()} & asked}
    known = {e.identity.lower() for e in entries} | {e.email.lower() for e in entries}
    missing = sorted(asked - known)
    if missing:
        raise ConfigurationError(
            f"no participant {', '.join(missing)} in this workshop's state; check the email, "
            "id or full name, or provision them first."
        )
    return found


@dataclass(frozen=True)
class ClaimCodes:
    """Each participant's claim code, and the claim page's address, for their handout."""

    secret: str
    url: str | None

    def code(self, identity: str) -> str:
        return claim_code(self.secret, identity)

    def link(self, identity: str) -> str:
        return claim_link(self.url, self.code(identity)) if self.url else ""


def _handout(
    entry: LedgerEntry,
    key: ApiKey,
    server: dict[str, ApiKey],
    options: Mapping[str, Any],
    quickstarts: tuple[str, ...],
    codes: ClaimCodes,
) -> Handout:
    assert entry.secret is not None and entry.hash is not None
    # "Replaces your previous key" only to someone an earlier key reached.
    replaced = entry.previous_label if entry.previous_handed_out else None
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
        replaces=replaced,
        full_limit=entry.full_limit if cut_in_force(entry) else None,
        emails=entry.emails,
        quickstarts=quickstarts,
        claim_code=display_code(codes.code(entry.identity)),
        claim_url=codes.link(entry.identity),
    )
