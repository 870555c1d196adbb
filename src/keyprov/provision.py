"""Provision a roster: read it, reconcile with the server, apply the plan, write the outputs.

This is the library API the CLI is a thin layer over. Every participant's outcome is decided
here and in `apply`; nothing in it prints.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from keyprov.apply import PlanApplier
from keyprov.audit import AuditLog
from keyprov.client import OpenRouterClient
from keyprov.creator import DEFAULT_CONCURRENCY, Creator
from keyprov.errors import ApiError, InsufficientCreditsError
from keyprov.expiry import expiry_warning, refuse_past
from keyprov.guarding import (
    POLICY_OPTION,
    Guard,
    assign_keys,
    catalogue_for,
    desired_policy,
    ensure_guardrail,
    remembered_policy,
)
from keyprov.guardrail_policy import Catalogue, GuardrailPolicy
from keyprov.ledger import Ledger
from keyprov.locate import account_label, locate, remembered_locally
from keyprov.models import ApiKey, Credits
from keyprov.options import DesiredOptions, RosterOptions, expires_at
from keyprov.outcomes import Outcome, ParticipantResult, ResultCallback, Results
from keyprov.planner import Action, Plan
from keyprov.pseudonyms import NameMode
from keyprov.registry import Registry
from keyprov.roster import DEFAULT_MAX_LIMIT, Participant, Roster
from keyprov.session import RunStats, Session, session
from keyprov.snapshot import ListingCallback, snapshot
from keyprov.status import ExitStatus
from keyprov.workshop import WorkshopRef

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Outcome",
    "ParticipantResult",
    "ProvisionResult",
    "ProvisionSettings",
    "load_roster",
    "provision",
]

CREDITS_UNKNOWN = (
    "the account's credits could not be read (GET /credits failed), so the keys were created "
    "without checking that the credits cover their limits; run `keyprov check` to see them."
)


@dataclass(frozen=True)
class ProvisionSettings:
    roster: Path
    workshop: str | None = None
    out_dir: Path | None = None
    default_limit: float | None = None
    limit_reset: str | None = None
    expires: date | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_limit: float = DEFAULT_MAX_LIMIT
    sheet: str | None = None
    column_overrides: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    prune: bool = False
    reenable: bool = False
    allow_overcommit: bool = False
    force: bool = False
    """Write secrets inside a git work tree even where they are not git-ignored."""
    models: str | None = None
    """--models a,b (or 'all'); None keeps what the workshop remembers."""
    providers: str | None = None
    zdr: bool | None = None
    key_names: str | None = None
    """For a new workshop: 'pseudonymous' (the default) or 'readable' key names. An existing
    workshop keeps its own (`keyprov rename-keys` changes it)."""
    given: frozenset[str] | None = None
    """The remembered options (keyprov.options.REMEMBERED) the command line gave; the
    workshop's remembered values stand in for the others. None: every value is meant."""

    @property
    def workshop_ref(self) -> WorkshopRef:
        return WorkshopRef(self.roster, self.workshop, self.out_dir)

    @property
    def workshop_name(self) -> str:
        return self.workshop_ref.name

    @property
    def desired(self) -> DesiredOptions:
        return DesiredOptions(
            self.roster,
            self.default_limit,
            self.limit_reset,
            self.expires,
            self.max_limit,
            self.sheet,
            self.column_overrides,
        )

    def with_remembered(self, remembered: Mapping[str, Any]) -> ProvisionSettings:
        """These settings with the workshop's remembered options where none was given.

        Raises OptionError for an `--expires` day that is over, given or remembered.
        """
        desired = self.desired.merged(self.given, remembered)
        remembered_expiry = self.given is not None and "expires" not in self.given
        refuse_past(
            desired.expires,
            source="remembered from the workshop's last provision" if remembered_expiry else "",
        )
        return replace(
            self,
            default_limit=desired.default_limit,
            limit_reset=desired.limit_reset,
            expires=desired.expires,
            max_limit=desired.max_limit,
            sheet=desired.sheet,
            column_overrides=desired.column_overrides,
        )

    @property
    def expires_at(self) -> str | None:
        return expires_at(self.expires)

    @property
    def roster_options(self) -> RosterOptions:
        return RosterOptions(
            self.roster,
            self.default_limit,
            self.limit_reset,
            self.max_limit,
            self.sheet,
            self.column_overrides,
        )


