"""keys.xlsx: who gets which key. Its rows, the one vocabulary its Status column speaks (a
status and the colour it gives its row), and the file, written atomically and owner-only.

Every command that changes a workshop rebuilds keys.xlsx through `distribution_rows`, from the
local state, what the server last said about each key, and what this run did. The status
words say what the instructor has to do with a row, not what the program did. The file is
made to be opened in a spreadsheet app and printed (see keyprov.printable): money to the cent,
dates as dates, keys in a monospace font so that 0 and O, 1 and l can be told apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from keyprov.errors import StateWriteError
from keyprov.files import write_report_file
from keyprov.models import ApiKey
from keyprov.printable import (
    Paper,
    PlainSheet,
    Sheet,
    as_utc_datetime,
    workbook_bytes,
)
from keyprov.roster import Participant
from keyprov.workshop.journal import LedgerEntry

KEYS_FILE_NAME = "keys.xlsx"
HANDOUTS_FILE = "handouts.pdf"
ON_SLIPS = "on slips"
"""How a key written to handouts.pdf is marked: 'on slips 7 Dec 2026'."""
# Widths in Excel's units (one digit of the default font). The key, 73 characters of 9 pt
# Courier New, takes the most room; the rest is as narrow as it can be while the whole row
# still prints across a landscape A4 or Letter page at about 75 % (8 pt text).
COLUMNS = (
    ("Name", 20),
    ("Email", 30),
    ("API key", 74),
    ("Limit USD", 7),
    ("Limit reset", 8),
    ("Expires", 18),
    ("Key hash", 9),
    ("Status", 18),
)
_KEY_STYLES = ("wrap", "wrap", "mono", "money", "short", "date", "mono_small", "wrap")


class StatusCategory(StrEnum):
    """What a keys.xlsx row asks of the instructor; it colours the row."""

    NONE = ""
    HAND_OUT = "hand out"
    """A new or replaced key: give it to the participant (again). Light yellow."""
    PROBLEM = "problem"
    """No working key for someone in the roster (failed, unknown). Light red."""
    INACTIVE = "inactive"
    """The key no longer works or is no longer needed (disabled, not in roster). Grey text."""


@dataclass(frozen=True)
class DistributionRow:
    name: str
    email: str
    secret: str | None
    limit: float | None
    limit_reset: str | None
    expires_at: str | None
    key_hash: str | None
    status: str
    category: StatusCategory = StatusCategory.NONE

    @classmethod
    def for_entry(
        cls, entry: LedgerEntry, status: str, category: StatusCategory = StatusCategory.NONE
    ) -> DistributionRow:
        """A participant's row as the local state knows their key."""
        return cls(
            entry.name,
            ", ".join(entry.addresses),
            entry.secret,
            entry.limit,
            entry.limit_reset,
            entry.expires_at,
            entry.hash,
            status,
            category,
        )


KEYS_LAYOUT = 1
"""Bump when keys.xlsx is laid out differently from the same rows, so that a rerun after the
change rewrites it (a new release does anyway: its version is in `keys_fingerprint`)."""


def keys_fingerprint(
    rows: Sequence[DistributionRow],
    *,
    paper: Paper = "A4",
    title: str = "",
    about: PlainSheet | None = None,
) -> str:
    """A digest of everything `write_keys_workbook` makes keys.xlsx from.

    Building a workbook of 10,000 rows takes over a second, and a rerun that changed nothing
    would write the very same file again: with this digest recorded beside the file's own
    (`Ledger.record_sheet`), a run can tell that the file on disk is already what it would
    write. The rows are frozen dataclasses of plain values, so their repr is the same for the
    same rows in every run.
    """
    from keyprov import tool_version

    made_of = (KEYS_LAYOUT, tool_version(), paper, title, list(rows), about)
    return hashlib.sha256(repr(made_of).encode()).hexdigest()


