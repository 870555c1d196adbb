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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.errors import LocalFileError, NotFoundError
from keyprov.models import ApiKey
from keyprov.redaction import mask_secret
from keyprov.roster.values import split_addresses
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.journal_records import secret_digest_of
from keyprov.workshop.keys_sheet import COLUMNS

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
) -> tuple[list[LedgerEntry], list[str]]:
    """The entries to take back: one per participant whose key keys.xlsx holds and the state
    does not, each checked on the server; and a warning for each secret taken back by no one.
    `identity_of(key)` names a key's participant (None for a key that is not this workshop's).

    A secret is its key's wherever its row is: a sheet sorted on one column only moves the
    API keys to other rows, and a secret that does not open the key of its own row is matched
    to the one key of the workshop, unknown to the state, that carries its label."""
    known = {entry.hash for entry in entries.values() if entry.hash}
    known |= {h for entry in entries.values() for h in entry.retired}
    unclaimed: dict[str, list[ApiKey]] = {}
    for key in server.values():
        if key.hash not in known and identity_of(key) is not None:
            unclaimed.setdefault(key.label, []).append(key)
    rows = {row.key_hash: row for row in sheet}
    recovered: dict[str, LedgerEntry] = {}
    warnings = []
    for row in sheet:
        if row.key_hash in known:
            continue
        key = _key_of(row, server, client)
        if key is None or identity_of(key) is None or mask_secret(row.secret) != key.label:
            matches = unclaimed.get(mask_secret(row.secret), [])
            if len(matches) != 1:
                if key is not None or matches:
                    warnings.append(
                        f"keys.xlsx: the API key on the row of {row.email or row.name} opens no "
                        "key of this workshop that keyprov can tell; it was not taken back"
                    )
                continue
            key = matches[0]
            owner = rows.get(key.hash, row)
            row = SheetKey(owner.name, owner.email, row.secret, key.hash)
        identity = identity_of(key)
        assert identity is not None
        previous = recovered.get(identity) or entries.get(identity)
        recovered[identity] = _merge(previous, identity, row, key)
    return list(recovered.values()), warnings


def _key_of(row: SheetKey, server: Mapping[str, ApiKey], client: OpenRouterClient) -> ApiKey | None:
    key = server.get(row.key_hash)
    if key is not None:
        return key
    try:
        return client.get_key(row.key_hash)
    except NotFoundError:
        return None  # the key is gone from the server: its secret opens nothing


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
        secret_digest=secret_digest_of(row.secret),
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
