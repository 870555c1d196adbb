"""Helpers for tests: roster files and running the real `keyprov` command."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from keyprov.api.client import RetryPolicy
from keyprov.sandbox import RequestRecord, Sandbox
from keyprov.workshop.journal import Ledger
from keyprov.workshop.keynames import NameMode, NamingPolicy

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


def sandbox_env(sandbox: Sandbox, management_key: str, **extra: str) -> dict[str, str]:
    """The environment that points `keyprov` at this sandbox with this management key."""
    return {
        "OPENROUTER_PROVISIONING_KEY": management_key,
        "OPENROUTER_BASE_URL": sandbox.base_url,
        **extra,
    }


def state_hashes(folder: Path) -> set[str]:
    """Hashes of the keys whose secret the workshop's local state holds."""
    hashes = set()
    for line in (folder / "state.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "created" and record.get("secret"):
            hashes.add(record["hash"])
    return hashes


def keyprov_process_env(env: dict[str, str]) -> dict[str, str]:
    """This environment without the developer's own OPENROUTER_* settings, plus `env`."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("OPENROUTER_")}
    return {**base, **env}


def run_keyprov(
    args: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 120,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `keyprov` entry point in its own process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "keyprov", *args],
        env=keyprov_process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec_fn,
    )


def key_name_in(folder: Path, workshop: str, identity: str) -> str:
    """The key name of `identity` in the workshop whose state is in `folder` (pseudonymous or
    readable, as its state says)."""
    state = folder / "state.jsonl"
    stat = state.stat()
    return _naming_policy(state, stat.st_mtime_ns, stat.st_size).key_name(workshop, identity)


@functools.cache
def _naming_policy(state: Path, _mtime_ns: int, _size: int) -> NamingPolicy:
    # Keyed on the file's stat: tests ask for hundreds of names, and replaying the whole
    # ledger for each made them quadratic; a changed ledger is read again.
    mode, secret = Ledger.open(state).replayed.naming or ("readable", None)
    return NamingPolicy(NameMode(mode), secret)


@dataclass(frozen=True)
class Invocation:
    """What one `keyprov` command did: the same fields as a finished subprocess."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def invoke(args: Sequence[str], *, env: dict[str, str], cwd: Path) -> Invocation:
    """Run `keyprov` in this process, through `main` with its real error boundary.

    The real command, options, output and exit code, without a new interpreter per case
    (the way twine's tests call `twine.__main__.main`). The environment and the working
    folder are the command's own for the call and restored after it. Use `run_keyprov` where
    a process of its own matters: signals, a real terminal, start-up.
    """
    from keyprov.cli import main

    arguments = [str(argument) for argument in args]
    saved_environ, saved_cwd = dict(os.environ), os.getcwd()
    saved_sigterm = signal.getsignal(signal.SIGTERM)
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    environment = keyprov_process_env(env)
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(cwd)
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                main(arguments)
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else int(done.code is not None)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
        signal.signal(signal.SIGTERM, saved_sigterm)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return Invocation(arguments, code, stdout.getvalue(), stderr.getvalue())


class CliWorkshop:
    """A roster in a temporary folder, driven with the real `keyprov` command against the
    sandbox; each command starts with a fresh request log so assertions see only its calls."""

    def __init__(self, sandbox: Sandbox, management_key: str, folder: Path) -> None:
        self.sandbox = sandbox
        self.folder = folder
        self.roster = folder / "ws.csv"
        self.env = sandbox_env(sandbox, management_key)

    def keyprov(self, *args: str) -> Invocation:
        """The real command, in this process (see `invoke`)."""
        self.sandbox.clear_log()
        return invoke(list(args), env=self.env, cwd=self.folder)

    def provision(self, *options: str) -> Invocation:
        return self.keyprov("provision", "ws.csv", *options)

    def provisioned(self, count: int, *options: str) -> None:
        make_roster(self.roster, count)
        done = self.provision(*options)
        assert done.returncode == 0, done.stderr

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.sandbox.request_log if r.method == method]

    def writes(self) -> list[RequestRecord]:
        return [r for r in self.sandbox.request_log if r.method != "GET"]

    def key_name(self, identity: str) -> str:
        """The name the participant's key carries, as this workshop names its keys."""
        return key_name_in(self.folder / "output" / "ws", "ws", identity)

    def key_of(self, email: str) -> dict[str, Any]:
        """The participant's one enabled key on the server."""
        name = self.key_name(email)
        (key,) = [k for k in self.sandbox.keys() if k["name"] == name and not k["disabled"]]
        return key

    def audit_events(self) -> list[str]:
        text = (self.folder / "output" / "ws" / "audit.jsonl").read_text()
        return [json.loads(line)["event"] for line in text.splitlines()]

    def sheet(self) -> list[tuple[Any, ...]]:
        book = load_workbook(self.folder / "output" / "ws" / "keys.xlsx")
        return list(book.active.iter_rows(min_row=2, values_only=True))


def most_at_once(records: list[RequestRecord]) -> int:
    """The most of these requests the sandbox was working on at the same moment."""
    edges = sorted([(r.started, 1) for r in records] + [(r.finished, -1) for r in records])
    return max(itertools.accumulate(step for _, step in edges))


def signalled_mid_way(workshop: CliWorkshop, signum: int, *command: str) -> None:
    """Run `keyprov command` in its own process and send it `signum` once the sandbox has
    answered a few of its PATCHes; it must exit 130."""
    workshop.sandbox.clear_log()
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", *command],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if sum(r.method == "PATCH" for r in workshop.sandbox.request_log) >= 6:
            break
        time.sleep(0.002)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
