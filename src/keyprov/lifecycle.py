"""Before and after the workshop: check, report, top up, rotate, revoke.

Every command works on one workshop (named by its roster or --workshop), reads the server
(all pages, disabled keys included), writes an audit event for what it did, and keeps
keys.xlsx in step with the local state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keyprov import __version__
from keyprov.audit import AUDIT_FILE_NAME, AuditLog
from keyprov.charts import spend_chart
from keyprov.client import OpenRouterClient
from keyprov.errors import ApiError, ConfigurationError
from keyprov.files import ensure_private_dir
from keyprov.ledger import STATE_FILE_NAME, Ledger, LedgerEntry
from keyprov.lock import workshop_lock
from keyprov.models import ApiKey, Credits
from keyprov.outputs import (
    KEYS_FILE_NAME,
    REPORT_FILE_NAME,
    DistributionRow,
    write_keys_workbook,
    write_report_workbook,
)
from keyprov.planner import LIMIT_TOLERANCE, Action, ParticipantPlan, make_plan
from keyprov.provision import ProvisionSettings, create_keys, load_roster
from keyprov.roster import Participant
from keyprov.workshop import WorkshopRef, owned_keys

SPEND_CHART_NAME = "spend.png"
WINDOW_USAGE = {"daily": "usage_daily", "weekly": "usage_weekly", "monthly": "usage_monthly"}


@contextmanager
def _audited(
    folder: Path, command: str, client: OpenRouterClient, *, locked: bool = False, **details: object
) -> Iterator[AuditLog]:
    ensure_private_dir(folder)
    with AuditLog(folder / AUDIT_FILE_NAME, locked=locked) as audit:
        audit.event(
            "command_start",
            command=command,
            tool_version=__version__,
            base_url=client.base_url,
            **details,
        )
        yield audit


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _window_usage(key: ApiKey) -> float:
    """Usage in the window the limit applies to: the reset period's, else all-time."""
    return float(getattr(key, WINDOW_USAGE[key.limit_reset])) if key.limit_reset else key.usage


# -- check ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRow:
    identity: str
    name: str
    label: str
    limit: float | None
    remaining: float | None
    expires_at: str | None
    problems: tuple[str, ...]


@dataclass
class CheckResult:
    workshop: str
    rows: list[CheckRow]
    credits: Credits | None
    needed: float
    workshop_problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.workshop_problems and all(not row.problems for row in self.rows)


def check_workshop(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    *,
    warn_days: float = 2,
    now: datetime | None = None,
) -> CheckResult:
    """Is every participant ready: one enabled key, the right limit and expiry, enough credits?"""
    participants = load_roster(settings).participants
    workshop = settings.workshop_name
    ledger = Ledger.open(settings.workshop_dir / STATE_FILE_NAME)
    entries = {entry.identity: entry for entry in ledger.entries()}
    plan = make_plan(workshop, participants, entries, client.list_all_keys(include_disabled=True))
    moment = now or datetime.now(UTC)
    horizon = moment + timedelta(days=warn_days)
    rows = [
        _check_participant(item, entries.get(item.participant.identity), settings, horizon)
        for item in plan.items
    ]
    live = [item.key for item in plan.items if item.key is not None and not item.key.disabled]
    needed = sum(
        math.inf if key.limit_remaining is None else max(0.0, key.limit_remaining) for key in live
    )
    result = CheckResult(workshop, rows, None, needed)
    try:
        result.credits = client.credits()
    except ApiError as error:
        result.workshop_problems.append(f"credits could not be read: {error}")
    if result.credits is not None and result.credits.remaining < needed:
        result.workshop_problems.append(
            f"the remaining limits add up to {needed:.2f} USD but the account has "
            f"{result.credits.remaining:.2f} USD of credits left"
        )
    with _audited(settings.workshop_dir, "check", client, roster=str(settings.roster)) as audit:
        audit.event(
            "check",
            ready=result.ready,
            participants=len(rows),
            not_ready=[row.identity for row in rows if row.problems],
            workshop_problems=result.workshop_problems,
            credits_remaining=None
            if result.credits is None
            else round(result.credits.remaining, 2),
            needed_usd=None if math.isinf(needed) else round(needed, 2),
        )
    return result


