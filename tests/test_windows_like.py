"""The whole flow in a Python without what Windows lacks (tests/windows_like.py): provision,
check, handouts, send, report and revoke each exit 0 and do their work, names in any script
are printed through a code page that has none of them, and nothing needed fcntl, resource,
termios, pwd, grp, os.pread, os.pwrite, os.fchmod or a folder opened as a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

from keyprov.sandbox import Sandbox
from tests.helpers import REPO, keyprov_process_env, sandbox_env, write_csv
from tests.smtp import LoopbackController, Mailbox

BOOTSTRAP = REPO / "tests" / "windows_like.py"
NAMES = ("Anna Bērziņa", "Jūratė Kazlauskienė", "山田 太郎")

PROBE = f"""
import os, sys
sys.path.insert(0, {str(BOOTSTRAP.parent)!r})
import windows_like
windows_like.become_windows_like()
missing = []
for name in ("fcntl", "resource", "termios", "pwd", "grp"):
    try:
        __import__(name)
    except ModuleNotFoundError:
        missing.append(name)
missing += [name for name in ("pread", "pwrite", "fchmod") if not hasattr(os, name)]
try:
    os.open(".", os.O_RDONLY)
except PermissionError:
    missing.append("folder")
print(" ".join(missing))
"""


def windows_like(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BOOTSTRAP), *args],
        env=keyprov_process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="cp1252",
        errors="replace",
        timeout=180,
        check=False,
    )


def test_the_bootstrap_takes_away_what_windows_lacks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == [
        *("fcntl", "resource", "termios", "pwd", "grp"),
        *("pread", "pwrite", "fchmod", "folder"),
    ]


def test_the_whole_flow_runs_without_posix_only_modules_and_calls(
    sandbox: Sandbox,
    management_key: str,
    smtp_server: LoopbackController,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    emails = [f"person{index}@example.org" for index in range(len(NAMES))]
    write_csv(tmp_path / "ws.csv", ("name", "email"), list(zip(NAMES, emails, strict=True)))
    env = sandbox_env(
        sandbox,
        management_key,
        KEYPROV_SMTP_HOST="127.0.0.1",
        KEYPROV_SMTP_PORT=str(smtp_server.port),
        KEYPROV_SMTP_SECURITY="plain",
        KEYPROV_SMTP_FROM="Workshop team <team@example.org>",
        # Output to a pipe is in the code page on Windows: one without these names.
        PYTHONIOENCODING="cp1252",
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        done = windows_like(list(args), env, tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    provisioned = run("provision", "ws.csv", "--limit", "1", "--list")
    assert "Anna B\\u0113rzi\\u0146a" in provisioned.stdout  # written, not raised on
    assert len(sandbox.keys()) == 3

    assert "READY" in run("check", "ws.csv").stdout
    folder = tmp_path / "output" / "ws"
    run("handouts", "ws.csv")
    assert (folder / "handouts.pdf").read_bytes().startswith(b"%PDF")
    merged = (folder / "mail-merge.csv").read_text(encoding="utf-8-sig")
    assert all(name in merged for name in NAMES)

    run("send", "ws.csv", "--rate", "600000")
    assert sorted(address for item in mailbox.received for address in item.envelope_to) == emails
    keys = {item.envelope_to[0]: item.keys for item in mailbox.received}
    assert all(len(found) == 1 for found in keys.values())
    assert len(set().union(*keys.values())) == 3, "each their own key"

    sandbox.spend(usage=0.25)
    run("report", "ws.csv")
    report = load_workbook(folder / "report.xlsx", read_only=True)
    assert report.worksheets[0].max_row >= 4
    report.close()

    run("revoke", "ws.csv", "--yes")
    assert [key["disabled"] for key in sandbox.keys()] == [True, True, True]
