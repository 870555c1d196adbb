"""A workshop is one thing: found from any folder, locked as one, remembering what it is.

Every test runs the real `keyprov` command against the sandbox over HTTP, with the test's own
registry (KEYPROV_HOME, see conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.sandbox import Sandbox
from keyprov.workshop.locate import account_label
from keyprov.workshop.registry import Registry
from tests.clock import day
from tests.helpers import (
    Invocation,
    invoke,
    keyprov_process_env,
    make_roster,
    run_keyprov,
    sandbox_env,
)

LATER = day(30)
LATER_STILL = day(60)


class Machine:
    """One user on one machine: a management key, a registry, and folders to run from."""

    def __init__(self, sandbox: Sandbox, management_key: str, root: Path) -> None:
        self.sandbox = sandbox
        self.root = root
        self.env = sandbox_env(sandbox, management_key)

    def folder(self, name: str, roster_rows: int | None = 3) -> Path:
        """A folder of its own, holding a roster ws.csv (the same participants in each)."""
        path = self.root / name
        path.mkdir()
        if roster_rows is not None:
            make_roster(path / "ws.csv", roster_rows)
        return path

    def run(self, cwd: Path, *args: str) -> Invocation:
        self.sandbox.clear_log()
        return invoke(list(args), env=self.env, cwd=cwd)

    def writes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.sandbox.request_log if r.method != "GET"]

    def enabled_keys(self) -> list[dict]:
        return [key for key in self.sandbox.keys() if not key["disabled"]]


@pytest.fixture
def machine(sandbox: Sandbox, management_key: str, tmp_path: Path) -> Machine:
    return Machine(sandbox, management_key, tmp_path)


def files_under(*roots: Path) -> dict[str, str]:
    """Every file and folder under `roots`, with each file's content digest: what `find`
    shows, and more (a file rewritten with other content is a change too)."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            digest = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path)] = digest
    return found


def keyprov_home() -> Path:
    return Path(os.environ["KEYPROV_HOME"])


def test_provision_from_another_folder_works_on_the_workshops_own_folder_and_says_so(
    machine: Machine,
) -> None:
    first, second = machine.folder("A"), machine.folder("B")
    assert machine.run(first, "provision", "ws.csv").returncode == 0
    own = first / "output" / "ws"

    done = machine.run(second, "provision", "ws.csv")

    assert done.returncode == 0, done.stderr
    assert f"note: workshop 'ws' lives in {own}: working on it there" in done.stderr
    assert "3 present" in done.stdout and f"keys:  {own / 'keys.xlsx'}" in done.stdout
    assert machine.writes() == [], "0 keys created, nothing changed on the server"
    assert sorted(p.name for p in second.iterdir()) == ["ws.csv"], "nothing written in B"
    assert len(machine.sandbox.keys()) == 3


def test_provision_with_out_in_another_folder_exits_2_naming_the_workshops_folder(
    machine: Machine,
) -> None:
    first, second = machine.folder("A"), machine.folder("B")
    assert machine.run(first, "provision", "ws.csv").returncode == 0
    before = files_under(machine.root, keyprov_home())

    done = machine.run(second, "provision", "ws.csv", "--out", "out")

    assert done.returncode == 2
    assert f"lives in {first / 'output' / 'ws'}, not in {second / 'out' / 'ws'}" in done.stderr
    assert "nothing was written" in done.stderr
    assert machine.writes() == []
    assert files_under(machine.root, keyprov_home()) == before, "not one file made or changed"


def test_a_command_run_inside_a_git_work_tree_works_on_the_workshop_elsewhere(
    machine: Machine,
) -> None:
    first, repository = machine.folder("A"), machine.folder("repo", roster_rows=None)
    assert machine.run(first, "provision", "ws.csv").returncode == 0
    subprocess.run(["git", "init", "-q", str(repository)], check=True)

    done = machine.run(repository, "revoke", "--workshop", "ws", "--yes")

    assert done.returncode == 0, done.stderr  # ./output here would not be git-ignored
    assert machine.enabled_keys() == []
    assert sorted(p.name for p in repository.iterdir()) == [".git"]


