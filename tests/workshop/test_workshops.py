"""`keyprov workshops`: every workshop with its account, counts, last run and folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.render.workshops import relocation_line, workshops_lines
from keyprov.sandbox import Sandbox
from keyprov.workshop.locate import ListedWorkshop, Relocation, account_label
from keyprov.workshop.registry import WorkshopRecord
from tests.helpers import Invocation, invoke, make_roster, sandbox_env

HEADER = ["workshop", "account", "participants", "keys", "enabled", "last", "run", "command"]


class User:
    def __init__(self, sandbox: Sandbox, management_key: str, root: Path) -> None:
        self.sandbox = sandbox
        self.root = root
        self.env = sandbox_env(sandbox, management_key)

    def run(self, cwd: Path, *args: str) -> Invocation:
        return invoke(list(args), env=self.env, cwd=cwd)

    def workshops(self) -> dict[str, list[str]]:
        """`keyprov workshops` run from a folder of its own: each row's cells by workshop."""
        elsewhere = self.root / "anywhere"
        elsewhere.mkdir(exist_ok=True)
        done = self.run(elsewhere, "workshops")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].split()[:8] == HEADER
        rows = {}
        for line in lines[1:-1]:
            cells = line.split()
            rows[cells[0]] = cells
        return rows


@pytest.fixture
def user(sandbox: Sandbox, management_key: str, tmp_path: Path) -> User:
    return User(sandbox, management_key, tmp_path)


def test_each_workshop_is_listed_with_its_counts_after_every_command(
    user: User, client: OpenRouterClient
) -> None:
    first, second = user.root / "A", user.root / "B"
    first.mkdir()
    second.mkdir()
    make_roster(first / "bssdh.csv", 3)
    make_roster(second / "ws30.csv", 2)
    assert user.run(first, "provision", "bssdh.csv").returncode == 0
    assert user.run(second, "provision", "ws30.csv").returncode == 0

    rows = user.workshops()
    account = account_label(client)
    # name, account, participants, keys enabled, date, time, UTC, command, exit, folder
    assert rows["bssdh"][:4] == ["bssdh", account, "3", "3"]
    assert rows["bssdh"][7:] == ["provision", "0", str(first / "output" / "bssdh")]
    assert rows["ws30"][:4] == ["ws30", account, "2", "2"]
    assert rows["ws30"][7:] == ["provision", "0", str(second / "output" / "ws30")]

    rotated = user.run(
        second, "rotate", "--workshop", "bssdh", "--participant", "person1@example.org"
    )
    assert rotated.returncode == 0, rotated.stderr
    assert user.workshops()["bssdh"][2:4] == ["3", "3"], "the successor is enabled, the old not"
    assert user.workshops()["bssdh"][7:9] == ["rotate", "0"]

    make_roster(first / "bssdh.csv", 2)  # one participant left the roster; their key stays
    assert user.run(first, "provision", "bssdh.csv").returncode == 0
    assert user.workshops()["bssdh"][2:4] == ["2", "3"]
    assert user.run(first, "provision", "bssdh.csv", "--prune").returncode == 0
    assert user.workshops()["bssdh"][2:4] == ["2", "2"]

    assert user.run(first, "revoke", "bssdh.csv", "--yes").returncode == 0
    rows = user.workshops()
    assert rows["bssdh"][2:4] == ["2", "0"] and rows["bssdh"][7:9] == ["revoke", "0"]
    assert rows["ws30"][2:4] == ["2", "2"], "the other workshop is untouched"
    enabled = [key for key in user.sandbox.keys() if not key["disabled"]]
    assert len(enabled) == 2


def test_a_run_that_did_not_finish_its_work_is_listed_with_its_exit_status(user: User) -> None:
    folder = user.root / "A"
    folder.mkdir()
    make_roster(folder / "ws.csv", 2)
    assert user.run(folder, "provision", "ws.csv").returncode == 0
    failed = user.run(folder, "set-limit", "ws.csv", "--all", "--add", "500")  # over 100
    assert failed.returncode == 1
    assert user.workshops()["ws"][7:9] == ["set-limit", "1"]


def test_no_workshops_yet_says_how_to_start_one(user: User) -> None:
    user.root.joinpath("here").mkdir()
    done = user.run(user.root / "here", "workshops")
    assert done.returncode == 0
    registry = Path(os.environ["KEYPROV_HOME"]) / "workshops.json"
    assert done.stdout.splitlines() == [
        f"no workshops yet: keyprov provision ROSTER starts one (the list is kept in {registry})."
    ]
    assert not registry.exists(), "listing makes nothing"


def test_a_workshop_whose_folder_is_gone_is_listed_with_a_warning(user: User) -> None:
    folder = user.root / "A"
    folder.mkdir()
    make_roster(folder / "ws.csv", 1)
    assert user.run(folder, "provision", "ws.csv").returncode == 0
    shutil.rmtree(folder / "output")
    done = user.run(folder, "workshops")
    assert done.returncode == 0
    gone = str(folder / "output" / "ws")
    assert done.stdout.splitlines()[1].endswith(f"{gone} (no state here: moved or deleted?)")
    assert done.stderr.startswith(f"warning: {gone} no longer holds workshop 'ws''s state.")


def record(name: str, **fields) -> WorkshopRecord:
    return WorkshopRecord(name, "acct", f"/w/{name}", "2026-11-30T09:00:00+00:00", **fields)


def test_workshops_text_exactly() -> None:
    listed = [
        ListedWorkshop(
            record(
                "ws10",
                last_run="2026-12-01T14:02:09+00:00",
                last_command="revoke",
                last_exit=0,
                participants=12,
                keys_enabled=0,
            ),
            True,
        ),
        ListedWorkshop(record("ws2"), False),
    ]
    lines = workshops_lines(listed, "/home/u/.local/state/keyprov/workshops.json")
    assert lines.stdout == [
        "workshop  account  participants  keys enabled  last run              command  exit  "
        "folder",
        "ws2       acct                -             -  never                                "
        "/w/ws2 (no state here: moved or deleted?)",
        "ws10      acct               12             0  2026-12-01 14:02 UTC  revoke      0  "
        "/w/ws10",
        "2 workshops; the list is kept in /home/u/.local/state/keyprov/workshops.json",
    ]
    assert lines.stderr == [
        "warning: /w/ws2 no longer holds workshop 'ws2''s state. If you moved the folder, give "
        "a command --out the folder that now contains it, once; if you deleted it, the next "
        "provision starts the workshop again."
    ]


def test_relocation_notes_exactly() -> None:
    here, there = Path("/b/output/ws"), Path("/a/output/ws")
    assert relocation_line(Relocation("elsewhere", "ws", there, here)) == (
        "note: workshop 'ws' lives in /a/output/ws: working on it there (not in /b/output/ws)."
    )
    assert relocation_line(
        Relocation("moved", "ws", Path("/safe/ws"), Path("/safe/ws"), there)
    ) == (
        "note: workshop 'ws' is now in /safe/ws (it was in /a/output/ws); commands find it "
        "there from now on, from any folder."
    )
    assert relocation_line(Relocation("afresh", "ws", here, here, there)) == (
        "note: workshop 'ws' was in /a/output/ws, which no longer holds its state (moved or "
        "deleted?): this run starts it again in /b/output/ws. If you moved the folder, give "
        "--out the folder that now contains it instead."
    )
