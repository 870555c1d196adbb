"""Start-up: `keyprov provision` sends its first request before it imports what it does not
need yet, so a short run is not paid for by the spreadsheet writer, the charts, the PDF, the
SMTP code or the sandbox.

The process itself records what it had imported when it first connected (a `socket.connect`
audit hook): no timing is asserted, only what a start-up pays for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from keyprov.sandbox import Sandbox
from tests.helpers import keyprov_process_env, make_roster, sandbox_env

RECORD_FIRST_CONNECT = """
import json, sys
target = sys.argv.pop(1)
def record(event, args):
    if event == "socket.connect" and not getattr(record, "done", False):
        record.done = True
        with open(target, "w") as handle:
            json.dump(sorted(sys.modules), handle)
sys.addaudithook(record)
from keyprov.cli import main
main()
"""
NOT_BEFORE_THE_FIRST_REQUEST = (
    "openpyxl",
    "matplotlib",
    "keyprov.sandbox",
    "keyprov.delivery",
    "keyprov.handouts",
    "keyprov.lifecycle.charts",
    "smtplib",
    "fpdf",
    "segno",
    "filelock",
    "rich",
    "starlette",
    "uvicorn",
)


def test_provision_connects_before_importing_what_comes_later(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    roster = make_roster(tmp_path / "start.csv", 3)
    modules_file = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RECORD_FIRST_CONNECT, str(modules_file), "provision", str(roster)],
        env=keyprov_process_env(sandbox_env(sandbox, management_key)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(sandbox.keys()) == 3, "the run itself still does all its work"
    imported = json.loads(modules_file.read_text())
    assert "requests" in imported, "the hook fired at the first request"
    early = [
        name
        for name in imported
        if any(name == lazy or name.startswith(lazy + ".") for lazy in NOT_BEFORE_THE_FIRST_REQUEST)
    ]
    assert early == []
