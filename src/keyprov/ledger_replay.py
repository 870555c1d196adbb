"""Reading state.jsonl back: its records, in order, into each participant's entry.

A last line torn by a crash is ignored (everything before it is intact); a damaged line
before the last, or a record of a kind this keyprov does not know, is a LocalFileError
saying what to do, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keyprov.errors import LocalFileError
from keyprov.ledger_entry import LedgerEntry, record_damage


@dataclass
class Replayed:
    """What reading the journal found, besides the entries."""

    sheet_digest: str | None = None
    """The sha256 of keys.xlsx as the last run wrote it: when the file still has it, every
    secret in it is in this state too, and it need not be read back."""
    sheet_content: str | None = None
    """The digest of what that keys.xlsx was made from (`outputs.keys_fingerprint`): when it
    is also what this run would write, the file need not be written again."""
    torn_tail: bool = False
    """The last line was cut short (a crash, a full disk): a record may be missing."""
    naming: tuple[str, str | None] | None = None
    """How the workshop names its keys: (mode, secret); None when never recorded (a state
    from before key-name modes: readable names)."""
    damaged: dict[str, str] = field(default_factory=dict)
    """Participants whose record lacks what it needs, or holds what cannot be (keyprov.damage),
    with what is wrong: repaired from keys.xlsx and the server, or the run stops."""


RECORD_KINDS = (
    "intent",
    "created",
    "recovered",
    "updated",
    "sheet",
    "targets",
    "renamed",
    "naming",
)


_ENTRY_FIELDS = frozenset(LedgerEntry.__dataclass_fields__)


def _known_fields(record: dict[str, Any]) -> dict[str, Any]:
    # Fields this keyprov does not know (a newer one wrote them) are left out, not an error.
    return {name: value for name, value in record.items() if name in _ENTRY_FIELDS}


def replay(path: Path) -> tuple[dict[str, LedgerEntry], Replayed]:
    entries: dict[str, LedgerEntry] = {}
    replayed = Replayed()
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise LocalFileError(
            f"{path}: the local state cannot be read ({error.strerror or error}). It must be "
            "a file keyprov wrote (state.jsonl); move whatever is there away, and keyprov "
            "takes the keys back from keys.xlsx on the next run."
        ) from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            event = record.pop("event")
            record.pop("at", None)
            if event == "sheet":
                replayed.sheet_digest = str(record["sha256"])
                content = record.get("content")  # absent in records of older versions
                replayed.sheet_content = None if content is None else str(content)
                continue
            if event == "naming":
                secret = record.get("secret")
                replayed.naming = (str(record["mode"]), None if secret is None else str(secret))
                continue
            if event == "targets":
                for identity, target in dict(record["targets"]).items():
                    if identity in entries:
                        entries[identity] = replace(
                            entries[identity], limit_target=float(target), limit_op=record["op"]
                        )
                continue
            identity = record["identity"]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if number == len(lines):
                replayed.torn_tail = True
                break  # a write torn by a crash; everything before it is intact
            raise LocalFileError(
                f"{path}, line {number}: the local state is damaged ({error}). Restore it "
                "from a backup, or move it away: the next run takes back every key keys.xlsx "
                "holds, and reports the others whose keys exist on the server without "
                "their secret."
            ) from error
        if event not in RECORD_KINDS:
            raise LocalFileError(
                f"{path}, line {number}: a record of an unknown kind ({event!r}); it was "
                "written by another program or a newer keyprov. Use that keyprov, or move "
                "the file away (keys.xlsx then gives the keys back)."
            )
        if event == "renamed":
            if record["from"] in entries:
                moved = entries.pop(record["from"])
                entries[identity] = replace(
                    moved, identity=identity, participant_id=record["participant_id"]
                )
            continue
        run = record.pop("run", None)
        fields = record if record.keys() <= _ENTRY_FIELDS else _known_fields(record)
        if event == "updated":
            if identity in entries:
                entries[identity] = replace(entries[identity], **fields)
            continue
        fields, damage = record_damage(event, fields)
        if event == "intent" and damage is None:
            previous = entries.get(identity) or LedgerEntry(identity, fields["key_name"])
            pending_run = run if run is not None else fields.get("pending_run")
            entries[identity] = replace(
                previous, key_name=fields["key_name"], pending=True, pending_run=pending_run
            )
        else:
            entries[identity] = LedgerEntry(**fields)
        if damage is None:
            replayed.damaged.pop(identity, None)
        else:
            replayed.damaged[identity] = damage
    return entries, replayed
