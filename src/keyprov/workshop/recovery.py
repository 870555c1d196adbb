"""Take back secrets the local state lost from keys.xlsx, the other file that holds them.

A secret is shown once, when its key is created; a file that holds one may be its last copy.
state.jsonl can be lost, damaged, cut short, or restored from an older copy; keys.xlsx, which
every run rebuilds from the state, then still holds secrets the state does not. Before
anything is planned, each such secret is checked against the server (the key must exist,
belong to this workshop and carry the secret's label) and taken back into the state. So a
rebuild never drops a secret, and a key whose secret a file holds is never taken for an
undelivered one and deleted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.errors import LocalFileError, NotFoundError
from keyprov.models import ApiKey
from keyprov.redaction import mask_secret
from keyprov.roster.values import split_addresses
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.keys_sheet import COLUMNS

log = logging.getLogger(__name__)

_HEADERS = {name: index for index, (name, _width) in enumerate(COLUMNS)}


@dataclass(frozen=True)
class SheetKey:
    """A key as a row of keys.xlsx holds it."""

    name: str
    email: str
    secret: str
    key_hash: str

    def __repr__(self) -> str:
        return f"SheetKey(email={self.email!r}, key_hash={self.key_hash!r})"


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LocalFileError(
            f"{path} cannot be read ({error.strerror or error}); it holds the participants' "
            "keys. Fix its permissions (chmod 600) and run again."
        ) from error


def sheet_keys(path: Path) -> list[SheetKey]:
    """Every row of keys.xlsx with a key and its hash; [] when there is no such file."""
    if not path.exists():
        return []
    # Imported here: only a run whose state lost something reads keys.xlsx back.
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise LocalFileError(
            f"{path} cannot be read as a workbook ({type(error).__name__}: {error}), and the "
            "local state does not match it. Restore keys.xlsx from a backup, or move it away "
            "if you are sure the state holds every key."
        ) from error
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(cell or "") for cell in next(rows, ())]
        where = {name: header.index(name) for name in _HEADERS if name in header}
        if not {"Email", "API key", "Key hash"} <= where.keys():
            return []
        found = []
        for row in rows:

            def cell(name: str, row: tuple[object, ...] = row) -> str:
                index = where.get(name)
                value = row[index] if index is not None and index < len(row) else None
                return "" if value is None else str(value).strip()

            secret, key_hash = cell("API key"), cell("Key hash")
            if secret and key_hash:
                found.append(SheetKey(cell("Name"), cell("Email"), secret, key_hash))
        return found
    finally:
        book.close()


def keys_to_recover(
    sheet: list[SheetKey],
    entries: Mapping[str, LedgerEntry],
    server: Mapping[str, ApiKey],
    client: OpenRouterClient,
    identity_of: Callable[[ApiKey], str | None],
) -> list[LedgerEntry]:
    """The entries to take back: one per participant whose key keys.xlsx holds and the state
    does not, each checked on the server. `identity_of(key)` names a key's participant (None
    for a key that is not this workshop's)."""
    known = {entry.hash for entry in entries.values() if entry.hash}
    known |= {h for entry in entries.values() for h in entry.retired}
    recovered: dict[str, LedgerEntry] = {}
    for row in sheet:
        if row.key_hash in known:
            continue
        key = server.get(row.key_hash)
        if key is None:
            try:
                key = client.get_key(row.key_hash)
            except NotFoundError:
                continue  # the key is gone from the server: its secret opens nothing
        identity = identity_of(key)
        if identity is None or mask_secret(row.secret) != key.label:
            log.warning("keys.xlsx row for %s does not match its key on the server", row.email)
            continue
        previous = recovered.get(identity) or entries.get(identity)
        recovered[identity] = _merge(previous, identity, row, key)
    return list(recovered.values())


def _merge(previous: LedgerEntry | None, identity: str, row: SheetKey, key: ApiKey) -> LedgerEntry:
    # keys.xlsx lists every address of a participant who has several, the first theirs.
    addresses = tuple(split_addresses(row.email))
    taken = LedgerEntry(
        identity=identity,
        key_name=key.name,
        name=row.name,
        email=addresses[0],
        emails=addresses if len(addresses) > 1 else (),
        participant_id=None if identity == addresses[0] else identity,
        hash=key.hash,
        secret=row.secret,
        label=key.label,
        limit=key.limit,
        limit_reset=key.limit_reset,
        expires_at=key.expires_at,
        created_at=key.created_at,
    )
    if previous is None:
        return taken
    if not previous.has_key:
        # Its create's answer reached keys.xlsx but not this state: the key was delivered.
        return replace(
            taken,
            name=previous.name or row.name,
            participant_id=previous.participant_id,
            roster_limit=previous.roster_limit,
            roster_limit_reset=previous.roster_limit_reset,
            retired=previous.retired,
            removed=previous.removed,
        )
    # Two keys with their secrets: the newer is the participant's; the older was replaced.
    older, newer = sorted((previous, taken), key=lambda entry: entry.created_at or "")
    assert older.hash is not None
    return replace(
        newer,
        roster_limit=previous.roster_limit,
        roster_limit_reset=previous.roster_limit_reset,
        retired=(*previous.retired, older.hash),
        removed=previous.removed,
        pending=False,
    )
