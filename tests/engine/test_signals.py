"""Ctrl-C and SIGTERM in the middle of creating keys: exit 130, nothing in flight forgotten.

A process of its own per signal: the signal must reach keyprov's real main thread.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyprov.sandbox import Faults, Sandbox
from tests.helpers import invoke, keyprov_process_env, make_roster, sandbox_env, state_hashes

PARTICIPANTS = 60


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_create_exits_130_and_the_rerun_completes_without_duplicates(
    signum: int, sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", PARTICIPANTS)
    env = sandbox_env(sandbox, management_key)
    # Slow answers and few workers: when the signal comes, creates are in flight.
    sandbox.faults = Faults(latency=0.2)
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--concurrency", "8"],
        cwd=tmp_path,
        env=keyprov_process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(record.method == "POST" for record in sandbox.request_log) >= 10:
            break
        time.sleep(0.01)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    made = {key["hash"] for key in sandbox.keys()}
    assert 10 <= len(made) < PARTICIPANTS, "stopped part-way"
    folder = tmp_path / "output" / "ws"
    assert state_hashes(folder) == made, "every create that was in flight is journaled"

    sandbox.faults = Faults()
    again = invoke(["provision", "ws.csv"], env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    names = [key["name"] for key in sandbox.keys()]
    assert len(names) == PARTICIPANTS == len(set(names)), "one key each, none twice"
