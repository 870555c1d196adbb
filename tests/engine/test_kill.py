"""The kill test: SIGKILL a provisioning run at random moments, again and again, against a
faulty server. Whatever the moment, the reruns must converge on exactly one live key per
participant, all of them in keys.xlsx, and nothing else on the server."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from openpyxl import load_workbook

from keyprov.sandbox import Faults, Sandbox
from tests.helpers import key_name_in, make_roster

PARTICIPANTS = 100
KILLS_WANTED = 10


def start_run(folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--quiet"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_requests(sandbox: Sandbox, process: subprocess.Popen[bytes], *, creates: int) -> None:
    """Until the run has sent its first request and the server has answered `creates` creates."""
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        log = sandbox.request_log
        if log and sum(record.method == "POST" for record in log) >= creates:
            return
        time.sleep(0.002)


def test_random_sigkills_against_a_faulty_server_converge(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", PARTICIPANTS)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")},
        "OPENROUTER_PROVISIONING_KEY": management_key,
        "OPENROUTER_BASE_URL": sandbox.base_url,
    }
    sandbox.faults = Faults(latency=0.03, error_rate=0.05, drop_after_commit_rate=0.05, seed=3)
    chance = random.Random(20261128)

    kills = kills_while_creating = 0
    for _ in range(40):
        if kills >= KILLS_WANTED:
            break
        sandbox.clear_log()
        missing = PARTICIPANTS - len({key["name"] for key in sandbox.keys()})
        # Killed while listing (0), or after a random share of the creates still to make, with
        # the rest in flight: keys the server made whose answers the run never wrote down.
        creates = chance.randint(0, max(0, min(missing - 1, 20)))
        process = start_run(tmp_path, env)
        wait_for_requests(sandbox, process, creates=creates)
        if process.poll() is None:
            process.kill()
            kills += 1
            kills_while_creating += creates > 0
        process.wait(timeout=60)
    assert kills >= KILLS_WANTED
    assert kills_while_creating >= KILLS_WANTED // 2, "most kills cut a run short mid-create"

    for _ in range(3):  # a final run may itself meet unanswered creates; reruns finish the job
        final = start_run(tmp_path, env)
        if final.wait(timeout=120) == 0:
            break
    assert final.returncode == 0

    server = sandbox.keys()
    enabled = [key for key in server if not key["disabled"]]
    folder = tmp_path / "output" / "ws"
    expected_names = sorted(
        key_name_in(folder, "ws", f"person{i}@example.org") for i in range(PARTICIPANTS)
    )
    assert sorted(key["name"] for key in enabled) == expected_names, "one enabled key each"

    sheet = load_workbook(tmp_path / "output" / "ws" / "keys.xlsx").active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == PARTICIPANTS
    by_hash = {key["hash"]: key for key in server}
    for _name, email, secret, *_rest in rows:
        key = by_hash[hashlib.sha256(str(secret).encode()).hexdigest()]
        assert key["name"] == key_name_in(folder, "ws", str(email)) and not key["disabled"]
    assert len(server) == PARTICIPANTS, "no orphan keys: every key on the server is handed out"
