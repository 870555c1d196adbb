"""set-limit before it writes: what one limit for everyone does, and the dry run."""

from __future__ import annotations

from keyprov.api.client import OpenRouterClient
from keyprov.engine.snapshot import Snapshot, snapshot
from keyprov.lifecycle.changes import Change, amount, chosen_entries, has_less_left
from keyprov.lifecycle.steps import Impact, checked_amount
from keyprov.models import window_usage
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.locate import find_workshop
from keyprov.workshop.options import DesiredOptions


def limit_impact(
    workshop: str, chosen: list[LedgerEntry], listed: Snapshot, limit: float
) -> Impact:
    """What one limit for everyone does: keys that spent as much already stop working."""
    server = {key.hash: key for key in listed.server_keys}
    spent_out = sum(
        1 for entry in chosen if entry.hash in server and window_usage(server[entry.hash]) >= limit
    )
    effect = f"get a limit of {limit:.2f} USD now"
    if spent_out:
        effect += f"; {spent_out} of them spent that much already and stop working"
    return Impact("set-limit", workshop, len(chosen), effect)


def set_limit_dry_run(
    ref: WorkshopRef,
    client: OpenRouterClient,
    participants: list[str] | None,
    limit: float | None,
    add: float | None,
    max_limit: float | None,
    below: float | None,
) -> list[Change]:
    """The limits set-limit would write, from one listing of the server; nothing written."""
    workshop = find_workshop(ref, client)
    ceiling = max_limit or DesiredOptions.from_json(workshop.options).max_limit
    checked_amount("--limit", limit, ceiling=ceiling)
    current = snapshot(workshop, client)
    server = {key.hash: key for key in current.server_keys}
    entries = [entry for entry in current.entries.values() if entry.has_key]
    changes = []
    for entry in chosen_entries(entries, participants):
        key = server.get(entry.hash or "")
        if below is not None and not has_less_left(key, below):
            continue
        old = key.limit if key is not None else entry.limit
        new = round((old or 0.0) + add, 6) if add is not None else float(limit or 0.0)
        label = entry.label or ""
        if new > ceiling:
            detail = f"{new:.2f} USD would be over the maximum of {ceiling:.2f} USD: not changed"
            changes.append(Change(entry.identity, label, False, detail))
        elif key is None or old == new:
            changes.append(Change(entry.identity, label, True, f"limit {amount(old)} USD: kept"))
        else:
            detail = f"limit {amount(old)} -> {amount(new)} USD (would be set)"
            changes.append(Change(entry.identity, label, True, detail))
    return changes