def _check_participant(
    item: ParticipantPlan, entry: LedgerEntry | None, settings: ProvisionSettings, horizon: datetime
) -> CheckRow:
    participant = item.participant
    key = item.key
    problems: list[str] = []
    if item.action is Action.CREATE:
        problems.append("no key: run keyprov provision")
    elif item.action is Action.SECRET_LOST:
        problems.append("a key is on the server but its secret is not in the local state")
    elif item.action is Action.DISABLED:
        problems.append("its key is disabled")
    if key is not None and item.action is not Action.SECRET_LOST:
        expected = _expected_limit(participant, entry)
        if key.limit is None:
            problems.append(f"the key has no spending limit, expected {expected:g} USD")
        elif abs(key.limit - expected) > LIMIT_TOLERANCE:
            problems.append(f"limit is {key.limit:g} USD, expected {expected:g}")
        if key.limit_reset != participant.limit_reset:
            problems.append(f"limit reset is {key.limit_reset}, expected {participant.limit_reset}")
        wanted_expiry = _parse_time(settings.expires_at)
        expiry = _parse_time(key.expires_at)
        if wanted_expiry is not None and expiry != wanted_expiry:
            problems.append(f"expires {key.expires_at}, expected {settings.expires_at}")
        if expiry is not None and expiry <= horizon:
            problems.append(f"expires soon ({key.expires_at})")
    extra = [duplicate for duplicate in item.duplicates if not duplicate.disabled]
    if extra:
        problems.append(f"{len(extra)} extra enabled key(s)")
    return CheckRow(
        participant.identity,
        participant.name,
        key.label if key else "",
        key.limit if key else None,
        key.limit_remaining if key else None,
        key.expires_at if key else None,
        tuple(problems),
    )


def _expected_limit(participant: Participant, entry: LedgerEntry | None) -> float:
    """The roster's limit, or the topped-up one when the roster has not changed since."""
    if (
        entry is not None
        and entry.limit is not None
        and entry.roster_limit is not None
        and abs(entry.roster_limit - participant.limit) <= LIMIT_TOLERANCE
    ):
        return entry.limit
    return participant.limit


# -- report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRow:
    identity: str
    name: str
    label: str
    role: str
    limit: float | None
    limit_reset: str | None
    usage_window: float
    usage_total: float
    remaining: float | None
    disabled: bool
    expires_at: str | None


@dataclass
class UsageReport:
    workshop: str
    rows: list[UsageRow]
    xlsx_path: Path
    chart_path: Path

    @property
    def totals(self) -> tuple[float, float, float]:
        """Limits and remaining of enabled keys; all-time usage of every key."""
        live = [row for row in self.rows if not row.disabled]
        return (
            sum(row.limit or 0.0 for row in live),
            sum(row.usage_total for row in self.rows),
            sum(row.remaining or 0.0 for row in live),
        )


def usage_report(ref: WorkshopRef, client: OpenRouterClient) -> UsageReport:
    """Usage per key of the workshop, from the server; writes report.xlsx and spend.png."""
    entries = Ledger.open(ref.state_path).entries()
    owned = owned_keys(ref.name, entries, client.list_all_keys(include_disabled=True))
    rows = [
        UsageRow(
            identity=item.identity,
            name=item.entry.name if item.entry else "",
            label=item.key.label,
            role=item.role,
            limit=item.key.limit,
            limit_reset=item.key.limit_reset,
            usage_window=_window_usage(item.key),
            usage_total=item.key.usage,
            remaining=item.key.limit_remaining,
            disabled=item.key.disabled,
            expires_at=item.key.expires_at,
        )
        for item in owned
    ]
    folder = ensure_private_dir(ref.folder)
    report = UsageReport(ref.name, rows, folder / REPORT_FILE_NAME, folder / SPEND_CHART_NAME)
    write_report_workbook(
        report.xlsx_path,
        [
            (
                row.identity,
                row.name,
                row.label,
                row.role,
                row.limit,
                row.limit_reset or "",
                row.usage_window,
                row.usage_total,
                row.remaining,
                "yes" if row.disabled else "no",
                row.expires_at or "",
            )
            for row in rows
        ],
    )
    current = [row for row in rows if row.role == "current"]
    spend_chart(
        report.chart_path,
        [row.name or row.identity for row in current],
        [row.usage_window for row in current],
        [row.limit or 0.0 for row in current],
    )
    with _audited(ref.folder, "report", client) as audit:
        limits, usage, remaining = report.totals
        audit.event(
            "report",
            keys=len(rows),
            limits_usd=round(limits, 2),
            usage_usd=round(usage, 6),
            remaining_usd=round(remaining, 2),
            report=str(report.xlsx_path),
        )
    return report


