"""Compare the roster (desired state) with local state and the server, and say what to do.

The planner is pure: it makes no call and writes nothing, so a dry run and a real run see the
same plan, and tests can check every case without a server.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from keyprov.engine.expiry import describe_expiry, same_expiry
from keyprov.models import ApiKey
from keyprov.roster import Participant
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.keynames import identity_from_key_name, is_pseudonym

LIMIT_TOLERANCE = 1e-9


class Action(StrEnum):
    CREATE = "create"
    """No usable key yet: create one."""
    KEEP = "keep"
    """The key exists, is enabled and matches the roster: no API write."""
    UPDATE = "update"
    """The key exists but its limit or limit reset differs from the roster: PATCH it."""
    DISABLED = "disabled"
    """The key exists but was disabled on the server: reported, re-enabled only on request."""
    SECRET_LOST = "secret_lost"
    """A key exists on the server but its secret is not in local state: reported, never
    silently duplicated, because the participant may already have it."""


@dataclass(frozen=True)
class ParticipantPlan:
    participant: Participant
    action: Action
    key: ApiKey | None = None
    """The participant's key on the server, when there is one."""
    undelivered: tuple[ApiKey, ...] = ()
    """Keys made by a create whose answer was never stored: nobody holds their secret, so they
    are deleted before the participant's key is created again."""
    duplicates: tuple[ApiKey, ...] = ()
    """Further keys of this participant on the server, beside `key`."""
    note: str = ""
    retired: tuple[ApiKey, ...] = ()
    """Enabled keys this participant's key replaced by rotation: always disabled."""
    expires_at: str | None = None
    """The expiry to create the key with, when it is not the run's (rotation keeps the old)."""
    patch: Mapping[str, Any] = field(default_factory=dict)
    """For UPDATE: the roster values to PATCH (only those that changed in the roster)."""
    replaces: ApiKey | None = None
    """For a rotation's CREATE: the key the new one retires once it is stored."""
    renamed_from: str | None = None
    """The identity the state knows this participant by, when it is not theirs any more: a
    row identified by its email (no id yet) that has an id now. Their key stays theirs."""
    expiry_differs: bool = False
    """The key's expiry is not the one the run asks for. Reported, never PATCHed (OpenRouter
    cannot change an expiry) nor replaced by provision: `keyprov rotate --all --expires DATE`
    replaces such keys, and their participants must be sent the new ones."""


@dataclass(frozen=True)
class Plan:
    workshop: str
    items: list[ParticipantPlan]
    not_in_roster: list[ApiKey] = field(default_factory=list)
    """This workshop's keys on the server whose participant is no longer in the roster."""
    expires_at: str | None = None
    """The expiry the run asks for; None asks for none, so no key's expiry is wrong."""
    owners: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    """For keys not in the roster: key hash -> (name, email, id or '') as the state knows
    them, so a pseudonym is shown as the person it stands for."""
    strangers: list[ApiKey] = field(default_factory=list)
    """Keys named as this workshop's, of nobody in the roster, that its state never made:
    duplicates, or another copy of the workshop's (another machine, another folder). Never
    'no longer in the roster', never pruned."""
    anyones: list[ApiKey] = field(default_factory=list)
    """The enabled strangers whose pseudonym no identity here gives: any participant's key
    may be among them, so none is created a key while they are there."""

    @property
    def expiry_mismatches(self) -> list[ParticipantPlan]:
        """Enabled keys that expire otherwise than the run asks (and cannot be changed)."""
        return [item for item in self.items if item.expiry_differs]

    def with_action(self, action: Action) -> list[ParticipantPlan]:
        return [item for item in self.items if item.action is action]

    @property
    def new_budget(self) -> float:
        """The USD exposure the creates in this plan add."""
        return sum(item.participant.limit for item in self.with_action(Action.CREATE))


def make_plan(
    workshop: str,
    participants: Sequence[Participant],
    ledger: Mapping[str, LedgerEntry],
    server_keys: Sequence[ApiKey],
    *,
    expires_at: str | None = None,
    identity_of: Callable[[str], str | None] | None = None,
) -> Plan:
    """What to do for each participant; `expires_at` is the expiry the run asks for (keys
    that expire otherwise are flagged, see `ParticipantPlan.expiry_differs`). `identity_of`
    reads a key name (see Workshop.resolver); by default, as a readable name."""
    name_to_identity = identity_of or (lambda name: identity_from_key_name(workshop, name))
    by_hash = {key.hash: key for key in server_keys}
    named: dict[str, list[ApiKey]] = defaultdict(list)
    for key in server_keys:
        identity = name_to_identity(key.name)
        if identity is not None:
            named[identity].append(key)
    renamed = _ids_given_since(participants, ledger)
    for new, old in renamed.items():
        named[new].extend(named.pop(old, []))
    items = []
    for participant in participants:
        old = renamed.get(participant.identity)
        entry = ledger.get(old if old is not None else participant.identity)
        item = _plan_participant(participant, entry, named, by_hash)
        if old is not None:
            note = item.note or f"now identified by its id (was by {old})"
            item = replace(item, renamed_from=old, note=note)
        items.append(_flag_expiry(item, expires_at))
    in_roster = {participant.identity for participant in participants} | set(renamed.values())
    owner_of_hash = {entry.hash: entry.identity for entry in ledger.values() if entry.hash}

    def owner(key: ApiKey) -> str | None:
        return owner_of_hash.get(key.hash) or name_to_identity(key.name)

    journaled = set(owner_of_hash) | {h for entry in ledger.values() for h in entry.retired}
    outside = [
        key for key in server_keys if (who := owner(key)) is not None and who not in in_roster
    ]
    not_in_roster = [key for key in outside if key.hash in journaled]
    strangers = [key for key in outside if key.hash not in journaled]
    anyones = [
        key
        for key in strangers
        if not key.disabled and is_pseudonym(owner(key) or "") and owner(key) not in ledger
    ]
    known = {entry.hash: entry for entry in ledger.values() if entry.hash}
    owners = {
        key.hash: (
            known[key.hash].name,
            known[key.hash].email,
            known[key.hash].participant_id or "",
        )
        for key in not_in_roster
        if key.hash in known
    }
    return Plan(workshop, items, not_in_roster, expires_at, owners, strangers, anyones)


