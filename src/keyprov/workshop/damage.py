"""Damaged records of state.jsonl: repaired from keys.xlsx and the server, or the run stops.

A record that lost what it needs (its key's hash, secret or name), holds a value of another
type, or a secret that is not the one the server gave, must never be taken for "no key": that
would erase the secret from keys.xlsx, delete a key its participant holds, or make them a
second one. Each is repaired with a secret that the server's key confirms (its label, and the
digest the record kept of the secret), taken from the record itself or from keys.xlsx;
when none can be, and the participant's key is on the server, the run stops (exit 2) naming
the file, before anything is planned or written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from keyprov.errors import LocalFileError
from keyprov.models import ApiKey
from keyprov.redaction import mask_secret
from keyprov.workshop.journal import Ledger, LedgerEntry
from keyprov.workshop.journal_records import secret_digest_of
from keyprov.workshop.recovery import SheetKey


@dataclass(frozen=True)
class Damage:
    identity: str
    reason: str
    flagged: bool
    """Found damaged when the journal was read (True), or only suspect: its hash is not on
    the server while a key it does not know is named for its participant (False)."""


def damaged_records(
    ledger: Ledger, keys: Iterable[ApiKey], named: Mapping[str, list[ApiKey]]
) -> list[Damage]:
    """Every damaged record, and every record whose key the server shows under another hash."""
    found = [Damage(i, reason, True) for i, reason in ledger.replayed.damaged.items()]
    flagged = {damage.identity for damage in found}
    on_server = {key.hash for key in keys}
    for entry in ledger.entries():
        if entry.identity in flagged or not entry.has_key or entry.hash in on_server:
            continue
        if named.get(entry.identity):
            found.append(Damage(entry.identity, "its hash is not on the server", False))
    return found


def repair(
    damage: Damage,
    entry: LedgerEntry,
    keys: Mapping[str, ApiKey],
    named: list[ApiKey],
    sheet: list[SheetKey],
    whose: Callable[[str], str | None],
    state: str,
) -> LedgerEntry | None:
    """The record repaired, or None when there is nothing to repair (no key of theirs is on
    the server, or a suspect record no secret confirms). Raises LocalFileError for a damaged
    record whose participant has a key on the server that no secret at hand is confirmed for.

    `keys`: the server's keys by hash; `named`: the keys on the server named for this
    participant that the state does not know; `whose(hash)`: the participant keys.xlsx says
    a key is; `state`: the state file's path, for the message.
    """
    own = keys.get(entry.hash) if entry.hash else None
    candidates = [key for key in (own, *named) if key is not None]
    if not candidates:
        return None  # no key of theirs on the server: nothing to lose, nothing to duplicate
    secrets = []
    if entry.secret and "secret is not the one" not in damage.reason:
        secrets.append(entry.secret)
    hashes = {key.hash for key in candidates}
    secrets.extend(
        row.secret
        for row in sheet
        if row.key_hash in hashes
        or whose(row.key_hash) == entry.identity
        or (entry.email and row.email == entry.email)
    )
    confirmed = {
        (key.hash, secret): key
        for key in candidates
        for secret in secrets
        if mask_secret(secret) == key.label
        and (entry.secret_digest is None or secret_digest_of(secret) == entry.secret_digest)
    }
    if len(confirmed) == 1:
        ((_hash, secret), key), *_ = confirmed.items()
        return replace(
            entry,
            key_name=entry.key_name or key.name,
            hash=key.hash,
            secret=secret,
            secret_digest=secret_digest_of(secret),
            label=key.label,
            limit=entry.limit if entry.limit is not None else key.limit,
            limit_reset=entry.limit_reset or key.limit_reset,
            expires_at=entry.expires_at or key.expires_at,
            created_at=entry.created_at or key.created_at,
        )
    if not damage.flagged:
        return None
    labels = ", ".join(sorted({key.label for key in candidates}))
    raise LocalFileError(
        f"{state}: the record of participant {entry.identity} is damaged ({damage.reason}), "
        f"and neither it nor keys.xlsx holds a secret that their key on the server ({labels}) "
        "confirms; nothing was created, deleted or written. Restore state.jsonl (or the "
        "workshop's folder) from a backup and run again. Without one, delete that "
        "participant's lines from state.jsonl: the next run reports their key as 'secret "
        "lost' and names the `keyprov rotate` that replaces it."
    )