def test_a_workshop_folder_moved_on_purpose_is_found_again_with_out(machine: Machine) -> None:
    first, second = machine.folder("A"), machine.folder("B")
    assert machine.run(first, "provision", "ws.csv").returncode == 0
    new_home = machine.root / "safe"
    new_home.mkdir()
    shutil.move(first / "output" / "ws", new_home / "ws")

    lost = machine.run(second, "report", "--workshop", "ws")
    assert lost.returncode == 2
    assert f"was in {first / 'output' / 'ws'}, which no longer holds its state" in lost.stderr
    assert "give --out the folder that now contains it" in lost.stderr
    too_deep = machine.run(second, "report", "--workshop", "ws", "--out", str(new_home / "ws"))
    assert too_deep.returncode == 2 and f"--out {new_home}." in too_deep.stderr

    moved = machine.run(second, "provision", "ws.csv", "--out", str(new_home))
    assert moved.returncode == 0, moved.stderr
    assert f"note: workshop 'ws' is now in {new_home / 'ws'}" in moved.stderr
    assert machine.writes() == [], "the moved state is the workshop's: nothing to create"
    (record,) = Registry.default().all()
    assert record.folder == str(new_home / "ws")

    # From then on it is found there, from any folder and without --out.
    after = machine.run(first, "check", "--workshop", "ws")
    assert after.returncode == 0, after.stdout + after.stderr
    assert f"lives in {new_home / 'ws'}" in after.stderr
    assert not (first / "output" / "ws").exists()


def test_a_folder_holding_another_accounts_workshop_is_refused(machine: Machine) -> None:
    first = machine.folder("A")
    assert machine.run(first, "provision", "ws.csv").returncode == 0
    workshop_file = first / "output" / "ws" / "workshop.json"
    data = json.loads(workshop_file.read_text())
    workshop_file.write_text(json.dumps({**data, "account": "someone else"}))
    Registry.default().path.unlink()  # the registry is lost: only the folder says whose it is

    done = machine.run(first, "provision", "ws.csv")

    assert done.returncode == 2
    assert "holds workshop 'ws' of another account (someone else)" in done.stderr
    assert machine.writes() == []


