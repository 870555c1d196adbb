"""Whose intents prove that nobody holds a key: the last run's, and no older folder's.

An intent journaled before a create says: if a key exists for it and no `created` record
follows, its secret never reached a file, so nobody holds it and it may be deleted. That is
true only of the state as the run that wrote the intent left it. A folder restored from a
backup (rsync, Time Machine, cron at night) holds intents of creates whose keys were made,
stored in the newer state, written to keys.xlsx and handed out since: there, such a key is
"secret lost", never deleted.

So each run stamps its intents with its run id (the audit log's), and the registry, outside
the folder, remembers for each workshop its last run, the crashed runs whose intents that run
took on, and the digest of state.jsonl as that run left it (none while it runs, and after a
crash). At the next start, a pending intent is trusted when it is the last run's (or one it
took on) and the state is the one that run left: it never ended (a crash), or the file still
begins with what it left. Intents of an older run, or in a state the last run did not leave,
prove nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from keyprov.errors import LocalFileError, StateWriteError
from keyprov.workshop.journal import Ledger, LedgerEntry
from keyprov.workshop.recovery import file_digest
from keyprov.workshop.registry import Registry, WorkshopRecord


@dataclass(frozen=True)
class RunTrust:
    runs: frozenset[str] = frozenset()
    """The runs whose intents are trusted."""
    unstamped: bool = True
    """Whether intents without a run id (from before run ids) are: only while the registry
    has never recorded a run of the workshop."""

    def trusts(self, entry: LedgerEntry) -> bool:
        if entry.pending_run is None:
            return self.unstamped
        return entry.pending_run in self.runs

    def view(self, entries: Mapping[str, LedgerEntry]) -> dict[str, LedgerEntry]:
        """The entries with every intent this trust does not vouch for taken as no proof:
        its participant's key, if the server has one, is theirs with its secret lost."""
        return {
            identity: entry
            if not entry.pending or self.trusts(entry)
            else replace(entry, pending=False)
            for identity, entry in entries.items()
        }


def trust_of(record: WorkshopRecord | None, state: Path) -> RunTrust:
    """What the registry's record of the workshop says of the state now in its folder."""
    if record is None or record.last_run_id is None:
        return RunTrust()
    if record.last_state is not None:
        if not _starts_with(state, record.last_state, record.last_state_size):
            return RunTrust(unstamped=False)  # not the state the last run left: restored
        # The state the last run left, and at most records appended since by a run that
        # died before it was filed (or intents written by hand).
        return RunTrust(frozenset({record.last_run_id}))
    return RunTrust(frozenset({record.last_run_id, *record.carried_runs}), unstamped=False)


def start_run(
    registry: Registry, record: WorkshopRecord | None, ledger: Ledger, run_id: str
) -> RunTrust:
    """Decide what this run trusts, file this run as the workshop's last (before it writes
    any intent), then take the trusted intents on as its own."""
    trust = trust_of(record, ledger.path)
    carried = sorted(
        {e.pending_run or "" for e in ledger.entries() if e.pending and trust.trusts(e)}
    )
    ledger.run_id = run_id
    if record is not None:
        with contextlib.suppress(OSError, LocalFileError):
            # Not filed: this run's intents are then trusted by nobody (never a deletion).
            # Filed first: a run that dies before it journals taking the intents on still
            # leaves them trusted (the registry names the runs it took on).
            registry.update(
                record.name,
                record.account,
                last_run_id=run_id,
                carried_runs=[run for run in carried if run],
                last_state=None,
                last_state_size=None,
            )
    if carried:
        with contextlib.suppress(StateWriteError):
            ledger.record_carried(trust.trusts, run_id)
    return replace(trust, runs=trust.runs | {run_id})


def end_run(ledger: Ledger) -> tuple[str | None, int | None]:
    """The digest and size of the state as this run leaves it, for the registry."""
    try:
        return file_digest(ledger.path), ledger.path.stat().st_size
    except (LocalFileError, OSError):
        return None, None


def _starts_with(path: Path, digest: str, size: int | None) -> bool:
    if size is None:
        return file_digest(path) == digest
    try:
        with path.open("rb") as handle:
            head = handle.read(size)
    except OSError:
        return False
    return len(head) == size and hashlib.sha256(head).hexdigest() == digest
