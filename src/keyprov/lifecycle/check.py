"""`keyprov check`: is every participant ready to start the workshop?"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from keyprov.api.client import OpenRouterClient
from keyprov.engine.budget_cuts import cut_is_over, utc_now
from keyprov.engine.expiry import DEFAULT_WARN_DAYS
from keyprov.engine.planner import LIMIT_TOLERANCE, Action, ParticipantPlan
from keyprov.engine.session import audited
from keyprov.engine.snapshot import snapshot
from keyprov.errors import ApiError
from keyprov.guardrails.guarding import guardrail_problems, remembered_policy
from keyprov.models import ApiKey, Credits
from keyprov.roster import Participant
from keyprov.values import parse_time
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.locate import find_workshop
from keyprov.workshop.options import DesiredOptions, expires_at

NOTHING_LEFT = 0.005
"""Remaining below this shows as 0.00 USD: the key cannot pay for a request."""


@dataclass(frozen=True)
class CheckRow:
    identity: str
    name: str
    email: str
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
    expectations: list[str] = field(default_factory=list)
    """What was checked against, in words: limit source, reset, expiry, warning window."""

    @property
    def ready(self) -> bool:
        return not self.workshop_problems and all(not row.problems for row in self.rows)

    @property
    def not_ready(self) -> list[CheckRow]:
        return [row for row in self.rows if row.problems]


def check_workshop(
    ref: WorkshopRef,
    desired: DesiredOptions,
    client: OpenRouterClient,
    *,
    given: Iterable[str] | None = None,
    warn_days: float = DEFAULT_WARN_DAYS,
    now: datetime | None = None,
) -> CheckResult:
    """Is every participant ready: one enabled key, the right limit and expiry, enough credits?

    What is expected is what provision applied (remembered with the workshop), except for the
    options `given` on this command line: `desired` holds their values.
    """
    workshop = find_workshop(ref, client)
    desired = desired.merged(given, workshop.options)
    roster = desired.roster_options()
    participants = roster.read().participants
    expires = desired.expires
    current = snapshot(workshop, client)
    plan = current.plan(participants)
    moment = now or utc_now()
    horizon = moment + timedelta(days=warn_days)
    wanted_expiry = expires_at(expires)
    rows = [
        _check_participant(
            item,
            current.entries.get(item.participant.identity),
            wanted_expiry,
            _Times(moment, horizon),
            Fixes(workshop.name, str(desired.roster or "ROSTER")),
            closed=current.closed,
        )
        for item in plan.items
    ]
    policy = remembered_policy(workshop.options)
    keys = {
        row.identity: item.key.hash for row, item in zip(rows, plan.items, strict=True) if item.key
    }
    guard_problems, per_key = guardrail_problems(client, workshop.name, policy, keys.values())
    rows = [
        replace(row, problems=(*row.problems, per_key[keys[row.identity]]))
        if keys.get(row.identity) in per_key
        else row
        for row in rows
    ]
    # While closed, the keys waiting disabled will work once it opens: their budget counts.
    live = [
        item.key
        for item in plan.items
        if item.key is not None and (current.closed or not item.key.disabled)
    ]
    # A key without a limit is its participant's problem (its row says so); no balance covers it.
    needed = sum(max(0.0, key.limit_remaining or 0.0) for key in live if key.limit is not None)
    result = CheckResult(workshop.name, rows, None, needed)
    result.workshop_problems.extend(guard_problems)
    strangers = [key for key in plan.strangers if not key.disabled]
    if strangers:
        result.workshop_problems.append(
            f"{len(strangers)} enabled key(s) named as this workshop's were never made by this "
            "copy of it (another copy on another machine or in another folder, or duplicates): "
            "a participant may hold two keys. Run keyprov from the copy that made them."
        )
    remembered = set(workshop.options) - set(given) if given is not None else set()
    result.expectations = expectations(desired, warn_days, remembered=remembered)
    result.expectations.append(f"models:      {policy.in_words()}")
    result.expectations.append(f"gate:        {gate_in_words(current.closed)}")
    try:
        result.credits = client.credits()
    except ApiError as error:
        result.workshop_problems.append(f"credits could not be read: {error}")
    if result.credits is not None and result.credits.remaining < needed:
        result.workshop_problems.append(
            f"the remaining limits add up to {needed:.2f} USD but the account has "
            f"{result.credits.remaining:.2f} USD of credits left"
        )
    with audited(workshop, client, "check", roster=str(roster.path)) as audit:
        audit.event(
            "check",
            ready=result.ready,
            participants=len(rows),
            not_ready=[row.identity for row in rows if row.problems],
            workshop_problems=result.workshop_problems,
            credits_remaining=None
            if result.credits is None
            else round(result.credits.remaining, 2),
            needed_usd=round(needed, 2),
        )
    return result


def expectations(
    desired: DesiredOptions, warn_days: float, *, remembered: Iterable[str] = ()
) -> list[str]:
    """What check expects of every key, said so that a wrong expectation is seen at once;
    each option taken from what provision applied (`remembered`) says so."""
    kept = set(remembered)

    def source(*names: str) -> str:
        return " (as provisioned)" if kept.intersection(names) else ""

    limit = "each row's limit in the roster"
    if desired.default_limit is not None:
        limit += f", {desired.default_limit:g} USD for rows without one"
    reset = desired.limit_reset or "never (a limit for the whole workshop)"
    expiry = desired.expires.in_words if desired.expires else "none set, so not checked"
    return [
        f"roster:      {desired.roster}{source('roster')}",
        f"limit:       {limit}{source('default_limit')}",
        f"limit reset: {reset}{source('limit_reset')}",
        f"expiry:      {expiry}{source('expires')}",
        f"warn:        keys expiring within {warn_days:g} days",
    ]


def gate_in_words(closed: bool) -> str:
    if closed:
        return "closed: keys disabled until keyprov open, or each when claimed (not a problem)"
    return "open: every key enabled"


@dataclass(frozen=True)
class _Times:
    now: datetime
    horizon: datetime
    """A key expiring before this is 'expiring soon' (unless that is what was asked for)."""


@dataclass(frozen=True)
class Fixes:
    """What the commands check suggests need, so they run as written."""

    workshop: str
    roster: str

    def provision(self) -> str:
        return f"keyprov provision {self.roster}"

    def for_participant(self, command: str, identity: str, rest: str = "") -> str:
        line = f"keyprov {command} --workshop {self.workshop} --participant {identity}"
        return f"{line} {rest}".rstrip()


def _check_participant(
    item: ParticipantPlan,
    entry: LedgerEntry | None,
    wanted_expires_at: str | None,
    times: _Times,
    fixes: Fixes,
    *,
    closed: bool = False,
) -> CheckRow:
    participant = item.participant
    key = item.key
    problems: list[str] = []
    if item.action is Action.CREATE:
        problems.append(f"no key: run {fixes.provision()}")
    elif item.action is Action.SECRET_LOST:
        problems.append(
            "a key is on the server but its secret is not in the local state: "
            f"{fixes.for_participant('rotate', participant.identity)} gives them a new one"
        )
    elif item.action is Action.DISABLED and not closed:
        problems.append("its key is disabled")
    if key is not None and item.action is not Action.SECRET_LOST:
        expected = _expected_limit(participant, entry)
        if key.limit is None:
            problems.append(f"the key has no spending limit, expected {expected:.2f} USD")
        elif abs(key.limit - expected) > LIMIT_TOLERANCE:
            problems.append(f"limit is {key.limit:.2f} USD, expected {expected:.2f}")
        if entry is not None and (still_cut := _still_cut(key, entry, times.now, fixes)):
            problems.append(still_cut)
        if not key.disabled and (nothing_left := _nothing_left(key, participant, fixes)):
            problems.append(nothing_left)
        if key.limit_reset != participant.limit_reset:
            problems.append(f"limit reset is {key.limit_reset}, expected {participant.limit_reset}")
        wanted_expiry = parse_time(wanted_expires_at)
        expiry = parse_time(key.expires_at)
        if wanted_expiry is not None and expiry != wanted_expiry:
            problems.append(f"expires {key.expires_at}, expected {wanted_expires_at}")
        if expiry is not None and expiry <= times.now:
            problems.append(f"expired ({key.expires_at})")
        elif expiry is not None and expiry <= times.horizon and expiry != wanted_expiry:
            # A key that ends when the workshop does, as asked, is not a surprise.
            problems.append(f"expires soon ({key.expires_at})")
    extra = [duplicate for duplicate in item.duplicates if not duplicate.disabled]
    if extra:
        problems.append(f"{len(extra)} extra enabled key(s)")
    if item.retired:
        problems.append(
            f"the key it replaced is still enabled ({', '.join(k.label for k in item.retired)}): "
            "run keyprov rotate or keyprov provision to disable it"
        )
    return CheckRow(
        participant.identity,
        participant.name,
        participant.email,
        key.label if key else "",
        key.limit if key else None,
        key.limit_remaining if key else None,
        key.expires_at if key else None,
        tuple(problems),
    )


def _still_cut(key: ApiKey, entry: LedgerEntry, moment: datetime, fixes: Fixes) -> str | None:
    """A limit a rotation cut for one window, still cut after that window ended."""
    full = entry.full_limit
    if key.disabled or key.limit is None or full is None or not cut_is_over(entry, moment):
        return None
    if key.limit >= full - LIMIT_TOLERANCE:
        return None
    return (
        f"limit still cut to {key.limit:.2f} USD after its {key.limit_reset} window ended; "
        f"{fixes.provision()} (or any command that changes the workshop) gives back "
        f"{full:.2f} USD"
    )


def _nothing_left(key: ApiKey, participant: Participant, fixes: Fixes) -> str | None:
    """A key that cannot pay for one more request is not ready, whatever else is right."""
    remaining = key.limit_remaining
    if remaining is None or key.limit is None or remaining >= NOTHING_LEFT:
        return None
    until = f" until its {key.limit_reset} reset" if key.limit_reset else ""
    return (
        f"nothing left to spend{until}: {remaining:.2f} of {key.limit:.2f} USD; top up with "
        f"{fixes.for_participant('set-limit', participant.identity, '--add USD')}"
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
