"""Rerun safety: the roster is the desired state; never a duplicate, never a lost key.

Every run here is the real `keyprov` command in its own process against the sandbox; the
assertions read the sandbox's own request log and key store.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from keyprov.api.client import OpenRouterClient
from keyprov.workshop.locate import account_label
from keyprov.workshop.registry import Registry
from tests.helpers import (
    CliWorkshop,
    keyprov_process_env,
    make_roster,
    run_keyprov,
    write_csv,
)


def dry_run(workshop: CliWorkshop) -> dict[str, str]:
    done = workshop.provision("--dry-run")
    assert done.returncode == 0, done.stderr
    assert workshop.writes() == [], "a dry run changes nothing"
    return parse_plan(done.stdout)


def parse_plan(text: str) -> dict[str, str]:
    counts = dict(re.findall(r"^  ([a-z ,]+):\s+(\d+)", text, flags=re.MULTILINE))
    counts.pop("credits left", None)  # shown only when keys are to be created
    budget = re.search(r"new budget (\d+\.\d\d) USD", text)
    assert budget is not None, text
    counts["new budget"] = budget.group(1)
    return counts


def expect_plan(plan: dict[str, str], **expected: int | str) -> None:
    names = {
        "create": "keys to create",
        "change": "limits to change",
        "unchanged": "present and unchanged",
        "disabled": "disabled on the server",
        "lost": "on server, secret lost",
        "extra": "with extra keys",
        "gone": "keys not in the roster",
        "budget": "new budget",
    }
    defaults: dict[str, int | str] = {name: 0 for name in names}
    defaults["budget"] = "0.00"
    wanted = {names[key]: str(value) for key, value in {**defaults, **expected}.items()}
    assert plan == wanted


def test_first_run_dry_run_then_run(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 4, limit=1.25)
    expect_plan(dry_run(workshop), create=4, budget="5.00")
    assert "credits left:            1000.00 USD (enough)" in workshop.provision("--dry-run").stdout
    assert workshop.sandbox.keys() == []
    assert not (workshop.folder / "output" / "ws").exists(), "a dry run writes no file"

    assert workshop.provision().returncode == 0
    assert len(workshop.calls("POST")) == 4


def test_no_op_rerun_makes_no_create_and_no_patch(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 6)
    assert workshop.provision().returncode == 0
    expect_plan(dry_run(workshop), unchanged=6)

    done = workshop.provision()
    assert done.returncode == 0
    assert workshop.calls("POST") == [] and workshop.calls("PATCH") == []
    assert "6 present" in done.stdout


def test_adding_five_rows_creates_exactly_five_keys(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 10)
    assert workshop.provision().returncode == 0
    make_roster(workshop.roster, 15, limit=2)
    expect_plan(dry_run(workshop), create=5, change=10, budget="10.00")
    make_roster(workshop.roster, 15, limit=1)
    expect_plan(dry_run(workshop), create=5, unchanged=10, budget="5.00")

    assert workshop.provision().returncode == 0
    assert len(workshop.calls("POST")) == 5 and workshop.calls("PATCH") == []
    assert len(workshop.sandbox.keys()) == 15


def test_changing_one_limit_makes_exactly_one_patch(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 5)
    assert workshop.provision().returncode == 0
    rows = [(f"Person {i}", f"person{i}@example.org", 3 if i == 2 else 1) for i in range(5)]
    write_csv(workshop.roster, ("name", "email", "limit"), rows)
    expect_plan(dry_run(workshop), change=1, unchanged=4)

    assert workshop.provision().returncode == 0
    (patch,) = workshop.calls("PATCH")
    assert workshop.calls("POST") == []
    key = next(
        k for k in workshop.sandbox.keys() if k["name"] == workshop.key_name("person2@example.org")
    )
    assert patch.path.endswith(key["hash"]) and key["limit"] == 3


def test_a_removed_row_is_reported_and_disabled_only_with_prune(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 5)
    assert workshop.provision().returncode == 0
    make_roster(workshop.roster, 4)  # person4 leaves
    expect_plan(dry_run(workshop), unchanged=4, gone=1)

    done = workshop.provision()
    assert done.returncode == 0 and workshop.calls("PATCH") == []
    assert "no longer in the roster; --prune disables them" in done.stderr

    done = workshop.provision("--prune")
    assert done.returncode == 0
    (patch,) = workshop.calls("PATCH")
    gone = next(
        k for k in workshop.sandbox.keys() if k["name"] == workshop.key_name("person4@example.org")
    )
    assert patch.path.endswith(gone["hash"]) and gone["disabled"]
    assert [k for k in workshop.sandbox.keys() if k["disabled"]] == [gone]
    assert workshop.calls("DELETE") == [], "pruning disables, never deletes"


def test_keys_xlsx_keeps_the_row_of_a_participant_who_left_the_roster(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0
    secret_of = {row[1]: row[2] for row in workshop.sheet()}
    make_roster(workshop.roster, 2)  # person2 leaves
    assert workshop.provision().returncode == 0

    def row_of(email: str) -> tuple[object, ...]:
        (row,) = [row for row in workshop.sheet() if row[1] == email]
        return row

    left = row_of("person2@example.org")
    assert left[2] == secret_of["person2@example.org"], "its paid-for key is not forgotten"
    assert str(left[-1]).startswith("not in roster")
    # Any later command that rebuilds keys.xlsx keeps saying so.
    done = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert done.returncode == 0, done.stderr
    assert str(row_of("person2@example.org")[-1]).startswith("not in roster")
    assert len(workshop.sheet()) == 3


def test_lost_state_and_sheet_create_no_duplicate_and_name_the_participants(
    workshop: CliWorkshop,
) -> None:
    """Readable key names say whose each key is: every participant is named, none doubled."""
    make_roster(workshop.roster, 3)
    assert workshop.provision("--key-names", "readable").returncode == 0
    # Both files that held the secrets are gone (keys.xlsx alone gives them back:
    # tests/test_recovery.py).
    (workshop.folder / "output" / "ws" / "state.jsonl").unlink()
    (workshop.folder / "output" / "ws" / "keys.xlsx").unlink()
    expect_plan(dry_run(workshop), lost=3)

    done = workshop.provision()
    assert done.returncode == 1
    assert workshop.calls("POST") == []
    assert len(workshop.sandbox.keys()) == 3
    for i in range(3):
        assert f"person{i}@example.org" in done.stderr and "secret lost" in done.stderr


def test_lost_state_and_sheet_of_a_pseudonymous_workshop_create_nothing(
    workshop: CliWorkshop,
) -> None:
    """Without the secret, nobody can tell whose key a pseudonym is: keyprov stops and says
    which file gives it back."""
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0
    (workshop.folder / "output" / "ws" / "state.jsonl").unlink()
    (workshop.folder / "output" / "ws" / "keys.xlsx").unlink()
    done = workshop.provision()
    assert done.returncode == 2
    assert "secret that makes them is in neither state.jsonl nor keys.xlsx" in done.stderr
    assert workshop.writes() == [] and len(workshop.sandbox.keys()) == 3


def test_a_key_disabled_on_the_server_is_reenabled_only_on_request(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision().returncode == 0
    key = workshop.sandbox.keys()[0]
    client.update_key(key["hash"], disabled=True)  # as an instructor might in the dashboard
    expect_plan(dry_run(workshop), unchanged=1, disabled=1)

    done = workshop.provision()
    assert done.returncode == 1 and workshop.calls("PATCH") == []
    assert "--reenable" in done.stderr

    assert workshop.provision("--reenable").returncode == 0
    assert len(workshop.calls("PATCH")) == 1
    assert not next(k for k in workshop.sandbox.keys() if k["hash"] == key["hash"])["disabled"]


def test_a_second_key_for_a_participant_is_reported_and_pruned(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision().returncode == 0
    _, extra = workshop.sandbox.create_key_directly("keyprov:ws:person0@example.org", limit=1)
    expect_plan(dry_run(workshop), unchanged=2, extra=1)

    done = workshop.provision()
    assert done.returncode == 1 and workshop.calls("POST") == []
    assert "person0@example.org: has extra keys" in done.stderr

    assert workshop.provision("--prune").returncode == 0
    (patch,) = workshop.calls("PATCH")
    assert patch.path.endswith(extra["hash"])
    enabled = [k for k in workshop.sandbox.keys() if not k["disabled"]]
    assert len(enabled) == 2 and extra["hash"] not in {k["hash"] for k in enabled}


def test_an_overlapping_run_exits_2_and_changes_nothing(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    make_roster(workshop.roster, 2)
    account = account_label(client)
    with Registry.default().lock("ws", account):
        done = workshop.provision()
    assert done.returncode == 2
    assert "another keyprov run" in done.stderr
    # It only asked which account the key belongs to (the lock is the workshop's and the
    # account's), with the reads that go out alongside (if they left before it exited), and
    # wrote nothing.
    sent = [(r.method, r.path) for r in workshop.sandbox.request_log]
    assert ("GET", "/api/v1/key") in sent
    assert set(sent) <= {
        ("GET", "/api/v1/key"),
        ("GET", "/api/v1/keys"),
        ("GET", "/api/v1/credits"),
    }
    assert len(sent) == len(set(sent)), sent
    assert not (workshop.folder / "output").exists()


def test_of_two_concurrent_runs_one_proceeds_and_the_other_exits_2(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 20)
    # The first run's listing (after it took the lock) is answered after 8 s: it holds the
    # workshop while the second starts and runs.
    workshop.sandbox.force("slow", count=1, method="GET", path_prefix="/keys", seconds=8)
    command = [sys.executable, "-m", "keyprov", "provision", "ws.csv"]
    environment = keyprov_process_env(workshop.env)
    audit = workshop.folder / "output" / "ws" / "audit.jsonl"
    with subprocess.Popen(
        command, cwd=workshop.folder, env=environment, stdout=subprocess.PIPE, text=True
    ) as first:
        while not (audit.exists() and audit.read_text()):  # run_start: it holds the lock
            assert first.poll() is None, first.communicate()
            time.sleep(0.005)
        second = run_keyprov(["provision", "ws.csv"], env=workshop.env, cwd=workshop.folder)
        assert first.poll() is None, "the runs overlapped"
        assert first.wait(timeout=60) == 0

    assert second.returncode == 2
    assert "another keyprov run" in second.stderr
    posts = [record for record in workshop.sandbox.request_log if record.method == "POST"]
    assert len(posts) == len(workshop.sandbox.keys()) == 20, "only the first run created keys"
    runs = {json.loads(line)["run_id"] for line in audit.read_text().splitlines()}
    assert len(runs) == 1, "the second run wrote nothing to the audit log"
    assert len(workshop.sheet()) == 20


def test_credits_preflight_stops_before_creating(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 5, limit=2)
    workshop.sandbox.set_credits(total_credits=10.0, total_usage=1.5)
    done = workshop.provision()
    assert done.returncode == 2
    assert "can spend 10.00 USD but the account has 8.50 USD" in done.stderr
    assert workshop.calls("POST") == []

    assert workshop.provision("--allow-overcommit").returncode == 0
    assert len(workshop.calls("POST")) == 5


def test_unreadable_credits_are_a_warning_not_a_stop(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    workshop.sandbox.force(429, count=1, path_prefix="/credits", retry_after="3600")
    dry = workshop.provision("--dry-run")
    assert dry.returncode == 0
    assert "credits left:         unknown (GET /credits failed)" in dry.stdout

    workshop.sandbox.force(429, count=1, path_prefix="/credits", retry_after="3600")
    done = workshop.provision("--quiet")
    assert done.returncode == 0
    assert "warning: the account's credits could not be read" in done.stderr
    assert len(workshop.calls("POST")) == 3
    assert "credits_unknown" in workshop.audit_events()


def test_quiet_prints_only_the_summary(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    done = workshop.provision("--quiet")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["ws: 3 participants: 3 created"]
    assert done.stderr == ""


def test_a_row_identified_by_email_keeps_its_key_when_its_id_is_filled_in(
    workshop: CliWorkshop,
) -> None:
    """Moodle lists teachers without an ID number: they are known by their email until an
    id is filled in, and then they are the same person, with the same key."""
    header = ("First name", "Last name", "ID number", "Email address")
    rows = [
        ("Ada", "Lovelace", "0201457", "ada@example.org"),
        ("Tess", "Teacher", "", "tess@example.org"),
    ]
    write_csv(workshop.roster, header, rows)
    assert workshop.provision("--limit", "1").returncode == 0
    tess_key = workshop.key_of("tess@example.org")

    write_csv(
        workshop.roster, header, [rows[0], ("Tess", "Teacher", "0999001", "tess@example.org")]
    )
    plan = workshop.provision("--limit", "1", "--dry-run")
    assert "keys to create:                0" in plan.stdout, plan.stdout
    done = workshop.provision("--limit", "1")
    assert done.returncode == 0, done.stderr
    assert workshop.writes() == [], "no new key, no change"
    assert [
        k["hash"]
        for k in workshop.sandbox.keys()
        if k["name"] == workshop.key_name("tess@example.org")
    ] == [tess_key["hash"]]
    again = workshop.provision("--limit", "1")
    assert again.returncode == 0 and workshop.writes() == []
    assert "not in the roster" not in again.stderr
