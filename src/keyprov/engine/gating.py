"""A workshop that is closed: its keys wait, disabled, until it opens or each is claimed.

OpenRouter has no "not before" on a key and creates every key enabled, so a closed workshop is
kept closed by PATCHing `disabled`. The gate itself (closed or open) is journaled in the state
before any key is changed for it, so whichever command stopped part-way (a provision between
its creates and their disabling, a close or an open) is finished by its rerun.

While closed, a key that was claimed on the claim page is enabled on purpose; every other
current key of the workshop is to be disabled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from keyprov.engine.fanout import DEFAULT_CONCURRENCY, fan_out
from keyprov.engine.session import Session
from keyprov.errors import ApiError
from keyprov.models import ApiKey
from keyprov.workshop.audit import set_subject
from keyprov.workshop.claims import claimed_keys
from keyprov.workshop.journal import LedgerEntry


@dataclass(frozen=True)
class Switched:
    """One key enabled or disabled for the gate (or why not)."""

    identity: str
    label: str
    ok: bool
    detail: str


def waiting_keys(
    entries: Iterable[LedgerEntry], server: Mapping[str, ApiKey], claimed: set[str]
) -> list[tuple[str, ApiKey]]:
    """In a closed workshop: the participants' current keys that are enabled and unclaimed."""
    found = []
    for entry in entries:
        key = server.get(entry.hash or "")
        if key is not None and not key.disabled and key.hash not in claimed:
            found.append((entry.identity, key))
    return found


def switch_keys(
    held: Session,
    targets: list[tuple[str, ApiKey]],
    *,
    enable: bool,
    reason: str,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: Callable[[Switched], None] | None = None,
) -> list[Switched]:
    """PATCH each key enabled (or disabled), up to `concurrency` at once; audited once done,
    and told to `on_done` (a command's progress)."""

    def switched(target: tuple[str, ApiKey]) -> Switched:
        done = switch(target)
        if on_done is not None:
            on_done(done)
        return done

    def switch(target: tuple[str, ApiKey]) -> Switched:
        identity, key = target
        set_subject(identity)
        try:
            held.saw(held.client.update_key(key.hash, disabled=not enable))
        except ApiError as error:
            return Switched(identity, key.label, False, str(error))
        action = "enabled" if enable else "disabled"
        held.audit.event(
            f"key_{action}", participant=identity, hash=key.hash, label=key.label, reason=reason
        )
        return Switched(identity, key.label, True, action)

    return fan_out(targets, switched, concurrency=concurrency)


def keep_closed(held: Session, *, concurrency: int = DEFAULT_CONCURRENCY) -> list[Switched]:
    """In a closed workshop, disable every current key enabled and not claimed (keys a
    provision just made, or left enabled by a run stopped before disabling them)."""
    if not held.ledger.replayed.closed:
        return []
    targets = waiting_keys(
        held.ledger.entries(), held.server or {}, claimed_keys(held.workshop.folder)
    )
    return switch_keys(
        held, targets, enable=False, reason="the workshop is closed", concurrency=concurrency
    )
