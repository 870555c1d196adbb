"""How a workshop names its keys, and where the secret behind pseudonyms is kept.

New workshops name keys `keyprov:<workshop>:<pseudonym>`, a keyed hash of the participant's
identity under a random per-workshop secret (keyprov.pseudonyms), so no email, id or name
of anyone reaches OpenRouter. The secret is kept in the state (a `naming` record) and in
keys.xlsx (its `workshop` sheet), so either file restores it; a workshop whose keys carry
pseudonyms but whose secret neither file holds creates nothing until one is restored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from keyprov.errors import ConfigurationError
from keyprov.ledger import Ledger, LedgerEntry
from keyprov.models import ApiKey
from keyprov.naming import workshop_prefix
from keyprov.printable import PlainSheet
from keyprov.pseudonyms import NameMode, NamingPolicy, is_pseudonym, new_workshop_secret

ABOUT_SHEET = "workshop"
_SECRET_ROW = "key-name secret"
_MODE_ROW = "key names"
_IDENTITY_ROW = "identity of "


class NamingSecretLostError(ConfigurationError):
    """The workshop's keys are named by pseudonyms and no file holds the secret for them."""


@dataclass(frozen=True)
class SheetAbout:
    """What keys.xlsx's `workshop` sheet says: the naming, and whose each key is."""

    naming: tuple[str, str | None] | None = None
    identities: dict[str, str] = field(default_factory=dict)
    """key hash -> participant identity (a pseudonym does not say it)."""


def about_sheet(
    workshop: str, account: str, naming: NamingPolicy, entries: Iterable[LedgerEntry]
) -> PlainSheet:
    rows = [
        ("workshop", workshop),
        ("account", account),
        (_MODE_ROW, naming.mode.value),
        (_SECRET_ROW, naming.secret or ""),
    ]
    for entry in entries:
        for key_hash in (entry.hash, *entry.retired):
            if key_hash:
                rows.append((f"{_IDENTITY_ROW}{key_hash}", entry.identity))
    return PlainSheet(ABOUT_SHEET, ("About this workshop", "Value"), rows)


def read_about(path: Path) -> SheetAbout:
    """The `workshop` sheet of keys.xlsx; empty when there is none (or no keys.xlsx)."""
    if not path.exists():
        return SheetAbout()
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # a damaged keys.xlsx is reported by the recovery that reads it
        return SheetAbout()
    try:
        if ABOUT_SHEET not in book.sheetnames:
            return SheetAbout()
        values: dict[str, str] = {}
        identities: dict[str, str] = {}
        for row in book[ABOUT_SHEET].iter_rows(min_row=2, values_only=True):
            what, value = (str(cell or "").strip() for cell in (*row, None, None)[:2])
            if what.startswith(_IDENTITY_ROW):
                identities[what[len(_IDENTITY_ROW) :]] = value
            else:
                values[what] = value
        naming = None
        if values.get(_MODE_ROW):
            naming = (values[_MODE_ROW], values.get(_SECRET_ROW) or None)
        return SheetAbout(naming, identities)
    finally:
        book.close()


def policy_of(naming: tuple[str, str | None]) -> NamingPolicy:
    mode, secret = naming
    try:
        return NamingPolicy(NameMode(mode), secret)
    except ValueError as error:
        raise ConfigurationError(
            f"the workshop's key-name setting ({mode!r}) cannot be used: {error}. Restore "
            "state.jsonl or keys.xlsx from a backup."
        ) from error


def decide_naming(
    workshop: str,
    ledger: Ledger,
    about: SheetAbout,
    server_keys: Iterable[ApiKey],
    *,
    wanted: NameMode | None,
) -> tuple[NamingPolicy, bool]:
    """The workshop's naming, and whether it is new to the state (to be recorded).

    From the state; else from keys.xlsx; else readable for a state from before key-name
    modes; else, for a workshop with no key anywhere, a new one in the mode `wanted`
    (pseudonymous by default). Raises NamingSecretLostError when the server holds keys of
    this workshop named by pseudonyms and no file holds the secret.
    """
    if ledger.replayed.naming is not None:
        return policy_of(ledger.replayed.naming), False
    if about.naming is not None:
        return policy_of(about.naming), True
    prefix = workshop_prefix(workshop)
    named = [key.name[len(prefix) :] for key in server_keys if key.name.startswith(prefix)]
    enabled = [
        key.name[len(prefix) :]
        for key in server_keys
        if key.name.startswith(prefix) and not key.disabled
    ]
    if any(is_pseudonym(suffix) for suffix in enabled):
        raise NamingSecretLostError(
            f"the keys of workshop {workshop!r} on the server are named by pseudonyms, and the "
            "secret that makes them is in neither state.jsonl nor keys.xlsx, so keyprov cannot "
            "tell whose each key is; nothing was created or written. Restore the workshop's "
            "folder, or its keys.xlsx (its 'workshop' sheet holds the secret) or state.jsonl, "
            "from a backup, then run again. Without a backup: `keyprov revoke --workshop "
            f"{workshop}` disables those keys, then `keyprov provision ROSTER` makes new ones, "
            "to be handed out again (`keyprov handouts ROSTER`)."
        )
    readable = [suffix for suffix in named if not is_pseudonym(suffix)]
    if readable or any(entry.has_key for entry in ledger.entries()):
        return NamingPolicy(NameMode.READABLE), True
    mode = wanted or NameMode.PSEUDONYMOUS
    secret = new_workshop_secret() if mode is NameMode.PSEUDONYMOUS else None
    return NamingPolicy(mode, secret), True
