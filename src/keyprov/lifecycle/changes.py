"""Changes to a provisioned workshop: top up (set-limit), rotate, revoke.

Each holds the workshop's session: the lock, the state journal and the audit log, and on the
way out the state is saved and keys.xlsx rebuilt with what the server now holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyprov.client import OpenRouterClient
from keyprov.creator import CreateRequest, create_keys, delete_undelivered
from keyprov.errors import ApiError, ConfigurationError
from keyprov.ledger import Ledger, LedgerEntry
from keyprov.locate import find_workshop
from keyprov.session import Session, session
from keyprov.snapshot import Snapshot, snapshot
from keyprov.status import ExitStatus
from keyprov.workshop import WorkshopRef


@dataclass(frozen=True)
class Change:
    identity: str
    label: str
    ok: bool
    detail: str


def _select(ledger: Ledger, participants: list[str] | None) -> list[LedgerEntry]:
    entries = [entry for entry in ledger.entries() if entry.has_key]
    if participants is None:
        return entries
    wanted = {value.strip().lower() for value in participants}
    chosen = [e for e in entries if e.identity.lower() in wanted or e.email.lower() in wanted]
    missing = wanted - {e.identity.lower() for e in chosen} - {e.email.lower() for e in chosen}
    if missing:
        raise ConfigurationError(
            f"no key in this workshop's state for {', '.join(sorted(missing))}; check the "
            "email (or id), or provision them first."
        )
    return chosen


def _outcome(held: Session, changes: list[Change]) -> list[Change]:
    held.exit_status = (
        ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE
    )
    return changes


def set_limit(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    participants: list[str] | None,
    limit: float | None = None,
    add: float | None = None,
    max_limit: float = 100.0,
) -> list[Change]:
    """Set an absolute limit, or add to the current one (PATCH is absolute: read, add, write).

    Every limit to send is journaled, in one record, before the first is sent: a set-limit
    stopped part-way is finished by its rerun, which sends the journaled limits instead of
    adding again.
    """
    if (limit is None) == (add is None):
        raise ConfigurationError("give exactly one of --limit USD or --add USD.")
    op = f"add {add:g}" if add is not None else f"set {limit:g}"
    changes: list[Change] = []
    with session(ref, client, "set-limit") as held:
        held.snapshot()
        chosen = _select(held.ledger, participants)
        unfinished = [entry for entry in chosen if entry.limit_target is not None]
        for entry in unfinished:
            assert entry.limit_target is not None
            changes.append(_send_limit(held, entry, entry.limit_target, resumed=True))
        if unfinished and all(entry.limit_op == op for entry in unfinished):
            # This is the rerun of the set-limit that stopped: it is now complete.
            return _outcome(held, changes)
        chosen = _select(held.ledger, participants)
        targets: dict[str, float] = {}
        for entry in chosen:
            assert entry.hash is not None
            try:
                old = held.client.get_key(entry.hash).limit if add is not None else entry.limit
            except ApiError as error:
                changes.append(Change(entry.identity, entry.label or "", False, str(error)))
                continue
            new = round((old or 0.0) + add, 6) if add is not None else float(limit or 0.0)
            if new <= 0 or new > max_limit:
                changes.append(
                    Change(
                        entry.identity,
                        entry.label or "",
                        False,
                        f"{new:g} USD is not in (0, {max_limit:g}]; raise --max-limit if meant",
                    )
                )
                continue
            targets[entry.identity] = new
        if targets:
            held.ledger.record_targets(op, targets)
        for entry in held.ledger.entries():
            if entry.identity in targets:
                changes.append(_send_limit(held, entry, targets[entry.identity], resumed=False))
        return _outcome(held, changes)


def _send_limit(held: Session, entry: LedgerEntry, target: float, *, resumed: bool) -> Change:
    assert entry.hash is not None
    try:
        key = held.client.update_key(entry.hash, limit=target)
    except ApiError as error:
        return Change(entry.identity, entry.label or "", False, str(error))
    held.saw(key)
    held.ledger.record_update(entry.identity, limit=key.limit, limit_target=None, limit_op=None)
    held.audit.event(
        "limit_set",
        participant=entry.identity,
        hash=key.hash,
        old=entry.limit,
        new=key.limit,
        resumed=resumed,
    )
    detail = f"limit {entry.limit} -> {key.limit} USD"
    if resumed:
        detail += " (finishing the set-limit an earlier run left)"
    return Change(entry.identity, key.label, True, detail)


def rotate(ref: WorkshopRef, client: OpenRouterClient, *, participants: list[str]) -> list[Change]:
    """Replace a key: create the successor first (same limit, reset, expiry), then disable the old.

    If the successor cannot be created, the old key is left enabled and untouched.
    """
    changes = []
    with session(ref, client, "rotate") as held:
        changes.extend(_finish_rotations(held, held.snapshot()))
        for entry in _select(held.ledger, participants):
            changes.append(_rotate_one(held, entry))
        return _outcome(held, changes)


def _finish_rotations(held: Session, current: Snapshot) -> list[Change]:
    """What an earlier rotate left undone: old keys still enabled, and keys made by a create
    whose answer never came (nobody holds their secret)."""
    changes = []
    undeleted: set[str] = set()
    for item in current.owned():
        key, entry = item.key, item.entry
        if item.role == "retired" and not key.disabled:
            try:
                held.saw(held.client.update_key(key.hash, disabled=True))
            except ApiError as error:
                changes.append(Change(item.identity, key.label, False, str(error)))
                continue
            held.audit.event("rotated", participant=item.identity, old_hash=key.hash, late=True)
            changes.append(
                Change(item.identity, key.label, True, "replaced key disabled (left by a rotate)")
            )
        elif item.role == "unknown" and entry is not None and entry.pending:
            try:
                delete_undelivered(held, item.identity, key)
            except ApiError as error:
                undeleted.add(item.identity)
                changes.append(Change(item.identity, key.label, False, str(error)))
                continue
            detail = "deleted a key nobody holds (left by a rotate)"
            changes.append(Change(item.identity, key.label, True, detail))
    for entry in held.ledger.entries():
        if entry.pending and entry.has_key and entry.identity not in undeleted:
            held.ledger.record_update(entry.identity, pending=False)
    return changes


def _rotate_one(held: Session, entry: LedgerEntry) -> Change:
    assert entry.hash is not None
    try:
        old = held.client.get_key(entry.hash)
    except ApiError as error:
        return Change(entry.identity, entry.label or "", False, f"not rotated: {error}")
    limit = old.limit if old.limit is not None else entry.limit or 0.0
    request = CreateRequest.rotation(entry, old, limit=limit, expires_at=old.expires_at)
    result = create_keys(held, [request])[entry.identity]
    if not result.outcome.is_provisioned:
        held.audit.event(
            "rotate_failed", participant=entry.identity, old_hash=old.hash, detail=result.detail
        )
        return Change(
            entry.identity,
            old.label,
            False,
            f"the new key could not be created ({result.detail}); the old key stays enabled",
        )
    # The successor's record already names the old key retired, so if this run dies here the
    # next provision run disables it.
    try:
        held.saw(held.client.update_key(old.hash, disabled=True))
    except ApiError as error:
        return Change(
            entry.identity,
            result.label or "",
            False,
            f"new key {result.label} created, but the old key {old.label} could not be "
            f"disabled ({error}); the next provision run disables it",
        )
    held.audit.event(
        "rotated", participant=entry.identity, old_hash=old.hash, new_hash=result.key_hash
    )
    return Change(
        entry.identity,
        result.label or "",
        True,
        f"{old.label} disabled, replaced by {result.label}",
    )


def revoke(
    ref: WorkshopRef, client: OpenRouterClient, *, delete: bool = False, dry_run: bool = False
) -> list[Change]:
    """Disable (or delete) every key of the workshop; keys already disabled are left alone."""
    if dry_run:
        workshop = find_workshop(ref, client)
        return [
            Change(
                item.identity,
                item.key.label,
                True,
                "would be deleted"
                if delete
                else ("already disabled" if item.key.disabled else "would be disabled"),
            )
            for item in snapshot(workshop, client).owned()
        ]
    changes = []
    with session(ref, client, "revoke") as held:
        for item in held.snapshot().owned():
            key = item.key
            if not delete and key.disabled:
                continue
            try:
                if delete:
                    client.delete_key(key.hash)
                    held.gone(key.hash)
                else:
                    held.saw(client.update_key(key.hash, disabled=True))
            except ApiError as error:
                changes.append(Change(item.identity, key.label, False, str(error)))
                continue
            action = "deleted" if delete else "disabled"
            held.audit.event(
                f"key_{action}", participant=item.identity, hash=key.hash, label=key.label
            )
            changes.append(Change(item.identity, key.label, True, action))
        return _outcome(held, changes)
