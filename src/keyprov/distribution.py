"""The rows of keys.xlsx, and the one vocabulary its Status column speaks.

Every command that changes a workshop rebuilds keys.xlsx through `distribution_rows`, from the
local state, what the server last said about each key, and what this run did. The status
words say what the instructor has to do with a row, not what the program did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from keyprov.ledger import LedgerEntry
from keyprov.models import ApiKey
from keyprov.outputs import DistributionRow, StatusCategory
from keyprov.roster import Participant


class KeyStatus(StrEnum):
    NEW = "new"
    """A key not handed out yet: give it to its participant."""
    REPLACED = "replaced — send again"
    """The participant's key was replaced (rotation): the old one no longer works."""
    NOT_IN_ROSTER = "not in roster"
    DISABLED = "disabled"
    DELETED = "deleted on server"
    NO_KEY = "no key"
    UNKNOWN = "unknown"
    """The server could not be listed, so the key's state there is not known."""


@dataclass(frozen=True)
class RowNote:
    """What this run learnt about a participant whose row has no usable key, or why not."""

    status: KeyStatus
    detail: str = ""


CATEGORY = {
    KeyStatus.NEW: StatusCategory.HAND_OUT,
    KeyStatus.REPLACED: StatusCategory.HAND_OUT,
    KeyStatus.NOT_IN_ROSTER: StatusCategory.INACTIVE,
    KeyStatus.DISABLED: StatusCategory.INACTIVE,
    KeyStatus.DELETED: StatusCategory.INACTIVE,
    KeyStatus.NO_KEY: StatusCategory.PROBLEM,
    KeyStatus.UNKNOWN: StatusCategory.PROBLEM,
}
"""How each status colours its row: hand out (yellow), problem (red), inactive (grey)."""


def key_status(
    entry: LedgerEntry, key: ApiKey | None, server_listed: bool, *, in_roster: bool
) -> tuple[str, StatusCategory]:
    """The Status of a row whose participant has a key in the local state, and its colour."""
    if not server_listed:
        status, text = KeyStatus.UNKNOWN, "unknown (the server could not be listed)"
    elif key is None:
        status = KeyStatus.DELETED
    elif key.disabled:
        status = KeyStatus.DISABLED
    elif entry.handed_out:
        text = entry.handed_out  # 'sent 2026-12-01T14:02', 'handed out 2026-12-01'
        return (text if in_roster else f"{KeyStatus.NOT_IN_ROSTER.value} ({text})"), (
            StatusCategory.NONE if in_roster else StatusCategory.INACTIVE
        )
    elif entry.retired:
        status = KeyStatus.REPLACED
    else:
        status = KeyStatus.NEW
    text = status.value if status is not KeyStatus.UNKNOWN else text
    if not in_roster:
        return f"{KeyStatus.NOT_IN_ROSTER.value} ({text})", StatusCategory.INACTIVE
    return text, CATEGORY[status]


def distribution_rows(
    entries: Iterable[LedgerEntry],
    participants: list[Participant] | None,
    notes: Mapping[str, RowNote],
    server: Mapping[str, ApiKey] | None,
) -> list[DistributionRow]:
    """keys.xlsx: the roster's participants in its order (when the command read it), then
    every other participant the state holds a key for. No row with a secret is ever dropped."""
    by_identity = {entry.identity: entry for entry in entries}
    rows: list[DistributionRow] = []
    placed: set[str] = set()
    for participant in participants or ():
        placed.add(participant.identity)
        entry = by_identity.get(participant.identity)
        if entry is not None and entry.has_key:
            rows.append(_row_with_key(entry, server, in_roster=True))
            continue
        note = notes.get(participant.identity) or RowNote(KeyStatus.NO_KEY, "not attempted")
        status = f"{note.status.value}: {note.detail}" if note.detail else note.status.value
        rows.append(
            DistributionRow(
                participant.name,
                ", ".join(participant.emails),
                None,
                participant.limit,
                participant.limit_reset,
                None,
                None,
                status,
                CATEGORY[note.status],
            )
        )
    for identity, entry in by_identity.items():
        if identity in placed or not entry.has_key:
            continue
        in_roster = participants is None and not entry.removed
        rows.append(_row_with_key(entry, server, in_roster=in_roster))
    return rows


def _row_with_key(
    entry: LedgerEntry, server: Mapping[str, ApiKey] | None, *, in_roster: bool
) -> DistributionRow:
    key = server.get(entry.hash or "") if server is not None else None
    status, category = key_status(entry, key, server is not None, in_roster=in_roster)
    row = DistributionRow.for_entry(entry, status, category)
    if key is not None and key.limit is not None:
        # The server's limit, so a top-up made since (set-limit, the dashboard) shows.
        return replace(row, limit=key.limit, limit_reset=key.limit_reset)
    return row
