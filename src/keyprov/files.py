"""Files that hold secrets: owner-only from the first byte, replaced atomically.

On Linux and macOS "owner-only" is the mode: 0600 for files, 0700 for folders. Windows has no
such modes (chmod only sets the read-only flag): there a file's access list, inherited from its
folder, protects it, and a folder in the user's profile (where keyprov keeps its state, and
where an instructor's work is) is readable by that user and the administrators only. keyprov
never fails on Windows for want of a mode, and never reports one as loose there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from keyprov.errors import ConfigurationError, KeyprovError


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path if path.is_dir() else path.parent


def work_tree_of(path: Path) -> Path | None:
    """The git work tree holding `path` (which may not exist yet), or None."""
    if shutil.which("git") is None:
        return None
    done = subprocess.run(
        ["git", "-C", str(_existing_ancestor(path)), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def is_ignored(path: Path) -> bool:
    """True when git would not pick `path` up (tracked files are never ignored)."""
    top = work_tree_of(path)
    if top is None:
        return True
    done = subprocess.run(
        ["git", "-C", str(top), "check-ignore", "-q", str(path.absolute())],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def refuse_unignored(paths: list[Path], *, force: bool) -> None:
    """Raise unless every path is outside git or git-ignored (or the user said --force)."""
    if force:
        return
    exposed = [path for path in paths if not is_ignored(path)]
    if exposed:
        top = work_tree_of(exposed[0])
        names = ", ".join(str(path) for path in exposed)
        raise ConfigurationError(
            f"refusing to write secrets to {names}: inside the git work tree {top} and not "
            "git-ignored, so a `git add .` would commit live keys. Add the folder to "
            ".gitignore, choose an --out folder outside the repository, or pass --force."
        )


PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
TEMPORARY_SUFFIX = ".tmp"
ON_WINDOWS = sys.platform == "win32"
_BINARY = getattr(os, "O_BINARY", 0)
"""Windows opens a descriptor in text mode unless told otherwise, and would then write every
line feed as CR LF: into a workbook, a PDF, the journals. Elsewhere there is no such flag."""


def remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written copies a killed run left (they may hold secrets); call under the lock."""
    for stale in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        stale.unlink(missing_ok=True)


def ensure_private_dir(path: Path) -> Path:
    """Create the folder (and parents) owner-only; tighten it if it already exists."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if not ON_WINDOWS and path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def is_owner_only(path: Path) -> bool:
    """Whether no other user may read `path` by its mode; on Windows, where the folder's access
    list decides (see the module's docstring), always True. OSError when it cannot be read."""
    mode = path.stat().st_mode
    return ON_WINDOWS or mode & 0o077 == 0


def open_private_append(path: Path) -> int:
    """A file descriptor for appending, creating the file with mode 0600 if it is new."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _BINARY, PRIVATE_FILE_MODE)


def open_private_write(path: Path) -> int:
    """A file descriptor for writing `path` anew, creating it with mode 0600 if it is new."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, PRIVATE_FILE_MODE)


def cut_torn_tail(path: Path) -> None:
    """Drop a last line torn by a crash or a full disk, so the next line is not glued onto it."""
    with path.open("rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        content = handle.read()
        handle.truncate(content.rfind(b"\n") + 1)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in this folder survive a power cut.

    Not on Windows, which cannot open a folder as a file: there NTFS journals a rename and a
    new file's entry itself, and the file's own fsync (FlushFileBuffers) is what is needed.
    """
    if ON_WINDOWS:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except (PermissionError, IsADirectoryError):
        return  # a system that opens no folder as a file, as Windows: the same holds there
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_private_writer(path: Path) -> Iterator[BinaryIO]:
    """Write `path` all at once: readers see the old file or the new one, never half of one.

    The temporary file is created 0600 (never chmod-ed afterwards), so no other user can open
    it at any moment, even while it is being written.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
    fd = open_private_write(temporary)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit on open files to `wanted` (at most the hard limit).

    A run at full concurrency holds a socket and, while it fsyncs, a state-file descriptor
    per worker: more than macOS's default soft limit of 256. Running out would read as a disk
    failure and stop the run. Windows has no such limit to raise (and no `resource` module).
    """
    if sys.platform == "win32":
        return
    try:
        import resource
    except ImportError:  # a POSIX Python built without it
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def write_report_file(
    path: Path, content: bytes, *, then: str, error: type[KeyprovError] = KeyprovError
) -> None:
    """Write a file a command produces (keys.xlsx, report.xlsx, a chart) atomically, owner-only.

    A disk that fails is `error`, saying which file, why, and `then`: what was kept, and what
    to do next.
    """
    try:
        with atomic_private_writer(path) as handle:
            handle.write(content)
    except OSError as failure:
        raise error(f"{path}: could not be written ({failure}); {then}") from failure
