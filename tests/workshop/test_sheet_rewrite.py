"""keys.xlsx is written again only when what it would hold changed (or the file did).

Building it takes over a second at 10,000 participants, so a rerun that changed nothing keeps
the file it finds, provided that file is the one the state says it wrote from the same rows.
Anything else (a row's status, a name, the file edited or opened to others) rewrites it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from tests.helpers import CliWorkshop, make_roster, write_csv


def keys_file(workshop: CliWorkshop) -> Path:
    return workshop.folder / "output" / "ws" / "keys.xlsx"


def written(workshop: CliWorkshop) -> tuple[int, int]:
    """Which file keys.xlsx is: every write replaces it with a new one (atomically)."""
    status = keys_file(workshop).stat()
    return status.st_ino, status.st_mtime_ns


def sheet_records(workshop: CliWorkshop) -> list[dict[str, str]]:
    lines = (workshop.folder / "output" / "ws" / "state.jsonl").read_text().splitlines()
    return [record for line in lines if (record := json.loads(line))["event"] == "sheet"]


def provisioned(workshop: CliWorkshop, count: int = 4) -> tuple[int, int]:
    workshop.provisioned(count)
    return written(workshop)


def test_a_rerun_that_changes_nothing_keeps_keys_xlsx(workshop: CliWorkshop) -> None:
    before = provisioned(workshop)
    rows = workshop.sheet()

    done = workshop.provision()

    assert done.returncode == 0, done.stderr
    assert written(workshop) == before, "the very file the first run wrote"
    assert workshop.sheet() == rows
    # The state still vouches for the file, so the next run need not read it back either.
    (record,) = sheet_records(workshop)
    assert record["content"]
    assert workshop.provision().returncode == 0
    assert written(workshop) == before


def test_a_new_participant_rewrites_keys_xlsx(workshop: CliWorkshop) -> None:
    before = provisioned(workshop)
    make_roster(workshop.roster, 5)
    assert workshop.provision().returncode == 0
    assert written(workshop) != before
    assert len(workshop.sheet()) == 5


def test_a_changed_limit_rewrites_keys_xlsx(workshop: CliWorkshop) -> None:
    before = provisioned(workshop, 2)
    rows = [("Person 0", "person0@example.org", 3), ("Person 1", "person1@example.org", 1)]
    write_csv(workshop.roster, ("name", "email", "limit"), rows)
    assert workshop.provision().returncode == 0
    assert written(workshop) != before
    assert {row[1]: row[3] for row in workshop.sheet()} == {
        "person0@example.org": 3,
        "person1@example.org": 1,
    }


def test_a_participant_who_left_the_roster_rewrites_keys_xlsx(workshop: CliWorkshop) -> None:
    before = provisioned(workshop, 3)
    make_roster(workshop.roster, 2)
    assert workshop.provision().returncode == 0
    assert written(workshop) != before
    assert "not in roster" in workshop.sheet()[-1][7]


def test_a_status_changed_on_the_server_rewrites_keys_xlsx(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    before = provisioned(workshop, 2)
    key = workshop.key_of("person1@example.org")
    client.update_key(key["hash"], disabled=True)

    assert workshop.provision().returncode == 1
    assert written(workshop) != before
    statuses = {row[1]: row[7] for row in workshop.sheet()}
    assert statuses["person0@example.org"] != statuses["person1@example.org"]


def test_an_edited_keys_xlsx_is_rewritten(workshop: CliWorkshop) -> None:
    provisioned(workshop)
    rows = workshop.sheet()
    path = keys_file(workshop)
    path.write_bytes(path.read_bytes() + b"\0")  # not the file the state says it wrote

    assert workshop.provision().returncode == 0
    assert workshop.sheet() == rows


def test_a_keys_xlsx_opened_to_others_is_rewritten_private(workshop: CliWorkshop) -> None:
    before = provisioned(workshop)
    os.chmod(keys_file(workshop), 0o644)

    assert workshop.provision().returncode == 0
    assert written(workshop) != before
    assert keys_file(workshop).stat().st_mode & 0o777 == 0o600


def test_a_state_from_before_the_content_digest_rewrites_keys_xlsx_once(
    workshop: CliWorkshop,
) -> None:
    before = provisioned(workshop)
    state = workshop.folder / "output" / "ws" / "state.jsonl"
    records = [json.loads(line) for line in state.read_text().splitlines()]
    for record in records:
        record.pop("content", None)  # as an older keyprov wrote its sheet record
    state.write_text("".join(json.dumps(record) + "\n" for record in records))

    assert workshop.provision().returncode == 0
    once = written(workshop)
    assert once != before
    assert workshop.provision().returncode == 0
    assert written(workshop) == once
