"""A damaged or older record never deletes a key somebody holds (issue 28).

A record of state.jsonl that lost what it needs is recovered from keys.xlsx, checked against
the server, or stops the run naming the file; a restored older folder never takes a handed-out
key for an undelivered one; recovery finds each secret's key wherever its row is.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from keyprov.sandbox import Faults, Sandbox
from keyprov.workshop.journal import Ledger
from tests.helpers import CliWorkshop, keyprov_process_env, make_roster


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path) -> CliWorkshop:
    return CliWorkshop(sandbox, management_key, tmp_path)


def folder_of(workshop: CliWorkshop) -> Path:
    return workshop.folder / "output" / "ws"


def secrets_in_sheet(workshop: CliWorkshop) -> dict[str, str]:
    return {str(row[1]): str(row[2]) for row in workshop.sheet() if row[2]}


def one_enabled_key_each(workshop: CliWorkshop, emails: list[str]) -> dict[str, dict[str, Any]]:
    """Each participant's one key: every key on the server is enabled, one per participant."""
    keys = workshop.sandbox.keys()
    assert all(not key["disabled"] for key in keys)
    by_email = {email: workshop.key_of(email) for email in emails}
    assert len(keys) == len(emails)
    return by_email


def damage(state: Path, identity: str, change: Callable[[dict[str, Any]], None]) -> None:
    lines = state.read_text().splitlines()
    for index, line in enumerate(lines):
        record = json.loads(line)
        if record.get("identity") == identity and record["event"] == "created":
            change(record)
            lines[index] = json.dumps(record)
            break
    else:
        raise AssertionError("no created record to damage")
    state.write_text("\n".join(lines) + "\n")


def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.pop(field)


