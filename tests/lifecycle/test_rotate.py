"""rotate: a successor never doubles a budget; --all; a key whose secret was lost."""

from __future__ import annotations

import hashlib
import json

from keyprov.api.client import OpenRouterClient
from tests.helpers import CliWorkshop, make_roster, write_csv


def rotate(workshop: CliWorkshop, *options: str) -> str:
    done = workshop.keyprov("rotate", "ws.csv", *options, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_successor_gets_what_was_left_not_a_second_budget(workshop: CliWorkshop) -> None:
    write_csv(workshop.roster, ("name", "email", "limit"), [("Ada", "ada@example.org", 4)])
    assert workshop.provision().returncode == 0
    workshop.sandbox.set_usage(workshop.key_of("ada@example.org")["hash"], usage=3)

    out = rotate(workshop, "--participant", "ada@example.org")
    successor = workshop.key_of("ada@example.org")
    assert successor["limit"] == 1 and successor["limit_remaining"] == 1
    assert "limit 1.00 USD (4.00 less 3.00 spent so far; --full-limit for the whole limit)" in out

    rerun = workshop.provision()
    assert rerun.returncode == 0 and workshop.writes() == [], "the carried limit is kept"
    assert workshop.keyprov("check", "ws.csv").returncode == 0, "check expects it too"


def test_a_reset_limit_carries_only_the_windows_spend(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 1, limit=2)
    assert workshop.provision("--limit-reset", "monthly").returncode == 0
    old = workshop.key_of("person0@example.org")
    workshop.sandbox.set_usage(old["hash"], usage=9, monthly=0.5)

    out = rotate(workshop, "--participant", "person0@example.org")
    successor = workshop.key_of("person0@example.org")
    assert (successor["limit"], successor["limit_reset"]) == (1.5, "monthly")
    cut = (
        "2.00 USD per month; 1.50 USD left this month (0.50 spent on the old key), the whole "
        "2.00 again from next month"
    )
    assert cut in out
    assert workshop.provision("--limit-reset", "monthly").returncode == 0
    assert workshop.writes() == []


def test_full_limit_gives_the_whole_limit_and_an_overspent_key_a_token_one(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 2, limit=4)
    assert workshop.provision().returncode == 0
    workshop.sandbox.set_usage(workshop.key_of("person0@example.org")["hash"], usage=3)
    workshop.sandbox.set_usage(workshop.key_of("person1@example.org")["hash"], usage=4.5)

    rotate(workshop, "--participant", "person0@example.org", "--full-limit")
    rotate(workshop, "--participant", "person1@example.org")
    assert workshop.key_of("person0@example.org")["limit"] == 4
    assert workshop.key_of("person1@example.org")["limit"] == 0.01


def test_rotate_all_replaces_every_enabled_key_of_the_roster(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    make_roster(workshop.roster, 4)
    assert workshop.provision().returncode == 0
    client.update_key(workshop.key_of("person1@example.org")["hash"], disabled=True)
    make_roster(workshop.roster, 3)  # person3 left the roster
    assert workshop.provision().returncode == 1, "person1's key is disabled"
    before = {k["hash"] for k in workshop.sandbox.keys()}

    out = rotate(workshop, "--all")
    assert len(workshop.calls("POST")) == 2, out
    for email in ("person0@example.org", "person2@example.org"):
        assert workshop.key_of(email)["hash"] not in before
    gone_or_off = ("person1@example.org", "person3@example.org")
    gone_or_off_names = {workshop.key_name(email) for email in gone_or_off}
    for key in workshop.sandbox.keys():
        if key["name"] in gone_or_off_names:
            assert key["hash"] in before, "a disabled key, or one of someone gone, is left alone"
    assert not next(
        k for k in workshop.sandbox.keys() if k["name"] == workshop.key_name("person3@example.org")
    )["disabled"]
    statuses = {row[1]: row[7] for row in workshop.sheet()}
    # The key it replaced never reached person0: the new one is simply theirs to hand out.
    assert statuses["person0@example.org"] == "new"
    assert statuses["person1@example.org"] == "disabled"


def test_all_and_participant_are_one_or_the_other(workshop: CliWorkshop) -> None:
    workshop.provisioned(1)
    for options in ((), ("--all", "--participant", "person0@example.org")):
        done = workshop.keyprov("rotate", "ws.csv", *options, "--yes")
        assert done.returncode == 2 and "give --participant EMAIL" in done.stderr
    assert workshop.sandbox.request_log == []


def forget(workshop: CliWorkshop, identity: str) -> None:
    """The state loses a participant (and keys.xlsx, which could give it back, is gone)."""
    folder = workshop.folder / "output" / "ws"
    state = folder / "state.jsonl"
    kept = [
        line
        for line in state.read_text().splitlines()
        if json.loads(line).get("identity") != identity
    ]
    state.write_text("".join(f"{line}\n" for line in kept))
    (folder / "keys.xlsx").unlink()


def test_a_key_whose_secret_was_lost_is_replaced_by_rotate(workshop: CliWorkshop) -> None:
    write_csv(
        workshop.roster,
        ("name", "email", "limit"),
        [("Ada Lovelace", "ada@example.org", 3), ("Bob", "bob@example.org", 3)],
    )
    assert workshop.provision().returncode == 0
    orphan = workshop.key_of("ada@example.org")
    workshop.sandbox.set_usage(orphan["hash"], usage=1)
    forget(workshop, "ada@example.org")

    lost = workshop.provision()
    assert lost.returncode == 1
    command = "keyprov rotate ws.csv --participant ada@example.org"
    assert command in lost.stderr, lost.stderr
    dry = workshop.provision("--dry-run")
    assert command in dry.stdout

    out = rotate(workshop, *command.split()[3:])
    assert "(its secret was lost) disabled" in out
    successor = workshop.key_of("ada@example.org")
    assert successor["hash"] != orphan["hash"] and successor["limit"] == 2
    assert next(k for k in workshop.sandbox.keys() if k["hash"] == orphan["hash"])["disabled"]
    row = next(r for r in workshop.sheet() if r[1] == "ada@example.org")
    assert row[0] == "Ada Lovelace" and row[7] == "new", "the lost key never reached her"
    assert hashlib.sha256(row[2].encode()).hexdigest() == successor["hash"]

    rerun = workshop.provision()
    assert rerun.returncode == 0, rerun.stderr
    assert workshop.writes() == []


def test_rotate_all_gives_everyone_a_new_key_when_state_and_sheet_are_lost(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 3)
    # Readable names: with pseudonyms and both files lost, nothing says whose each key is
    # (tests/test_rerun.py: keyprov then stops).
    assert workshop.provision("--key-names", "readable").returncode == 0
    orphans = {k["hash"] for k in workshop.sandbox.keys()}
    (workshop.folder / "output" / "ws" / "state.jsonl").unlink()
    (workshop.folder / "output" / "ws" / "keys.xlsx").unlink()

    out = rotate(workshop, "--all")
    assert out.count("(its secret was lost) disabled") == 3
    assert all(k["disabled"] for k in workshop.sandbox.keys() if k["hash"] in orphans)
    assert sorted(row[0] for row in workshop.sheet()) == ["Person 0", "Person 1", "Person 2"]
    assert workshop.provision().returncode == 0 and workshop.writes() == []