def _flag_expiry(item: ParticipantPlan, wanted: str | None) -> ParticipantPlan:
    """Note an enabled key whose expiry is not the run's. Its limits are still kept in step
    (UPDATE), but nothing is created for it: the participant holds a working key."""
    key = item.key
    if (
        wanted is None
        or key is None
        or item.action not in (Action.KEEP, Action.UPDATE)
        or same_expiry(key.expires_at, wanted)
    ):
        return item
    found = describe_expiry(key.expires_at)
    has = "never expires" if key.expires_at is None else f"expires {found}"
    note = (
        f"its key {has}, not {describe_expiry(wanted)}: an expiry cannot be changed on an "
        "existing key"
    )
    return replace(item, expiry_differs=True, note="; ".join(filter(None, (item.note, note))))


def _ids_given_since(
    participants: Sequence[Participant], ledger: Mapping[str, LedgerEntry]
) -> dict[str, str]:
    """Participants known by their email who have an id now: {id: email}.

    In a roster whose id column is only partly filled, a row without an id is identified by
    its email. When its id is filled in later, it is the same person: matched by email
    before being taken for someone new, they keep their key.
    """
    in_roster = {participant.identity for participant in participants}
    found = {}
    for participant in participants:
        if participant.participant_id is None or participant.identity in ledger:
            continue
        earlier = ledger.get(participant.email)
        if (
            earlier is not None
            and earlier.participant_id is None
            and participant.email not in in_roster
        ):
            found[participant.identity] = participant.email
    return found


def _plan_participant(
    participant: Participant,
    entry: LedgerEntry | None,
    named: Mapping[str, list[ApiKey]],
    by_hash: Mapping[str, ApiKey],
) -> ParticipantPlan:
    plan = _plan_one(participant, entry, named, by_hash)
    if entry is None or not entry.retired:
        return plan
    retired = tuple(by_hash[h] for h in entry.retired if h in by_hash and not by_hash[h].disabled)
    return replace(plan, retired=retired)


def _plan_one(
    participant: Participant,
    entry: LedgerEntry | None,
    named: Mapping[str, list[ApiKey]],
    by_hash: Mapping[str, ApiKey],
) -> ParticipantPlan:
    current = by_hash.get(entry.hash) if entry is not None and entry.hash else None
    retired_hashes = set(entry.retired) if entry is not None else set()
    others = tuple(
        key
        for key in named.get(participant.identity, ())
        if (current is None or key != current) and key.hash not in retired_hashes
    )
    pending = entry is not None and entry.pending

    if entry is not None and entry.has_key and current is not None:
        undelivered, duplicates = (others, ()) if pending else ((), others)
        patch = roster_patch(entry, current, participant)
        if current.disabled:
            return ParticipantPlan(
                participant,
                Action.DISABLED,
                current,
                undelivered,
                duplicates,
                "its key is disabled on the server",
                patch=patch,
            )
        if patch:
            return ParticipantPlan(
                participant,
                Action.UPDATE,
                current,
                undelivered,
                duplicates,
                _describe_change(current, patch),
                patch=patch,
            )
        return ParticipantPlan(participant, Action.KEEP, current, undelivered, duplicates)

    if pending:
        note = "a previous create was never answered" if others else ""
        return ParticipantPlan(participant, Action.CREATE, None, others, (), note)

    if others:
        newest, *rest = others
        return ParticipantPlan(
            participant,
            Action.SECRET_LOST,
            newest,
            (),
            tuple(rest),
            "a key exists on the server but its secret is not in the local state",
        )
    note = "its key was deleted on the server" if entry is not None and entry.has_key else ""
    return ParticipantPlan(participant, Action.CREATE, note=note)


def roster_patch(entry: LedgerEntry, key: ApiKey, participant: Participant) -> dict[str, Any]:
    """The fields whose roster value changed since keyprov last applied it, with the new value.

    Compared with what the roster said before, not with the key: a top-up made since
    (set-limit, or the dashboard) survives until the roster's own value changes.
    """
    if entry.roster_limit is None:  # state from before roster values were journaled
        limit_before, reset_before = key.limit, key.limit_reset
    else:
        limit_before, reset_before = entry.roster_limit, entry.roster_limit_reset
    patch: dict[str, Any] = {}
    if _limit_differs(limit_before, participant.limit):
        patch["limit"] = participant.limit
    if reset_before != participant.limit_reset:
        patch["limit_reset"] = participant.limit_reset
    return patch


def _limit_differs(current: float | None, wanted: float) -> bool:
    return current is None or abs(current - wanted) > LIMIT_TOLERANCE


def _describe_change(key: ApiKey, patch: Mapping[str, Any]) -> str:
    changes = []
    if "limit" in patch:
        before = "none" if key.limit is None else f"{key.limit:.2f}"
        changes.append(f"limit {before} -> {patch['limit']:.2f} USD")
    if "limit_reset" in patch:
        changes.append(
            f"limit reset {key.limit_reset or 'none'} -> {patch['limit_reset'] or 'none'}"
        )
    return ", ".join(changes)