def test_two_provisions_with_different_out_never_overlap(machine: Machine) -> None:
    folder = machine.folder("A", roster_rows=20)
    # The first run's listing (after it took the lock) is answered after 3 s: it holds the
    # workshop while the second starts and runs.
    machine.sandbox.force("slow", count=1, method="GET", path_prefix="/keys", seconds=3)
    audit = folder / "first" / "ws" / "audit.jsonl"
    command = [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--out", "first"]
    with subprocess.Popen(
        command,
        cwd=folder,
        env=keyprov_process_env(machine.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as first:
        while not (audit.exists() and audit.read_text()):  # run_start: it holds the lock
            assert first.poll() is None, first.communicate()
            time.sleep(0.005)
        second = run_keyprov(
            ["provision", "ws.csv", "--out", "second"], env=machine.env, cwd=folder
        )
        assert first.poll() is None, "the runs overlapped"
        assert first.wait(timeout=60) == 0, first.communicate()

    assert second.returncode == 2
    assert "another keyprov run" in second.stderr and "nothing was changed" in second.stderr
    assert not (folder / "second").exists()
    names = [key["name"] for key in machine.sandbox.keys()]
    assert len(names) == 20 and len(set(names)) == 20, "one key per participant"


@pytest.mark.parametrize(
    "command",
    [
        ("set-limit", "--workshop", "ws", "--all", "--add", "1"),
        ("rotate", "--workshop", "ws", "--all", "--yes"),
        ("revoke", "--workshop", "ws", "--yes"),
        ("provision", "../A/ws.csv", "--out", "elsewhere"),
    ],
)
def test_every_command_that_writes_holds_the_one_lock_of_the_workshop(
    machine: Machine, client: OpenRouterClient, command: tuple[str, ...]
) -> None:
    folder = machine.folder("A")
    assert machine.run(folder, "provision", "ws.csv").returncode == 0
    other = machine.folder("B", roster_rows=None)
    before = files_under(machine.root)
    with Registry.default().lock("ws", account_label(client)):
        done = machine.run(other, *command)
    assert done.returncode == 2, done.stderr
    assert "another keyprov run" in done.stderr
    assert machine.writes() == []
    assert files_under(machine.root) == before


def test_check_expects_what_provision_applied_and_names_what_differs(machine: Machine) -> None:
    first, second = machine.folder("A"), machine.folder("B", roster_rows=None)
    make_roster(first / "ws.csv", 3, limit=None)
    applied = ("--limit", "2", "--limit-reset", "daily", "--expires", LATER)
    assert machine.run(first, "provision", "ws.csv", *applied).returncode == 0

    for cwd, args in [
        (first, ("check", "ws.csv")),
        (second, ("check", "--workshop", "ws")),  # no ROSTER: the remembered one is read
        (second, ("check", "ws.csv")),  # no ws.csv in B: only the workshop's name
        (second, ("check", str(first / "ws.csv"))),
    ]:
        done = machine.run(cwd, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert done.stdout.splitlines()[-1] == "ws: READY: 3 of 3 participants ready"
        assert machine.writes() == []
    expected = done.stdout.splitlines()[:6]
    assert expected == [
        "ws: checked against",
        f"  roster:      {first / 'ws.csv'}",
        "  limit:       each row's limit in the roster, 2 USD for rows without one "
        "(as provisioned)",
        "  limit reset: daily (as provisioned)",
        f"  expiry:      the end of {LATER} (23:59:59 UTC) (as provisioned)",
        "  warn:        keys expiring within 2 days",
    ]
    assert not (second / "output").exists()

    # A key replaced on the server with another expiry: check names it, and only it.
    rotated = machine.run(
        second, "rotate", "--workshop", "ws", "--participant", "person1@example.org",
        "--expires", LATER_STILL,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    done = machine.run(second, "check", "--workshop", "ws")
    assert done.returncode == 1
    failing = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and "person1@example.org" in failing[0]
    assert f"expires {LATER_STILL}" in failing[0] and f"expected {LATER}T23:59:59Z" in failing[0]

    # Given on the command line, an option wins for this run only, and is not remembered.
    given = machine.run(second, "check", "--workshop", "ws", "--expires", LATER_STILL)
    assert given.returncode == 1
    assert f"  expiry:      the end of {LATER_STILL} (23:59:59 UTC)" in given.stdout.splitlines()
    assert machine.run(second, "check", "--workshop", "ws").stdout == done.stdout


def test_check_follows_the_remembered_options_when_they_change(machine: Machine) -> None:
    folder = machine.folder("A")
    assert machine.run(folder, "provision", "ws.csv", "--expires", LATER).returncode == 0
    assert machine.run(folder, "check", "ws.csv").returncode == 0
    workshop_file = folder / "output" / "ws" / "workshop.json"
    data = json.loads(workshop_file.read_text())
    data["options"]["expires"] = LATER_STILL
    workshop_file.write_text(json.dumps(data))

    done = machine.run(folder, "check", "ws.csv")

    assert done.returncode == 1
    assert f"expiry:      the end of {LATER_STILL} (23:59:59 UTC) (as provisioned)" in done.stdout
    assert done.stdout.count(f"expected {LATER_STILL}T23:59:59Z") == 3


def test_set_limit_keeps_to_the_maximum_provision_applied(machine: Machine) -> None:
    folder = machine.folder("A")
    assert machine.run(folder, "provision", "ws.csv", "--max-limit", "10").returncode == 0

    refused = machine.run(folder, "set-limit", "ws.csv", "--all", "--limit", "20", "--yes")
    assert refused.returncode == 2, "refused before any key is asked for"
    assert "--limit 20: more than the workshop's maximum of 10.00 USD; add --max-limit 20" in (
        refused.stderr
    )
    assert machine.writes() == []

    given = machine.run(
        folder, "set-limit", "ws.csv", "--all", "--limit", "20", "--max-limit", "50", "--yes"
    )
    assert given.returncode == 0, given.stdout + given.stderr
    assert {key["limit"] for key in machine.sandbox.keys()} == {20}


def test_revoke_names_the_owner_of_a_key_the_state_lost_from_the_remembered_roster(
    machine: Machine,
) -> None:
    folder = machine.folder("A", roster_rows=2)
    assert machine.run(folder, "provision", "ws.csv").returncode == 0
    workshop = folder / "output" / "ws"
    # The state forgets person1 (its key keeps its pseudonymous name on the server), and
    # keys.xlsx, which would give the secret back, is gone.
    state = workshop / "state.jsonl"
    kept = [
        line
        for line in state.read_text().splitlines()
        if json.loads(line).get("identity") != "person1@example.org"
        and json.loads(line)["event"] != "sheet"
    ]
    state.write_text("\n".join(kept) + "\n")
    (workshop / "keys.xlsx").unlink()

    done = machine.run(machine.folder("B", roster_rows=None), "revoke", "--workshop", "ws", "--yes")

    assert done.returncode == 0, done.stderr
    assert machine.enabled_keys() == []
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["ok", "person1@example.org"] for line in lines), lines


UNKNOWN_COMMANDS = [
    ("report", "--workshop", "ws3"),
    ("check", "--workshop", "ws3"),
    ("check", "ws3.csv"),
    ("revoke", "--workshop", "ws3", "--yes"),
    ("revoke", "--workshop", "ws3", "--dry-run"),
    ("rotate", "--workshop", "ws3", "--all", "--yes"),
    ("set-limit", "ws3.csv", "--all", "--add", "1"),
]


@pytest.mark.parametrize("command", UNKNOWN_COMMANDS, ids=" ".join)
def test_a_command_on_an_unknown_workshop_exits_2_says_did_you_mean_and_makes_nothing(
    machine: Machine, command: tuple[str, ...]
) -> None:
    known = machine.folder("A", roster_rows=None)
    make_roster(known / "ws30.csv", 2)
    assert machine.run(known, "provision", "ws30.csv").returncode == 0
    elsewhere = machine.folder("B", roster_rows=None)
    before = files_under(machine.root, keyprov_home())

    done = machine.run(elsewhere, *command)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "no workshop 'ws3'" in done.stderr and "never provisioned" in done.stderr
    assert "Did you mean 'ws30'?" in done.stderr
    assert machine.writes() == []
    assert files_under(machine.root, keyprov_home()) == before, "no folder, no file"


@pytest.mark.parametrize("command", UNKNOWN_COMMANDS, ids=" ".join)
def test_with_no_workshop_at_all_nothing_is_made_either(
    machine: Machine, command: tuple[str, ...]
) -> None:
    folder = machine.folder("A", roster_rows=None)
    before = files_under(machine.root, keyprov_home())

    done = machine.run(folder, *command)

    assert done.returncode == 2
    assert "never provisioned" in done.stderr and "Run keyprov provision ROSTER first" in (
        done.stderr
    )
    assert files_under(machine.root, keyprov_home()) == before


@pytest.mark.parametrize("command", ["check", "report", "revoke", "set-limit", "rotate"])
def test_a_command_naming_no_workshop_lists_the_known_ones(machine: Machine, command: str) -> None:
    folder = machine.folder("A")
    assert machine.run(folder, "provision", "ws.csv").returncode == 0

    done = (
        machine.run(folder, command, "--all")
        if command in ("set-limit", "rotate")
        else (machine.run(folder, command))
    )

    assert done.returncode == 2
    assert "which workshop? Give its ROSTER file or --workshop NAME. Your workshops: ws" in (
        done.stderr
    )
    assert machine.sandbox.request_log == [], "decided before any request"


def test_a_new_management_key_of_the_same_owner_still_finds_the_workshop(
    tmp_path: Path,
) -> None:
    """After a leak the instructor rotates the management key: same owner, new key, new
    label. The workshop is its owner's, so it is still found, and nothing is doubled."""
    state = tmp_path / "sandbox-state.json"
    make_roster(tmp_path / "ws.csv", 3)
    first_key, second_key = ("sk-or-v1-" + secrets.token_hex(32) for _ in range(2))
    with Sandbox(first_key, state_path=state) as sandbox:
        env = sandbox_env(sandbox, first_key)
        assert (
            invoke(["provision", "ws.csv", "--limit", "1"], env=env, cwd=tmp_path).returncode == 0
        )
    with Sandbox(second_key, state_path=state) as sandbox:
        env = sandbox_env(sandbox, second_key)
        done = invoke(["check", "ws.csv"], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        again = invoke(["provision", "ws.csv"], env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert len(sandbox.keys()) == 3


def test_a_workshop_is_not_run_against_another_server(machine: Machine) -> None:
    """Its keys are where it was provisioned: against another server every key would look
    deleted, be made again, and the real keys' secrets would be replaced."""
    folder = machine.folder("A")
    assert machine.run(folder, "provision", "ws.csv").returncode == 0
    workshop_file = folder / "output" / "ws" / "workshop.json"
    data = json.loads(workshop_file.read_text())
    assert data["server"] == "this machine (a sandbox)"
    workshop_file.write_text(json.dumps({**data, "server": "https://openrouter.ai"}))
    before = files_under(machine.root)
    for command in (("provision", "ws.csv"), ("check", "ws.csv"), ("revoke", "ws.csv", "--yes")):
        done = machine.run(folder, *command)
        assert done.returncode == 2, done.stderr
        assert "has its keys on https://openrouter.ai" in done.stderr
    assert machine.writes() == []
    assert files_under(machine.root) == before


def test_a_roster_saved_again_under_another_name_is_warned_about(machine: Machine) -> None:
    """'example (1).csv' is a new workshop by its name; its participants' keys are in
    'ws' already, and a second key each is rarely what the instructor meant."""
    folder = machine.folder("A")
    assert machine.run(folder, "provision", "ws.csv").returncode == 0
    shutil.copy(folder / "ws.csv", folder / "ws (1).csv")
    done = machine.run(folder, "provision", "ws (1).csv", "--dry-run")
    assert "already have keys in workshop 'ws'" in done.stderr, done.stderr
    assert "--workshop ws" in done.stderr
