"""`make lint`'s portability check: what mypy finds in src/ on Windows or macOS and not on Linux.

Run mypy as if on each platform (`--platform win32`, `darwin`, `linux`) and report the errors
that only Windows or macOS has: a module or function that exists on Linux only (fcntl.flock,
os.pread, resource.getrlimit, signal.SIGHUP, ...) on the path of some command. The errors mypy
finds on every platform are type errors of another kind: this check leaves them to a full type
check, so that it can be strict about what it is for. Exit 1 when there is any.

    .venv/bin/python tests/platform_types.py [PATH ...]   (default: src)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent
OTHERS = ("win32", "darwin")
_NOTE = re.compile(r"^[^:]+:\d+: note: ")


def errors(platform: str, paths: list[str]) -> set[str]:
    """mypy's error lines for `paths` as if on `platform` (notes and summary left out)."""
    cache = ROOT / ".venv" / f"mypy-cache-{platform}"
    stdout, stderr, status = api.run(
        [
            f"--platform={platform}",
            f"--cache-dir={cache}",
            "--ignore-missing-imports",
            "--show-error-codes",
            "--no-error-summary",
            "--hide-error-context",
            *paths,
        ]
    )
    if status not in (0, 1):  # 2: mypy itself could not run
        raise SystemExit(f"mypy failed ({platform}):\n{stdout}{stderr}")
    return {line for line in stdout.splitlines() if line and not _NOTE.match(line)}


def main(paths: list[str]) -> int:
    everywhere = errors("linux", paths)
    found = 0
    for platform in OTHERS:
        only_there = sorted(errors(platform, paths) - everywhere)
        for line in only_there:
            print(f"{line}  (only with --platform {platform})")
        found += len(only_there)
    if found:
        print(
            f"{found} error(s) only on Windows or macOS: keep POSIX-only modules and calls off "
            "every command's path (see src/keyprov/files.py for how)."
        )
        return 1
    print(f"platform check: {', '.join(paths)} type-check the same on Linux, Windows and macOS.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src"]))
