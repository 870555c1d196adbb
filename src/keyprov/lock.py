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
def workshop_lock(folder: Path) -> Iterator[None]:
    """Hold the workshop's lock, or raise LockedError at once (never wait: cron must not pile up).

    flock is released by the kernel when the process dies, even by SIGKILL, so a crashed run
    never leaves a stale lock behind.
    """
    path = folder / LOCK_FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise LockedError(
            f"another keyprov run (pid {holder}) is working on {folder}; nothing was changed. "
            "Wait for it to finish, then run again."
        ) from error
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