# -- changes: set-limit, rotate, revoke -------------------------------------------------------


@dataclass(frozen=True)
class Change:
    identity: str
    label: str
    ok: bool
    detail: str


@contextmanager
def _changing(
    ref: WorkshopRef, command: str, client: OpenRouterClient
) -> Iterator[tuple[Ledger, AuditLog]]:
    """Lock the workshop, open its state, and rebuild keys.xlsx when the change is done."""
    if not ref.state_path.exists():
        raise ConfigurationError(
            f"no local state for workshop {ref.name!r} in {ref.folder}: provision it first, "
            "or point --out at the folder that holds it."
        )
    with (
        workshop_lock(ref.folder),
        Ledger.open(ref.state_path) as ledger,
        _audited(ref.folder, command, client, locked=True) as audit,
    ):
        try:
            yield ledger, audit
        finally:
            # The state first: keys.xlsx must not hand out a secret the state may not hold.
            ledger.compact()
            _rewrite_keys_workbook(ref, ledger, client)


def _select(ledger: Ledger, participants: list[str] | None) -> list[LedgerEntry]:
    entries = [entry for entry in ledger.entries() if entry.has_key]
    if participants is None:
        return entries
    wanted = {value.strip().lower() for value in participants}
    chosen = [e for e in entries if e.identity.lower() in wanted or e.email.lower() in wanted]
    missing = wanted - {e.identity.lower() for e in chosen} - {e.email.lower() for e in chosen}
    if missing:
        raise ConfigurationError(
            f"no key in this workshop's state for {', '.join(sorted(missing))}; check the "
            "email (or id), or provision them first."
        )
    return chosen


def set_limit(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    participants: list[str] | None,
    limit: float | None = None,
    add: float | None = None,
    max_limit: float = 100.0,
) -> list[Change]:
    """Set an absolute limit, or add to the current one (PATCH is absolute: read, add, write)."""
    if (limit is None) == (add is None):
        raise ConfigurationError("give exactly one of --limit USD or --add USD.")
    changes = []
    with _changing(ref, "set-limit", client) as (ledger, audit):
        for entry in _select(ledger, participants):
            assert entry.hash is not None
            try:
                old = client.get_key(entry.hash).limit if add is not None else entry.limit
                new = round((old or 0.0) + add, 6) if add is not None else float(limit or 0.0)
                if new <= 0 or new > max_limit:
                    changes.append(
                        Change(
                            entry.identity,
                            entry.label or "",
                            False,
                            f"{new:g} USD is not in (0, {max_limit:g}]; raise --max-limit if meant",
                        )
                    )
                    continue
                key = client.update_key(entry.hash, limit=new)
            except ApiError as error:
                changes.append(Change(entry.identity, entry.label or "", False, str(error)))
                continue
            ledger.record_update(entry.identity, limit=key.limit)
            audit.event(
                "limit_set", participant=entry.identity, hash=key.hash, old=old, new=key.limit
            )
            changes.append(
                Change(entry.identity, key.label, True, f"limit {old} -> {key.limit} USD")
            )
    return changes


