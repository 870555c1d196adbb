"""Key names: how a key on the server is found again for its participant, and how a workshop
names its keys.

New workshops name keys `keyprov:<workshop>:<pseudonym>`, a keyed hash of the participant's
identity under a random per-workshop secret, so no email, id or name of anyone reaches
OpenRouter; older ones carry the identity itself (readable names), and both forms are read.
The secret is kept in the state (a `naming` record) and in keys.xlsx (its `workshop` sheet), so
either file restores it; a workshop whose keys carry pseudonyms but whose secret neither file
holds creates nothing until one is restored.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from keyprov.errors import ConfigurationError, OptionError
from keyprov.models import ApiKey
from keyprov.printable import PlainSheet
from keyprov.workshop.journal import Ledger, LedgerEntry

SECRET_BYTES = 32
"""256 bits of randomness per workshop."""
SECRET_LENGTH = 52
"""A secret's length as text: 32 bytes in base32, lower case, without padding."""
PSEUDONYM_LENGTH = 16
"""Base32 characters of the keyed hash kept in a key name: 16 x 5 = 80 bits."""
_CONTEXT = b"keyprov key name v1\x00"
"""Prefixed to the identity, so the same secret can key other things without a clash."""
_PSEUDONYM = re.compile(f"[a-z2-7]{{{PSEUDONYM_LENGTH}}}")


class NameMode(StrEnum):
    """How a workshop's keys are named on the server."""

    PSEUDONYMOUS = "pseudonymous"
    READABLE = "readable"

    @classmethod
    def from_option(cls, text: str) -> NameMode:
        """`--key-names pseudonymous|readable`; OptionError for anything else."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = " or ".join(mode.value for mode in cls)
            raise OptionError(f"--key-names {text}", f"use {choices}") from None


def new_workshop_secret() -> str:
    """A fresh random secret for a new workshop: 52 lower-case base32 characters."""
    return _b32(secrets.token_bytes(SECRET_BYTES))[:SECRET_LENGTH]


def parse_workshop_secret(text: str) -> str:
    """A secret read back from the workshop state or keys.xlsx, in its normal form.

    Spaces and case are forgiven (a copy from a spreadsheet); anything else that is not a
    secret keyprov made is a ValueError saying so.
    """
    normal = "".join(str(text).split()).lower()
    if len(normal) != SECRET_LENGTH or not re.fullmatch(r"[a-z2-7]+", normal):
        raise ValueError(
            f"not a keyprov workshop secret (those are {SECRET_LENGTH} characters of a-z and "
            "2-7); copy it again from the workshop's keys.xlsx or state"
        )
    return normal


@functools.lru_cache(maxsize=16)
def _secret_bytes(secret: str) -> bytes:
    # Cached: a roster of 10,000 computes 10,000 pseudonyms under one secret.
    normal = parse_workshop_secret(secret)
    try:
        return base64.b32decode(normal.upper() + "====", casefold=False)
    except binascii.Error as error:  # pragma: no cover - the pattern above admits only base32
        raise ValueError("not a keyprov workshop secret") from error


def pseudonym(secret: str, identity: str) -> str:
    """The participant's pseudonym under the workshop's secret: 16 characters of a-z, 2-7.

    Stable: the same secret and identity always give the same pseudonym. `identity` is the
    one keyprov already uses (the normalised email, or the id).
    """
    digest = hmac.new(_secret_bytes(secret), _CONTEXT + identity.encode("utf-8"), hashlib.sha256)
    # 16 base32 characters are the first 80 bits: encode only those 10 bytes (base64's
    # base32 is pure Python, and a roster of 10,000 names 10,000 keys on every run).
    return _b32(digest.digest()[: PSEUDONYM_LENGTH * 5 // 8])[:PSEUDONYM_LENGTH]


def is_pseudonym(text: str) -> bool:
    """Whether a key name's last part has the form of a pseudonym."""
    return _PSEUDONYM.fullmatch(text) is not None


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


@dataclass(frozen=True)
class NamingPolicy:
    """How one workshop names its keys; pseudonymous needs the workshop's secret."""

    mode: NameMode
    secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.secret is not None:
            object.__setattr__(self, "secret", parse_workshop_secret(self.secret))
        elif self.mode is NameMode.PSEUDONYMOUS:
            raise ValueError("pseudonymous key names need the workshop's secret")

    def key_name(self, workshop: str, identity: str) -> str:
        """The name this participant's key carries on the server."""
        return f"{workshop_prefix(workshop)}{self._suffix(identity)}"

    def identity_of(self, workshop: str, key_name: str, identities: Iterable[str]) -> str | None:
        """The identity (of `identities`) whose key this is, by either form of name.

        Builds the reverse map each call (O(n)): for many names, build it once with `index`.
        """
        return self.index(workshop, identities).identity_of(key_name)

    def index(self, workshop: str, identities: Iterable[str]) -> KeyNameIndex:
        """Every identity's names, computed once (O(n)), for lookups in O(1)."""
        return KeyNameIndex(workshop, self, tuple(dict.fromkeys(identities)))

    def _suffix(self, identity: str) -> str:
        if self.mode is NameMode.READABLE:
            return identity
        assert self.secret is not None
        return pseudonym(self.secret, identity)


