"""One run per workshop at a time: overlapping cron runs must not race each other.

The locks are filelock's (flock on Linux and macOS, LockFileEx on Windows): the operating
system releases them when the process ends, even when it is killed, so a crashed run never
leaves a stale lock behind. Which process holds a lock is written beside it (`<lock>.holder`),
not in it: on Windows a locked file cannot be read by another process, and filelock may
truncate a lock file when it opens it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from keyprov.errors import LockedError
from keyprov.files import PRIVATE_FILE_MODE, open_private_write

LOCK_FILE_NAME = ".lock"
HOLDER_SUFFIX = ".holder"


@contextlib.contextmanager
def exclusive_lock(path: Path, *, what: str) -> Iterator[None]:
    """Hold the lock file at `path`, or raise LockedError at once (never wait: cron must not
    pile up); `what` says in the message what the other run is working on."""
    # Imported here, not at the top: provision sends its first request before any lock.
    from filelock import FileLock, Timeout

    # The lock file holds nothing; the folder it is in is owner-only.
    lock = FileLock(str(path), timeout=0, mode=_lock_mode())
    holder = path.with_name(path.name + HOLDER_SUFFIX)
    try:
        lock.acquire()
    except Timeout as error:
        raise LockedError(
            f"another keyprov run (pid {_holder_of(holder)}) is working on {what}; nothing was "
            "changed. Wait for it to finish, then run again."
        ) from error
    try:
        with contextlib.suppress(OSError):  # only for the message of a run that waits
            fd = open_private_write(holder)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(str(os.getpid()))
        yield
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()


@contextlib.contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    """Hold the lock file at `path`, waiting for it: for a lock held only while a small file
    is rewritten, never for a whole run."""
    from filelock import FileLock

    lock = FileLock(str(path), timeout=-1, mode=_lock_mode())
    with lock:
        yield


def _lock_mode() -> int:
    """Owner-only where files have modes: filelock would make its lock file 0644 less the
    umask. -1 (filelock's default) where there is no fchmod to set it with: on Windows the
    user profile's permissions protect the file."""
    return PRIVATE_FILE_MODE if hasattr(os, "fchmod") else -1


def _holder_of(holder: Path) -> str:
    try:
        return holder.read_text(encoding="ascii", errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"


def workshop_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """The folder's own lock, beside the workshop's (registry.Registry.lock): two users'
    registries naming one folder still cannot work on it at once."""
    return exclusive_lock(folder / LOCK_FILE_NAME, what=str(folder))
