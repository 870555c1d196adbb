"""Who `rotate` replaces: each participant's enabled keys, those whose secret was lost too.

Decided from one snapshot, before anything is written, so a dry run says exactly what the
real run does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from keyprov.engine.snapshot import Snapshot
from keyprov.errors import ConfigurationError, KeyprovError
from keyprov.lifecycle.who import resolve_names
from keyprov.models import ApiKey
from keyprov.roster import Participant
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.options import DesiredOptions


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


def choose(current: Snapshot, wanted: list[str] | None, ref: WorkshopRef) -> list[Rotation]:
    """Who is rotated, decided before anything is written."""
    server = {key.hash: key for key in current.server_keys}
    entries = dict(current.entries)
    with_key = [entry for entry in entries.values() if entry.has_key and entry.hash in server]
    # A pseudonym says whose key it is only to who knows the roster's identities.
    unknown = any(item.role == "unknown" for item in current.owned())
    roster = roster_of(current, ref) if unknown else {}
    lost = orphans(current, server, roster)
    if wanted is None:
        chosen = [
            Rotation(entry, (server[entry.hash],))
            for entry in with_key
            if entry.hash is not None and not entry.removed and not server[entry.hash].disabled
        ]
        return chosen + [orphan_rotation(i, keys, roster) for i, keys in lost.items()]
    asked = {value.strip().lower() for value in resolve_names(wanted, entries.values())}
    chosen = []
    for entry in with_key:
        if entry.identity.lower() in asked or entry.email.lower() in asked:
            assert entry.hash is not None
            chosen.append(Rotation(entry, (server[entry.hash],)))
            asked -= {entry.identity.lower(), entry.email.lower()}
    for identity, keys in lost.items():
        person = roster.get(identity)
        names = {identity.lower(), person.email.lower() if person else ""}
        if names & asked:
            chosen.append(orphan_rotation(identity, keys, roster))
            asked -= names
    if asked:
        raise ConfigurationError(
            f"no key of this workshop for {', '.join(sorted(asked))}, neither in its state nor "
            "on the server; check the email, id or full name, or provision them first."
        )
    return chosen


def orphans(
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


def orphan_rotation(
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


def roster_of(current: Snapshot, ref: WorkshopRef) -> dict[str, Participant]:
    """The roster's participants by identity, read as provision last read it (the ROSTER
    given now, else the remembered one); empty when there is none to read."""
    remembered = DesiredOptions.from_json(current.workshop.options)
    path = ref.roster if ref.roster is not None and ref.roster.is_file() else remembered.roster
    if path is None:
        return {}
    try:
        people = replace(remembered, roster=path).roster_options().read().participants
    except (KeyprovError, OSError):
        return {}
    return {person.identity: person for person in people}
