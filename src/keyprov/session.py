"""A command's hold on a workshop that it changes.

A session holds the workshop's lock, the state journal and the audit log, frames the run in
the audit log, and on the way out saves the state and then rebuilds keys.xlsx, in that
order, whatever happened.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from keyprov import tool_version
from keyprov.audit import AuditLog, current_subject
from keyprov.client import OpenRouterClient, RetryEvent
from keyprov.distribution import RowNote, distribution_rows
from keyprov.errors import ConfigurationError, KeyprovError, StateWriteError
from keyprov.files import ensure_private_dir, remove_stale_temporaries
from keyprov.gitignore import refuse_unignored
from keyprov.ledger import Ledger
from keyprov.lock import workshop_lock
from keyprov.models import ApiKey
from keyprov.outputs import write_keys_workbook
from keyprov.recovery import file_digest
from keyprov.roster import Participant
from keyprov.snapshot import Snapshot, confirm_known, list_server_keys, lost_entries, server_with
from keyprov.status import ExitStatus
from keyprov.workshop import Workshop

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    """What a run went through on the way, beyond each participant's outcome."""

    retries: Counter[str] = field(default_factory=Counter)
    """Requests sent again, by what failed: '429', '503', 'TransportError', ..."""
    waited_on_429_s: float = 0.0
    unanswered_creates: int = 0
    """Creates whose answer never came (the key may or may not exist)."""
    made_by_unanswered: int = 0
    """Of those, keys the server had made: nobody held their secret."""
    deleted_undelivered: int = 0
    disabled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "retries": dict(self.retries),
                "waited_on_429_s": round(self.waited_on_429_s, 3),
                "unanswered_creates": self.unanswered_creates,
                "made_by_unanswered": self.made_by_unanswered,
                "deleted_undelivered": self.deleted_undelivered,
                "disabled": self.disabled,
            }

    def retried(self, event: RetryEvent) -> None:
        reason = str(event.status) if event.status is not None else event.error
        with self._lock:
            self.retries[reason] += 1
            if event.status == 429:
                self.waited_on_429_s += event.wait


@dataclass
class Session:
    """One command's hold on a workshop: its lock, state journal and audit log.

    Commands note here what they learnt about each participant's key (`note`, `saw`), so
    that keys.xlsx is rebuilt once, at the end, by one row builder.
    """

    workshop: Workshop
    client: OpenRouterClient
    ledger: Ledger
    audit: AuditLog
    command: str
    participants: list[Participant] | None = None
    """The roster, in its order, when the command read one; keys.xlsx follows it."""
    notes: dict[str, RowNote] = field(default_factory=dict)
    server: dict[str, ApiKey] | None = None
    """The server's keys by hash as last seen, for keys.xlsx's statuses (None: not listed)."""
    exit_status: ExitStatus = ExitStatus.OK
    counts: Counter[str] = field(default_factory=Counter)
    stats: RunStats = field(default_factory=RunStats)

    def key_name(self, identity: str) -> str:
        return self.workshop.key_name(identity)

    def note(self, identity: str, note: RowNote) -> None:
        self.notes[identity] = note

    def saw(self, keys: list[ApiKey] | ApiKey) -> None:
        """Remember the server's answer for a key (or a whole listing) for keys.xlsx."""
        if isinstance(keys, ApiKey):
            if self.server is not None:
                self.server[keys.hash] = keys
            return
        self.server = {key.hash: key for key in keys}

    def gone(self, key_hash: str) -> None:
        """A key deleted on the server by this run."""
        if self.server is not None:
            self.server.pop(key_hash, None)

    def snapshot(self) -> Snapshot:
        """The state as this session holds it, and the server's keys, listed now.

        Keys keys.xlsx holds that the state lost are taken back into the state first, and
        every key the state knows is confirmed on the server, listed or not.
        """
        keys = confirm_known(self.client, self.ledger.entries(), list_server_keys(self.client))
        recovered = lost_entries(self.workshop, self.ledger, keys, self.client)
        for entry in recovered:
            self.ledger.record_recovered(entry)
            self.audit.event(
                "recovered",
                participant=entry.identity,
                hash=entry.hash,
                label=entry.label,
                source="keys.xlsx",
            )
        keys = server_with(keys, recovered, self.client)
        self.saw(keys)
        entries = {entry.identity: entry for entry in self.ledger.entries()}
        return Snapshot(self.workshop, entries, keys)

    def audit_retry(self, event: RetryEvent) -> None:
        subject = current_subject()
        self.stats.retried(event)
        log.info(
            "retrying %s for %s (attempt %d, status %s, waiting %.2f s)",
            event.operation,
            subject,
            event.attempt,
            event.status,
            event.wait,
        )
        self.audit.event("retry", participant=subject, **asdict(event))

    def save(self) -> StateWriteError | None:
        """Compact the state, then rebuild keys.xlsx from it; the error that stopped either.

        In this order: a secret must not be handed out from keys.xlsx unless the state holding
        it is on disk, or the next run would take its key for an undelivered one and delete
        it. So when the state cannot be saved, keys.xlsx is left as the last run wrote it.
        """
        try:
            self.ledger.compact()
            rows = distribution_rows(
                self.ledger.entries(), self.participants, self.notes, self.server
            )
            write_keys_workbook(self.workshop.keys_path, rows)
        except StateWriteError as error:
            return error
        digest = file_digest(self.workshop.keys_path)
        if digest is not None:
            # Not a failure if this one record is lost: the next run then reads keys.xlsx back.
            with contextlib.suppress(StateWriteError):
                self.ledger.record_sheet(digest)
        return None


