"""Two copies of one workshop that created at once: they agree on one key per participant.

Two machines (or two registries) can each start a workshop's first run at the same moment:
each lists an empty server, makes a naming secret of its own, and creates a key for everyone.
So a run that created keys lists the server again afterwards. Keys named as this workshop's
that its state never made are another copy's. Both copies settle it by one rule that each can
apply on its own: the keys made first are kept. For a participant both copies can name (the
same naming), the earlier of their two keys is kept; where the other copy's keys cannot be
told apart (its own naming secret), the copy that holds the workshop's earliest key keeps
all of its keys. The other copy deletes the keys this very run made (nobody was given them
yet), forgets them, and reports the participants whose key the other copy holds (exit 1).
"""

from __future__ import annotations

from datetime import UTC, datetime

from keyprov.engine.outcomes import Outcome, Results
from keyprov.engine.session import Session
from keyprov.engine.snapshot import expected_keys, list_server_keys
from keyprov.errors import ApiError, NotFoundError
from keyprov.models import ApiKey
from keyprov.values import parse_time
from keyprov.workshop.keynames import is_pseudonym, workshop_prefix

_NEVER = datetime.max.replace(tzinfo=UTC)
HELD_ELSEWHERE = (
    "another copy of this workshop (on another machine or in another folder) made a key for "
    "them at the same time, and holds its secret; this copy deleted the one it made. Hand "
    "out theirs from that copy's keys.xlsx, and run keyprov from that copy from now on."
)


def made_first(key: ApiKey) -> tuple[datetime, str]:
    """The rule both copies apply: the earlier key is kept (its hash breaks a tie)."""
    return parse_time(key.created_at) or _NEVER, key.hash


def settle_with_copies(held: Session, results: Results) -> list[str]:
    """After this run's creates: give way to another copy that made keys first, or keep
    this copy's keys and say so; the warnings to print."""
    created = {
        result.identity: result.key_hash
        for result in results.by_identity.values()
        if result.outcome is Outcome.CREATED and result.key_hash
    }
    if not created:
        return []
    ledger, workshop = held.ledger, held.workshop
    try:
        keys = list_server_keys(held.client, expected=expected_keys(ledger))
    except ApiError as error:
        held.audit.event("copies_not_checked", error=str(error))
        return []  # the next run, or check, sees any other copy's keys
    known = ledger.known_hashes()
    prefix = workshop_prefix(workshop.name)
    roster = [participant.identity for participant in held.participants or ()]
    index = workshop.naming.index(workshop.name, [*roster, *(e.identity for e in ledger.entries())])
    by_hash = {key.hash: key for key in keys}
    rivals: dict[str, list[ApiKey]] = {}
    strangers = []
    for key in keys:
        if key.disabled or key.hash in known or not key.name.startswith(prefix):
            continue
        who = index.identity_of(key.name)
        if who is not None:
            rivals.setdefault(who, []).append(key)
        elif is_pseudonym(key.name[len(prefix) :]):
            strangers.append(key)
    yielding = {
        identity: key_hash
        for identity, key_hash in created.items()
        if key_hash in by_hash
        and rivals.get(identity)
        and min(map(made_first, rivals[identity])) < made_first(by_hash[key_hash])
    }
    own = [by_hash[h] for h in known if h in by_hash and not by_hash[h].disabled]
    if strangers and own and min(map(made_first, strangers)) < min(map(made_first, own)):
        yielding = {i: h for i, h in created.items() if h in by_hash}
    for identity, key_hash in yielding.items():
        _give_way(held, results, identity, key_hash)
    later = len(strangers) + sum(len(v) for i, v in rivals.items() if i not in yielding)
    if yielding or not later:
        return []
    return [
        f"another copy of this workshop (on another machine or in another folder) made "
        f"{later} key(s) of its name while this run did; this copy's keys were made first and "
        "are the ones to keep: the other copy deletes its own when it sees this, and keyprov "
        "check fails until it has."
    ]


def _give_way(held: Session, results: Results, identity: str, key_hash: str) -> None:
    """Delete the key this run made for them (nobody holds it yet) and forget it."""
    try:
        held.client.delete_key(key_hash)
    except NotFoundError:
        pass
    except ApiError as error:
        held.audit.event("give_way_failed", participant=identity, hash=key_hash, error=str(error))
        return  # kept: a key this copy holds, reported as a duplicate by the next run
    held.gone(key_hash)
    held.ledger.record_dropped(identity)
    held.audit.event("gave_way", participant=identity, hash=key_hash, reason=HELD_ELSEWHERE)
    previous = results.by_identity[identity]
    results.finish(identity, previous.name, previous.email, Outcome.ELSEWHERE, HELD_ELSEWHERE)
