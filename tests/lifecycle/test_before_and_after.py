"""Before it touches live keys it says what it will do; after, what it did and what is next.

set-limit and rotate have dry runs; rotate --all, set-limit --all --limit and revoke ask
first (on a terminal) or need --yes (without one); amounts are refused before any request;
per-key commands show their progress and end with a summary and the next step.
"""

from __future__ import annotations

import pytest

from tests.helpers import CliWorkshop, make_roster


def provisioned(workshop: CliWorkshop, count: int, *options: str, limit: float = 2) -> None:
    make_roster(workshop.roster, count, limit=limit)
    done = workshop.provision(*options)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("rotate", "ws.csv", "--all"),
        ("set-limit", "ws.csv", "--all", "--limit", "0.5"),
        ("revoke", "ws.csv"),
    ],
    ids=lambda words: words[0],
)
def test_without_a_terminal_a_command_that_stops_keys_needs_yes_and_changes_nothing(
    workshop: CliWorkshop, command: tuple[str, ...]
) -> None:
    provisioned(workshop, 3)
    before = workshop.sandbox.keys()

    refused = workshop.keyprov(*command)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "3 keys of workshop ws" in refused.stderr
    assert "There is no terminal to ask on: add --yes to go on" in refused.stderr
    assert "Nothing was changed." in refused.stderr
    assert workshop.writes() == [] and workshop.sandbox.keys() == before

    done = workshop.keyprov(*command, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert workshop.writes(), "with --yes it goes on"


def test_one_participant_and_a_top_up_are_not_asked_about(workshop: CliWorkshop) -> None:
    provisioned(workshop, 2)
    one = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert one.returncode == 0, one.stderr
    top_up = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "1")
    assert top_up.returncode == 0, top_up.stderr
    assert {key["limit"] for key in workshop.sandbox.keys() if not key["disabled"]} == {3}


def test_rotate_dry_run_says_exactly_what_the_run_does_and_writes_nothing(
    workshop: CliWorkshop,
) -> None:
    provisioned(workshop, 3, "--limit-reset", "daily")
    first = workshop.key_of("person0@example.org")
    workshop.sandbox.set_usage(first["hash"], usage=1.2, daily=1.2)
    before = workshop.sandbox.keys()

    dry = workshop.keyprov("rotate", "ws.csv", "--all", "--dry-run")

    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert workshop.writes() == [] and workshop.sandbox.keys() == before
    lines = [line for line in dry.stdout.splitlines() if line.startswith("ok")]
    assert len(lines) == 3
    assert all("would be disabled and replaced by a new key" in line for line in lines)
    assert (
        "2.00 USD per day; 0.80 USD left today (1.20 spent on the old key), the whole 2.00 "
        "again from tomorrow"
    ) in dry.stdout
    assert "dry run: ws: 3 keys to replace; nothing was changed." in dry.stdout

    done = workshop.keyprov("rotate", "ws.csv", "--all", "--yes")
    assert done.returncode == 0
    assert len(workshop.calls("POST")) == 3, "the run did what the dry run said"


