"""Each participant's outcome in a run: recorded once, audited, noted for keys.xlsx."""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from keyprov.engine.session import Session
from keyprov.errors import KeyprovError
from keyprov.models import ApiKey
from keyprov.workshop.keys_sheet import KeyStatus, RowNote
from keyprov.workshop.names import workshop_slug


def rotate_command(workshop: str, roster: Path | None, *options: str) -> str:
    """`keyprov rotate` for this workshop: its roster as the user gave it (with --workshop
    when the roster's name is not the workshop's), else --workshop alone."""
    words = ["keyprov", "rotate"]
    if roster is not None:
        words.append(str(roster))
    if roster is None or workshop_slug(roster.stem) != workshop:
        words.extend(["--workshop", workshop])
    return shlex.join([*words, *options])


def participant_options(identities: list[str]) -> list[str]:
    """`--participant ID` for each, in order."""
    return [word for identity in identities for word in ("--participant", identity)]


log = logging.getLogger(__name__)


class Outcome(StrEnum):
    CREATED = "created"
    PRESENT = "present"
    UPDATED = "updated"
    FAILED = "failed"
    UNRESOLVED = "outcome unknown"
    DISABLED = "disabled on server"
    SECRET_LOST = "secret lost"
    DUPLICATED = "has extra keys"
    ELSEWHERE = "held elsewhere"
    """Another copy of the workshop (another machine, another folder) holds their key."""

    @property
    def is_provisioned(self) -> bool:
        return self in (Outcome.CREATED, Outcome.PRESENT, Outcome.UPDATED)


@dataclass(frozen=True)
class ParticipantResult:
    identity: str
    name: str
    email: str
    outcome: Outcome
    detail: str = ""
    key_hash: str | None = None
    label: str | None = None


ResultCallback = Callable[[ParticipantResult], None]


class Results:
    """Each participant's outcome: recorded once, audited, noted for keys.xlsx, reported."""

    def __init__(self, session: Session, on_result: ResultCallback | None) -> None:
        self.session = session
        self.on_result = on_result
        self.by_identity: dict[str, ParticipantResult] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.fatal: KeyprovError | None = None

    def finish(
        self,
        identity: str,
        name: str,
        email: str,
        outcome: Outcome,
        detail: str = "",
        key: ApiKey | None = None,
    ) -> ParticipantResult:
        result = ParticipantResult(
            identity,
            name,
            email,
            outcome,
            detail,
            key.hash if key else None,
            key.label if key else None,
        )
        with self._lock:
            self.by_identity[identity] = result
            self.session.counts[outcome.value] += 1
            if not outcome.is_provisioned:
                self.session.note(identity, RowNote(KeyStatus.NO_KEY, f"{outcome.value}: {detail}"))
        log.debug("%s: %s %s %s", identity, outcome.value, result.label or "", detail)
        self.session.audit.event(
            "participant",
            participant=identity,
            outcome=outcome.value,
            detail=detail,
            hash=result.key_hash,
            label=result.label,
        )
        if self.on_result is not None:
            self.on_result(result)
        return result

    def stop_run(self, error: KeyprovError) -> None:
        """Start no further create: the key is refused, or the state cannot be written."""
        with self._lock:
            if self.fatal is None:
                self.fatal = error
        self.stop.set()

    def raise_fatal(self) -> None:
        if self.fatal is not None:
            raise self.fatal
