"""The `keyprov sandbox` command: a real process, its output, its flags."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

import keyprov.sandbox
from keyprov.sandbox import DEMO_MANAGEMENT_KEY
from keyprov.sandbox.command import sandbox_command


def _run_command(extra_env, *args):
    env = {k: v for k, v in os.environ.items() if k != "OPENROUTER_PROVISIONING_KEY"}
    src = str(Path(keyprov.sandbox.__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env.update(extra_env)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keyprov.sandbox.command",
            "--port",
            "0",
            "--credits",
            "12.5",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    finally:
        proc.kill()


def test_command_prints_its_url_and_serves_the_demo_key():
    proc = _run_command({})
    try:
        first = proc.stdout.readline().rstrip("\n")
        second = proc.stdout.readline().rstrip("\n")
        match = re.fullmatch(
            r"keyprov sandbox listening on (http://127\.0\.0\.1:(\d+)/api/v1)", first
        )
        assert match, first
        assert int(match.group(2)) > 0
        assert second == f"management key: {DEMO_MANAGEMENT_KEY}"

        auth = {"Authorization": f"Bearer {DEMO_MANAGEMENT_KEY}"}
        credits = requests.get(match.group(1) + "/credits", headers=auth, timeout=5)
        assert credits.json() == {"data": {"total_credits": 12.5, "total_usage": 0.0}}
    finally:
        assert _stop(proc) == 0


def test_command_never_prints_a_key_from_the_environment():
    proc = _run_command({"OPENROUTER_PROVISIONING_KEY": "sk-or-v1-env-management-key"})
    try:
        url = proc.stdout.readline().split()[-1]
        assert proc.stdout.readline() == "management key: from OPENROUTER_PROVISIONING_KEY\n"
        auth = {"Authorization": "Bearer sk-or-v1-env-management-key"}
        assert requests.get(url + "/keys", headers=auth, timeout=5).status_code == 200
    finally:
        assert _stop(proc) == 0
    out, err = proc.communicate()
    assert "sk-or-v1-env-management-key" not in out + err


def test_command_refuses_a_remote_host_without_allow_remote():
    result = CliRunner().invoke(sandbox_command, ["--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


def test_command_help_has_an_example():
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    assert "keyprov sandbox --port 0" in result.output


def test_command_forces_answer_faults_from_its_flags():
    proc = _run_command({}, "--force", "list_null_data:2", "--force", "html_200")
    try:
        url = proc.stdout.readline().split()[-1]
        auth = {"Authorization": f"Bearer {DEMO_MANAGEMENT_KEY}"}
        answers = [requests.get(url + "/keys", headers=auth, timeout=5) for _ in range(4)]
    finally:
        assert _stop(proc) == 0
    # The portal acts before any route runs, so it takes the first request; the listings follow.
    assert answers[0].headers["Content-Type"].startswith("text/html")
    assert [r.json() for r in answers[1:]] == [{"data": None}, {"data": None}, {"data": []}]


@pytest.mark.parametrize(
    ("flag", "problem"),
    [("nope", "unknown fault"), ("503:0", "COUNT"), ("503:x", "x"), ("slow", "seconds")],
)
def test_command_refuses_a_bad_force_flag(flag, problem):
    result = CliRunner().invoke(sandbox_command, ["--port", "0", "--force", flag])
    assert result.exit_code == 2
    assert "--force" in result.output
    assert problem in result.output
