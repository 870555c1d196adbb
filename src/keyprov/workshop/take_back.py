"""What the state lost or holds damaged, taken back before anything is planned.

Three files may hold a participant's secret: state.jsonl, keys.xlsx, and (for a moment) the
server's answer to a create. Before a run plans anything, every damaged record is repaired
(keyprov.damage) and every secret keys.xlsx holds that the state lost is taken back
(keyprov.recovery), each checked against the server's key. keys.xlsx is read only when it may
hold something the state does not: it is not the file the state last wrote, a record is
damaged, or the server holds a key of this workshop that the state does not know.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from keyprov.api.client import OpenRouterClient
from keyprov.models import ApiKey
from keyprov.workshop.damage import damaged_records, repair
from keyprov.workshop.folder import Workshop
from keyprov.workshop.journal import Ledger, LedgerEntry
from keyprov.workshop.keynames import read_about, workshop_prefix
from keyprov.workshop.recovery import file_digest, keys_to_recover, sheet_keys

WarningListener = Callable[[str], None]
_listener: ContextVar[WarningListener | None] = ContextVar("take_back", default=None)


@contextlib.contextmanager
def telling_recovery_warnings(listener: WarningListener) -> Iterator[None]:
    """Call `listener` with each warning taking back lost secrets gives, in this block, as
    soon as it is known (whichever command reads the state): the user must hear it."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


@dataclass(frozen=True)
class TakenBack:
    repaired: list[LedgerEntry] = field(default_factory=list)
    """Damaged records, repaired: to be journaled as they are now."""
    recovered: list[LedgerEntry] = field(default_factory=list)
    """Keys keys.xlsx holds that the state lost."""
    settled: list[str] = field(default_factory=list)
    """Damaged records of participants with no key on the server: nothing left to repair."""
    warnings: list[str] = field(default_factory=list)


def take_back(
    workshop: Workshop, ledger: Ledger, server: list[ApiKey], client: OpenRouterClient
) -> TakenBack:
    """Repairs and recoveries, each checked on the server; raises LocalFileError (exit 2)
    for a damaged record that nothing repairs while its participant's key is on the server."""
    entries = {entry.identity: entry for entry in ledger.entries()}
    by_hash = {key.hash: key for key in server}
    known = ledger.known_hashes()
    index = workshop.naming.index(workshop.name, entries)
    prefix = workshop_prefix(workshop.name)
    unknown = [key for key in server if key.hash not in known and key.name.startswith(prefix)]
    named: dict[str, list[ApiKey]] = {}
    for key in unknown:
        identity = index.identity_of(key.name)
        if identity is not None:
            named.setdefault(identity, []).append(key)
    damages = damaged_records(ledger, server, named)
    replayed = ledger.replayed
    digest = file_digest(workshop.keys_path)
    stale = digest != replayed.sheet_digest or replayed.torn_tail
    readable = digest is not None and (stale or damages or unknown)
    if not (readable or damages):
        return TakenBack()
    sheet = sheet_keys(workshop.keys_path) if readable else []
    whose = read_about(workshop.keys_path).identities if readable else {}
    taken = TakenBack()
    for damage in damages:
        entry = entries[damage.identity]
        fixed = repair(
            damage,
            entry,
            by_hash,
            named.get(damage.identity, []),
            sheet,
            whose.get,
            str(workshop.state_path),
        )
        if fixed is not None:
            taken.repaired.append(fixed)
            entries[fixed.identity] = fixed
        elif damage.flagged:
            taken.settled.append(damage.identity)

    def identity_of(key: ApiKey) -> str | None:
        # A pseudonym does not say whose key it is: keys.xlsx's workshop sheet does.
        return whose.get(key.hash) or workshop.identity_of(key)

    recovered, warnings = keys_to_recover(sheet, entries, by_hash, client, identity_of)
    taken.recovered.extend(recovered)
    taken.warnings.extend(warnings)
    listener = _listener.get()
    for warning in warnings if listener is not None else ():
        listener(warning)
    return taken
