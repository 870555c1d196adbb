"""What the state and the server hold for a workshop, read together before deciding.

Absence is never proof: a key the state knows that a listing does not show is asked for by
hash; and secrets keys.xlsx holds that the state lost are taken back (keyprov.workshop.recovery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from keyprov.api.client import PAGE_SIZE, OpenRouterClient
from keyprov.engine.planner import Plan, make_plan
from keyprov.errors import NotFoundError
from keyprov.models import ApiKey
from keyprov.roster import Participant
from keyprov.workshop.folder import Workshop
from keyprov.workshop.journal import Ledger, LedgerEntry
from keyprov.workshop.keynames import NameMode, SheetAbout, decide_naming, read_about
from keyprov.workshop.registry import Registry
from keyprov.workshop.run_trust import trust_of
from keyprov.workshop.take_back import take_back

log = logging.getLogger(__name__)
LOOKUP_WORKERS = 8


@dataclass(frozen=True)
class OwnedKey:
    """A key of this workshop on the server, with the participant it belongs to."""

    key: ApiKey
    identity: str
    entry: LedgerEntry | None
    role: str
    """'current' (the participant's key), 'retired' (replaced by rotation) or 'unknown'
    (this workshop's name, but its secret is not in local state)."""


@dataclass(frozen=True)
class Snapshot:
    """The local state and the server's keys, read together before anything is decided."""

    workshop: Workshop
    entries: dict[str, LedgerEntry]
    server_keys: list[ApiKey]
    warnings: tuple[str, ...] = ()
    """What taking back lost secrets could not do (keyprov.take_back), for the user."""
    closed: bool = False
    """The workshop is closed (keyprov.engine.gating): its keys are disabled on purpose."""

    def owned(self, identities: Iterable[str] = ()) -> list[OwnedKey]:
        """The workshop's keys, whose each is by the state, else by name (`identities`, the
        roster's say, tell pseudonyms of participants the state does not know)."""
        return owned_keys(self.workshop, list(self.entries.values()), self.server_keys, identities)

    def plan(self, participants: Sequence[Participant], *, expires_at: str | None = None) -> Plan:
        """The roster against this state and server (keyprov.engine.planner), reading key names
        the way this workshop writes them."""
        identities = [*(p.identity for p in participants), *self.entries]
        return make_plan(
            self.workshop.name,
            participants,
            self.entries,
            self.server_keys,
            expires_at=expires_at,
            identity_of=self.workshop.resolver(identities),
        )


ListingCallback = Callable[[int, int, bool], None]
"""Told (keys listed so far, pages read, done) while the server's keys are listed."""


def list_server_keys(
    client: OpenRouterClient,
    on_listing: ListingCallback | None = None,
    *,
    expected: int = 0,
    first_page: list[ApiKey] | None = None,
) -> list[ApiKey]:
    """Every key on the server: all pages, disabled ones included.

    `expected`: how many keys the state knows of (`expected_keys`), so that the pages up to
    that many are asked for at once rather than one round trip after another. `first_page`:
    the page at offset 0 when it was read already (keyprov.provision.first_reads).
    """
    if on_listing is None:
        return client.list_all_keys(include_disabled=True, expected=expected, first_page=first_page)
    on_listing(0, 0, False)
    keys = client.list_all_keys(
        include_disabled=True,
        expected=expected,
        on_page=lambda count, pages: on_listing(count, pages, False),
        first_page=first_page,
    )
    on_listing(len(keys), len(keys) // PAGE_SIZE + 1, True)
    return keys


def expected_keys(ledger: Ledger) -> int:
    """Keys the listing should hold at least: every one the state accounts for. Other
    workshops' keys are found past them, page by page."""
    return len(ledger.known_hashes())


def confirm_known(
    client: OpenRouterClient, entries: Iterable[LedgerEntry], listed: list[ApiKey]
) -> list[ApiKey]:
    """The listing, plus every key the state knows that it did not show, asked for by hash.

    Absence from a listing is never proof that a key is gone: offset pages shift when keys
    are deleted meanwhile, and a server can answer a page short. Only a 404 for the key's
    own hash says it is gone; any other failure to ask is raised, so nothing is created for
    a participant whose key may still be live.
    """
    shown = {key.hash for key in listed}
    missing = sorted(
        {h for entry in entries for h in (entry.hash, *entry.retired) if h and h not in shown}
    )

    def look_up(key_hash: str) -> ApiKey | None:
        try:
            return client.get_key(key_hash)
        except NotFoundError:
            return None

    # A few at a time: after a listing cut short there may be hundreds to ask for.
    with ThreadPoolExecutor(max_workers=min(LOOKUP_WORKERS, len(missing) or 1)) as pool:
        found = [key for key in pool.map(look_up, missing) if key is not None]
    if found:
        log.info("%d known key(s) missing from the listing were found by hash", len(found))
    return [*listed, *found]


def with_naming(
    workshop: Workshop, ledger: Ledger, server: list[ApiKey], *, wanted: NameMode | None = None
) -> tuple[Workshop, bool]:
    """The workshop with its key naming (workshop.keynames), and whether it is new to the state."""
    about = read_about(workshop.keys_path) if ledger.replayed.naming is None else None
    naming, new = decide_naming(workshop.name, ledger, about or SheetAbout(), server, wanted=wanted)
    return replace(workshop, naming=naming), new


def server_with(
    server: list[ApiKey], recovered: list[LedgerEntry], client: OpenRouterClient
) -> list[ApiKey]:
    """The server's keys, with any key a recovered entry retires that the listing missed."""
    return confirm_known(client, recovered, server) if recovered else server


def snapshot(
    workshop: Workshop, client: OpenRouterClient, on_listing: ListingCallback | None = None
) -> Snapshot:
    """What the state holds (with what keys.xlsx gives back) and what the server holds.

    Reads only: keys taken back from keys.xlsx are in this snapshot, and written to the
    state by the next command that holds the workshop.
    """
    ledger = Ledger.open(workshop.state_path)
    listed = list_server_keys(client, on_listing, expected=expected_keys(ledger))
    server = confirm_known(client, ledger.entries(), listed)
    workshop, _new = with_naming(workshop, ledger, server)
    entries = {entry.identity: entry for entry in ledger.entries()}
    taken = take_back(workshop, ledger, server, client)
    entries.update((entry.identity, entry) for entry in (*taken.repaired, *taken.recovered))
    record = Registry.default().find(workshop.name, workshop.account)
    entries = trust_of(record, workshop.state_path).view(entries)
    keys = server_with(server, taken.recovered, client)
    return Snapshot(workshop, entries, keys, tuple(taken.warnings), closed=ledger.replayed.closed)


def owned_keys(
    workshop: Workshop,
    entries: list[LedgerEntry],
    server_keys: list[ApiKey],
    identities: Iterable[str] = (),
) -> list[OwnedKey]:
    """Every key of the workshop on the server, matched to participants by hash, then by name."""
    current = {entry.hash: entry for entry in entries if entry.hash}
    retired = {h: entry for entry in entries for h in entry.retired}
    by_identity = {entry.identity: entry for entry in entries}
    identity_of = workshop.resolver([*by_identity, *identities])
    owned = []
    for key in server_keys:
        if key.hash in current:
            entry = current[key.hash]
            owned.append(OwnedKey(key, entry.identity, entry, "current"))
        elif key.hash in retired:
            entry = retired[key.hash]
            owned.append(OwnedKey(key, entry.identity, entry, "retired"))
        elif (identity := identity_of(key.name)) is not None:
            owned.append(OwnedKey(key, identity, by_identity.get(identity), "unknown"))
    return sorted(owned, key=lambda item: (item.identity, item.role != "current"))
