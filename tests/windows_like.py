"""Run keyprov's CLI in a Python that lacks what Windows lacks: `python tests/windows_like.py
provision roster.csv ...` is `keyprov provision roster.csv ...` there.

CI runs on Linux, so this is how the suite sees that no command needs a POSIX-only module or
call: before keyprov is imported, the modules Windows has not (fcntl, resource, termios, pwd,
grp) cannot be imported, `os.pread`, `os.pwrite` and `os.fchmod` are gone, and opening a folder
as a file fails with the error Windows gives (EACCES). What it cannot make is Windows' own
modules (msvcrt): filelock, finding no fcntl, falls back to its soft lock here, and its warning
that it did is silenced.
"""

from __future__ import annotations

import errno
import importlib.abc
import os
import stat
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

POSIX_ONLY_MODULES = frozenset({"fcntl", "resource", "termios", "pwd", "grp"})
POSIX_ONLY_CALLS = ("pread", "pwrite", "fchmod")


class _NotOnWindows(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname in POSIX_ONLY_MODULES:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _open_as_on_windows(original: Any) -> Any:
    def open_file(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        try:
            is_folder = stat.S_ISDIR(os.stat(path, dir_fd=dir_fd).st_mode)
        except OSError:
            is_folder = False
        if is_folder:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
        return original(path, flags, mode, dir_fd=dir_fd)

    return open_file


def become_windows_like() -> None:
    for name in POSIX_ONLY_MODULES:
        sys.modules.pop(name, None)
    sys.meta_path.insert(0, _NotOnWindows())
    for name in POSIX_ONLY_CALLS:
        if hasattr(os, name):
            delattr(os, name)
    os.open = _open_as_on_windows(os.open)
    warnings.filterwarnings("ignore", message="only soft file lock is available")


if __name__ == "__main__":
    become_windows_like()
    # The test's own folder first on sys.path is this file's: keyprov comes from the install.
    sys.path.pop(0)
    sys.argv = ["keyprov", *sys.argv[1:]]
    from keyprov.cli import main

    main()
