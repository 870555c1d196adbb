"""Never trust one listing: each way a GET /keys answer can lie, armed for the first listing
of a rerun over a provisioned workshop, must leave one enabled key per participant, every
secret in keys.xlsx, and either a clean recovery or a non-zero exit, never a second key."""

from __future__ import annotations

import pytest

from tests.helpers import CliWorkshop, make_roster

PARTICIPANTS = 150
LISTING_FAULTS = [
    "list_no_data",
    "list_null_data",
    "list_short_page",
    "list_repeat_page",
    "list_missing_key",
    "list_item_without_hash",
    "html_200",
]


@pytest.mark.parametrize("fault", LISTING_FAULTS)
def test_a_lying_listing_never_duplicates_nor_loses_a_key(
    fault: str, workshop: CliWorkshop
) -> None:
    make_roster(workshop.roster, PARTICIPANTS)
    assert workshop.provision("--quiet").returncode == 0
    secrets = {row[1]: row[2] for row in workshop.sheet()}
    assert len(secrets) == PARTICIPANTS

    workshop.sandbox.force(fault, method="GET", path_prefix="/keys")
    done = workshop.provision()

    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert workshop.calls("POST") == [], f"{fault}: nothing is created for who has a key"
    assert workshop.calls("DELETE") == []
    assert " created" not in done.stdout
    enabled = [key for key in workshop.sandbox.keys() if not key["disabled"]]
    assert len(enabled) == PARTICIPANTS
    assert len({key["name"] for key in enabled}) == PARTICIPANTS, "one key per participant"
    assert {row[1]: row[2] for row in workshop.sheet()} == secrets, "every secret kept"
    assert done.returncode in (0, 1), done.stderr


def test_a_create_answered_without_its_secret_is_reconciled(workshop: CliWorkshop) -> None:
    """201 without `key`: the key exists, its secret reached nobody; it is replaced."""
    make_roster(workshop.roster, 5)
    workshop.sandbox.force("create_without_key", method="POST", path_prefix="/keys")
    done = workshop.provision()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    enabled = [key for key in workshop.sandbox.keys() if not key["disabled"]]
    assert len(enabled) == 5 == len(workshop.sandbox.keys()), "the secret-less key was deleted"
    by_hash = {key["hash"] for key in enabled}
    assert {row[6] for row in workshop.sheet()} == by_hash, "every handed-out key is live"
    assert all(row[2] for row in workshop.sheet())