def _set(field: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.__setitem__(field, value)


def _one_character_changed(record: dict[str, Any]) -> None:
    secret = record["secret"]
    middle = len(secret) // 2
    record["secret"] = (
        secret[:middle] + ("0" if secret[middle] != "0" else "1") + secret[middle + 1 :]
    )


def _wrong_hash(record: dict[str, Any]) -> None:
    record["hash"] = "f" * 64


DAMAGES = {
    "no hash": _drop("hash"),
    "no secret": _drop("secret"),
    "null secret": _set("secret", None),
    "no key_name": _drop("key_name"),
    "turned into an intent": _set("event", "intent"),
    "hash of another type": _set("hash", 12345),
    "one character of the secret changed": _one_character_changed,
    "a wrong hash": _wrong_hash,
}


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_record_never_erases_deletes_or_duplicates(
    workshop: CliWorkshop, kind: str
) -> None:
    emails = [f"person{i}@example.org" for i in range(3)]
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0
    handed_out = secrets_in_sheet(workshop)
    keys = one_enabled_key_each(workshop, emails)
    damage(folder_of(workshop) / "state.jsonl", "person1@example.org", DAMAGES[kind])

    runs = [workshop.provision() for _ in range(3)]

    for done in runs:
        assert done.returncode == 0, done.stdout + done.stderr
    assert workshop.calls("DELETE") == [] and workshop.calls("POST") == []
    assert one_enabled_key_each(workshop, emails) == keys, "the very keys, all enabled"
    assert secrets_in_sheet(workshop) == handed_out, "keys.xlsx still holds every secret"
    state = (folder_of(workshop) / "state.jsonl").read_text()
    assert all(secret in state for secret in handed_out.values()), "no secret compacted away"


def test_a_damaged_record_nothing_repairs_stops_the_run_naming_the_file(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0
    state = folder_of(workshop) / "state.jsonl"
    damage(state, "person1@example.org", _drop("secret"))
    (folder_of(workshop) / "keys.xlsx").unlink()  # and no other file holds the secret
    keys = workshop.sandbox.keys()

    for _ in range(2):
        done = workshop.provision()
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{state}: the record of participant person1@example.org is damaged" in (done.stderr)
        assert workshop.writes() == []
    assert workshop.sandbox.keys() == keys
    assert not (folder_of(workshop) / "keys.xlsx").exists()
    text = state.read_text()
    assert all(key["hash"] in text for key in keys), "no record compacted away"


def test_a_restored_older_folder_never_deletes_a_handed_out_key(workshop: CliWorkshop) -> None:
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
    backup = workshop.folder / "backup"
    in_flight: list = []
    deadline = time.monotonic() + 60
    while not in_flight and time.monotonic() < deadline and run.poll() is None:
        if sum(r.method == "POST" for r in workshop.sandbox.request_log) >= 10:
            shutil.rmtree(backup, ignore_errors=True)
            shutil.copytree(folder_of(workshop), backup)  # rsync at night, mid-run
            in_flight = [e for e in Ledger.open(backup / "state.jsonl").entries() if e.pending]
        time.sleep(0.005)
    assert in_flight, "the copy holds intents of creates whose keys are handed out since"
    assert run.wait(timeout=120) == 0
    workshop.sandbox.faults = Faults()
    printed = secrets_in_sheet(workshop)  # handouts printed from these
    assert len(printed) == 30

    shutil.rmtree(folder_of(workshop))
    shutil.copytree(backup, folder_of(workshop))  # the instructor restores the backup
    done = workshop.provision()

    assert workshop.calls("DELETE") == [], "no handed-out key is taken for an undelivered one"
    assert workshop.calls("POST") == []
    on_server = {key["hash"] for key in workshop.sandbox.keys() if not key["disabled"]}
    assert len(on_server) == 30
    kept = secrets_in_sheet(workshop)
    assert all(printed[email] == secret for email, secret in kept.items())
    assert len(kept) <= 30 - len(in_flight)
    assert done.returncode == 1, done.stdout + done.stderr
    lost = re.search(r"(\d+) secret lost", done.stdout)
    assert lost and int(lost.group(1)) == 30 - len(kept) >= len(in_flight), done.stdout
    assert "keyprov rotate ws.csv --participant" in done.stdout + done.stderr


def test_swapped_key_cells_are_matched_to_their_keys(workshop: CliWorkshop) -> None:
    emails = [f"person{i}@example.org" for i in range(4)]
    make_roster(workshop.roster, 4)
    assert workshop.provision().returncode == 0
    handed_out = secrets_in_sheet(workshop)
    path = folder_of(workshop) / "keys.xlsx"
    book = load_workbook(path)
    sheet = book.active
    sheet["C2"], sheet["C3"] = sheet["C3"].value, sheet["C2"].value  # sorted on one column
    book.save(path)
    (folder_of(workshop) / "state.jsonl").unlink()

    done = workshop.provision()

    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr and "keyprov.recovery" not in done.stderr
    assert workshop.writes() == []
    one_enabled_key_each(workshop, emails)
    assert secrets_in_sheet(workshop) == handed_out, "each secret back on its own row"


@pytest.mark.parametrize("command", [("provision", "ws.csv"), ("check", "ws.csv")])
def test_a_secret_recovery_cannot_place_is_a_warning_line_in_every_command(
    workshop: CliWorkshop, command: tuple[str, ...]
) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision().returncode == 0
    path = folder_of(workshop) / "keys.xlsx"
    book = load_workbook(path)
    book.active["C2"] = "sk-or-v1-" + "0" * 64  # pasted over: opens no key of the workshop
    book.save(path)
    (folder_of(workshop) / "state.jsonl").unlink()

    done = workshop.keyprov(*command)

    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "warning: keys.xlsx: the API key on the row of person0@example.org opens no key of "
        "this workshop that keyprov can tell; it was not taken back"
    ) in done.stderr.splitlines()
    assert "WARNING" not in done.stderr and "keyprov." not in done.stderr
    assert workshop.calls("POST") == []