def rotate(ref: WorkshopRef, client: OpenRouterClient, *, participants: list[str]) -> list[Change]:
    """Replace a key: create the successor first (same limit, reset, expiry), then disable the old.

    If the successor cannot be created, the old key is left enabled and untouched.
    """
    changes = []
    settings = ProvisionSettings(
        roster=ref.roster or Path(ref.name), workshop=ref.name, out_dir=ref.out_dir
    )
    with _changing(ref, "rotate", client) as (ledger, audit):
        for entry in _select(ledger, participants):
            assert entry.hash is not None
            try:
                old = client.get_key(entry.hash)
            except ApiError as error:
                changes.append(
                    Change(entry.identity, entry.label or "", False, f"not rotated: {error}")
                )
                continue
            participant = Participant(
                entry.name,
                entry.email,
                old.limit if old.limit is not None else entry.limit or 0.0,
                old.limit_reset,
                0,
                entry.participant_id,
            )
            item = ParticipantPlan(
                participant, Action.CREATE, expires_at=old.expires_at, replaces=old
            )
            result = create_keys(settings, client, ledger, audit, [item])[entry.identity]
            if not result.outcome.is_provisioned:
                audit.event(
                    "rotate_failed",
                    participant=entry.identity,
                    old_hash=old.hash,
                    detail=result.detail,
                )
                changes.append(
                    Change(
                        entry.identity,
                        old.label,
                        False,
                        f"the new key could not be created ({result.detail}); "
                        "the old key stays enabled",
                    )
                )
                continue
            # The successor's record already names the old key retired, so if this run dies
            # here the next provision run disables it.
            try:
                client.update_key(old.hash, disabled=True)
            except ApiError as error:
                changes.append(
                    Change(
                        entry.identity,
                        result.label or "",
                        False,
                        f"new key {result.label} created, but the old key {old.label} could not be "
                        f"disabled ({error}); the next provision run disables it",
                    )
                )
                continue
            audit.event(
                "rotated", participant=entry.identity, old_hash=old.hash, new_hash=result.key_hash
            )
            changes.append(
                Change(
                    entry.identity,
                    result.label or "",
                    True,
                    f"{old.label} disabled, replaced by {result.label}",
                )
            )
    return changes


def revoke(
    ref: WorkshopRef, client: OpenRouterClient, *, delete: bool = False, dry_run: bool = False
) -> list[Change]:
    """Disable (or delete) every key of the workshop; keys already disabled are left alone."""
    if dry_run:
        entries = Ledger.open(ref.state_path).entries()
        owned = owned_keys(ref.name, entries, client.list_all_keys(include_disabled=True))
        return [
            Change(
                item.identity,
                item.key.label,
                True,
                "would be deleted"
                if delete
                else ("already disabled" if item.key.disabled else "would be disabled"),
            )
            for item in owned
        ]
    changes = []
    with _changing(ref, "revoke", client) as (ledger, audit):
        owned = owned_keys(ref.name, ledger.entries(), client.list_all_keys(include_disabled=True))
        for item in owned:
            key = item.key
            if not delete and key.disabled:
                continue
            try:
                if delete:
                    client.delete_key(key.hash)
                else:
                    client.update_key(key.hash, disabled=True)
            except ApiError as error:
                changes.append(Change(item.identity, key.label, False, str(error)))
                continue
            action = "deleted" if delete else "disabled"
            audit.event(f"key_{action}", participant=item.identity, hash=key.hash, label=key.label)
            changes.append(Change(item.identity, key.label, True, action))
    return changes


def _rewrite_keys_workbook(ref: WorkshopRef, ledger: Ledger, client: OpenRouterClient) -> None:
    """keys.xlsx after a change: every participant with a key, with its state on the server."""
    server: dict[str, ApiKey] | None
    try:
        server = {key.hash: key for key in client.list_all_keys(include_disabled=True)}
    except ApiError:
        server = None  # the sheet must still get any new key; only the statuses are unknown
    rows = []
    for entry in ledger.entries():
        if not entry.has_key:
            continue
        key = server.get(entry.hash or "") if server is not None else None
        if server is None:
            status = "unknown (the server could not be listed)"
        else:
            status = (
                "deleted on server" if key is None else "disabled" if key.disabled else "present"
            )
        row = DistributionRow.for_entry(entry, status)
        rows.append(replace(row, limit=key.limit) if key else row)
    write_keys_workbook(ref.folder / KEYS_FILE_NAME, rows)
