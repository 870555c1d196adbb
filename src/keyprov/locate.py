"""Which folder a command works on: the workshop's own, whatever folder the user is in.

A command names a workshop (by its roster file or --workshop); the registry says where that
workshop of this account lives. A command never starts a second, empty state for a workshop
that has one, and never makes a folder for one that does not exist (except provision).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from keyprov.client import OpenRouterClient
from keyprov.errors import ConfigurationError
from keyprov.ledger import STATE_FILE_NAME
from keyprov.outputs import KEYS_FILE_NAME
from keyprov.registry import Registry, WorkshopFile, WorkshopRecord
from keyprov.workshop import Workshop, WorkshopRef


class UnknownWorkshopError(ConfigurationError):
    """No workshop of this name and account has a state anywhere this user keeps one."""


class WorkshopElsewhereError(ConfigurationError):
    """The workshop exists, in another folder than the one this command was pointed at."""


def account_label(client: OpenRouterClient) -> str:
    """The account a management key belongs to, as the server labels the key (GET /key).

    Never the key, nor a hash of it: the label is what the dashboard shows for it too.
    """
    data = client.current_key()
    label = data.get("label")
    if not isinstance(label, str) or not label:
        raise ConfigurationError(
            "GET /key answered without the management key's label, which keyprov files the "
            "workshop under; is OPENROUTER_BASE_URL an OpenRouter API (…/api/v1)?"
        )
    return label


def _same(one: Path, other: Path) -> bool:
    return one.resolve() == other.resolve()


def _has_state(folder: Path) -> bool:
    return (folder / STATE_FILE_NAME).exists() or (folder / KEYS_FILE_NAME).exists()


def locate(
    ref: WorkshopRef, account: str, registry: Registry, *, creating: bool
) -> tuple[Workshop, WorkshopRecord | None]:
    """The workshop's folder, and its registry record when it has one.

    Raises WorkshopElsewhereError when --out names another folder than the one the workshop
    lives in (unless that folder is this workshop's, moved on purpose), and
    UnknownWorkshopError when no state exists and the command does not create one.
    """
    name = ref.name
    record = registry.find(name, account)
    if record is not None and not _has_state(record.path):
        # Its folder was deleted (or emptied): there is no state there to keep apart from.
        record = None
    wanted = ref.default_folder
    if record is not None and (ref.out_dir is None or _same(wanted, record.path)):
        return _workshop(name, record.path, account), record
    found = WorkshopFile.read(wanted)
    if found is not None and found.name == name and found.account != account:
        raise ConfigurationError(
            f"{wanted} holds workshop {name!r} of another account ({found.account}), not of the "
            f"management key in use ({account}). Use that account's key, or another --out."
        )
    if record is not None:
        if found is not None and found.name == name and _has_state(wanted):
            return _workshop(name, wanted, account), record  # moved: the session files it
        raise WorkshopElsewhereError(
            f"workshop {name!r} of account {account} lives in {record.folder}, not in {wanted}; "
            "nothing was written. Leave out --out to work on it (from any folder). If you "
            "moved the folder on purpose, give --out the folder that now holds its "
            "workshop.json and state.jsonl."
        )
    if found is not None or _has_state(wanted) or creating:
        return _workshop(name, wanted, account), None
    raise UnknownWorkshopError(_unknown(name, account, registry, wanted))


def _workshop(name: str, folder: Path, account: str) -> Workshop:
    found = WorkshopFile.read(folder)
    return Workshop(name, folder.absolute(), account, dict(found.options) if found else {})


def _unknown(name: str, account: str, registry: Registry, looked_in: Path) -> str:
    known = sorted({record.name for record in registry.all() if record.account == account})
    message = (
        f"no workshop {name!r} for account {account}: it was never provisioned (looked in "
        f"the list of your workshops and in {looked_in}); nothing was written."
    )
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        message += f" Did you mean {' or '.join(repr(n) for n in close)}?"
    if known:
        message += f" Known workshops: {', '.join(known)} (keyprov workshops lists them)."
    else:
        message += " Run keyprov provision ROSTER first."
    return message


def find_workshop(ref: WorkshopRef, client: OpenRouterClient) -> Workshop:
    """The workshop a command that only reads works on; raises UnknownWorkshopError."""
    workshop, _record = locate(ref, account_label(client), Registry.default(), creating=False)
    return workshop


def remembered_locally(ref: WorkshopRef) -> dict[str, Any]:
    """The options the workshop remembers, found without asking the server.

    A roster must be read (and refused when bad) before any request is sent, and how to read
    it may be remembered: so the folder is looked up by name alone. When the account turns
    out to be another one, the caller reads the roster again with that workshop's options.
    """
    folder = ref.default_folder
    if ref.out_dir is None:
        records = [record for record in Registry.default().all() if record.name == ref.name]
        if len(records) == 1:
            folder = records[0].path
    found = WorkshopFile.read(folder)
    return dict(found.options) if found is not None and found.name == ref.name else {}
