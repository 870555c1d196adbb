"""A local file keyprov cannot use is a clear error (exit 2) saying what to do, never an
internal error, and nothing on the server is touched."""

from __future__ import annotations

import json

from tests.helpers import CliWorkshop, make_roster


def assert_clear_error(done: object, *words: str) -> None:
    stderr = getattr(done, "stderr", "")
    assert getattr(done, "returncode", None) == 2, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


def test_a_state_that_is_a_folder_is_exit_2_and_says_so(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    folder = workshop.folder / "output" / "ws"
    (folder / "state.jsonl").mkdir(parents=True)
    done = workshop.provision()
    assert_clear_error(done, "state.jsonl", "move whatever is there away")
    assert workshop.writes() == []


def test_a_state_record_of_an_unknown_kind_is_exit_2_naming_the_line(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(2)
    state = workshop.folder / "output" / "ws" / "state.jsonl"
    with state.open("a") as handle:
        handle.write(json.dumps({"event": "teleported", "identity": "x"}) + "\n")
        handle.write(json.dumps({"event": "updated", "identity": "x"}) + "\n")
    done = workshop.provision()
    assert_clear_error(done, "state.jsonl, line", "unknown kind", "teleported")
    assert workshop.writes() == []


def test_a_workshop_folder_that_cannot_be_made_is_exit_2(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    (workshop.folder / "blocked").write_text("a file where the output folder should be\n")
    done = workshop.provision("--out", "blocked/inside")
    assert_clear_error(done, "cannot write the workshop's files here")
    assert workshop.writes() == []
