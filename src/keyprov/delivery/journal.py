"""The delivery journal, `deliveries.jsonl`: which key was sent to whom, never the key itself.

Append-only, one JSON record per line, each fsynced before the next step: `sending` before a
message goes out, then `sent` (with its Message-ID) or `failed`. Records are keyed by the
participant's identity and the key's hash. A `sending` with nothing after it means a run
stopped while sending: whether the message left is unknown, so it is sent again (at worst a
second copy of the same key to the same person). A last line torn by a crash is ignored.
"""

from __future__ import annotations

import enum
import errno
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.errors import ConfigurationError, StateWriteError
from keyprov.files import cut_torn_tail, fsync_dir, open_private_append

JOURNAL_FILE_NAME = "deliveries.jsonl"


class Status(enum.StrEnum):
    NEVER = "never sent"
    SENT = "sent"
    UNKNOWN = "sending, outcome unknown"
    FAILED = "failed"


@dataclass(frozen=True)
class SentKey:
    key_hash: str
    key_label: str
    message_id: str
    at: str = ""
    """When the server accepted it (ISO 8601, UTC)."""


@dataclass
class _KeyState:
    status: Status = Status.NEVER
    key_label: str = ""
    message_id: str = ""


class DeliveryJournal:
    """The journal in `folder` (the workshop's folder, which the caller has made private)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / JOURNAL_FILE_NAME
        self._keys: dict[tuple[str, str], _KeyState] = {}
        self._last_sent: dict[str, SentKey] = {}
        self._tail_checked = False
        if self.path.exists():
            self._replay()

    def status(self, identity: str, key_hash: str) -> Status:
        """SENT once any message with this key reached the server for this participant."""
        state = self._keys.get((identity, key_hash))
        return state.status if state else Status.NEVER

    def last_sent(self, identity: str) -> SentKey | None:
        """The key most recently sent to this participant, if any."""
        return self._last_sent.get(identity)

    def record_sending(
        self, identity: str, key_hash: str, *, key_label: str, email: str, message_id: str
    ) -> None:
        """Before the message is handed to the server."""
        self._append(
            "sending",
            identity=identity,
            key_hash=key_hash,
            key_label=key_label,
            email=email,
            message_id=message_id,
        )

    def record_sent(self, identity: str, key_hash: str, *, key_label: str, message_id: str) -> None:
        """After the server accepted the message."""
        self._append(
            "sent", identity=identity, key_hash=key_hash, key_label=key_label, message_id=message_id
        )

    def record_failed(
        self,
        identity: str,
        key_hash: str,
        *,
        key_label: str,
        message_id: str | None,
        reason: str,
        permanent: bool,
    ) -> None:
        """After the server refused the message, or every retry failed."""
        self._append(
            "failed",
            identity=identity,
            key_hash=key_hash,
            key_label=key_label,
            message_id=message_id,
            reason=reason,
            permanent=permanent,
        )

    def _apply(self, record: dict[str, Any]) -> None:
        identity, key_hash = record["identity"], record["key_hash"]
        state = self._keys.setdefault((identity, key_hash), _KeyState())
        event = record["event"]
        label = record.get("key_label") or state.key_label
        if event == "sent":
            state.status = Status.SENT
            state.key_label = label
            state.message_id = record.get("message_id") or ""
            self._last_sent[identity] = SentKey(
                key_hash, label, state.message_id, str(record.get("at") or "")
            )
        elif state.status is not Status.SENT:
            # Once a key was sent it stays sent: a forced resend that did not finish must not
            # make the next run send it yet again.
            state.status = Status.UNKNOWN if event == "sending" else Status.FAILED
            state.key_label = label

    def _append(self, event: str, **fields: Any) -> None:
        record = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        record.update(fields)
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            is_new = not self.path.exists()
            if not is_new and not self._tail_checked:
                cut_torn_tail(self.path)
            fd = open_private_append(self.path)
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, f"wrote {written} of {len(data)} bytes")
                os.fsync(fd)
            finally:
                os.close(fd)
            if is_new:
                fsync_dir(self.path.parent)
        except OSError as error:
            raise StateWriteError(
                f"{self.path}: the delivery journal could not be written ({error}); no further "
                "messages are sent. Free disk space or fix the disk, then run again: messages "
                "whose outcome was not recorded are sent again."
            ) from error
        self._tail_checked = True
        self._apply(record)

    def _replay(self) -> None:
        lines = self.path.read_bytes().splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                record["identity"], record["key_hash"], record["event"]
            except (ValueError, KeyError) as error:
                if number == len(lines):
                    break  # a write torn by a crash; everything before it is intact
                raise ConfigurationError(
                    f"{self.path}, line {number}: the delivery journal is damaged ({error}). "
                    "Restore it from a backup, or move it away: the next run then sends every "
                    "participant their key again."
                ) from error
            self._apply(record)