@dataclass
class ProvisionResult:
    workshop: str
    plan: Plan
    results: list[ParticipantResult] = field(default_factory=list)
    keys_path: Path | None = None
    audit_path: Path | None = None
    duration: float = 0.0
    credits: Credits | None = None
    pruned: list[ApiKey] = field(default_factory=list)
    dry_run: bool = False
    roster: Path | None = None
    """The roster file as the run was given it, for the commands the output suggests."""
    roster_notes: list[str] = field(default_factory=list)
    """Rows skipped on purpose (cancelled registrations) and warnings about reading the file."""
    warnings: list[str] = field(default_factory=list)
    """What the run could not check, though it went on."""
    guardrail: GuardrailPolicy | None = None
    """The models, providers and data retention the workshop's keys are held to."""
    stats: RunStats | None = None
    """What the run went through: retries, unanswered creates and how they were resolved."""
    expires_at: str | None = None
    """The expiry the run gives the keys it creates (--expires), None: they never expire."""
    allow_overcommit: bool = False

    def counts(self) -> Counter[str]:
        return Counter(result.outcome.value for result in self.results)

    @property
    def credits_short(self) -> bool:
        """The credits left do not cover the new keys' limits, and the run would not go on."""
        return (
            self.credits is not None
            and self.credits.remaining < self.plan.new_budget
            and not self.allow_overcommit
        )

    @property
    def exit_status(self) -> ExitStatus:
        if self.dry_run:
            # The code the real run would start with: it stops before creating when short.
            return ExitStatus.BAD_INPUT if self.credits_short else ExitStatus.OK
        if all(result.outcome.is_provisioned for result in self.results):
            return ExitStatus.OK
        return ExitStatus.INCOMPLETE


def load_roster(settings: ProvisionSettings) -> Roster:
    return settings.roster_options.read()


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
    remembered = remembered_locally(settings.workshop_ref)
    settings = settings.with_remembered(remembered)
    roster = load_roster(settings)
    notes = [*roster.warnings, *(f"skipped: {problem}" for problem in roster.skipped)]
    # Model slugs are checked before anything is written: a typo is exit 2, not a guardrail.
    guarded = _Guarded.of(settings, remembered, client)
    if settings.dry_run:
        result = _dry_run(settings, client, roster.participants, remembered, on_listing)
        result.guardrail = guarded.policy
        result.roster_notes = notes
        result.warnings = _expiry_warnings(settings)
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
    try:
        with session(
            settings.workshop_ref,
            client,
            "provision",
            creating=True,
            force=settings.force,
            details=details,
        ) as held:
            result.keys_path, result.audit_path = held.workshop.keys_path, held.workshop.audit_path
            if held.workshop.options != remembered:
                # Another account's workshop of this name was remembered: read as this one's.
                settings = settings.with_remembered(held.workshop.options)
                roster = load_roster(settings)
                guarded = _Guarded.of(settings, held.workshop.options, client)
            held.participants = roster.participants
            held.remember = {**settings.desired.to_json(), POLICY_OPTION: guarded.policy.to_json()}
            result.guardrail = guarded.policy
            if settings.key_names is not None:
                held.wanted_naming = NameMode.from_option(settings.key_names)
            result.stats = held.stats
            events = _Events(on_result, on_plan, on_listing, on_stopping)
            _provision_in(held, settings, roster.participants, result, events, guarded)
    finally:
        result.duration = time.monotonic() - started
    return result


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
    guarded: _Guarded,
) -> None:
    credits = _prefetch_credits(held.client, participants, held.ledger)
    current = held.snapshot(events.on_listing)
    result.plan = current.plan(participants, expires_at=settings.expires_at)
    result.warnings.extend(_expiry_warnings(settings))
    _mark_removed(held, participants)
    _audit_plan(held.audit, result.plan)
    if events.on_plan is not None:
        events.on_plan(result.plan)
    result.credits = _check_credits(settings, held.client, result.plan, held.audit, credits)
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
    )
    guard = (
        ensure_guardrail(held, guarded.policy, guarded.catalogue)
        if guarded.matters
        else Guard(guarded.policy, None)
    )
    try:
        result.results = applier.apply(result.plan)
    finally:
        result.pruned = applier.pruned
    held.exit_status = result.exit_status
    _assign_everyone(held, guard, result)