def write_keys_workbook(
    path: Path,
    rows: list[DistributionRow],
    *,
    paper: Paper = "A4",
    title: str = "",
    about: PlainSheet | None = None,
) -> None:
    """Write keys.xlsx atomically with mode 0600, ready to print on `paper` ("A4" or "Letter").

    `title` (the workshop, say) heads every printed page. Call it only once the state holding
    these secrets is on disk. Raises StateWriteError, or ConfigurationError for an unknown paper.
    """
    cells = [
        (
            row.name,
            row.email,
            row.secret or "",
            row.limit,
            row.limit_reset or "",
            as_utc_datetime(row.expires_at),
            row.key_hash or "",
            row.status,
        )
        for row in rows
    ]
    # A category's value is the name of its tint (keyprov.printable); NONE has none.
    tints = [StatusCategory(row.category).value or None for row in rows]
    sheet = Sheet("keys", COLUMNS, _KEY_STYLES, cells, tints)
    sheet.page_footer = "Private: these are API keys. Hand each one only to its owner."
    content = workbook_bytes(sheet, paper=paper, title=title, extra=(about,) if about else ())
    write_report_file(
        path,
        content,
        then="the keys are saved in the local state, from which the next run writes it again. "
        "Free disk space or fix the disk, then run again.",
        error=StateWriteError,
    )


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
    entry: LedgerEntry,
    key: ApiKey | None,
    server_listed: bool,
    *,
    in_roster: bool,
    closed: bool = False,
) -> tuple[str, StatusCategory]:
    """The Status of a row whose participant has a key in the local state, and its colour.

    In a closed workshop (keyprov.engine.gating) a disabled key waits on purpose: its row
    says what it would say open, and that it waits."""
    if closed and server_listed and in_roster and key is not None and key.disabled:
        open_text, category = key_status(entry, replace(key, disabled=False), True, in_roster=True)
        return f"{open_text} (closed: works once open or claimed)", category
    if not server_listed:
        status, text = KeyStatus.UNKNOWN, "unknown (the server could not be listed)"
    elif key is None:
        status = KeyStatus.DELETED
    elif key.disabled:
        status = KeyStatus.DISABLED
        if entry.on_slips:
            text = f"disabled; {HANDOUTS_FILE} still holds this key, which no longer works"
            return text, StatusCategory.INACTIVE
    elif entry.handed_out:
        text = entry.handed_out  # 'sent 1 Dec 2026 14:02 UTC', 'on slips 1 Dec 2026'
        return (text if in_roster else f"{KeyStatus.NOT_IN_ROSTER.value} ({text})"), (
            StatusCategory.NONE if in_roster else StatusCategory.INACTIVE
        )
    elif entry.previous_handed_out:
        status = KeyStatus.REPLACED
        if entry.previous_handed_out.startswith(ON_SLIPS):
            text = (
                f"replaced — hand out again: {HANDOUTS_FILE} holds the old key; keyprov "
                "handouts writes it again"
            )
            return (text, CATEGORY[status]) if in_roster else (text, StatusCategory.INACTIVE)
    elif entry.retired:
        status = KeyStatus.NEW  # the key it replaced never reached them: this is their first
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
    *,
    closed: bool = False,
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
            rows.append(_row_with_key(entry, server, in_roster=True, closed=closed))
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
        rows.append(_row_with_key(entry, server, in_roster=in_roster, closed=closed))
    return rows


def _row_with_key(
    entry: LedgerEntry,
    server: Mapping[str, ApiKey] | None,
    *,
    in_roster: bool,
    closed: bool = False,
) -> DistributionRow:
    key = server.get(entry.hash or "") if server is not None else None
    status, category = key_status(
        entry, key, server is not None, in_roster=in_roster, closed=closed
    )
    row = DistributionRow.for_entry(entry, status, category)
    if key is not None and key.limit is not None:
        # The server's limit, so a top-up made since (set-limit, the dashboard) shows.
        return replace(row, limit=key.limit, limit_reset=key.limit_reset)
    return row