def test_set_limit_dry_run_lists_each_new_limit_to_the_cent_and_writes_nothing(
    workshop: CliWorkshop,
) -> None:
    provisioned(workshop, 2)
    dry = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "1", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert workshop.writes() == []
    assert dry.stdout.count("limit 2.00 -> 3.00 USD (would be set)") == 2
    assert "dry run: ws: 2 limits to set; nothing was changed." in dry.stdout

    done = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "1")
    assert done.stdout.count("limit 2.00 -> 3.00 USD") == 2, "not '2.0 -> 3.0'"
    assert "ws: 2 limits set" in done.stdout
    assert "next: keyprov check --workshop ws" in done.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--limit", "nan"), "--limit nan: give a number of US dollars"),
        (("--limit", "inf"), "--limit inf: give a number of US dollars"),
        (("--limit", "-1"), "--limit -1: give a limit above 0"),
        (("--add", "-2"), "--add -2: give more than 0 to add"),
        (("--limit", "0"), "--limit 0: give a limit above 0"),
        (("--limit", "150"), "--limit 150: more than the workshop's maximum of 100.00 USD"),
        (("--limit", "20", "--max-limit", "10"), "--limit 20: more than the workshop's maximum"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_an_amount_no_key_can_have_is_refused_before_any_request(
    workshop: CliWorkshop, options: tuple[str, ...], message: str
) -> None:
    provisioned(workshop, 2)
    done = workshop.keyprov("set-limit", "ws.csv", "--all", *options, "--yes")
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Usage: keyprov set-limit" in done.stderr
    assert workshop.writes() == []
    assert not [r for r in workshop.sandbox.request_log if r.path.startswith("/api/v1/keys/")]


def test_set_limit_with_neither_option_shows_its_usage(workshop: CliWorkshop) -> None:
    provisioned(workshop, 1)
    done = workshop.keyprov("set-limit", "ws.csv", "--all")
    assert done.returncode == 2
    assert "Usage: keyprov set-limit" in done.stderr
    assert "give --limit USD (the new limit) or --add USD (a top-up)" in done.stderr


def test_per_key_commands_number_their_progress_and_end_with_the_next_step(
    workshop: CliWorkshop,
) -> None:
    provisioned(workshop, 3)

    rotated = workshop.keyprov("rotate", "ws.csv", "--all", "--yes")

    assert rotated.returncode == 0, rotated.stderr
    progress = [line for line in rotated.stderr.splitlines() if line.startswith("[")]
    assert [line.split()[0] for line in progress] == ["[1/3]", "[2/3]", "[3/3]"]
    assert "listed 3 keys on the server (1 page)" in rotated.stderr
    assert "ws: 3 keys replaced" in rotated.stdout
    assert "next: hand out the new keys (the old ones no longer work): keyprov send" in (
        rotated.stdout
    )

    revoked = workshop.keyprov("revoke", "ws.csv", "--yes")
    assert [line.split()[0] for line in revoked.stderr.splitlines() if line[:1] == "["] == [
        "[1/3]",
        "[2/3]",
        "[3/3]",
    ]
    assert "ws: 3 keys disabled" in revoked.stdout


def test_rename_keys_numbers_its_progress_too(workshop: CliWorkshop) -> None:
    provisioned(workshop, 2, "--key-names", "readable")
    done = workshop.keyprov("rename-keys", "ws.csv")
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line.split()[0] for line in done.stderr.splitlines() if line[:1] == "["]
    assert steps == ["[1/2]", "[2/2]"]


def test_after_rotate_and_revoke_stale_handouts_are_named_with_what_to_do(
    workshop: CliWorkshop,
) -> None:
    provisioned(workshop, 3)
    assert workshop.keyprov("handouts", "ws.csv").returncode == 0
    statuses = {row[1]: row[7] for row in workshop.sheet()}
    assert all(status.startswith("on slips ") for status in statuses.values())

    rotated = workshop.keyprov("rotate", "ws.csv", "--participant", "person1@example.org")
    assert rotated.returncode == 0, rotated.stderr
    assert (
        "note handouts.pdf out of date: holds 1 replaced key(s) that no longer work; keyprov "
        "handouts --workshop ws writes it (and mail-merge.csv) again"
    ) in " ".join(rotated.stdout.split())
    statuses = {row[1]: row[7] for row in workshop.sheet()}
    assert statuses["person1@example.org"].startswith(
        "replaced — hand out again: handouts.pdf holds the old key"
    )

    revoked = workshop.keyprov("revoke", "ws.csv", "--yes")
    assert revoked.returncode == 0, revoked.stderr
    assert "note handouts.pdf holds 2 key(s) that no longer work, as does mail-merge.csv" in (
        " ".join(revoked.stdout.split())
    )
    assert "ws: 3 keys disabled; nobody can spend on them now" in revoked.stdout
    statuses = {row[1]: row[7] for row in workshop.sheet()}
    assert statuses["person0@example.org"] == (
        "disabled; handouts.pdf still holds this key, which no longer works"
    )


def test_close_and_open_number_their_progress(workshop: CliWorkshop) -> None:
    provisioned(workshop, 3)
    closed = workshop.keyprov("close", "ws.csv", "--yes")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    steps = [line.split()[0] for line in closed.stderr.splitlines() if line[:1] == "["]
    assert steps == ["[1/3]", "[2/3]", "[3/3]"]
    opened = workshop.keyprov("open", "ws.csv", "--yes")
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert [line.split()[0] for line in opened.stderr.splitlines() if line[:1] == "["] == [
        "[1/3]",
        "[2/3]",
        "[3/3]",
    ]
