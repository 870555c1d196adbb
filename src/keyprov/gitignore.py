"""Refuse to write secrets where a `git add .` would pick them up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from keyprov.errors import ConfigurationError


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
