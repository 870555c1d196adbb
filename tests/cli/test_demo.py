"""`make demo`'s job: the example roster against a sandbox, outputs a user can hand out."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import stat
from pathlib import Path

from openpyxl import load_workbook

from keyprov.cli.demo import run_demo
from keyprov.roster import read_roster
from keyprov.sandbox import DEMO_MANAGEMENT_KEY, Sandbox
from tests.handouts.test_handouts_pdf import page_texts
from tests.helpers import REPO


def test_demo_leaves_live_keys_in_an_owner_only_sheet_and_a_clean_audit_log(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("OPENROUTER_PROVISIONING_KEY", raising=False)
    roster = shutil.copy(REPO / "roster" / "example.csv", tmp_path / "example.csv")
    out = tmp_path / "output"

    assert run_demo(Path(roster), out, limit=1.0) == 0
    assert run_demo(Path(roster), out, limit=1.0) == 0, "a second demo run is a safe rerun"

    keys_xlsx = out / "example" / "keys.xlsx"
    assert stat.S_IMODE(keys_xlsx.stat().st_mode) == 0o600
    rows = list(load_workbook(keys_xlsx).active.iter_rows(min_row=2, values_only=True))
    roster_emails = [p.email for p in read_roster(Path(roster), default_limit=1).participants]
    assert [row[1] for row in rows] == roster_emails

    # The sandbox's persisted state is what it serves after a restart: every key handed out
    # must be live there, and there must be nothing else.
    with Sandbox(DEMO_MANAGEMENT_KEY, state_path=out / ".sandbox-state.json") as sandbox:
        live = {key["hash"] for key in sandbox.keys() if not key["disabled"]}
    handed_out = {hashlib.sha256(str(row[2]).encode()).hexdigest() for row in rows}
    assert handed_out == live

    # The demo also wrote the handouts: each live key on one slip and in one mail-merge row.
    pdf, merge = out / "example" / "handouts.pdf", out / "example" / "mail-merge.csv"
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in (pdf, merge))
    on_slips = re.findall(r"sk-or-v1-[0-9a-f]{64}", "".join(page_texts(pdf)))
    assert sorted(on_slips) == sorted(str(row[2]) for row in rows)
    merged = list(csv.DictReader(io.StringIO(merge.read_text(encoding="utf-8-sig"))))
    assert sorted((r["email"], r["key"]) for r in merged) == sorted((r[1], r[2]) for r in rows)

    audit = (out / "example" / "audit.jsonl").read_text()
    events = [json.loads(line) for line in audit.splitlines()]
    commands = [e["command"] for e in events if e["event"] == "run_start"]
    assert commands == ["provision", "handouts"] * 2
    for row in rows:
        assert str(row[2]) not in audit
    assert re.findall(r"sk-or-v1-[0-9a-f]{16,}", audit) == []
