"""What keeps keyprov working where Linux's calls are missing (Windows): the lock says who holds
it, modes are never a reason to fail there, and `python -m keyprov` is the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from keyprov import files
from keyprov.cli.interrupts import SIGNALS
from keyprov.errors import LockedError
from keyprov.workshop.lock import exclusive_lock


def test_a_second_holder_is_refused_at_once_and_told_which_process_holds_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".lock"
    with (
        exclusive_lock(path, what="workshop 'ws'"),
        pytest.raises(LockedError) as refused,
        exclusive_lock(path, what="workshop 'ws'"),
    ):
        pass
    assert f"another keyprov run (pid {os.getpid()}) is working on workshop 'ws'" in str(
        refused.value
    )
    with exclusive_lock(path, what="workshop 'ws'"):  # released: free again
        pass
    assert not (tmp_path / ".lock.holder").exists()


def test_on_windows_modes_are_left_to_the_folder_and_never_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ws"
    folder.mkdir(mode=0o755)
    (folder / "keys.xlsx").write_bytes(b"x")
    os.chmod(folder / "keys.xlsx", 0o644)
    monkeypatch.setattr(files, "ON_WINDOWS", True)

    def no_chmod(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("chmod on Windows")

    monkeypatch.setattr(Path, "chmod", no_chmod)
    monkeypatch.setattr(os, "open", lambda *_a, **_k: pytest.fail("a folder opened as a file"))
    assert files.ensure_private_dir(folder) == folder
    assert files.is_owner_only(folder / "keys.xlsx")
    files.fsync_dir(folder)


def test_on_posix_modes_are_owner_only(tmp_path: Path) -> None:
    folder = files.ensure_private_dir(tmp_path / "ws")
    assert folder.stat().st_mode & 0o777 == 0o700
    with files.atomic_private_writer(folder / "keys.xlsx") as handle:
        handle.write(b"a\nb\n")
    assert (folder / "keys.xlsx").stat().st_mode & 0o777 == 0o600
    assert (folder / "keys.xlsx").read_bytes() == b"a\nb\n"
    assert files.is_owner_only(folder / "keys.xlsx")
    os.chmod(folder / "keys.xlsx", 0o644)
    assert not files.is_owner_only(folder / "keys.xlsx")


def test_ctrl_c_and_sigterm_are_taken_over_where_they_exist() -> None:
    assert signal.SIGINT in SIGNALS
    assert signal.SIGTERM in SIGNALS


def test_python_dash_m_keyprov_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "keyprov", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "provision" in done.stdout
