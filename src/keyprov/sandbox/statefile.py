"""The `--state` file: every key, guardrail and assignment, written whole after each change.

Keys are kept as their records, which hold the sha256 of each secret and never the secret, so a
state file can be shared or committed without leaking a usable key.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keyprov.sandbox.guardrails import (
    ASSIGNMENT_FIELDS,
    GUARDRAIL_FIELDS,
    AssignmentRecord,
    GuardrailRecord,
)
from keyprov.sandbox.keys import KEY_RECORD_FIELDS, KeyRecord

STATE_FORMAT = "keyprov-sandbox-state"
STATE_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # version 1 had keys only


@dataclass
class State:
    keys: list[KeyRecord] = field(default_factory=list)
    guardrails: list[GuardrailRecord] = field(default_factory=list)
    assignments: list[AssignmentRecord] = field(default_factory=list)


def save_state(path: Path, state: State) -> None:
    data = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "keys": [asdict(r) for r in state.keys],
        "guardrails": [asdict(r) for r in state.guardrails],
        "assignments": [asdict(r) for r in state.assignments],
    }
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    # Temp file in the same directory + os.replace: a reader or a crash never sees half a file.
    # No fsync: this guards against a killed process, not a power cut, and keeps creates fast.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sandbox-state-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _records(items: list[dict[str, Any]], cls: type, known: set[str]) -> list[Any]:
    # Fields a later version added are dropped, so an older sandbox can still read the file.
    return [cls(**{k: v for k, v in item.items() if k in known}) for item in items]


def load_state(path: Path) -> State:
    """Read a state file; raise ValueError naming the file when it cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != STATE_FORMAT or data.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"expected format {STATE_FORMAT!r} version {STATE_VERSION}")
        return State(
            keys=_records(data["keys"], KeyRecord, KEY_RECORD_FIELDS),
            guardrails=_records(data.get("guardrails", []), GuardrailRecord, GUARDRAIL_FIELDS),
            assignments=_records(data.get("assignments", []), AssignmentRecord, ASSIGNMENT_FIELDS),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read sandbox state file {path}: {exc}") from exc
