"""The workshops this user has, wherever their folders are: found from any folder, locked as one.

A workshop is its name and its account (the label the server gives the management key, never
the key or a hash of it), not a folder. The registry, one small file in the user's state
directory (owner-only), maps each to its folder and remembers how its last command ended;
the workshop's own folder holds what it is (`workshop.json`: name, account, the options it
was provisioned with), so a registry that is lost is rebuilt by pointing --out at it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.errors import LocalFileError
from keyprov.files import atomic_private_writer, ensure_private_dir
from keyprov.workshop.lock import exclusive_lock, waiting_lock

HOME_VARIABLE = "KEYPROV_HOME"
REGISTRY_FILE_NAME = "workshops.json"
WORKSHOP_FILE_NAME = "workshop.json"
_FORMAT = "keyprov-workshops"


def registry_home() -> Path:
    """$KEYPROV_HOME, else the platform's user state directory (e.g. ~/.local/state/keyprov)."""
    configured = os.environ.get(HOME_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser().absolute()
    from platformdirs import user_state_dir

    return Path(user_state_dir("keyprov", appauthor=False))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class WorkshopRecord:
    """One workshop as the registry knows it."""

    name: str
    account: str
    folder: str
    created: str
    last_run: str | None = None
    last_command: str | None = None
    last_exit: int | None = None
    participants: int | None = None
    keys_enabled: int | None = None
    last_run_id: str | None = None
    """The last run that held the workshop (its audit run id): see workshop.run_trust."""
    carried_runs: list[str] = field(default_factory=list)
    """The earlier runs whose intents the last run took on as its own (they had crashed)."""
    last_state: str | None = None
    """The sha256 of state.jsonl as the last run left it; None while it runs, or if it died."""
    last_state_size: int | None = None

    @property
    def path(self) -> Path:
        return Path(self.folder)


@dataclass(frozen=True)
class WorkshopFile:
    """What a workshop folder says it is: `workshop.json`, beside its state."""

    name: str
    account: str
    created: str
    options: dict[str, Any] = field(default_factory=dict)
    """The options provision applied last, as JSON: later commands use them."""
    server: str = ""
    """Which server its keys are on (see `server_of`); empty in a folder from before."""
    display: str = ""
    """The workshop's name as given (NFC), of which `name` is the folder name; empty in a
    folder from before."""

    @classmethod
    def read(cls, folder: Path) -> WorkshopFile | None:
        path = folder / WORKSHOP_FILE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                str(data["name"]),
                str(data["account"]),
                str(data["created"]),
                dict(data.get("options") or {}),
                str(data.get("server") or ""),
                str(data.get("display") or ""),
            )
        except (FileNotFoundError, NotADirectoryError):
            return None  # no such folder (yet): making it says what is wrong, if anything
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LocalFileError(
                f"{path} cannot be read ({error}); it says which workshop this folder holds. "
                "Restore it from a backup, or move it away and give --out this folder again."
            ) from error

    def write(self, folder: Path) -> None:
        data = json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"
        with atomic_private_writer(folder / WORKSHOP_FILE_NAME) as handle:
            handle.write(data.encode())


def server_of(base_url: str) -> str:
    """The server a base URL reaches, as a workshop remembers it: scheme, host and port; any
    port on this machine is one server (the sandbox starts on a new port each time)."""
    from urllib.parse import urlsplit

    from keyprov.api.baseurl import is_loopback

    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if is_loopback(host):
        return "this machine (a sandbox)"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


class Registry:
    """The user's workshops: one JSON file, rewritten whole under a lock."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / REGISTRY_FILE_NAME

    @classmethod
    def default(cls) -> Registry:
        return cls(registry_home())

    def all(self) -> list[WorkshopRecord]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [WorkshopRecord(**item) for item in data["workshops"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LocalFileError(
                f"{self.path}: the list of your workshops cannot be read ({error}). Move it "
                "away: each workshop is found again when a command names its folder with --out."
            ) from error

    def find(self, name: str, account: str) -> WorkshopRecord | None:
        for record in self.all():
            if record.name == name and record.account == account:
                return record
        return None

    def put(self, record: WorkshopRecord) -> None:
        """Add or replace the record of this workshop (by name and account)."""
        with self._updating() as records:
            records[:] = [
                r for r in records if (r.name, r.account) != (record.name, record.account)
            ]
            records.append(record)

    def remove(self, name: str, account: str) -> None:
        with self._updating() as records:
            records[:] = [r for r in records if (r.name, r.account) != (name, account)]

    def update(self, name: str, account: str, **fields: Any) -> None:
        with self._updating() as records:
            for index, record in enumerate(records):
                if (record.name, record.account) == (name, account):
                    records[index] = replace(record, **fields)

    @contextlib.contextmanager
    def lock(self, name: str, account: str) -> Iterator[None]:
        """Hold this workshop for one command, or raise LockedError at once.

        One lock per workshop and account on this machine, whatever folder or --out a run is
        given, so that a cron run and a run by hand can never work on it together. flock is
        released by the kernel when the process dies, even by SIGKILL.
        """
        folder = self._ensure_home() / "locks"
        ensure_private_dir(folder)
        path = folder / f"{_slug(account)}--{_slug(name)}.lock"
        with exclusive_lock(path, what=f"workshop {name!r}"):
            yield

    def _ensure_home(self) -> Path:
        try:
            return ensure_private_dir(self.home)
        except OSError as error:
            raise LocalFileError(
                f"{self.home}: keyprov keeps the list of your workshops here and cannot create "
                f"it ({error.strerror or error}). Set {HOME_VARIABLE} to a folder you own."
            ) from error

    @contextlib.contextmanager
    def _updating(self) -> Iterator[list[WorkshopRecord]]:
        home = self._ensure_home()
        with waiting_lock(home / ".registry.lock"):  # short: only while the file is rewritten
            records = self.all()
            yield records
            data = {"format": _FORMAT, "workshops": [asdict(record) for record in records]}
            with atomic_private_writer(self.path) as handle:
                handle.write((json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
