"""SIGKILL a guarded provision at random moments, creates and assignments alike: reruns
must end with one key per participant, every one of them on the workshop's one guardrail."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from keyprov.sandbox import Faults, Sandbox
from tests.helpers import key_name_in, keyprov_process_env, make_roster, sandbox_env

PARTICIPANTS = 40
KILLS = 10
MODELS = "openai/gpt-4o-mini,openai/gpt-4o"


def start(folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--models", MODELS, "--quiet"],
        cwd=folder,
        env=keyprov_process_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def writes(sandbox: Sandbox) -> int:
    return sum(record.method != "GET" for record in sandbox.request_log)


def test_kills_between_creates_and_assignments_converge(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    env = sandbox_env(sandbox, management_key)
    chance = random.Random(20261201)
    sandbox.faults = Faults(latency=0.02)
    size = 4
    landed = 0
    for _ in range(KILLS):
        size = min(PARTICIPANTS, size + 4)  # new rows each time: creates, then their assignment
        make_roster(tmp_path / "ws.csv", size)
        sandbox.clear_log()
        process = start(tmp_path, env)
        # 4 new keys to create (and, the first time, the guardrail), then their assignment:
        # killed after some creates, or after all of them, before the assignment.
        target = chance.randint(1, 5)
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if writes(sandbox) >= target:
                break
            time.sleep(0.001)
        landed += process.poll() is None
        process.kill()
        process.wait(timeout=30)
    assert landed >= KILLS - 2, "most kills cut a run short"

    sandbox.faults = Faults()
    make_roster(tmp_path / "ws.csv", PARTICIPANTS)
    final = subprocess.run(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--models", MODELS],
        cwd=tmp_path,
        env=keyprov_process_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert final.returncode == 0, final.stderr

    (guardrail,) = sandbox.guardrails()
    enabled = [key for key in sandbox.keys() if not key["disabled"]]
    folder = tmp_path / "output" / "ws"
    wanted = sorted(key_name_in(folder, "ws", f"person{i}@example.org") for i in range(40))
    assert sorted(key["name"] for key in enabled) == wanted, "one key per participant"
    assigned = [a["key_hash"] for a in sandbox.assignments()]
    assert len(assigned) == len(set(assigned)), "no key on two guardrails"
    on_ours = {a["key_hash"] for a in sandbox.assignments() if a["guardrail_id"] == guardrail["id"]}
    assert {key["hash"] for key in enabled} <= on_ours, "every key on the workshop's guardrail"
