"""One run per workshop at a time: overlapping cron runs must not race each other."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from keyprov.errors import LockedError
from keyprov.files import PRIVATE_FILE_MODE

LOCK_FILE_NAME = ".lock"


@contextlib.contextmanager
def exclusive_lock(path: Path, *, what: str) -> Iterator[None]:
    """Hold the lock file at `path`, or raise LockedError at once (never wait: cron must not
    pile up); `what` says in the message what the other run is working on.

    flock is released by the kernel when the process dies, even by SIGKILL, so a crashed run
    never leaves a stale lock behind.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise LockedError(
            f"another keyprov run (pid {holder}) is working on {what}; nothing was changed. "
            "Wait for it to finish, then run again."
        ) from error
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def workshop_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """The folder's own lock, beside the workshop's (registry.Registry.lock): two users'
    registries naming one folder still cannot work on it at once."""
    return exclusive_lock(folder / LOCK_FILE_NAME, what=str(folder))
