"""Provision a roster: read it, reconcile with the server, apply the plan, write the outputs.

This is the library API the CLI is a thin layer over. Every participant's outcome is decided
here and in `apply`; nothing in it prints."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.engine.apply import PlanApplier
from keyprov.engine.copies import settle_with_copies
from keyprov.engine.creator import Creator
from keyprov.engine.expiry import expiry_warning
from keyprov.engine.gating import keep_closed
from keyprov.engine.outcomes import ResultCallback, Results
from keyprov.engine.planner import Action, Plan
from keyprov.engine.session import Session, session
from keyprov.engine.snapshot import ListingCallback, snapshot
from keyprov.errors import ConfigurationError
from keyprov.guardrails.guarding import (
    POLICY_OPTION,
    Guard,
    ensure_guardrail,
    guardrail_change,
)
from keyprov.provision.credits import CREDITS_UNKNOWN, check_credits, prefetch_credits, read_credits
from keyprov.provision.first_reads import FirstReads, workshop_folders
from keyprov.provision.guarded import Guarded, assign_everyone
from keyprov.provision.result import ProvisionResult
from keyprov.provision.settings import ProvisionSettings, load_roster
from keyprov.roster import Participant
from keyprov.workshop.audit import AuditLog
from keyprov.workshop.folder import Workshop
from keyprov.workshop.folder_identity import with_legacy_name
from keyprov.workshop.keynames import NameMode
from keyprov.workshop.locate import (
    account_label,
    locate,
    overlapping_workshops,
    refuse_another_server,
    remembered_locally,
)
from keyprov.workshop.registry import Registry
from keyprov.workshop.title import kept_title


@dataclass(frozen=True)
class _Events:
    on_result: ResultCallback | None
    on_plan: Callable[[Plan], None] | None
    on_listing: ListingCallback | None
    on_stopping: Callable[[int], None] | None


def _provision_in(
    held: Session,
    settings: ProvisionSettings,
    participants: list[Participant],
    result: ProvisionResult,
    events: _Events,
    guarded: Guarded,
    reads: FirstReads,
) -> None:
    credits = prefetch_credits(held.client, participants, held.ledger, reads.credits)
    first_page = reads.page_for(held.workshop.state_path, held.ledger)
    current = held.snapshot(events.on_listing, first_page)
    result.closed = _gate(held, settings)
    result.plan = current.plan(participants, expires_at=settings.expires_at)
    result.warnings.extend(_expiry_warnings(settings))
    if not current.entries:
        result.warnings.extend(_overlap_warnings(held.workshop, participants))
    _mark_removed(held, participants)
    _audit_plan(held.audit, result.plan)
    if events.on_plan is not None:
        events.on_plan(result.plan)
    result.credits = check_credits(settings, held.client, result.plan, held.audit, credits)
    if result.credits is None and result.plan.with_action(Action.CREATE):
        result.warnings.append(CREDITS_UNKNOWN)
    results = Results(held, events.on_result)
    creator = Creator(
        held, results, concurrency=settings.concurrency, on_stopping=events.on_stopping
    )
    applier = PlanApplier(
        held,
        results,
        creator,
        expires_at=settings.expires_at,
        prune=settings.prune,
        reenable=settings.reenable,
        roster=settings.roster,
        closed=result.closed,
    )
    guard = (
        ensure_guardrail(held, guarded.policy, guarded.catalogue)
        if guarded.matters
        else Guard(guarded.policy, None)
    )
    result.guardrail_change = guard.change
    try:
        result.results = applier.apply(result.plan)
        result.warnings.extend(settle_with_copies(held, results))
        result.results = [results.by_identity[r.identity] for r in result.results]
    finally:
        result.pruned = applier.pruned
    result.not_closed = [
        f"{item.label}: {item.detail}"
        for item in keep_closed(held, concurrency=settings.concurrency)
        if not item.ok
    ]
    held.exit_status = result.exit_status
    assign_everyone(held, guard, result)


def _gate(held: Session, settings: ProvisionSettings) -> bool:
    """Whether the workshop is closed, closing a new one for `--closed` (journaled before the
    first create, so a run stopped before its keys were disabled is finished by the rerun)."""
    closed = held.ledger.replayed.closed
    if settings.closed and not closed:
        if any(entry.has_key for entry in held.ledger.entries()):
            raise ConfigurationError(
                f"--closed: workshop {held.workshop.name!r} already has working keys; "
                f"keyprov close {settings.roster} disables them (asking first)."
            )
        held.ledger.record_gate(closed=True)
        held.audit.event("gate", closed=True)
        closed = True
    if closed and settings.reenable:
        raise ConfigurationError(
            f"--reenable: workshop {held.workshop.name!r} is closed, so its keys are disabled "
            f"on purpose; keyprov open {settings.roster} enables them."
        )
    return closed


def provision(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    *,
    on_result: ResultCallback | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_listing: ListingCallback | None = None,
    on_stopping: Callable[[int], None] | None = None,
) -> ProvisionResult:
    """Make the server match the roster; return each participant's outcome.

    Progress, for a display: `on_listing(keys, pages, done)` while the server's keys are
    listed, `on_plan(plan)` once the plan is made, `on_result(result)` as each participant is
    done (from worker threads), `on_stopping(in_flight)` at Ctrl-C, before the run waits for
    the creates in flight.

    Raises OptionError (before any API call) for an `--expires` day that is over, RosterError
    (before any API call) for a bad roster, LockedError when another run
    holds the workshop, InsufficientCreditsError before creating more than the account can
    cover, and CredentialError when the provisioning key is refused. In every case the keys
    created so far are in the local state and in keys.xlsx.
    """
    started = time.monotonic()
    filed = with_legacy_name(settings.workshop_ref, Registry.default(), None)
    settings = replace(settings, workshop=filed.workshop, known_as=filed.known_as)
    remembered = remembered_locally(settings.workshop_ref)
    settings = settings.with_remembered(remembered)
    roster = load_roster(settings)
    notes = [*roster.warnings, *(f"skipped: {problem}" for problem in roster.skipped)]
    # Model slugs are checked before anything is written: a typo is exit 2, not a guardrail.
    guarded = Guarded.of(settings, remembered, client)
    if settings.dry_run:
        result = _dry_run(settings, client, roster.participants, remembered, on_listing)
        result.guardrail = guarded.policy
        if guarded.matters:
            result.guardrail_change = guardrail_change(
                client, settings.workshop_name, guarded.policy, guarded.catalogue
            )
        result.roster_notes = notes
        result.warnings = [*_expiry_warnings(settings), *result.warnings]
        result.expires_at = settings.expires_at
        result.allow_overcommit = settings.allow_overcommit
        return result
    details = {
        "roster": str(settings.roster),
        "roster_sha256": hashlib.sha256(settings.roster.read_bytes()).hexdigest(),
        "options": _settings_for_audit(settings),
        "participants": len(roster.participants),
        "roster_notes": notes,
    }
    name = settings.workshop_name
    result = ProvisionResult(
        name,
        Plan(name, []),
        roster=settings.roster,
        roster_notes=notes,
        expires_at=settings.expires_at,
        allow_overcommit=settings.allow_overcommit,
    )
    reads: list[FirstReads] = []
    folders = workshop_folders(settings.workshop_ref, Registry.default())
    try:
        with session(
            settings.workshop_ref,
            client,
            "provision",
            creating=True,
            force=settings.force,
            details=details,
            alongside=lambda: reads.append(FirstReads.start(client, folders)),
        ) as held:
            result.keys_path, result.audit_path = held.workshop.keys_path, held.workshop.audit_path
            if held.workshop.options != remembered:
                # Another account's workshop of this name was remembered: read as this one's.
                settings = settings.with_remembered(held.workshop.options)
                roster = load_roster(settings)
                guarded = Guarded.of(settings, held.workshop.options, client)
            held.participants = roster.participants
            held.remember = {
                **settings.desired.to_json(),
                POLICY_OPTION: guarded.policy.to_json(),
                **kept_title(held.workshop.options),
            }
            result.guardrail = guarded.policy
            if settings.key_names is not None:
                held.wanted_naming = NameMode.from_option(settings.key_names)
            result.stats = held.stats
            events = _Events(on_result, on_plan, on_listing, on_stopping)
            _provision_in(held, settings, roster.participants, result, events, guarded, *reads)
    finally:
        result.duration = time.monotonic() - started
    return result


def _overlap_warnings(workshop: Workshop, participants: list[Participant]) -> list[str]:
    identities = {participant.identity for participant in participants}
    return [
        f"workshop {workshop.name!r} is new, but {shared} of its {len(identities)} participants "
        f"already have keys in workshop {other!r}: if this roster is that workshop's (saved "
        f"again under another name?), stop and run with --workshop {other}."
        for other, shared in overlapping_workshops(workshop, identities)
    ]


def _mark_removed(held: Session, participants: list[Participant]) -> None:
    """Remember who left the roster, so keys.xlsx says so whichever command rebuilds it."""
    in_roster = {participant.identity for participant in participants}
    for entry in held.ledger.entries():
        removed = entry.identity not in in_roster
        if entry.removed != removed and (entry.has_key or entry.removed):
            held.ledger.record_update(entry.identity, removed=removed)


def _dry_run(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    participants: list[Participant],
    remembered: Mapping[str, Any],
    on_listing: ListingCallback | None = None,
) -> ProvisionResult:
    """The plan a real run would apply, computed with reads only; no file is written."""
    account = account_label(client)
    workshop, _ = locate(settings.workshop_ref, account, Registry.default(), creating=True)
    refuse_another_server(workshop, client.base_url)
    if workshop.options != remembered:
        settings = settings.with_remembered(workshop.options)
        participants = load_roster(settings).participants
    current = snapshot(workshop, client, on_listing)
    plan = current.plan(participants, expires_at=settings.expires_at)
    credits = None
    if plan.with_action(Action.CREATE):
        credits = read_credits(client)
    result = ProvisionResult(
        workshop.name, plan, credits=credits, dry_run=True, roster=settings.roster
    )
    if not current.entries:
        result.warnings.extend(_overlap_warnings(workshop, participants))
    return result


def _expiry_warnings(settings: ProvisionSettings) -> list[str]:
    """Keys that would stop working within check's --warn-days (2): likely a wrong date."""
    warning = expiry_warning(settings.expires)
    return [warning] if warning else []


def _settings_for_audit(settings: ProvisionSettings) -> dict[str, Any]:
    """The options as JSON values: booleans, numbers and lists, not their str()."""
    values: dict[str, Any] = {}
    for name, value in asdict(settings).items():
        if isinstance(value, Path | date):
            values[name] = str(value)
        elif isinstance(value, tuple):
            values[name] = [list(pair) for pair in value]
        else:
            values[name] = value
    return values


def _audit_plan(audit: AuditLog, plan: Plan) -> None:
    audit.event(
        "plan",
        **{action.value: len(plan.with_action(action)) for action in Action},
        new_budget_usd=round(plan.new_budget, 2),
        not_in_roster=[key.hash for key in plan.not_in_roster],
        expiry_differs=[item.participant.identity for item in plan.expiry_mismatches],
    )