@dataclass(frozen=True)
class _Guarded:
    """The policy this run applies, and the model catalogue it was checked against."""

    policy: GuardrailPolicy
    catalogue: Catalogue | None
    before: GuardrailPolicy
    """What the workshop remembered: a guardrail to delete when `policy` lifts it."""

    @property
    def matters(self) -> bool:
        """Whether this run has a guardrail to keep in step (else no request is spent)."""
        return self.policy.restricts or self.before.restricts

    @classmethod
    def of(
        cls, settings: ProvisionSettings, remembered: Mapping[str, Any], client: OpenRouterClient
    ) -> _Guarded:
        policy = desired_policy(
            remembered, models=settings.models, providers=settings.providers, zdr=settings.zdr
        )
        return cls(policy, catalogue_for(client, policy), remembered_policy(remembered))


def _assign_everyone(held: Session, guard: Guard, result: ProvisionResult) -> None:
    """Every enabled key of the workshop on its guardrail: the new ones, and any a stopped
    run left off it. A key off it can reach any model, so the run is not done without it."""
    if guard.guardrail is None:
        return
    server = held.server or {}
    hashes = [
        entry.hash
        for entry in held.ledger.entries()
        if entry.has_key and entry.hash in server and not server[entry.hash].disabled
    ]
    try:
        assigned = assign_keys(held, guard, hashes)
    except ApiError as error:
        result.warnings.append(
            f"the keys could not be put on guardrail {guard.guardrail.name} ({error}); they "
            "can reach any model until they are: run keyprov provision again."
        )
        held.exit_status = ExitStatus.INCOMPLETE
        return
    if assigned is not None and assigned.missing:
        result.warnings.append(
            f"{len(assigned.missing)} key(s) are not on guardrail {guard.guardrail.name}; "
            "run keyprov provision again."
        )
        held.exit_status = ExitStatus.INCOMPLETE


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
    if workshop.options != remembered:
        settings = settings.with_remembered(workshop.options)
        participants = load_roster(settings).participants
    current = snapshot(workshop, client, on_listing)
    plan = current.plan(participants, expires_at=settings.expires_at)
    credits = None
    if plan.with_action(Action.CREATE):
        credits = _read_credits(client)
    return ProvisionResult(
        workshop.name, plan, credits=credits, dry_run=True, roster=settings.roster
    )


def _expiry_warnings(settings: ProvisionSettings) -> list[str]:
    """Keys that would stop working within check's --warn-days (2): likely a wrong date."""
    warning = expiry_warning(settings.expires)
    return [warning] if warning else []


def _read_credits(client: OpenRouterClient) -> Credits | None:
    """The balance, or None when the server won't tell: its keys cap spending on their own, so
    an unreadable balance is a warning, not a reason to leave a workshop without keys."""
    try:
        return client.credits()
    except ApiError:
        return None


def _prefetch_credits(
    client: OpenRouterClient, participants: list[Participant], ledger: Ledger
) -> Future[Credits | None] | None:
    """Ask for the balance while the keys are listed, when the run will likely create keys.

    The two reads are independent, and a round trip saved is a round trip off every run that
    creates. A roster whose participants all have a key already needs no balance, so it is
    not asked for (the listing decides; `_check_credits` asks then if it must).
    """
    known = {entry.identity for entry in ledger.entries()}
    if all(participant.identity in known for participant in participants):
        return None
    future: Future[Credits | None] = Future()

    def fetch() -> None:
        try:
            future.set_result(_read_credits(client))
        except BaseException as error:  # handed to the caller, who re-raises it
            future.set_exception(error)

    threading.Thread(target=fetch, name="credits", daemon=True).start()
    return future


def _check_credits(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    plan: Plan,
    audit: AuditLog,
    prefetched: Future[Credits | None] | None = None,
) -> Credits | None:
    """Refuse to create keys whose limits together exceed what the account has left."""
    if not plan.with_action(Action.CREATE):
        return None
    credits = prefetched.result() if prefetched is not None else _read_credits(client)
    needed = plan.new_budget
    if credits is None:
        audit.event("credits_unknown", needed_usd=round(needed, 2))
        return None
    audit.event(
        "credits",
        remaining_usd=round(credits.remaining, 2),
        needed_usd=round(needed, 2),
        allow_overcommit=settings.allow_overcommit,
    )
    if credits.remaining < needed and not settings.allow_overcommit:
        raise InsufficientCreditsError(
            f"the new keys' limits add up to {needed:.2f} USD but the account has "
            f"{credits.remaining:.2f} USD of credits left; nothing was created. Buy credits at "
            "https://openrouter.ai/settings/credits, lower the limits, or run again with "
            "--allow-overcommit (limits are caps, not charges)."
        )
    return credits


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
