"""A workshop is what it holds (issue 28): never merged with another by its name, never taken
over by a folder that holds another, never duplicated by two copies of itself, never given a
second naming secret by a run that refused.

Every test drives the real `keyprov` command against the sandbox and asserts the end state on
the server (keys, enabled or not, per participant) and in the files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

from keyprov.sandbox import Sandbox
from keyprov.workshop.journal import Ledger
from keyprov.workshop.registry import Registry
from tests.helpers import Invocation, invoke, keyprov_process_env, make_roster, sandbox_env


class User:
    def __init__(self, sandbox: Sandbox, management_key: str, root: Path) -> None:
        self.sandbox = sandbox
        self.root = root
        self.env = sandbox_env(sandbox, management_key)

    def run(self, *args: str, cwd: Path | None = None) -> Invocation:
        self.sandbox.clear_log()
        return invoke(list(args), env=self.env, cwd=cwd or self.root)

    def writes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.sandbox.request_log if r.method != "GET"]

    def enabled(self) -> list[dict]:
        return [key for key in self.sandbox.keys() if not key["disabled"]]


def user_of(sandbox: Sandbox, management_key: str, tmp_path: Path) -> User:
    return User(sandbox, management_key, tmp_path)


def state_identities(folder: Path) -> set[str]:
    return {entry.identity for entry in Ledger.open(folder / "state.jsonl").entries()}


def workshop_folders(out: Path) -> list[Path]:
    return sorted(path for path in out.iterdir() if (path / "workshop.json").exists())


# -- defect 1: names that are not Latin, or the same name in NFC and NFD -------------------------


def test_two_cyrillic_workshops_never_share_a_folder_or_keys(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    user = user_of(sandbox, management_key, tmp_path)
    make_roster(tmp_path / "Семинар.csv", 3)
    make_roster(tmp_path / "Воркшоп.csv", 3, start=10)
    first = user.run("provision", "Семинар.csv")
    assert first.returncode == 0, first.stderr

    second = user.run("provision", "Воркшоп.csv", "--prune")

    assert second.returncode == 0, second.stderr
    assert "no longer in the roster" not in second.stdout + second.stderr
    assert len(user.enabled()) == 6, "--prune disabled none of the first workshop's keys"
    folders = workshop_folders(tmp_path / "output")
    assert len(folders) == 2, folders
    assert sorted(len(state_identities(folder)) for folder in folders) == [3, 3]
    assert {len(state_identities(folder) & {"person0@example.org"}) for folder in folders} == {
        0,
        1,
    }


def test_the_same_name_in_nfc_and_nfd_is_one_workshop(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    user = user_of(sandbox, management_key, tmp_path)
    typed = unicodedata.normalize("NFC", "Café")
    saved_by_macos = unicodedata.normalize("NFD", "Café")
    assert typed != saved_by_macos
    make_roster(tmp_path / f"{typed}.csv", 3)
    assert user.run("provision", f"{typed}.csv").returncode == 0
    shutil.copy(tmp_path / f"{typed}.csv", tmp_path / f"{saved_by_macos}.csv")

    again = user.run("provision", f"{saved_by_macos}.csv")

    assert again.returncode == 0, again.stderr
    assert user.writes() == [], "nothing created: the participants have their keys"
    assert len(user.enabled()) == 3
    assert len(workshop_folders(tmp_path / "output")) == 1


def test_a_workshop_from_before_keeps_its_folder(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    """'Café' was filed as 'caf' before names were hashed: it stays there, keys and all."""
    user = user_of(sandbox, management_key, tmp_path)
    make_roster(tmp_path / "Café.csv", 3)
    assert user.run("provision", "Café.csv", "--workshop", "caf").returncode == 0
    workshop_file = tmp_path / "output" / "caf" / "workshop.json"
    data = json.loads(workshop_file.read_text())
    del data["display"]  # as an earlier keyprov wrote it
    workshop_file.write_text(json.dumps(data))

    again = user.run("provision", "Café.csv")

    assert again.returncode == 0, again.stderr
    assert user.writes() == []
    assert workshop_folders(tmp_path / "output") == [tmp_path / "output" / "caf"]
    assert json.loads(workshop_file.read_text())["display"] == "Café"
    assert user.run("check", "--workshop", "Café").returncode == 0


# -- defect 4: a folder that holds another workshop is never adopted ------------------------------


def test_a_folder_holding_another_workshop_is_refused_and_left_as_it_is(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    user = user_of(sandbox, management_key, tmp_path)
    make_roster(tmp_path / "a.csv", 3)
    make_roster(tmp_path / "b.csv", 3, start=10)
    assert user.run("provision", "a.csv").returncode == 0
    assert user.run("provision", "b.csv").returncode == 0
    out = tmp_path / "output"
    (out / "a").rename(out / "a.old")
    (out / "b").rename(out / "a")
    before = {path.name: path.read_bytes() for path in (out / "a").iterdir() if path.is_file()}

    done = user.run("provision", "a.csv")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "holds workshop 'b'" in done.stderr
    assert user.writes() == []
    assert len(user.enabled()) == 6
    after = {path.name: path.read_bytes() for path in (out / "a").iterdir() if path.is_file()}
    assert after == before, "B's files are untouched"
    assert json.loads((out / "a" / "workshop.json").read_text())["name"] == "b"


def test_a_registry_pointing_at_another_workshops_folder_is_refused(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    user = user_of(sandbox, management_key, tmp_path)
    make_roster(tmp_path / "a.csv", 3)
    make_roster(tmp_path / "b.csv", 3, start=10)
    assert user.run("provision", "a.csv").returncode == 0
    assert user.run("provision", "b.csv").returncode == 0
    registry = Registry.default().path
    data = json.loads(registry.read_text())
    b_folder = next(item["folder"] for item in data["workshops"] if item["name"] == "b")
    for item in data["workshops"]:
        if item["name"] == "a":
            item["folder"] = b_folder
    registry.write_text(json.dumps(data))
    b_state = (Path(b_folder) / "state.jsonl").read_bytes()

    done = user.run("provision", "a.csv")

    assert done.returncode == 2, done.stdout + done.stderr
    assert user.writes() == []
    assert len(user.enabled()) == 6
    assert (Path(b_folder) / "state.jsonl").read_bytes() == b_state
    assert json.loads((Path(b_folder) / "workshop.json").read_text())["name"] == "b"
    assert user.run("provision", "b.csv").returncode == 0, "B still works"


# -- defect 5: two first runs at once, from two registries ----------------------------------------


def test_two_first_runs_at_once_from_two_registries_converge_on_one_key_each(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    count = 20
    machines = []
    for name in ("one", "two"):
        folder = tmp_path / name
        (folder / "home").mkdir(parents=True)
        make_roster(folder / "ws.csv", count)
        machines.append(folder)
    # Both runs list the (empty) server before either creates a key.
    sandbox.force("slow", count=2, method="GET", path_prefix="/keys", seconds=4)
    env = sandbox_env(sandbox, management_key)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "keyprov", "provision", "ws.csv"],
            cwd=folder,
            env=keyprov_process_env({**env, "KEYPROV_HOME": str(folder / "home")}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in machines
    ]
    ended = [(run.wait(timeout=120), *run.communicate()) for run in runs]

    enabled = [key for key in sandbox.keys() if not key["disabled"]]
    assert len(enabled) == count, ended
    codes = sorted(code for code, _out, _err in ended)
    # Created at once: the copy that made its keys later deletes them and says so (exit 1).
    # (A copy that started so late that it listed the other's keys refuses, writing nothing.)
    assert codes in ([0, 1], [0, 2]), ended
    other = next(err + out for code, out, err in ended if code != 0)
    assert ("another copy" if codes[1] == 1 else "named by pseudonyms") in other
    winner = machines[[code for code, _o, _e in ended].index(0)]
    held = {e.hash for e in Ledger.open(winner / "output" / "ws" / "state.jsonl").entries()}
    assert held == {key["hash"] for key in enabled}, "the winner holds every enabled key"


def test_two_first_runs_with_readable_names_keep_the_earlier_key_of_each(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    """With names both copies can read, each participant's earlier key is kept, whichever copy
    made it; each copy holds the secrets of the keys it kept."""
    count = 20
    machines = []
    for name in ("one", "two"):
        folder = tmp_path / name
        (folder / "home").mkdir(parents=True)
        make_roster(folder / "ws.csv", count)
        machines.append(folder)
    sandbox.force("slow", count=2, method="GET", path_prefix="/keys", seconds=4)
    env = sandbox_env(sandbox, management_key)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--key-names", "readable"],
            cwd=folder,
            env=keyprov_process_env({**env, "KEYPROV_HOME": str(folder / "home")}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in machines
    ]
    ended = [(run.wait(timeout=120), *run.communicate()) for run in runs]

    enabled = [key for key in sandbox.keys() if not key["disabled"]]
    assert sorted(key["name"] for key in enabled) == sorted(
        f"keyprov:ws:person{i}@example.org" for i in range(count)
    ), ended
    held = [
        {e.identity: e.hash for e in Ledger.open(m / "output" / "ws" / "state.jsonl").entries()}
        for m in machines
    ]
    assert not set(held[0]) & set(held[1]), "nobody's key is held by both copies"
    assert set(held[0].values()) | set(held[1].values()) == {key["hash"] for key in enabled}


def test_keys_this_state_never_made_are_strangers_and_check_fails(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    user = user_of(sandbox, management_key, tmp_path)
    make_roster(tmp_path / "ws.csv", 3)
    assert user.run("provision", "ws.csv").returncode == 0
    # Another copy of the workshop (its own naming secret) made a key for everyone.
    for suffix in ("abcdefghijklmnop", "bcdefghijklmnopq", "cdefghijklmnopqr"):
        sandbox.create_key_directly(f"keyprov:ws:{suffix}", limit=1)

    rerun = user.run("provision", "ws.csv", "--prune")
    check = user.run("check", "ws.csv")

    assert "no longer in the roster" not in rerun.stdout + rerun.stderr
    assert "not in roster" not in rerun.stdout
    assert len(user.enabled()) == 6, "--prune disables no key another copy may hold"
    assert rerun.returncode == 1
    assert check.returncode == 1, check.stdout
    assert "NOT READY" in check.stdout.splitlines()[-1]
    assert "never made by this copy" in check.stdout


# -- defect 6: a lost folder, run twice --------------------------------------------------------


def test_a_run_that_refuses_writes_nothing_and_the_next_one_refuses_too(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    user = user_of(sandbox, management_key, tmp_path)
    make_roster(tmp_path / "ws.csv", 12)
    assert user.run("provision", "ws.csv").returncode == 0
    shutil.rmtree(tmp_path / "output")

    for _ in range(2):  # ↑ Enter
        done = user.run("provision", "ws.csv")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "revoke" in done.stderr and "provision" in done.stderr
        assert user.writes() == []
        folder = tmp_path / "output" / "ws"
        assert not (folder / "state.jsonl").exists()
        assert not (folder / "keys.xlsx").exists()
    assert len(user.enabled()) == 12
    assert user.run("check", "ws.csv").returncode != 0

    # The way out it names, without a backup: revoke them, provision again, hand out again.
    revoked = user.run("revoke", "--workshop", "ws", "--yes")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert user.enabled() == []
    again = user.run("provision", "ws.csv")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(user.enabled()) == 12 and len(user.sandbox.keys()) == 24
    assert len(Ledger.open(tmp_path / "output" / "ws" / "state.jsonl").entries()) == 12
    assert user.run("handouts", "ws.csv").returncode == 0


# -- defect 8: the management key's secret part on the command line ------------------------------


def test_the_management_key_without_its_prefix_is_refused_and_never_echoed(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    user = user_of(sandbox, management_key, tmp_path)
    make_roster(tmp_path / "ws.csv", 1)
    secret_part = management_key.removeprefix("sk-or-v1-")
    for args in (
        ("provision", "ws.csv", "--workshop", secret_part),
        ("provision", "ws.csv", "--out", secret_part),
        ("provision", "ws.csv", f"--workshop=ws-{secret_part[:40]}"),
    ):
        done = user.run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert secret_part[:16] not in done.stdout + done.stderr
    assert sandbox.request_log == []
    assert sandbox.keys() == []
    home = Path(os.environ["KEYPROV_HOME"])
    written = [p for p in [*tmp_path.rglob("*"), *home.rglob("*")] if p.is_file()]
    assert all(secret_part[:16] not in p.read_text(errors="replace") for p in written)
    assert all(secret_part[:16] not in str(p) for p in written)