@contextlib.contextmanager
def session(
    workshop: Workshop,
    client: OpenRouterClient,
    command: str,
    *,
    force: bool = False,
    require_state: bool = False,
    details: Mapping[str, Any] | None = None,
) -> Iterator[Session]:
    """Hold the workshop for one command that writes; on exit save the state, then keys.xlsx.

    Raises LockedError at once when another run holds the workshop, and StateWriteError when
    the state cannot be saved (said even over another error: "keys created so far are saved"
    would be untrue).
    """
    if require_state and not workshop.state_path.exists():
        raise ConfigurationError(
            f"no local state for workshop {workshop.name!r} in {workshop.folder}: provision it "
            "first, or point --out at the folder that holds it."
        )
    # The whole folder must be ignored: temporary copies of the secret files live there too.
    refuse_unignored([workshop.folder / ".any-file"], force=force)
    folder = ensure_private_dir(workshop.folder)
    started = time.monotonic()
    with (
        workshop_lock(folder),
        Ledger.open(workshop.state_path) as ledger,
        AuditLog(workshop.audit_path, locked=True) as audit,
    ):
        remove_stale_temporaries(folder)
        held = Session(workshop, client, ledger, audit, command)
        audit.event(
            "run_start",
            command=command,
            tool_version=tool_version(),
            base_url=client.base_url,
            **(details or {}),
        )
        previous_on_retry = client.on_retry
        client.on_retry = held.audit_retry
        status: ExitStatus | str = "error"
        try:
            yield held
            status = held.exit_status
        except KeyboardInterrupt:
            status = ExitStatus.INTERRUPTED
            raise
        except KeyprovError as error:
            status = error.exit_status
            raise
        finally:
            client.on_retry = previous_on_retry
            not_saved = held.save()
            if not_saved is not None:
                status = not_saved.exit_status
            try:
                audit.event(
                    "run_end",
                    command=command,
                    exit_status=int(status) if isinstance(status, ExitStatus) else status,
                    counts=dict(held.counts),
                    stats=held.stats.as_dict(),
                    duration_s=round(time.monotonic() - started, 3),
                    **({"not_saved": str(not_saved)} if not_saved else {}),
                )
            except StateWriteError:
                if not_saved is None:
                    raise  # else the state's own failure is the one to tell
            if not_saved is not None:
                raise not_saved


@contextlib.contextmanager
def audited(
    workshop: Workshop, client: OpenRouterClient, command: str, **details: object
) -> Iterator[AuditLog]:
    """An audit log for a command that reads only: no lock, so it never waits for a run."""
    ensure_private_dir(workshop.folder)
    with AuditLog(workshop.audit_path) as audit:
        audit.event(
            "run_start",
            command=command,
            tool_version=tool_version(),
            base_url=client.base_url,
            **details,
        )
        yield audit
