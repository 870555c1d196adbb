"""`keyprov rotate`: replace keys, the successor first, without ever doubling a budget.

A successor is created and its secret stored (its record naming the keys it retires) before
any old key is disabled, so no crash leaves a participant without a working key, and the next
rotate or provision disables what a stopped one left enabled. OpenRouter cannot change a key's
expiry, so rotating is also how a wrong `--expires` is corrected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from keyprov.api.client import OpenRouterClient
from keyprov.engine.budget_cuts import (
    NEXT_WINDOW,
    WINDOW_WORDS,
    cut_in_force,
    utc_now,
    window_end,
)
from keyprov.engine.creator import CreateRequest, create_keys, delete_undelivered
from keyprov.engine.expiry import describe_expiry, expires_at, refuse_past, same_expiry
from keyprov.engine.fanout import DEFAULT_CONCURRENCY, fan_out
from keyprov.engine.gating import keep_closed
from keyprov.engine.outcomes import ParticipantResult
from keyprov.engine.session import Session, session
from keyprov.engine.snapshot import OwnedKey, Snapshot, snapshot
from keyprov.errors import ApiError
from keyprov.expiry_option import Expiry
from keyprov.guardrails.guarding import assign_to_workshop_guardrail
from keyprov.lifecycle.changes import Change, _outcome
from keyprov.lifecycle.rotation_choice import Rotation, choose
from keyprov.lifecycle.steps import ChangeProgress, Confirm, Impact, Silent, ask_first
from keyprov.models import ApiKey, window_usage
from keyprov.workshop.audit import set_subject
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.keys_sheet import HANDOUTS_FILE
from keyprov.workshop.locate import find_workshop
from keyprov.workshop.options import as_expiry

MIN_SUCCESSOR_LIMIT = 0.01
"""USD: the least a successor's limit is, when the old key's spend used up (or overran) it."""

PER_WINDOW = {"daily": "per day", "weekly": "per week", "monthly": "per month"}


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
        if cut_in_force(entry):
            full = entry.full_limit  # rotated again in the same window: the cut stays
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
    dry_run: bool = False,
    confirm: Confirm | None = None,
    progress: ChangeProgress | None = None,
) -> list[Change]:
    """Replace keys: create each successor first and store it, then disable the old keys.

    `participants` are emails or ids; None is every participant with an enabled key (their
    keys whose secret was lost included; participants the last provision found gone from
    the roster, and keys disabled on the server, left out). A participant whose key is on
    the server without its secret in the state is rotated too: the successor is theirs, the
    orphan disabled. The successor keeps the old limit reset and expiry, or expires through
    `expires` (UTC); with `participants` None, keys that already expire so are kept, so a
    rerun finishes what a stopped one left. Its limit is what `successor_limit` says; a limit
    cut for the window now running is journaled, and given back after it (engine.budget_cuts).

    `dry_run`: the changes, from one listing, nothing written. For everyone (`participants`
    None), `confirm` is asked before the first write (NotConfirmed: nothing changed);
    `progress` hears the listing and each key.

    Creates, then disables, up to `concurrency` at once, as provision does. If a successor
    cannot be created, the old key is left enabled and untouched. Raises
    OptionError (before any request) for an `expires` day that is over, and
    ConfigurationError for a participant with no key in the state or on the server.
    """
    expires = as_expiry(expires)
    refuse_past(expires)
    wanted = expires_at(expires)
    if dry_run:
        workshop = find_workshop(ref, client)
        current = snapshot(workshop, client)
        chosen = choose(current, participants, ref)
        return _dry_run(current, _plan(chosen, participants, wanted, carry_spend))
    progress = progress or Silent()
    with session(ref, client, "rotate") as held:
        current = held.snapshot(progress.listing)
        chosen = choose(current, participants, ref)
        planned, changes = _plan(chosen, participants, wanted, carry_spend)
        if participants is None:
            impact = Impact(
                "rotate",
                held.workshop.name,
                len(planned),
                "stop working now, each replaced by a new key",
                afterwards="every new key must be handed out again",
            )
            ask_first(confirm, impact)
        changes = _finish_rotations(held, current, concurrency) + changes
        progress.start(len(planned))
        requests = [successor.request for successor in planned]

        def created(result: ParticipantResult) -> None:
            ok = result.outcome.is_provisioned
            progress.step(result.identity, result.label or "", ok, result.detail)

        results = create_keys(held, requests, concurrency=concurrency, on_result=created)
        new_keys = [r.key_hash for r in results.values() if r.key_hash and r.outcome.is_provisioned]
        _journal_successors(held, planned, results)
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
        changes.extend(_stale_handouts(held, planned))
        return _outcome(held, changes)


def _plan(
    chosen: list[Rotation], participants: list[str] | None, wanted: str | None, carry: bool
) -> tuple[list[Successor], list[Change]]:
    """The successors to create, and the keys left as they are (they expire as asked)."""
    planned: list[Successor] = []
    kept: list[Change] = []
    for rotation in chosen:
        model = rotation.keys[0]
        if participants is None and wanted and same_expiry(model.expires_at, wanted):
            detail = f"already expires {describe_expiry(wanted)}: not replaced"
            kept.append(Change(rotation.identity, model.label, True, detail))
            continue
        planned.append(Successor.of(rotation, wanted, carry_spend=carry))
    return planned, kept


def _dry_run(current: Snapshot, plan: tuple[list[Successor], list[Change]]) -> list[Change]:
    """What rotate would do, said as the real run says it; nothing is written."""
    planned, changes = plan
    for item in current.owned():
        if _left_by_a_rotate(item):
            detail = "left by an earlier rotate: would be finished (disabled or deleted)"
            changes.append(Change(item.identity, item.key.label, True, detail))
    for successor in planned:
        rotation, request = successor.rotation, successor.request
        model = rotation.keys[0]
        # The label column names the key; only several keys (secret lost) are listed here.
        old = ", ".join(key.label for key in rotation.keys) if len(rotation.keys) > 1 else ""
        details = [f"{old} would be disabled and replaced by a new key".strip()]
        details.extend(_limit_notes(successor))
        if not same_expiry(request.expires_at, model.expires_at):
            details.append(f"expires {describe_expiry(request.expires_at)}")
        changes.append(Change(rotation.identity, model.label, True, "; ".join(details)))
    return changes


def _journal_successors(
    held: Session, planned: list[Successor], results: Mapping[str, ParticipantResult]
) -> None:
    """What a successor's record must carry on: a limit cut for the window now running (its
    regular limit and when the window ends: the first command after gives it back), and
    which earlier key reached the participant, and how."""
    for successor in planned:
        rotation = successor.rotation
        result = results.get(rotation.identity)
        if result is None or not result.outcome.is_provisioned:
            continue
        old = rotation.entry
        carried: dict[str, object] = {}
        if old.handed_out:
            carried = {"previous_label": old.label, "previous_handed_out": old.handed_out}
        elif old.previous_handed_out:
            carried = {
                "previous_label": old.previous_label,
                "previous_handed_out": old.previous_handed_out,
            }
        reset, full = successor.request.limit_reset, successor.full_limit
        limit = successor.request.limit
        end = window_end(reset, utc_now()) if reset else None
        if end is not None and full is not None and limit is not None and limit < full:
            carried.update(full_limit=full, cut_until=end.isoformat())
        if carried:
            held.ledger.record_update(rotation.identity, **carried)


def _stale_handouts(held: Session, planned: list[Successor]) -> list[Change]:
    """handouts.pdf and mail-merge.csv hold keys that no longer work: say so, and how to
    write them again."""
    on_slips = [s for s in planned if s.rotation.entry.on_slips]
    if not on_slips or not (held.workshop.folder / HANDOUTS_FILE).exists():
        return []
    command = f"keyprov handouts --workshop {held.workshop.name}"
    detail = (
        f"out of date: holds {len(on_slips)} replaced key(s) that no longer work; {command} "
        "writes it (and mail-merge.csv) again"
    )
    return [Change("", HANDOUTS_FILE, True, detail)]


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
    details.extend(_limit_notes(successor))
    if not same_expiry(request.expires_at, model.expires_at):
        details.append(
            f"expires {describe_expiry(request.expires_at)} (was "
            f"{describe_expiry(model.expires_at)})"
        )
    return Change(rotation.identity, result.label or "", True, "; ".join(details))


def _limit_notes(successor: Successor) -> Iterable[str]:
    """What the successor's limit is, when it is not the old one: the spend it carries, and
    (with a reset) that the whole limit is back from the next window."""
    rotation, limit = successor.rotation, successor.request.limit
    full, spent = successor.full_limit, successor.spent
    if limit is None or full is None or not spent:
        return
    reset = rotation.keys[0].limit_reset
    if reset in NEXT_WINDOW:
        yield (
            f"{full:.2f} USD {PER_WINDOW[reset]}; {limit:.2f} USD left {WINDOW_WORDS[reset]} "
            f"({spent:.2f} spent on the old key), the whole {full:.2f} again from "
            f"{NEXT_WINDOW[reset]}"
        )
        return
    yield (
        f"limit {limit:.2f} USD ({full:.2f} less {spent:.2f} spent so far; --full-limit for "
        "the whole limit)"
    )


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
