"""`keyprov rename-keys`: a workshop's key names to pseudonyms and back, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from keyprov.workshop.journal import Ledger
from keyprov.workshop.keynames import is_pseudonym, read_about, workshop_prefix
from tests.helpers import CliWorkshop, make_roster

EMAILS = [f"person{i}@example.org" for i in range(6)]


def folder(workshop: CliWorkshop) -> Path:
    return workshop.folder / "output" / "ws"


def server_names(workshop: CliWorkshop) -> list[str]:
    return sorted(key["name"] for key in workshop.sandbox.keys())


def suffixes(workshop: CliWorkshop) -> list[str]:
    prefix = workshop_prefix("ws")
    names = server_names(workshop)
    assert all(name.startswith(prefix) for name in names)
    return [name[len(prefix) :] for name in names]


def naming_in_state(workshop: CliWorkshop) -> tuple[str, str | None] | None:
    return Ledger.open(folder(workshop) / "state.jsonl").replayed.naming


def audit_records(workshop: CliWorkshop, event: str) -> list[dict]:
    lines = (folder(workshop) / "audit.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["event"] == event]


def readable_workshop(workshop: CliWorkshop, count: int = len(EMAILS)) -> None:
    make_roster(workshop.roster, count)
    done = workshop.provision("--key-names", "readable")
    assert done.returncode == 0, done.stderr
    assert sorted(suffixes(workshop)) == sorted(f"person{i}@example.org" for i in range(count))


def test_a_readable_workshop_is_renamed_to_pseudonyms_and_keeps_every_key(
    workshop: CliWorkshop,
) -> None:
    readable_workshop(workshop)
    before = {key["hash"]: key for key in workshop.sandbox.keys()}
    secrets_before = {row[1]: row[2] for row in workshop.sheet()}

    done = workshop.keyprov("rename-keys", "ws.csv")

    assert done.returncode == 0, done.stderr
    assert "ws: 6 keys renamed to pseudonymous names" in done.stdout
    assert all(is_pseudonym(suffix) for suffix in suffixes(workshop))
    assert len(set(suffixes(workshop))) == len(EMAILS), "one name per participant"
    after = {key["hash"]: key for key in workshop.sandbox.keys()}
    assert after.keys() == before.keys(), "the same keys: none made, none deleted"
    assert [r.method for r in workshop.writes()] == ["PATCH"] * len(EMAILS)
    assert all(json.loads(r.body).keys() == {"name"} for r in workshop.writes()), "names only"
    assert {row[1]: row[2] for row in workshop.sheet()} == secrets_before
    # Each participant's key carries the name the workshop now gives them.
    for email in EMAILS:
        assert workshop.key_of(email)["hash"] in before
    mode, secret = naming_in_state(workshop) or ("", None)
    assert mode == "pseudonymous" and secret
    assert read_about(folder(workshop) / "keys.xlsx").naming == ("pseudonymous", secret)
    entries = Ledger.open(folder(workshop) / "state.jsonl").entries()
    assert sorted(entry.key_name for entry in entries) == server_names(workshop)

    rerun = workshop.provision()
    assert rerun.returncode == 0 and workshop.writes() == [], "provision finds every key"
    assert workshop.keyprov("check", "ws.csv").returncode == 0
    again = workshop.keyprov("rename-keys", "ws.csv")
    assert again.returncode == 0 and workshop.writes() == []
    assert "ws: 6 keys of the workshop, every one with pseudonymous names" in again.stdout


def test_the_audit_log_names_a_renamed_key_by_its_hash_never_by_an_email(
    workshop: CliWorkshop,
) -> None:
    readable_workshop(workshop)
    assert workshop.keyprov("rename-keys", "ws.csv").returncode == 0
    renamed = audit_records(workshop, "key_renamed")
    assert {record["hash"] for record in renamed} == {k["hash"] for k in workshop.sandbox.keys()}
    assert all(r["old"] == "readable" and r["new"] == "pseudonymous" for r in renamed)
    assert all(is_pseudonym(r["new_name"].rsplit(":", 1)[1]) for r in renamed)
    assert not any("@" in json.dumps(record) for record in renamed)

    assert workshop.keyprov("rename-keys", "ws.csv", "--to", "readable").returncode == 0
    back = audit_records(workshop, "key_renamed")[len(renamed) :]
    assert len(back) == len(EMAILS) and not any("@" in json.dumps(record) for record in back)


def test_back_to_readable_and_again_to_the_same_pseudonyms(workshop: CliWorkshop) -> None:
    readable_workshop(workshop)
    readable = server_names(workshop)
    assert workshop.keyprov("rename-keys", "ws.csv").returncode == 0
    pseudonymous = server_names(workshop)

    back = workshop.keyprov("rename-keys", "ws.csv", "--to", "readable")

    assert back.returncode == 0, back.stderr
    assert "readable key names carry each participant's email or id to OpenRouter" in back.stderr
    assert server_names(workshop) == readable
    assert naming_in_state(workshop)[0] == "readable"
    assert workshop.provision().returncode == 0 and workshop.writes() == []
    # The secret is kept: pseudonyms again are the same pseudonyms as before.
    assert workshop.keyprov("rename-keys", "ws.csv").returncode == 0
    assert server_names(workshop) == pseudonymous


def test_keys_made_after_a_rename_are_named_the_new_way(workshop: CliWorkshop) -> None:
    readable_workshop(workshop, 2)
    assert workshop.keyprov("rename-keys", "ws.csv").returncode == 0
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0
    assert all(is_pseudonym(suffix) for suffix in suffixes(workshop))

    assert workshop.keyprov("rename-keys", "ws.csv", "--to", "readable").returncode == 0
    make_roster(workshop.roster, 4)
    assert workshop.provision().returncode == 0
    assert sorted(suffixes(workshop)) == [f"person{i}@example.org" for i in range(4)]


def test_replaced_keys_and_keys_of_people_who_left_are_renamed_too(
    workshop: CliWorkshop,
) -> None:
    """A rotated-away key and the key of someone no longer in the roster still carry their
    email on the server: the state says whose they are."""
    readable_workshop(workshop, 3)
    rotated = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert rotated.returncode == 0, rotated.stderr
    make_roster(workshop.roster, 2)  # person2 leaves
    assert len(workshop.sandbox.keys()) == 4

    done = workshop.keyprov("rename-keys", "ws.csv")

    assert done.returncode == 0, done.stderr
    assert not any("@" in name for name in server_names(workshop))
    back = workshop.keyprov("rename-keys", "ws.csv", "--to", "readable")
    assert back.returncode == 0, back.stderr
    assert sorted(suffixes(workshop)) == sorted(
        ["person0@example.org"] * 2 + ["person1@example.org", "person2@example.org"]
    )


def test_a_dry_run_lists_the_renames_and_changes_nothing(workshop: CliWorkshop) -> None:
    readable_workshop(workshop, 3)
    state = (folder(workshop) / "state.jsonl").read_bytes()

    done = workshop.keyprov("rename-keys", "ws.csv", "--dry-run")

    assert done.returncode == 0, done.stderr
    assert "dry run: ws: 3 keys to rename to pseudonymous names" in done.stdout
    assert done.stdout.count("would be renamed readable -> pseudonymous") == 3
    assert workshop.writes() == []
    assert (folder(workshop) / "state.jsonl").read_bytes() == state
    assert all("@" in name for name in server_names(workshop))


def test_a_failed_rename_exits_1_and_the_rerun_finishes(workshop: CliWorkshop) -> None:
    readable_workshop(workshop, 4)
    # A Retry-After longer than keyprov waits: this one PATCH fails, the others go on.
    workshop.sandbox.force(429, count=1, method="PATCH", retry_after="3600")

    done = workshop.keyprov("rename-keys", "ws.csv")

    assert done.returncode == 1
    assert "3 keys renamed" in done.stdout and "1 could not be (FAIL above)" in done.stdout
    assert sum("@" in name for name in server_names(workshop)) == 1
    assert workshop.provision().returncode == 0 and workshop.writes() == [], "half-way: no dup"
    rerun = workshop.keyprov("rename-keys", "ws.csv")
    assert rerun.returncode == 0, rerun.stderr
    assert "1 key renamed" in rerun.stdout and len(workshop.writes()) == 1
    assert not any("@" in name for name in server_names(workshop))


def test_bad_input_exits_2_before_anything_is_sent(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    unknown = workshop.keyprov("rename-keys", "ws.csv")
    assert unknown.returncode == 2 and "workshop" in unknown.stderr
    assert workshop.writes() == []

    readable_workshop(workshop, 2)
    (workshop.folder / "bad.csv").write_text("name,email,limit\nAda,not-an-email,1\n")
    bad = workshop.keyprov("rename-keys", "bad.csv", "--workshop", "ws")
    assert bad.returncode == 2 and "bad.csv, row 2, column 'email'" in bad.stderr
    assert workshop.sandbox.request_log == []
    wrong = workshop.keyprov("rename-keys", "ws.csv", "--to", "secret")
    assert wrong.returncode == 2 and "--to" in wrong.stderr
    assert all("@" in name for name in server_names(workshop))


def test_a_pseudonym_nobody_known_has_is_left_alone_and_blocks_only_readable(
    workshop: CliWorkshop,
) -> None:
    """A key whose pseudonym no participant of the roster or the state gives (made under
    another secret, say) holds no personal data: fine for pseudonymous, not for readable."""
    readable_workshop(workshop, 2)
    _, stray = workshop.sandbox.create_key_directly("keyprov:ws:aaaaaaaaaaaaaaaa", limit=1)
    label = stray["label"]

    done = workshop.keyprov("rename-keys", "ws.csv")
    assert done.returncode == 0, done.stderr
    assert f"note: key {label}" in done.stderr and "keeps its pseudonym" in done.stderr
    assert len(workshop.writes()) == 2

    back = workshop.keyprov("rename-keys", "ws.csv", "--to", "readable")
    assert back.returncode == 1
    assert f"FAIL: key {label}" in back.stderr and "Give the roster" in back.stderr
    assert sum("@" in name for name in server_names(workshop)) == 2
    assert "keyprov:ws:aaaaaaaaaaaaaaaa" in server_names(workshop)
