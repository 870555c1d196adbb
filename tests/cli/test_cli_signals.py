"""SIGINT and SIGTERM at any moment of a run exit 130: right after start-up, while keys are
created (with an immediate word on what the run waits for), and during the final save.

A process of its own each: the signal must reach keyprov's real main thread, and start-up
and shutdown are the process's own.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from keyprov.sandbox import Faults, Sandbox
from tests.helpers import keyprov_process_env, make_roster, sandbox_env, state_hashes

SIGNALS = [signal.SIGINT, signal.SIGTERM]


def start(folder: Path, sandbox: Sandbox, key: str, *args: str) -> subprocess.Popen[str]:
    env = sandbox_env(sandbox, key)
    return subprocess.Popen(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", *args],
        cwd=folder,
        env=keyprov_process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler of its own for `signum` (Linux's /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def wait_until(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("signum", SIGNALS)
def test_a_signal_right_after_start_exits_130(
    signum: int, sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 3)
    process = start(tmp_path, sandbox, management_key)
    # SIGTERM is caught once keyprov's handlers are in: the first thing its main does, before
    # the commands and their libraries are imported. Signal at that moment.
    wait_until(lambda: process.poll() is not None or catches(process.pid, signal.SIGTERM))
    libraries = Path(f"/proc/{process.pid}/maps").read_text()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert "/_ssl." not in libraries, "the handlers are in before requests (and the rest) load"
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert sandbox.keys() == []


@pytest.mark.parametrize("signum", SIGNALS)
def test_a_signal_during_the_final_save_exits_130_and_loses_no_key(
    signum: int, sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    participants = 300  # a keys.xlsx that takes a while to write
    make_roster(tmp_path / "ws.csv", participants)
    process = start(tmp_path, sandbox, management_key, "--quiet")
    # Once the server has answered every create, what is left is the run's end: the state
    # compacted, keys.xlsx rebuilt, the audit's run_end, the summary, the exit.
    wait_until(
        lambda: (
            process.poll() is not None
            or sum(r.method == "POST" for r in sandbox.request_log) >= participants
        )
    )
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    made = {key["hash"] for key in sandbox.keys()}
    assert len(made) == participants
    assert state_hashes(tmp_path / "output" / "ws") == made, "every key's secret is saved"


def test_ctrl_c_while_creating_says_at_once_what_the_run_waits_for(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 60)
    sandbox.faults = Faults(latency=0.5)  # creates in flight when the signal comes
    process = start(tmp_path, sandbox, management_key, "--concurrency", "8")
    wait_until(lambda: sum(r.method == "POST" for r in sandbox.request_log) >= 8)
    process.send_signal(signal.SIGINT)
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    # Only once the first is answered: on a busy machine a second Ctrl-C sent blindly can
    # come before the run has even begun to stop.
    wait_until(lambda: any(line.startswith("stopping: waiting for") for line in lines))
    process.send_signal(signal.SIGINT)  # a second Ctrl-C: said, but it cannot cut the wait
    assert process.stdout is not None
    process.stdout.read()
    process.wait(timeout=60)
    reader.join(timeout=60)
    lines = [line.rstrip("\n") for line in lines]
    stderr = "\n".join(lines)

    assert process.returncode == 130, stderr
    stopping = [i for i, line in enumerate(lines) if line.startswith("stopping: waiting for")]
    assert len(stopping) == 1, stderr
    in_flight = int(lines[stopping[0]].split()[3])
    assert 1 <= in_flight <= 8
    assert lines[stopping[0]].endswith("creates in flight so their keys are saved")
    assert any(line.startswith("still waiting for ") for line in lines[stopping[0] :]), stderr
    assert lines[-1] == (
        "interrupted: what was done so far is saved (keys made, messages sent); run the same "
        "command again to continue."
    )
    made = {key["hash"] for key in sandbox.keys()}
    assert state_hashes(tmp_path / "output" / "ws") == made, "the creates in flight were saved"


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux's pipe sizes")
@pytest.mark.parametrize("signum", SIGNALS)
def test_a_signal_while_the_outcome_is_printed_exits_130_with_the_outcome_whole(
    signum: int, sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    participants = 100
    make_roster(tmp_path / "ws.csv", participants)
    # A pipe of one page, not read until the signal: the run's end blocks printing its
    # outcome (--list), a moment that lasts until the test lets it go on.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    env = sandbox_env(sandbox, management_key)
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--list"],
        cwd=tmp_path,
        env=keyprov_process_env(env),
        stdout=write_end,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    audit = tmp_path / "output" / "ws" / "audit.jsonl"
    wait_until(lambda: audit.exists() and '"run_end"' in audit.read_text())
    wait_until(lambda: "pipe_write" in Path(f"/proc/{process.pid}/wchan").read_text())
    process.send_signal(signum)
    with os.fdopen(read_end) as printed:
        stdout = printed.read()
    process.wait(timeout=60)

    assert process.returncode == 130
    lines = stdout.splitlines()
    assert lines[0] == f"ws: {participants} participants: {participants} created"
    assert sum("@example.org" in line for line in lines) == participants, "printed whole"
