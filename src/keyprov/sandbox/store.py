"""The sandbox's account: keys, guardrails and their assignments, under one lock.

One lock and one state file for all three, because they change together: deleting a key drops
its assignment, deleting a guardrail drops its assignments, and the file must always show one
consistent account.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyprov.sandbox.guardrails import AssignmentRecord, GuardrailRecord
from keyprov.sandbox.keys import USAGE_FIELDS, KeyRecord, mask_secret, secret_hash
from keyprov.sandbox.statefile import State, load_state, save_state
from keyprov.sandbox.validation import (
    DEFAULT_CREATOR_USER_ID,
    ORGANIZATION_ID,
    now_iso_z,
    now_timestamp,
)

KEY, MEMBER = "key", "member"


@dataclass(frozen=True)
class AssignResult:
    count: int  # rows added or moved (or removed, for an unassign)
    unknown: list[str]  # subjects that do not exist; nothing changed if refused for them


class Store:
    """Thread-safe in-memory account, written through to `state_path` after every change."""

    def __init__(self, state_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._state_path = state_path
        state = load_state(state_path) if state_path is not None and state_path.exists() else None
        state = state or State()
        self._keys = {r.hash: r for r in state.keys}
        self._guardrails = {r.id: r for r in state.guardrails}
        self._assignments = {(r.kind, r.subject): r for r in state.assignments}
        self._next_seq = 1 + max(
            (r.seq for r in [*state.keys, *state.guardrails, *state.assignments]), default=0
        )
        self._deleted_usage = 0.0
        """What deleted keys had spent: the account's usage keeps it (GET /credits)."""

    # -- keys ----------------------------------------------------------------------------------

    def create_key(self, fields_: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Store a key from validated fields; return (secret, Key). The secret is not kept."""
        secret = "sk-or-v1-" + secrets.token_hex(32)
        with self._lock:
            record = KeyRecord(
                hash=secret_hash(secret),
                label=mask_secret(secret),
                seq=self._take_seq(),
                created_at=now_timestamp(),
                **fields_,
            )
            self._keys[record.hash] = record
            self._save()
            return secret, record.to_api()

    def get_key(self, key_hash: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._keys.get(key_hash)
            return record.to_api() if record else None

    def find_by_secret(self, secret: str) -> dict[str, Any] | None:
        return self.get_key(secret_hash(secret))

    def select_keys(self, *, include_disabled: bool, workspace_id: str) -> list[KeyRecord]:
        """The keys a listing shows, newest first; render each with `render_key`."""
        with self._lock:
            return [
                r
                for r in self._newest_keys()
                if r.workspace_id == workspace_id and (include_disabled or not r.disabled)
            ]

    def render_key(self, record: KeyRecord) -> dict[str, Any]:
        # Under the lock, so a PATCH in flight is seen whole or not at all.
        with self._lock:
            return record.to_api()

    def all_keys(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_api() for r in self._newest_keys()]

    def update_key(self, key_hash: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            record = self._keys.get(key_hash)
            if record is None:
                return None
            for name, value in changes.items():
                setattr(record, name, value)
            record.updated_at = now_timestamp()
            self._save()
            return record.to_api()

    def set_usage(self, key_hash: str, usage: Mapping[str, float]) -> dict[str, Any]:
        """Overwrite usage numbers, keyed as in USAGE_FIELDS; raise KeyError for an unknown hash."""
        with self._lock:
            record = self._keys[key_hash]
            for name, value in usage.items():
                setattr(record, USAGE_FIELDS[name], value)
            self._save()
            return record.to_api()

    def add_spend(self, amounts: Mapping[str, float]) -> None:
        """Spend `amounts` USD now on these keys: every window counts it (one save for all)."""
        with self._lock:
            for key_hash, amount in amounts.items():
                record = self._keys.get(key_hash)
                if record is None:
                    continue
                record.usage += amount
                record.usage_daily += amount
                record.usage_weekly += amount
                record.usage_monthly += amount
            self._save()

    def reset_windows(self, windows: Iterable[str]) -> None:
        """Start the given usage windows ('daily', 'weekly', 'monthly') again on every key, as
        OpenRouter does at midnight UTC (weeks on Mondays, months on the 1st)."""
        names = [USAGE_FIELDS[window] for window in windows]
        with self._lock:
            for record in self._keys.values():
                for name in names:
                    setattr(record, name, 0.0)
                    setattr(record, "byok_" + name, 0.0)
            self._save()

    def total_usage(self) -> float:
        """Every key's all-time usage, deleted keys' included: the account's spend."""
        with self._lock:
            return self._deleted_usage + sum(r.usage for r in self._keys.values())

    def delete_key(self, key_hash: str) -> bool:
        with self._lock:
            gone = self._keys.pop(key_hash, None)
            if gone is None:
                return False
            self._deleted_usage += gone.usage
            self._assignments.pop((KEY, key_hash), None)  # an unguarded key is just gone
            self._save()
            return True

    # -- guardrails ----------------------------------------------------------------------------

    def create_guardrail(self, fields_: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            record = GuardrailRecord(
                id=str(uuid.uuid4()), seq=self._take_seq(), created_at=now_iso_z(), **fields_
            )
            self._guardrails[record.id] = record
            self._save()
            return record.to_api()

    def get_guardrail(self, guardrail_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._guardrails.get(guardrail_id)
            return record.to_api() if record else None

    def select_guardrails(self, *, workspace_id: str) -> list[GuardrailRecord]:
        """A workspace's guardrails, oldest first; render each with `render_guardrail`."""
        with self._lock:
            chosen = [r for r in self._guardrails.values() if r.workspace_id == workspace_id]
            return sorted(chosen, key=lambda r: r.seq)

    def render_guardrail(self, record: GuardrailRecord) -> dict[str, Any]:
        with self._lock:
            return record.to_api()

    def all_guardrails(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_api() for r in sorted(self._guardrails.values(), key=lambda r: r.seq)]

    def update_guardrail(
        self, guardrail_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        with self._lock:
            record = self._guardrails.get(guardrail_id)
            if record is None:
                return None
            for name, value in changes.items():
                setattr(record, name, value)
            record.updated_at = now_iso_z()
            self._save()
            return record.to_api()

    def delete_guardrail(self, guardrail_id: str) -> bool:
        with self._lock:
            if self._guardrails.pop(guardrail_id, None) is None:
                return False
            for where, row in list(self._assignments.items()):
                if row.guardrail_id == guardrail_id:
                    del self._assignments[where]
            self._save()
            return True

    # -- assignments ---------------------------------------------------------------------------

    def assign(
        self, guardrail_id: str, kind: str, subjects: Iterable[str], *, refuse_unknown: bool
    ) -> AssignResult | None:
        """Put each subject on the guardrail, moving it off any other; None if no guardrail.

        A subject already on this guardrail is not counted. Unknown subjects are skipped, or,
        with `refuse_unknown`, nothing is changed and they are returned.
        """
        with self._lock:
            if guardrail_id not in self._guardrails:
                return None
            subjects = list(subjects)
            unknown = [s for s in subjects if not self._exists(kind, s)]
            if unknown and refuse_unknown:
                return AssignResult(0, unknown)
            count = 0
            for subject in subjects:
                row = self._assignments.get((kind, subject))
                if subject in unknown or (row is not None and row.guardrail_id == guardrail_id):
                    continue
                self._assignments[(kind, subject)] = AssignmentRecord(
                    id=str(uuid.uuid4()),
                    kind=kind,
                    subject=subject,
                    guardrail_id=guardrail_id,
                    assigned_by=DEFAULT_CREATOR_USER_ID,
                    created_at=now_iso_z(),
                    seq=self._take_seq(),
                )
                count += 1
            if count:
                self._save()
            return AssignResult(count, unknown)

    def unassign(
        self, guardrail_id: str, kind: str, subjects: Iterable[str], *, refuse_unknown: bool
    ) -> AssignResult | None:
        """Take each subject off this guardrail; subjects on no or another guardrail are skipped."""
        with self._lock:
            if guardrail_id not in self._guardrails:
                return None
            subjects = list(subjects)
            unknown = [s for s in subjects if not self._exists(kind, s)]
            if unknown and refuse_unknown:
                return AssignResult(0, unknown)
            count = 0
            for subject in subjects:
                row = self._assignments.get((kind, subject))
                if row is not None and row.guardrail_id == guardrail_id:
                    del self._assignments[(kind, subject)]
                    count += 1
            if count:
                self._save()
            return AssignResult(count, unknown)

    def select_assignments(self, kind: str, guardrail_id: str | None) -> list[AssignmentRecord]:
        """Assignments of one kind, oldest first, of one guardrail or (None) of all."""
        with self._lock:
            rows = [
                r
                for r in self._assignments.values()
                if r.kind == kind and guardrail_id in (None, r.guardrail_id)
            ]
            return sorted(rows, key=lambda r: r.seq)

    def render_assignment(self, row: AssignmentRecord) -> dict[str, Any]:
        """A KeyAssignment (with the key's current name and label) or a MemberAssignment."""
        with self._lock:
            if row.kind == MEMBER:
                return {
                    "id": row.id,
                    "user_id": row.subject,
                    "organization_id": ORGANIZATION_ID,
                    "guardrail_id": row.guardrail_id,
                    "assigned_by": row.assigned_by,
                    "created_at": row.created_at,
                }
            key = self._keys.get(row.subject)
            return {
                "id": row.id,
                "key_hash": row.subject,
                "guardrail_id": row.guardrail_id,
                "key_name": key.name if key else "",
                "key_label": key.label if key else "",
                "assigned_by": row.assigned_by,
                "created_at": row.created_at,
            }

    def guardrails_over(self, key_hash: str) -> list[dict[str, Any]]:
        """The guardrails that govern a key: its own, and its creator's member guardrail."""
        with self._lock:
            key = self._keys.get(key_hash)
            subjects = [(KEY, key_hash), (MEMBER, key.creator_user_id if key else None)]
            rows = [self._assignments.get(s) for s in subjects if s[1] is not None]
            return [self._guardrails[r.guardrail_id].to_api() for r in rows if r is not None]

    def _exists(self, kind: str, subject: str) -> bool:
        if kind == KEY:
            return subject in self._keys
        # The account's members: its owner and whoever created a key.
        return subject == DEFAULT_CREATOR_USER_ID or any(
            k.creator_user_id == subject for k in self._keys.values()
        )

    # -- internals -----------------------------------------------------------------------------

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _newest_keys(self) -> list[KeyRecord]:
        return sorted(self._keys.values(), key=lambda r: r.seq, reverse=True)

    def _save(self) -> None:
        # Called with the lock held, so the file always reflects one complete, ordered state.
        if self._state_path is None:
            return
        state = State(
            keys=self._newest_keys(),
            guardrails=sorted(self._guardrails.values(), key=lambda r: r.seq),
            assignments=sorted(self._assignments.values(), key=lambda r: r.seq),
        )
        save_state(self._state_path, state)
