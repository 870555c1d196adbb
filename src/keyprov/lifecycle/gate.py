"""`keyprov open` and `keyprov close`: every key of the workshop enabled, or disabled.

A workshop closed (here, or by `provision --closed`) keeps its keys disabled; each is enabled
on its own when its participant claims it (keyprov claim). The gate is journaled before the
first key is changed, so a close or an open stopped part-way is finished by its rerun, and a
second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyprov.api.client import OpenRouterClient
from keyprov.engine.fanout import DEFAULT_CONCURRENCY
from keyprov.engine.gating import switch_keys
from keyprov.engine.session import session
from keyprov.engine.snapshot import OwnedKey, Snapshot, snapshot
from keyprov.lifecycle.changes import Change, workshop_keys
from keyprov.lifecycle.steps import ChangeProgress, Silent
from keyprov.models import ApiKey
from keyprov.status import ExitStatus
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.locate import find_workshop


@dataclass(frozen=True)
class GatePlan:
    """What a close (or an open) would change: read only, for the question asked first."""

    workshop: str
    closing: bool
    to_change: list[tuple[str, ApiKey]]
    unchanged: int
    """Keys already as the gate wants them."""


@dataclass
class GateResult:
    workshop: str
    closing: bool
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    @property
    def exit_status(self) -> ExitStatus:
        ok = all(change.ok for change in self.changes)
        return ExitStatus.OK if ok else ExitStatus.INCOMPLETE


def _targets(current: Snapshot, owned: list[OwnedKey], *, closing: bool) -> GatePlan:
    if closing:
        # Every key of the workshop: current, replaced or of someone left out of the state.
        wanted = list(owned)
        change = [(item.identity, item.key) for item in wanted if not item.key.disabled]
    else:
        # Only participants' current keys, of those still in the roster: a key replaced by
        # rotation, or pruned, stays disabled.
        keep_out = {e.identity for e in current.entries.values() if e.removed or not e.has_key}
        wanted = [
            item for item in owned if item.role == "current" and item.identity not in keep_out
        ]
        change = [(item.identity, item.key) for item in wanted if item.key.disabled]
    return GatePlan(current.workshop.name, closing, change, len(wanted) - len(change))


def gate_plan(ref: WorkshopRef, client: OpenRouterClient, *, closing: bool) -> GatePlan:
    """The keys a close (or an open) would change now; reads only, takes no lock."""
    current = snapshot(find_workshop(ref, client), client)
    return _targets(current, workshop_keys(current, ref), closing=closing)


def set_gate(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    closing: bool,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ChangeProgress | None = None,
) -> GateResult:
    """Close the workshop (disable every key) or open it (enable every participant's key).

    Journaled first, then up to `concurrency` PATCHes at once. Keys already as wanted are left
    alone, so a rerun finishes a stopped run and a second run changes nothing.
    """
    command = "close" if closing else "open"
    with session(ref, client, command) as held:
        if held.ledger.replayed.closed != closing:
            held.ledger.record_gate(closed=closing)
            held.audit.event("gate", closed=closing)
        progress = progress or Silent()
        current = held.snapshot(progress.listing)
        plan = _targets(current, workshop_keys(current, ref), closing=closing)
        reason = "keyprov close" if closing else "keyprov open"
        progress.start(len(plan.to_change))
        switched = switch_keys(
            held,
            plan.to_change,
            enable=not closing,
            reason=reason,
            concurrency=concurrency,
            on_done=lambda done: progress.step(done.identity, done.label, done.ok, done.detail),
        )
        result = GateResult(
            held.workshop.name,
            closing,
            [Change(item.identity, item.label, item.ok, item.detail) for item in switched],
            plan.unchanged,
        )
        held.exit_status = result.exit_status
        return result
