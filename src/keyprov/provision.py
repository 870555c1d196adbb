"""Provision a roster: read it, reconcile with the server, apply the plan, write the outputs.

This is the library API the CLI is a thin layer over. Every participant's outcome is decided
here; nothing in it prints.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from keyprov import __version__
from keyprov.audit import AUDIT_FILE_NAME, AuditLog
from keyprov.client import OpenRouterClient, RetryEvent
from keyprov.errors import (
    ApiError,
    CredentialError,
    InsufficientCreditsError,
    KeyprovError,
    OutcomeUnknownError,
    StateWriteError,
)
from keyprov.files import ensure_private_dir, remove_stale_temporaries
from keyprov.gitignore import refuse_unignored
from keyprov.ledger import STATE_FILE_NAME, Ledger
from keyprov.lock import workshop_lock
from keyprov.models import ApiKey, Credits
from keyprov.naming import key_name, workshop_slug
from keyprov.outputs import KEYS_FILE_NAME, DistributionRow, write_keys_workbook
from keyprov.planner import Action, ParticipantPlan, Plan, make_plan
from keyprov.roster import Participant, Roster, read_roster
from keyprov.status import ExitStatus

DEFAULT_CONCURRENCY = 64
MAX_CREATE_ROUNDS = 8
"""How many times one run tries a participant whose creates keep ending with no answer."""
CREDITS_UNKNOWN = (
    "the account's credits could not be read (GET /credits failed), so the keys were created "
    "without checking that the credits cover their limits; run `keyprov check` to see them."
)

log = logging.getLogger(__name__)
_subject: contextvars.ContextVar[str | None] = contextvars.ContextVar("subject", default=None)
"""The participant a worker thread is busy with, so retries can be logged against them."""


class Outcome(StrEnum):
    CREATED = "created"
    PRESENT = "present"
    UPDATED = "updated"
    FAILED = "failed"
    UNRESOLVED = "outcome unknown"
    DISABLED = "disabled on server"
    SECRET_LOST = "secret lost"
    DUPLICATED = "has extra keys"

    @property
    def is_provisioned(self) -> bool:
        return self in (Outcome.CREATED, Outcome.PRESENT, Outcome.UPDATED)


@dataclass(frozen=True)
class ParticipantResult:
    participant: Participant
    outcome: Outcome
    detail: str = ""
    key_hash: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ProvisionSettings:
    roster: Path
    workshop: str | None = None
    out_dir: Path = Path("output")
    default_limit: float | None = None
    limit_reset: str | None = None
    expires: date | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_limit: float = 100.0
    sheet: str | None = None
    column_overrides: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    prune: bool = False
    reenable: bool = False
    allow_overcommit: bool = False
    force: bool = False
    """Write secrets inside a git work tree even where they are not git-ignored."""

    @property
    def workshop_name(self) -> str:
        return workshop_slug(self.workshop or self.roster.stem)

    @property
    def workshop_dir(self) -> Path:
        return self.out_dir / self.workshop_name

    @property
    def expires_at(self) -> str | None:
        """A key given `--expires 2026-12-01` works through that whole day, UTC."""
        return f"{self.expires.isoformat()}T23:59:59Z" if self.expires else None


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
    roster_notes: list[str] = field(default_factory=list)
    """Rows skipped on purpose (cancelled registrations) and warnings about reading the file."""
    warnings: list[str] = field(default_factory=list)
    """What the run could not check, though it went on."""

    def counts(self) -> Counter[str]:
        return Counter(result.outcome.value for result in self.results)

    @property
    def exit_status(self) -> ExitStatus:
        if self.dry_run or all(result.outcome.is_provisioned for result in self.results):
            return ExitStatus.OK
        return ExitStatus.INCOMPLETE

    def summary(self) -> str:
        counts = self.counts()
        parts = [
            f"{counts[outcome.value]} {outcome.value}" for outcome in Outcome if counts[outcome]
        ]
        total = len(self.results)
        return f"{self.workshop}: {total} participants: " + (", ".join(parts) or "nothing to do")


ResultCallback = Callable[[ParticipantResult], None]


def load_roster(settings: ProvisionSettings) -> Roster:
    return read_roster(
        settings.roster,
        default_limit=settings.default_limit,
        default_limit_reset=settings.limit_reset,
        max_limit=settings.max_limit,
        sheet=settings.sheet,
        column_overrides=dict(settings.column_overrides),
    )


def create_keys(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    ledger: Ledger,
    audit: AuditLog,
    items: list[ParticipantPlan],
) -> dict[str, ParticipantResult]:
    """Create keys with the same journaling, concurrency and unknown-outcome handling as a run."""
    run = _Run(settings, client, ledger, audit, None)
    run.create_all(items)
    if run.fatal is not None:
        raise run.fatal
    return run.results


def provision(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    *,
    on_result: ResultCallback | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> ProvisionResult:
    """Make the server match the roster; return each participant's outcome.

    Raises RosterError (before any API call) for a bad roster, LockedError when another run
    holds the workshop, InsufficientCreditsError before creating more than the account can
    cover, and CredentialError when the provisioning key is
    refused. In every case the keys created so far are in the local state and in keys.xlsx.
    """
    started = time.monotonic()
    roster = load_roster(settings)
    notes = [*roster.warnings, *(f"skipped: {problem}" for problem in roster.skipped)]
    if settings.dry_run:
        result = _dry_run(settings, client, roster.participants)
        result.roster_notes = notes
        return result
    workshop = settings.workshop_name
    # The whole folder must be ignored: temporary copies of the secret files live there too.
    refuse_unignored([settings.workshop_dir / ".any-file"], force=settings.force)
    folder = ensure_private_dir(settings.workshop_dir)
    with (
        workshop_lock(folder),
        Ledger.open(folder / STATE_FILE_NAME) as ledger,
        AuditLog(folder / AUDIT_FILE_NAME, locked=True) as audit,
    ):
        remove_stale_temporaries(folder)
        audit.event(
            "run_start",
            tool_version=__version__,
            roster=str(settings.roster),
            roster_sha256=hashlib.sha256(settings.roster.read_bytes()).hexdigest(),
            options=_settings_for_audit(settings),
            base_url=client.base_url,
            participants=len(roster.participants),
            roster_notes=notes,
        )
        previous_on_retry = client.on_retry
        client.on_retry = lambda event: _audit_retry(audit, event)
        run = _Run(settings, client, ledger, audit, on_result)
        result = ProvisionResult(workshop, Plan(workshop, []), roster_notes=notes)
        status: ExitStatus | str = "error"
        try:
            credits = _prefetch_credits(client, roster.participants, ledger)
            result.plan = _plan(settings, client, roster.participants, ledger)
            _audit_plan(audit, result.plan)
            if on_plan is not None:
                on_plan(result.plan)
            result.credits = _check_credits(settings, client, result.plan, audit, credits)
            if result.credits is None and result.plan.with_action(Action.CREATE):
                result.warnings.append(CREDITS_UNKNOWN)
            result.results = run.apply(result.plan)
            result.pruned = run.pruned
            status = result.exit_status
        except KeyboardInterrupt:
            status = ExitStatus.INTERRUPTED
            raise
        except KeyprovError as error:
            status = error.exit_status
            raise
        finally:
            client.on_retry = previous_on_retry
            result.keys_path = folder / KEYS_FILE_NAME
            result.audit_path = folder / AUDIT_FILE_NAME
            not_saved = _save_state_then_keys(result.keys_path, roster.participants, ledger, run)
            if not_saved is not None:
                status = not_saved.exit_status
            result.duration = time.monotonic() - started
            try:
                audit.event(
                    "run_end",
                    exit_status=int(status) if isinstance(status, ExitStatus) else status,
                    counts=dict(run.counts()),
                    duration_s=round(result.duration, 3),
                    **({"not_saved": str(not_saved)} if not_saved else {}),
                )
            except StateWriteError:
                if not_saved is None:
                    raise  # else the state's own failure is the one to tell
            # Said even over another error: "keys created so far are saved" would be untrue.
            if not_saved is not None:
                raise not_saved
    return result


def _save_state_then_keys(
    keys_path: Path, participants: list[Participant], ledger: Ledger, run: _Run
) -> StateWriteError | None:
    """Compact the state, then rebuild keys.xlsx from it; the error that stopped either.

    In this order: a secret must not be handed out from keys.xlsx unless the state holding it
    is on disk, or the next run would take its key for an undelivered one and delete it. So
    when the state cannot be saved, keys.xlsx is left as the last run wrote it.
    """
    try:
        ledger.compact()
        write_keys_workbook(keys_path, _distribution_rows(participants, ledger, run))
    except StateWriteError as error:
        return error
    return None


def _plan(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    participants: list[Participant],
    ledger: Ledger,
) -> Plan:
    """Reconcile against the server: every page, disabled keys included, before any write."""
    return make_plan(
        settings.workshop_name,
        participants,
        {entry.identity: entry for entry in ledger.entries()},
        client.list_all_keys(include_disabled=True),
    )


def _dry_run(
    settings: ProvisionSettings, client: OpenRouterClient, participants: list[Participant]
) -> ProvisionResult:
    """The plan a real run would apply, computed with reads only; no file is written."""
    state = settings.workshop_dir / STATE_FILE_NAME
    ledger = Ledger.open(state)  # reads the journal; it only opens it for writing on append
    plan = _plan(settings, client, participants, ledger)
    credits = None
    if plan.with_action(Action.CREATE):
        credits = _read_credits(client)
    return ProvisionResult(settings.workshop_name, plan, credits=credits, dry_run=True)


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


class _Run:
    """Applies one plan; its workers share the ledger, the audit log and the client."""

    def __init__(
        self,
        settings: ProvisionSettings,
        client: OpenRouterClient,
        ledger: Ledger,
        audit: AuditLog,
        on_result: ResultCallback | None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.ledger = ledger
        self.audit = audit
        self.on_result = on_result
        self.workshop = settings.workshop_name
        self.results: dict[str, ParticipantResult] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.fatal: KeyprovError | None = None
        self.pruned: list[ApiKey] = []

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(result.outcome.value for result in self.results.values())

    def apply(self, plan: Plan) -> list[ParticipantResult]:
        to_create: list[ParticipantPlan] = []
        for item in plan.items:
            for key in item.retired:
                self._prune(key, f"replaced by rotation for {item.participant.identity}")
            if item.action is Action.CREATE:
                to_create.append(item)
                continue
            if item.undelivered:
                self._resolve_undelivered(item)
            if item.action is Action.UPDATE or (
                item.action is Action.DISABLED and self.settings.reenable
            ):
                self._update(item)
            else:
                self._finish_unchanged(item)
        self.create_all(to_create)
        if self.settings.prune:
            for key in plan.not_in_roster:
                self._prune(key, "its participant is no longer in the roster")
        if self.fatal is not None:
            raise self.fatal
        return [self.results[item.participant.identity] for item in plan.items]

    # -- creates ------------------------------------------------------------------------------

    def create_all(self, items: list[ParticipantPlan]) -> None:
        """Create concurrently; resolve creates that got no answer by listing, then retry them."""
        pending = items
        for _ in range(MAX_CREATE_ROUNDS):
            if not pending or self._stop.is_set():
                break
            unknown = self._run_concurrently(pending)
            pending = self._reconcile(unknown) if unknown and not self._stop.is_set() else unknown
        for item in pending:
            self._finish(
                item.participant,
                Outcome.UNRESOLVED,
                "the server never answered the create; the next run resolves it",
            )

    def _run_concurrently(self, items: list[ParticipantPlan]) -> list[ParticipantPlan]:
        unknown: list[ParticipantPlan] = []
        workers = max(1, min(self.settings.concurrency, len(items)))
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keyprov")
        try:
            futures = {
                executor.submit(contextvars.copy_context().run, self._create_one, item): item
                for item in items
            }
            for future in as_completed(futures):
                if not future.result():
                    unknown.append(futures[future])
        except BaseException:
            # Ctrl-C: let the creates in flight finish and be journaled, start no new one. A
            # second Ctrl-C must not cut this short: the lock would go while keys are created.
            self._stop.set()
            while True:
                try:
                    executor.shutdown(wait=True, cancel_futures=True)
                    break
                except KeyboardInterrupt:
                    continue
            raise
        executor.shutdown(wait=True)
        return unknown

    def _create_one(self, item: ParticipantPlan) -> bool:
        """Create one key; False when the create got no answer and must be reconciled."""
        participant = item.participant
        if self._stop.is_set():
            self._finish(participant, Outcome.FAILED, "not attempted: the run was stopped")
            return True
        _subject.set(participant.identity)
        name = key_name(self.workshop, participant.identity)
        try:
            for stale in item.undelivered:
                self._delete_undelivered(participant, stale)
            self.ledger.record_intent(participant.identity, name)
            created = self.client.create_key(
                name,
                limit=participant.limit,
                limit_reset=participant.limit_reset,
                expires_at=item.expires_at or self.settings.expires_at,
            )
        except OutcomeUnknownError as error:
            self.audit.event("outcome_unknown", participant=participant.identity, error=str(error))
            return False
        except (CredentialError, StateWriteError) as error:
            self._stop_run(error)
            self._finish(participant, Outcome.FAILED, str(error))
            return True
        except ApiError as error:
            self._finish(participant, Outcome.FAILED, str(error))
            return True
        previous = self.ledger.get(participant.identity)
        retired = previous.retired if previous else ()
        roster_limit, roster_limit_reset = participant.limit, participant.limit_reset
        if item.replaces is not None and previous is not None:
            # A rotation keeps what the roster said (a top-up must survive) and retires the
            # old key in the same record that stores the new one.
            retired = (*retired, item.replaces.hash)
            roster_limit, roster_limit_reset = previous.roster_limit, previous.roster_limit_reset
        detail = item.note
        try:
            self.ledger.record_created(
                participant.identity,
                created,
                name=participant.name,
                email=participant.email,
                participant_id=participant.participant_id,
                roster_limit=roster_limit,
                roster_limit_reset=roster_limit_reset,
                retired=retired,
            )
        except StateWriteError as error:
            # The key exists and its secret is in memory; the run's end tries to save it.
            self._stop_run(error)
            detail = "created; its record did not reach the disk (the run's end saves it)"
        self._finish(participant, Outcome.CREATED, detail, created.key.hash, created.key.label)
        return True

    def _reconcile(self, unknown: list[ParticipantPlan]) -> list[ParticipantPlan]:
        """Find out which unanswered creates the server made, before creating anything again.

        Returns the participants to create again, each with the keys the server did make for
        them (nobody holds those secrets; they are deleted first). When the server cannot be
        listed, nothing is created again: the participants are returned as unresolved.
        """
        try:
            server_keys = self.client.list_all_keys(include_disabled=True)
        except ApiError as error:
            self.audit.event("reconcile_failed", error=str(error))
            for item in unknown:
                self._finish(
                    item.participant,
                    Outcome.UNRESOLVED,
                    "the create got no answer and the server could not be listed to check it; "
                    "the next run resolves it",
                )
            return []
        known = self.ledger.known_hashes()
        again: list[ParticipantPlan] = []
        for item in unknown:
            name = key_name(self.workshop, item.participant.identity)
            made = tuple(key for key in server_keys if key.name == name and key.hash not in known)
            self.audit.event(
                "reconciled",
                participant=item.participant.identity,
                found=[key.hash for key in made],
                next="delete the undelivered key, then create again" if made else "create again",
            )
            again.append(
                replace(item, undelivered=made, note="created after an unanswered attempt")
            )
        return again

    def _delete_undelivered(self, participant: Participant, key: ApiKey) -> None:
        self.client.delete_key(key.hash)
        self.audit.event(
            "deleted_undelivered",
            participant=participant.identity,
            hash=key.hash,
            label=key.label,
            reason="created by a create whose answer (and secret) never arrived",
        )

    # -- other actions ------------------------------------------------------------------------

    def _resolve_undelivered(self, item: ParticipantPlan) -> None:
        """A participant who kept their key while a create for them went unanswered (a crashed
        rotation, say): the key that create made was never delivered, so it goes."""
        try:
            for stale in item.undelivered:
                self._delete_undelivered(item.participant, stale)
        except ApiError as error:
            self.audit.event(
                "delete_undelivered_failed", participant=item.participant.identity, error=str(error)
            )
            return
        self.ledger.record_update(item.participant.identity, pending=False)

    def _update(self, item: ParticipantPlan) -> None:
        """PATCH the roster values that changed (and re-enable, when asked)."""
        participant = item.participant
        assert item.key is not None
        changes: dict[str, object] = dict(item.patch)
        if item.action is Action.DISABLED:
            changes["disabled"] = False
        try:
            key = self.client.update_key(item.key.hash, **changes)
        except ApiError as error:
            self._finish(participant, Outcome.FAILED, f"could not update the key: {error}")
            return
        self.ledger.record_update(
            participant.identity,
            limit=key.limit,
            limit_reset=key.limit_reset,
            roster_limit=participant.limit,
            roster_limit_reset=participant.limit_reset,
        )
        note = "re-enabled" if item.action is Action.DISABLED else item.note
        self._finish_with_duplicates(item, Outcome.UPDATED, note, key)

    def _finish_unchanged(self, item: ParticipantPlan) -> None:
        key = item.key
        if item.action is Action.KEEP:
            assert key is not None
            self._finish_with_duplicates(item, Outcome.PRESENT, "", key)
        elif item.action is Action.DISABLED:
            self._finish(
                item.participant,
                Outcome.DISABLED,
                f"{item.note}; run with --reenable to enable it again",
                key.hash if key else None,
                key.label if key else None,
            )
        else:
            self._finish(
                item.participant,
                Outcome.SECRET_LOST,
                f"{item.note}. Restore state.jsonl from a backup, or rotate the key "
                "(disable it and provision a new one)",
                key.hash if key else None,
                key.label if key else None,
            )

    def _finish_with_duplicates(
        self, item: ParticipantPlan, outcome: Outcome, note: str, key: ApiKey
    ) -> None:
        """A participant with extra enabled keys is not done until they are pruned."""
        extra = [duplicate for duplicate in item.duplicates if not duplicate.disabled]
        if extra and self.settings.prune:
            for duplicate in extra:
                self._prune(duplicate, f"a second key of {item.participant.identity}")
            extra = []
        if extra:
            labels = ", ".join(duplicate.label for duplicate in extra)
            self._finish(
                item.participant,
                Outcome.DUPLICATED,
                f"{len(extra)} more enabled key(s) on the server ({labels}); "
                "run with --prune to disable them",
                key.hash,
                key.label,
            )
            return
        self._finish(item.participant, outcome, note, key.hash, key.label)

    def _prune(self, key: ApiKey, reason: str) -> None:
        """Disable, never delete: a pruned key can be enabled again from the dashboard."""
        if key.disabled:
            return
        try:
            self.client.update_key(key.hash, disabled=True)
        except ApiError as error:
            self.audit.event("prune_failed", hash=key.hash, label=key.label, error=str(error))
            return
        self.pruned.append(key)
        self.audit.event("pruned", hash=key.hash, label=key.label, name=key.name, reason=reason)

    def _stop_run(self, error: KeyprovError) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = error
        self._stop.set()

    def _finish(
        self,
        participant: Participant,
        outcome: Outcome,
        detail: str = "",
        key_hash: str | None = None,
        label: str | None = None,
    ) -> None:
        result = ParticipantResult(participant, outcome, detail, key_hash, label)
        with self._lock:
            self.results[participant.identity] = result
        log.debug("%s: %s %s %s", participant.identity, outcome.value, label or "", detail)
        self.audit.event(
            "participant",
            participant=participant.identity,
            outcome=outcome.value,
            detail=detail,
            hash=key_hash,
            label=label,
        )
        if self.on_result is not None:
            self.on_result(result)


def _distribution_rows(
    participants: Iterable[Participant], ledger: Ledger, run: _Run
) -> list[DistributionRow]:
    """Every participant of the roster, then every earlier participant the ledger still holds."""
    rows: list[DistributionRow] = []
    in_roster: set[str] = set()
    for participant in participants:
        in_roster.add(participant.identity)
        result = run.results.get(participant.identity)
        status = result.outcome.value if result else "not attempted"
        if result and result.detail and not result.outcome.is_provisioned:
            status = f"{status}: {result.detail}"
        entry = ledger.get(participant.identity)
        if entry is not None and entry.has_key:
            rows.append(DistributionRow.for_entry(entry, status))
        else:
            rows.append(
                DistributionRow(
                    participant.name,
                    participant.email,
                    None,
                    participant.limit,
                    participant.limit_reset,
                    None,
                    None,
                    status,
                )
            )
    rows.extend(
        DistributionRow.for_entry(entry, "not in roster")
        for entry in ledger.entries()
        if entry.identity not in in_roster and entry.has_key
    )
    return rows


def _settings_for_audit(settings: ProvisionSettings) -> dict[str, Any]:
    return {
        name: str(value) if value is not None else None for name, value in asdict(settings).items()
    }


def _audit_plan(audit: AuditLog, plan: Plan) -> None:
    audit.event(
        "plan",
        **{action.value: len(plan.with_action(action)) for action in Action},
        new_budget_usd=round(plan.new_budget, 2),
        not_in_roster=[key.hash for key in plan.not_in_roster],
    )


def _audit_retry(audit: AuditLog, event: RetryEvent) -> None:
    log.info(
        "retrying %s for %s (attempt %d, status %s, waiting %.2f s)",
        event.operation,
        _subject.get(),
        event.attempt,
        event.status,
        event.wait,
    )
    audit.event("retry", participant=_subject.get(), **asdict(event))
