"""The JSON audit log: what was done, when, by which run, with which result. Never a secret.

One JSON object per line in `audit.jsonl`, appended and flushed as things happen, so a run
that is killed still leaves a true account of what it did up to that moment.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.errors import StateWriteError
from keyprov.files import open_private_append
from keyprov.redaction import redact

AUDIT_FILE_NAME = "audit.jsonl"


class AuditLog:
    def __init__(self, path: Path, run_id: str | None = None) -> None:
        self.path = path
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
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
            try:
                os.write(self._fd, line)
            except OSError as error:
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
            # A disk failing the state too has already been said, with what it means for keys.
            if kind is None or not issubclass(kind, StateWriteError):
                raise
