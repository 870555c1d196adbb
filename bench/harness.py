"""What every bench scenario stands on: a sandbox in its own process, rosters, and a timed
`keyprov` process.

A run is timed from just before its process is spawned to its exit, so the figure is what the
user waits for: interpreter start, imports, reading the roster, every request, keys.xlsx. The
sandbox logs each request's start on the `time.monotonic()` clock, which on Linux is the same
for every process of the machine: so the bench also knows when the first request arrived.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

# The sandbox accepts whatever management key its environment names; this one is for the bench.
BENCH_KEY = "sk-or-v1-" + "be" * 32
HEADER = ["Name", "Email", "Limit"]


@dataclass(frozen=True)
class SandboxProcess:
    base_url: str

    @property
    def _control(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}/_sandbox"

    def requests_seen(self) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self._control}/requests",
            headers={"Authorization": f"Bearer {BENCH_KEY}"},
            timeout=120,
        )
        response.raise_for_status()
        return response.json()

    def clear_log(self) -> None:
        requests.delete(
            f"{self._control}/requests",
            headers={"Authorization": f"Bearer {BENCH_KEY}"},
            timeout=60,
        ).raise_for_status()


@contextmanager
def sandbox_process(*, latency: float, rate_limit: float | None) -> Iterator[SandboxProcess]:
    """A fresh sandbox: empty key store, full bucket."""
    command = [sys.executable, "-m", "keyprov", "sandbox", "--port", "0"]
    # Credits enough for every bench key, so the preflight passes as it would for a real run.
    command += ["--latency", str(latency), "--credits", "1000000"]
    if rate_limit is not None:
        command += ["--rate-limit", str(rate_limit)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENROUTER_PROVISIONING_KEY": BENCH_KEY},
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        if "listening on" not in first_line:
            raise RuntimeError(f"the sandbox did not start: {first_line!r}")
        yield SandboxProcess(first_line.rsplit(" ", 1)[-1].strip())
    finally:
        process.terminate()
        process.wait(timeout=30)


def roster_rows(count: int) -> Iterator[list[str]]:
    for number in range(count):
        yield [f"Participant {number:05d}", f"p{number:05d}@bench.example.org", "1.5"]


def write_csv_roster(path: Path, count: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(roster_rows(count))
    return path


def write_xlsx_roster(path: Path, count: int) -> Path:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Participants")
    sheet.append(HEADER)
    for row in roster_rows(count):
        sheet.append(row)
    book.save(path)
    return path


@dataclass(frozen=True)
class Requests:
    """What the sandbox saw during one run."""

    total: int
    throttled: int
    creates: int
    list_pages: int
    first_started: float | None
    """`time.monotonic()` of the first request, or None when none came."""

    @property
    def needed(self) -> int:
        """The requests the run needed: every one the server did not refuse with a 429."""
        return self.total - self.throttled

    @classmethod
    def seen_by(cls, sandbox: SandboxProcess) -> Requests:
        records = sandbox.requests_seen()

        def on_keys(record: dict[str, Any], method: str) -> bool:
            return record["method"] == method and str(record["path"]).endswith("/keys")

        return cls(
            total=len(records),
            throttled=sum(1 for record in records if record["status"] == 429),
            creates=sum(
                1 for r in records if on_keys(r, "POST") and r["status"] not in (429, None)
            ),
            list_pages=sum(1 for r in records if on_keys(r, "GET") and r["status"] == 200),
            first_started=min((float(r["started"]) for r in records), default=None),
        )


@dataclass(frozen=True)
class ProcessRun:
    """One `keyprov` process, timed from spawn to exit."""

    wall: float
    peak_rss_mb: float
    returncode: int
    stderr: str
    requests: Requests
    first_request: float | None
    """Seconds from spawn to the first request's arrival at the sandbox."""


class Workspace:
    """A scratch folder with its own KEYPROV_HOME: no run sees another's workshops."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.out = folder / "output"

    def environment(self, sandbox: SandboxProcess) -> dict[str, str]:
        environment = {
            **os.environ,
            "OPENROUTER_PROVISIONING_KEY": BENCH_KEY,
            "OPENROUTER_BASE_URL": sandbox.base_url,
            "KEYPROV_HOME": str(self.home),
        }
        environment.pop("OPENROUTER_PROVISIONING_KEY_FILE", None)
        return environment

    def run(
        self,
        sandbox: SandboxProcess,
        arguments: Sequence[str],
        env: Mapping[str, str] | None = None,
    ) -> ProcessRun:
        """`keyprov ARGUMENTS` against `sandbox` (and `env` added to its environment), its
        request log cleared first."""
        sandbox.clear_log()
        with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "keyprov", *arguments],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                stdin=subprocess.DEVNULL,
                env={**self.environment(sandbox), **(env or {})},
                cwd=self.folder,
            )
            # wait4, not wait: the peak RSS of this child alone.
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.monotonic() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            errors.seek(0)
            stderr = errors.read()
        seen = Requests.seen_by(sandbox)
        return ProcessRun(
            wall=wall,
            peak_rss_mb=usage.ru_maxrss / 1024,
            returncode=process.returncode,
            stderr=stderr,
            requests=seen,
            first_request=None if seen.first_started is None else seen.first_started - started,
        )


@contextmanager
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="keyprov-bench-") as scratch:
        yield Workspace(Path(scratch))
