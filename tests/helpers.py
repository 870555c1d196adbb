"""Helpers for tests: roster files and running the real `keyprov` command."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from keyprov.client import RetryPolicy

REPO = Path(__file__).resolve().parent.parent
FAST_RETRY = RetryPolicy(max_attempts=8, max_total_seconds=30, base_wait=0.01, max_wait=0.05)
"""Backoff short enough for tests; the same code path as production."""


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def make_roster(path: Path, count: int, *, limit: float | None = 1.0, start: int = 0) -> Path:
    rows = [
        (f"Person {i}", f"person{i}@example.org", "" if limit is None else limit)
        for i in range(start, start + count)
    ]
    return write_csv(path, ("name", "email", "limit"), rows)


def run_keyprov(
    args: Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `keyprov` entry point in its own process, as a user would."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("OPENROUTER_")}
    return subprocess.run(
        [sys.executable, "-m", "keyprov", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
