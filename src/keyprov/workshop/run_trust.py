"""Whose intents prove that nobody holds a key: the last run's, and no older folder's.

An intent journaled before a create says: if a key exists for it and no `created` record
follows, its secret never reached a file, so nobody holds it and it may be deleted. That is
true only of the state as the run that wrote the intent left it. A folder restored from a
backup (rsync, Time Machine, cron at night) holds intents of creates whose keys were made,
stored in the newer state, written to keys.xlsx and handed out since: there, such a key is
"secret lost", never deleted.

So each run stamps its intents with its run id (the audit log's), and the registry, outside
the folder, remembers for each workshop its last run, whether that run carried on an earlier
crashed run's intents, and the digest of state.jsonl as that run left it (none while it runs,
and after a crash). At the next start, a pending intent is trusted when it is the last run's
(or the run it carried on) and the state is the one that run left: never ended (a crash), or
ended with this very file. Intents of an older run, or in a state the last run did not
leave, prove nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from keyprov.errors import LocalFileError
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
        if record.last_state != file_digest(state):
            return RunTrust(unstamped=False)  # not the state the last run left: restored
        return RunTrust(frozenset({record.last_run_id}), unstamped=False)
    runs = {record.last_run_id}
    if record.carried_on and record.previous_run_id:
        runs.add(record.previous_run_id)
    return RunTrust(frozenset(runs), unstamped=False)


def start_run(
    registry: Registry, record: WorkshopRecord | None, ledger: Ledger, run_id: str
) -> RunTrust:
    """Decide what this run trusts, take the trusted intents on as its own, and file this
    run as the workshop's last (before it writes any intent)."""
    trust = trust_of(record, ledger.path)
    carried = ledger.carry_on(trust.trusts, run_id)
    ledger.run_id = run_id
    if record is not None:
        with contextlib.suppress(OSError, LocalFileError):
            # Not filed: this run's intents are then trusted by nobody (never a deletion).
            registry.update(
                record.name,
                record.account,
                last_run_id=run_id,
                previous_run_id=record.last_run_id,
                carried_on=carried,
                last_state=None,
            )
    return replace(trust, runs=trust.runs | {run_id})


def end_run(ledger: Ledger) -> str | None:
    """The digest of the state as this run leaves it, for the registry (None: unreadable)."""
    try:
        return file_digest(ledger.path)
    except LocalFileError:
        return None
