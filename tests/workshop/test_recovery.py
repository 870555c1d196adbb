"""A secret, once written, is never erased by a later run: keys.xlsx gives back what the
local state lost (deleted, cut short, restored from an older copy)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from keyprov.sandbox import Faults
from tests.helpers import CliWorkshop, keyprov_process_env, make_roster


def secrets_in_sheet(workshop: CliWorkshop) -> dict[str, str]:
    return {str(row[1]): str(row[2]) for row in workshop.sheet() if row[2]}


def state_path(workshop: CliWorkshop) -> Path:
    return workshop.folder / "output" / "ws" / "state.jsonl"


def test_a_deleted_state_is_rebuilt_from_keys_xlsx(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 5)
    assert workshop.provision().returncode == 0
    before = secrets_in_sheet(workshop)
    state_path(workshop).unlink()

    done = workshop.provision()
    assert done.returncode == 0, done.stderr
    assert workshop.writes() == [], "nothing created, nothing deleted"
    assert secrets_in_sheet(workshop) == before
    assert "present" in done.stdout
    text = state_path(workshop).read_text()
    assert all(secret in text for secret in before.values()), "the state holds them again"
    assert "recovered" in workshop.audit_events()


def test_a_torn_last_record_loses_no_secret(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0
    before = secrets_in_sheet(workshop)
    path = state_path(workshop)
    data = path.read_bytes()
    # Cut the journal inside its last participant record (the sheet digest follows it).
    sheet_line = data.rfind(b'{"at"', 0, data.rfind(b'"event":"sheet"'))
    last_created = data.rfind(b'{"at"', 0, sheet_line)
    path.write_bytes(data[: last_created + 40])

    done = workshop.provision()
    assert done.returncode == 0, done.stderr
    assert workshop.writes() == []
    assert secrets_in_sheet(workshop) == before


def test_a_state_restored_from_a_copy_taken_mid_run_deletes_nothing_handed_out(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 5)
    assert workshop.provision().returncode == 0
    make_roster(workshop.roster, 30)
    workshop.sandbox.clear_log()
    workshop.sandbox.faults = Faults(latency=0.1)
    run = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--concurrency", "4"],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(r.method == "POST" for r in workshop.sandbox.request_log) >= 10:
            break
        time.sleep(0.005)
    copy = workshop.folder / "state-copy.jsonl"
    shutil.copy(state_path(workshop), copy)  # intents of creates in flight, some done
    assert run.wait(timeout=120) == 0
    workshop.sandbox.faults = Faults()
    handed_out = secrets_in_sheet(workshop)
    assert len(handed_out) == 30

    shutil.copy(copy, state_path(workshop))  # the instructor restores the backup
    done = workshop.provision()
    assert done.returncode == 0, done.stderr
    assert workshop.calls("DELETE") == [], "no handed-out key is taken for an undelivered one"
    assert workshop.calls("POST") == []
    assert secrets_in_sheet(workshop) == handed_out
    assert len(workshop.sandbox.keys()) == 30


def test_a_sheet_row_that_does_not_match_its_key_is_not_taken_back(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision().returncode == 0
    state_path(workshop).unlink()
    # Someone pasted another string into the sheet: its label does not match the key.
    from openpyxl import load_workbook

    sheet_path = workshop.folder / "output" / "ws" / "keys.xlsx"
    book = load_workbook(sheet_path)
    book.active["C2"] = "sk-or-v1-" + "0" * 64
    book.save(sheet_path)

    done = workshop.provision()
    assert done.returncode == 1, "one participant's key is there without a secret we trust"
    assert "secret lost" in done.stderr
    assert workshop.calls("POST") == [], "never duplicated"
