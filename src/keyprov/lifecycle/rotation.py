"""`keyprov rotate`: replace keys, the successor first, without ever doubling a budget.

A successor is created and its secret stored (its record naming the keys it retires) before
any old key is disabled, so no crash leaves a participant without a working key, and the next
rotate or provision disables what a stopped one left enabled. OpenRouter cannot change a key's
expiry, so rotating is also how a wrong `--expires` is corrected.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from keyprov.api.client import OpenRouterClient
from keyprov.engine.creator import CreateRequest, create_keys, delete_undelivered
from keyprov.engine.expiry import describe_expiry, expires_at, refuse_past, same_expiry
from keyprov.engine.fanout import DEFAULT_CONCURRENCY, fan_out
from keyprov.engine.gating import keep_closed
from keyprov.engine.outcomes import ParticipantResult
from keyprov.engine.session import Session, session
from keyprov.engine.snapshot import OwnedKey, Snapshot
from keyprov.errors import ApiError, ConfigurationError, KeyprovError
from keyprov.expiry_option import Expiry
from keyprov.guardrails.guarding import assign_to_workshop_guardrail
from keyprov.lifecycle.changes import Change, _outcome
from keyprov.lifecycle.who import resolve_names
from keyprov.models import ApiKey, window_usage
from keyprov.roster import Participant
from keyprov.workshop.audit import set_subject
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.options import DesiredOptions, as_expiry

MIN_SUCCESSOR_LIMIT = 0.01
"""USD: the least a successor's limit is, when the old key's spend used up (or overran) it."""

WINDOW_WORDS = {"daily": "today", "weekly": "this week", "monthly": "this month", None: "so far"}
NEXT_WINDOW = {"daily": "tomorrow", "weekly": "next week", "monthly": "next month"}


@dataclass(frozen=True)
class Rotation:
    """One participant's keys to replace, and who they are."""

    entry: LedgerEntry
    """The state's entry; for a key whose secret was lost, one made from the roster."""
    keys: tuple[ApiKey, ...]
    """The enabled keys the successor replaces, as the server showed them; the first is the
    model (its limit, reset and expiry are the successor's unless told otherwise)."""
    secret_lost: bool = False

    @property
    def identity(self) -> str:
        return self.entry.identity


@dataclass(frozen=True)
class Successor:
    """The key a rotation creates: what it is asked for, and the limit it came from."""

    rotation: Rotation
    request: CreateRequest
    full_limit: float | None
    spent: float
    """USD the replaced keys spent in the limit's window, taken off the successor's limit."""

    @classmethod
    def of(cls, rotation: Rotation, expires: str | None, *, carry_spend: bool) -> Successor:
        model = rotation.keys[0]
        entry = rotation.entry
        journaled = entry.limit if entry.limit is not None else entry.roster_limit
        full = model.limit if model.limit is not None else journaled
        limit, spent = successor_limit(rotation.keys, journaled, carry_spend=carry_spend)
        request = CreateRequest.rotation(
            rotation.entry, rotation.keys, limit=limit, expires_at=expires or model.expires_at
        )
        return cls(rotation, request, full, spent)


def successor_limit(
    keys: Sequence[ApiKey], journaled: float | None, *, carry_spend: bool
) -> tuple[float | None, float]:
    """The successor's limit, and the spend carried over to it.

    With `carry_spend` (the default) the budget left in the limit's current window is what
    the successor gets: the limit less what the replaced keys spent in it, never below
    MIN_SUCCESSOR_LIMIT, so "my key leaked" never buys a second budget. Otherwise the whole
    limit. A key without a limit passes on the one the state journaled, else none.
    """
    model = keys[0]
    full = model.limit if model.limit is not None else journaled
    if full is None or not carry_spend:
        return full, 0.0
    spent = round(sum(window_usage(key) for key in keys), 6)
    return max(MIN_SUCCESSOR_LIMIT, round(full - spent, 6)), spent


