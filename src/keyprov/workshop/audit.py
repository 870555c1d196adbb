"""The JSON audit log: what was done, when, by which run, with which result. Never a secret.

One JSON object per line in `audit.jsonl`, appended and flushed as things happen, so a run
that is killed still leaves a true account of what it did up to that moment.
"""

from __future__ import annotations

import contextvars
import errno
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.errors import StateWriteError
from keyprov.files import cut_torn_tail, open_private_append
from keyprov.redaction import redact

AUDIT_FILE_NAME = "audit.jsonl"

_subject: contextvars.ContextVar[str | None] = contextvars.ContextVar("subject", default=None)
"""The participant a worker thread is busy with, so its retries are logged against them."""


def set_subject(identity: str | None) -> None:
    _subject.set(identity)


def current_subject() -> str | None:
    return _subject.get()


class AuditLog:
    def __init__(self, path: Path, run_id: str | None = None, *, locked: bool = False) -> None:
        """`locked`: the caller holds the workshop's lock, so no other run is appending, and a
        last line torn by a full disk can be dropped before this run's lines follow it."""
        self.path = path
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._error: OSError | None = None
        if locked and path.exists():
            cut_torn_tail(path)
        self._fd = open_private_append(path)

    def event(self, event: str, **fields: Any) -> None:
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "run_id": self.run_id,
            "event": event,
            **fields,
        }
        # Error texts come from servers and libraries: mask anything key-shaped on the way out.
        line = (redact(json.dumps(record, ensure_ascii=False, default=str)) + "\n").encode()
        with self._lock:
            if self._error is not None:  # after a torn record, a next one would be glued on
                raise self._not_written(self._error)
            try:
                written = os.write(self._fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, f"wrote {written} of {len(line)} bytes")
            except OSError as error:
                self._error = error
                raise self._not_written(error) from error

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                try:
                    os.fsync(self._fd)
                except OSError as error:
                    raise self._not_written(error) from error
                finally:
                    os.close(self._fd)
                    self._fd = -1

    def _not_written(self, error: OSError) -> StateWriteError:
        return StateWriteError(
            f"{self.path}: the audit log could not be written ({error}). Free disk space or "
            "fix the disk, then run again. It holds no key: the local state and keys.xlsx are "
            "written apart from it."
        )

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            self.close()
        except StateWriteError:
            # Raised only on its own: an error already on its way out (a rejected key, Ctrl-C,
            # the state's own disk failure) is the one the user must hear, with its exit code.
            if kind is None:
                raise
