"""The delivery journal, `deliveries.jsonl`: which key was sent to whom, never the key itself.

Append-only, one JSON record per line, each fsynced before the next step: `sending` before a
message goes out (with the transport it goes through), then `sent` (with its Message-ID and
the provider's own id), `failed`, or `unknown` (an HTTP provider gave no usable answer after
the request left). Records are keyed by the participant's identity and the key's hash.

A `sending` with nothing after it means a run stopped while sending. Over SMTP the message is
then sent again (at worst a second copy of the same key to the same person), as it always
was. Through an HTTP provider it is *held*, like an `unknown`: none of them can tell a second
request from a new message, so it is looked up in the provider's log where that is possible
and otherwise sent again only when the user asks. A last line torn by a crash is ignored.
"""

from __future__ import annotations

import enum
import errno
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keyprov.delivery.mailer import Attempt
from keyprov.errors import ConfigurationError, StateWriteError
from keyprov.files import cut_torn_tail, fsync_dir, open_private_append

JOURNAL_FILE_NAME = "deliveries.jsonl"


class Status(enum.StrEnum):
    NEVER = "never sent"
    SENT = "sent"
    UNKNOWN = "sending, outcome unknown"
    """Over SMTP: sent again."""
    HELD = "outcome unknown, held"
    """Through an HTTP provider: not sent again until looked up or asked for."""
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
    attempt: Attempt | None = None
    """The last message handed to a transport for this key."""


@dataclass(frozen=True)
class _Sending:
    at: datetime
    transport: str
    addresses: int
    message_id: str


class DeliveryJournal:
    """The journal in `folder` (the workshop's folder, which the caller has made private)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / JOURNAL_FILE_NAME
        self._keys: dict[tuple[str, str], _KeyState] = {}
        self._last_sent: dict[str, SentKey] = {}
        self._sendings: list[_Sending] = []
        self._refused: set[str] = set()
        """Message-IDs the server refused: they cost no quota."""
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

    def held_attempt(self, identity: str, key_hash: str) -> Attempt | None:
        """The message whose outcome is unknown, when this key's status is HELD."""
        state = self._keys.get((identity, key_hash))
        return state.attempt if state and state.status is Status.HELD else None

    def sent_since(self, transport: str, hours: float = 24.0) -> int:
        """Addresses messages went to through `transport` in the last `hours`, counting
        every message that may have been accepted (sent, unknown, interrupted)."""
        since = datetime.now(UTC) - timedelta(hours=hours)
        return sum(
            item.addresses
            for item in self._sendings
            if item.transport == transport
            and item.at >= since
            and item.message_id not in self._refused
        )

    def record_sending(
        self,
        identity: str,
        key_hash: str,
        *,
        key_label: str,
        email: str,
        message_id: str,
        transport: str = "smtp",
        recipients: tuple[str, ...] = (),
    ) -> None:
        """Before the message is handed to the server."""
        extra: dict[str, Any] = {"transport": transport}
        if recipients and recipients != (email,):
            extra["recipients"] = list(recipients)
        self._append(
            "sending",
            identity=identity,
            key_hash=key_hash,
            key_label=key_label,
            email=email,
            message_id=message_id,
            **extra,
        )

    def record_sent(
        self,
        identity: str,
        key_hash: str,
        *,
        key_label: str,
        message_id: str,
        provider_id: str | None = None,
        reconciled: bool = False,
    ) -> None:
        """After the server accepted the message (or its log showed it did)."""
        extra: dict[str, Any] = {}
        if provider_id:
            extra["provider_id"] = provider_id
        if reconciled:
            extra["reconciled"] = True
        self._append(
            "sent",
            identity=identity,
            key_hash=key_hash,
            key_label=key_label,
            message_id=message_id,
            **extra,
        )

    def record_unknown(
        self, identity: str, key_hash: str, *, key_label: str, message_id: str, reason: str
    ) -> None:
        """After a request that left got no usable answer: it may have been delivered."""
        self._append(
            "unknown",
            identity=identity,
            key_hash=key_hash,
            key_label=key_label,
            message_id=message_id,
            reason=reason,
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
        if event == "sending":
            self._note_sending(record, state)
        elif event == "failed" and record.get("message_id"):
            self._refused.add(str(record["message_id"]))
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
            if event == "sending":
                over_smtp = state.attempt is None or state.attempt.transport == "smtp"
                state.status = Status.UNKNOWN if over_smtp else Status.HELD
            elif event == "unknown":
                state.status = Status.HELD
            else:
                state.status = Status.FAILED
            state.key_label = label

    def _note_sending(self, record: dict[str, Any], state: _KeyState) -> None:
        email = str(record.get("email") or "")
        recipients = tuple(record.get("recipients") or ()) or ((email,) if email else ())
        transport = str(record.get("transport") or "smtp")
        at = str(record.get("at") or "")
        message_id = str(record.get("message_id") or "")
        state.attempt = Attempt(message_id, recipients, at, transport)
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            return
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self._sendings.append(_Sending(moment, transport, max(len(recipients), 1), message_id))

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