def rotate(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    participants: list[str] | None,
    expires: Expiry | date | None = None,
    carry_spend: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[Change]:
    """Replace keys: create each successor first and store it, then disable the old keys.

    `participants` are emails or ids; None is every participant with an enabled key (their
    keys whose secret was lost included; participants the last provision found gone from
    the roster, and keys disabled on the server, left out). A participant whose key is on
    the server without its secret in the state is rotated too: the successor is theirs, the
    orphan disabled. The successor keeps the old limit reset and expiry, or expires through
    `expires` (UTC); with `participants` None, keys that already expire so are kept, so a
    rerun finishes what a stopped one left. Its limit is what `successor_limit` says.

    Creates, then disables, up to `concurrency` at once, as provision does. If a successor
    cannot be created, the old key is left enabled and untouched. Raises
    OptionError (before any request) for an `expires` day that is over, and
    ConfigurationError for a participant with no key in the state or on the server.
    """
    expires = as_expiry(expires)
    refuse_past(expires)
    wanted = expires_at(expires)
    with session(ref, client, "rotate") as held:
        current = held.snapshot()
        chosen = _choose(held, current, participants, ref)
        changes = _finish_rotations(held, current, concurrency)
        planned: list[Successor] = []
        for rotation in chosen:
            model = rotation.keys[0]
            if participants is None and wanted and same_expiry(model.expires_at, wanted):
                detail = f"already expires {describe_expiry(wanted)}: not replaced"
                changes.append(Change(rotation.identity, model.label, True, detail))
                continue
            planned.append(Successor.of(rotation, wanted, carry_spend=carry_spend))
        requests = [successor.request for successor in planned]
        results = create_keys(held, requests, concurrency=concurrency)
        new_keys = [r.key_hash for r in results.values() if r.key_hash and r.outcome.is_provisioned]
        # On the workshop's guardrail before anyone is handed the key.
        try:
            unguarded = assign_to_workshop_guardrail(held, new_keys) if new_keys else None
        except ApiError as error:
            unguarded = f"the new keys could not be put on the workshop's guardrail: {error}"
        if unguarded is not None:
            changes.append(Change("", "", False, unguarded))
        # Every create has its answer by now (each successor stored, or its old key kept):
        # the old keys can all be disabled at once.
        changes.extend(
            fan_out(
                planned,
                lambda successor: _retire(held, successor, results[successor.rotation.identity]),
                concurrency=concurrency,
            )
        )
        # A closed workshop's successors wait, disabled, like every key of it: their
        # participants claim them anew (their code stays the same).
        changes.extend(
            Change(item.identity, item.label, item.ok, f"{item.detail}: the workshop is closed")
            for item in keep_closed(held, concurrency=concurrency)
        )
        if participants is None and expires is not None and all(c.ok for c in changes):
            _remember_expiry(held, expires)
        return _outcome(held, changes)


def _choose(
    held: Session, current: Snapshot, wanted: list[str] | None, ref: WorkshopRef
) -> list[Rotation]:
    """Who is rotated, decided before anything is written."""
    server = held.server or {}
    entries = {entry.identity: entry for entry in held.ledger.entries()}
    with_key = [entry for entry in entries.values() if entry.has_key and entry.hash in server]
    # A pseudonym says whose key it is only to who knows the roster's identities.
    unknown = any(item.role == "unknown" for item in current.owned())
    roster = _roster_of(held, ref) if unknown else {}
    orphans = _orphans(current, server, roster)
    if wanted is None:
        chosen = [
            Rotation(entry, (server[entry.hash],))
            for entry in with_key
            if entry.hash is not None and not entry.removed and not server[entry.hash].disabled
        ]
        return chosen + [_orphan_rotation(i, keys, roster) for i, keys in orphans.items()]
    asked = {value.strip().lower() for value in resolve_names(wanted, entries.values())}
    chosen = []
    for entry in with_key:
        if entry.identity.lower() in asked or entry.email.lower() in asked:
            assert entry.hash is not None
            chosen.append(Rotation(entry, (server[entry.hash],)))
            asked -= {entry.identity.lower(), entry.email.lower()}
    for identity, keys in orphans.items():
        person = roster.get(identity)
        names = {identity.lower(), person.email.lower() if person else ""}
        if names & asked:
            chosen.append(_orphan_rotation(identity, keys, roster))
            asked -= names
    if asked:
        raise ConfigurationError(
            f"no key of this workshop for {', '.join(sorted(asked))}, neither in its state nor "
            "on the server; check the email, id or full name, or provision them first."
        )
    return chosen


def _orphans(
    current: Snapshot, server: Mapping[str, ApiKey], roster: Mapping[str, Participant]
) -> dict[str, tuple[ApiKey, ...]]:
    """Enabled keys of participants whose state holds no secret (keys left by an unanswered
    create are not: `_finish_rotations` deletes those, and provision creates again)."""
    found: dict[str, list[ApiKey]] = defaultdict(list)
    for item in current.owned(roster):
        entry, key = item.entry, server.get(item.key.hash)
        if item.role != "unknown" or key is None or key.disabled:
            continue
        if entry is not None and (entry.has_key or entry.pending):
            continue
        found[item.identity].append(key)
    return {
        identity: tuple(sorted(keys, key=lambda key: key.created_at, reverse=True))
        for identity, keys in found.items()
    }


def _orphan_rotation(
    identity: str, keys: tuple[ApiKey, ...], roster: Mapping[str, Participant]
) -> Rotation:
    """Who the owner of a key without its secret is: from the roster, else from the key."""
    person = roster.get(identity)
    model = keys[0]
    entry = LedgerEntry(
        identity,
        model.name,
        name=person.name if person else "",
        email=person.email if person else (identity if "@" in identity else ""),
        participant_id=person.participant_id if person else None,
        roster_limit=person.limit if person else None,
        roster_limit_reset=person.limit_reset if person else None,
    )
    return Rotation(entry, keys, secret_lost=True)


def _roster_of(held: Session, ref: WorkshopRef) -> dict[str, Participant]:
    """The roster's participants by identity, read as provision last read it (the ROSTER
    given now, else the remembered one); empty when there is none to read."""
    remembered = DesiredOptions.from_json(held.workshop.options)
    path = ref.roster if ref.roster is not None and ref.roster.is_file() else remembered.roster
    if path is None:
        return {}
    try:
        people = replace(remembered, roster=path).roster_options().read().participants
    except (KeyprovError, OSError):
        return {}
    return {person.identity: person for person in people}


def _retire(held: Session, successor: Successor, result: ParticipantResult) -> Change:
    """After the successor is stored: disable the keys it replaces, and say what was done."""
    rotation, request = successor.rotation, successor.request
    model = rotation.keys[0]
    if not result.outcome.is_provisioned:
        held.audit.event(
            "rotate_failed",
            participant=rotation.identity,
            old_hash=model.hash,
            detail=result.detail,
        )
        return Change(
            rotation.identity,
            model.label,
            False,
            f"the new key could not be created ({result.detail}); the old key stays enabled",
        )
    # The successor's record already names the old keys retired, so if this run dies here
    # the next rotate or provision run disables them.
    set_subject(rotation.identity)
    for key in rotation.keys:
        try:
            held.saw(held.client.update_key(key.hash, disabled=True))
        except ApiError as error:
            return Change(
                rotation.identity,
                result.label or "",
                False,
                f"new key {result.label} created, but the old key {key.label} could not be "
                f"disabled ({error}); the next rotate or provision run disables it",
            )
    held.audit.event(
        "rotated",
        participant=rotation.identity,
        old_hash=model.hash,
        retired=[key.hash for key in rotation.keys],
        new_hash=result.key_hash,
        limit=request.limit,
        expires_at=request.expires_at,
        secret_lost=rotation.secret_lost,
    )
    old = ", ".join(key.label for key in rotation.keys)
    what = f"{old} (its secret was lost)" if rotation.secret_lost else old
    details = [f"{what} disabled, replaced by {result.label}"]
    details.extend(_limit_notes(held, successor))
    if not same_expiry(request.expires_at, model.expires_at):
        details.append(
            f"expires {describe_expiry(request.expires_at)} (was "
            f"{describe_expiry(model.expires_at)})"
        )
    return Change(rotation.identity, result.label or "", True, "; ".join(details))


def _limit_notes(held: Session, successor: Successor) -> Iterable[str]:
    """What the successor's limit is, when it is not the old one: the spend it carries."""
    rotation, limit = successor.rotation, successor.request.limit
    full, spent = successor.full_limit, successor.spent
    if limit is None or full is None or not spent:
        return
    reset = rotation.keys[0].limit_reset
    yield (
        f"limit {limit:g} USD ({full:g} less {spent:g} spent {WINDOW_WORDS.get(reset, 'so far')}; "
        "--full-limit for the whole limit)"
    )
    if reset in NEXT_WINDOW:
        who = rotation.entry.email or rotation.identity
        words = ("set-limit", "--workshop", held.workshop.name, "--participant", who)
        command = shlex.join(["keyprov", *words, "--limit", f"{full:g}"])
        yield f"from {NEXT_WINDOW[reset]}, restore the whole {reset} limit: {command}"


def _remember_expiry(held: Session, expires: Expiry) -> None:
    """Every key expires so now: later commands expect it (as if provision had applied it)."""
    if held.workshop.options:
        held.remember = {
            **held.workshop.options,
            "expires": expires.to_json(),
            "expires_duration": expires.duration,
        }


def _finish_rotations(held: Session, current: Snapshot, concurrency: int) -> list[Change]:
    """What an earlier rotate left undone: old keys still enabled, and keys made by a create
    whose answer never came (nobody holds their secret)."""
    left = [item for item in current.owned() if _left_by_a_rotate(item)]
    changes = fan_out(left, lambda item: _finish_one(held, item), concurrency=concurrency)
    undeleted = {
        item.identity
        for item, change in zip(left, changes, strict=True)
        if item.role == "unknown" and not change.ok
    }
    for entry in held.ledger.entries():
        if entry.pending and entry.has_key and entry.identity not in undeleted:
            held.ledger.record_update(entry.identity, pending=False)
    return changes


def _left_by_a_rotate(item: OwnedKey) -> bool:
    """A replaced key still enabled, or a key made by a create whose answer never came."""
    if item.role == "retired":
        return not item.key.disabled
    return item.role == "unknown" and item.entry is not None and item.entry.pending


def _finish_one(held: Session, item: OwnedKey) -> Change:
    key = item.key
    set_subject(item.identity)
    if item.role == "retired":
        try:
            held.saw(held.client.update_key(key.hash, disabled=True))
        except ApiError as error:
            return Change(item.identity, key.label, False, str(error))
        held.audit.event("rotated", participant=item.identity, old_hash=key.hash, late=True)
        return Change(item.identity, key.label, True, "replaced key disabled (left by a rotate)")
    try:
        delete_undelivered(held, item.identity, key)
    except ApiError as error:
        return Change(item.identity, key.label, False, str(error))
    return Change(item.identity, key.label, True, "deleted a key nobody holds (left by a rotate)")