class KeyNameIndex:
    """Which roster identity a key name stands for, in either form (readable or pseudonym).

    Both forms are recognised whatever the workshop's mode, so a workshop half-way through
    `rename-keys` still finds every participant's key and never creates a second one.
    """

    def __init__(self, workshop: str, policy: NamingPolicy, identities: tuple[str, ...]) -> None:
        self.workshop = workshop
        self.policy = policy
        self._prefix = workshop_prefix(workshop)
        self._readable = set(identities)
        self._by_pseudonym: dict[str, str] = {}
        if policy.secret is not None:
            for identity in identities:
                alias = pseudonym(policy.secret, identity)
                other = self._by_pseudonym.setdefault(alias, identity)
                if other != identity or alias in self._readable:
                    # 80 bits make this all but impossible; if it happens, say so, never guess.
                    raise ValueError(
                        f"two participants of workshop {workshop!r} share the key name "
                        f"{self._prefix}{alias}; use --key-names readable for this workshop"
                    )

    def belongs(self, key_name: str) -> bool:
        """Whether the name is of this workshop at all (whoever's key it is)."""
        return key_name.startswith(self._prefix)

    def identity_of(self, key_name: str) -> str | None:
        """The roster identity whose key this is, or None (another workshop's, or nobody in
        the roster)."""
        if not key_name.startswith(self._prefix):
            return None
        suffix = key_name[len(self._prefix) :]
        if suffix in self._readable:
            return suffix
        return self._by_pseudonym.get(suffix)

    def form_of(self, key_name: str) -> NameMode | None:
        """How the name is written, judged by its form: a pseudonym-shaped suffix that is no
        roster identity is taken for a pseudonym (of someone not in the roster, perhaps)."""
        if not key_name.startswith(self._prefix):
            return None
        suffix = key_name[len(self._prefix) :]
        if suffix in self._readable or not is_pseudonym(suffix):
            return NameMode.READABLE
        return NameMode.PSEUDONYMOUS

    def name_for(self, identity: str) -> str:
        return self.policy.key_name(self.workshop, identity)


@dataclass(frozen=True)
class Rename:
    """One PATCH of `rename-keys`: this key's name, from `old_name` to `new_name`."""

    hash: str
    old_name: str
    new_name: str


@dataclass(frozen=True)
class RenamePlan:
    renames: tuple[Rename, ...]
    unresolved: tuple[ApiKey, ...]
    """Keys of the workshop with a pseudonym no known identity gives (a participant who is in
    neither the roster nor the local state): they keep their names."""


def rename_plan(
    workshop: str,
    keys: Iterable[ApiKey],
    identities: Iterable[str],
    *,
    secret: str,
    to: NameMode,
    owners: Mapping[str, str] | None = None,
) -> RenamePlan:
    """The PATCHes that give every key of the workshop its name in the `to` form.

    `keys` are the server's keys (all of them; other workshops' are left out here),
    `identities` the roster's, and `owners` the local state's key hash -> identity, which
    also covers participants no longer in the roster. Computed from the names the server holds
    now, so a run stopped half-way is finished by the next one, and a finished one plans
    nothing. Needs the workshop's secret either way: to make pseudonyms, or to read them.
    """
    known = dict(owners or {})
    index = NamingPolicy(NameMode.PSEUDONYMOUS, secret).index(
        workshop, [*identities, *known.values()]
    )
    target = NamingPolicy(to, secret)
    renames, unresolved = [], []
    for key in keys:
        if not index.belongs(key.name):
            continue
        identity = known.get(key.hash) or index.identity_of(key.name)
        if identity is None and index.form_of(key.name) is NameMode.READABLE:
            identity = identity_from_key_name(workshop, key.name)  # the name says whose it is
        if identity is None:
            unresolved.append(key)
            continue
        wanted = target.key_name(workshop, identity)
        if key.name != wanted:
            renames.append(Rename(key.hash, key.name, wanted))
    return RenamePlan(tuple(renames), tuple(unresolved))


KEY_NAME_PREFIX = "keyprov"


def workshop_prefix(workshop: str) -> str:
    return f"{KEY_NAME_PREFIX}:{workshop}:"


def key_name(workshop: str, identity: str) -> str:
    """The one name this participant's key carries on the server, e.g. 'keyprov:bssdh:ada@x.org'.

    The name holds the identity (the email or id), not the display name, so that renaming a
    participant in the roster never makes keyprov think they are someone new.
    """
    return f"{workshop_prefix(workshop)}{identity}"


def identity_from_key_name(workshop: str, name: str) -> str | None:
    """The identity a key name belongs to, or None if the key is not this workshop's."""
    prefix = workshop_prefix(workshop)
    return name[len(prefix) :] if name.startswith(prefix) else None


def natural_key(text: str) -> list[int | str]:
    """Sort key ordering identities as a person reads them: rich2 before rich10, any case."""
    parts = re.split(r"(\d+)", text)
    return [int(part) if index % 2 else part.casefold() for index, part in enumerate(parts)]


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
    named = [key for key in server_keys if key.name.startswith(prefix)]
    if any(is_pseudonym(key.name[len(prefix) :]) for key in named if not key.disabled):
        raise NamingSecretLostError(
            f"the keys of workshop {workshop!r} on the server are named by pseudonyms, and the "
            "secret that makes them is in neither state.jsonl nor keys.xlsx, so keyprov cannot "
            "tell whose each key is; nothing was created or written. Restore the workshop's "
            "folder, or its keys.xlsx or state.jsonl, from a backup, then run again. Without a "
            f"backup: `keyprov revoke --workshop {workshop}` disables those keys, then "
            "`keyprov provision ROSTER` makes new ones, to be handed out again."
        )
    readable = [key for key in named if not is_pseudonym(key.name[len(prefix) :])]
    if readable or any(entry.has_key for entry in ledger.entries()):
        return NamingPolicy(NameMode.READABLE), True
    mode = wanted or NameMode.PSEUDONYMOUS
    secret = new_workshop_secret() if mode is NameMode.PSEUDONYMOUS else None
    return NamingPolicy(mode, secret), True
