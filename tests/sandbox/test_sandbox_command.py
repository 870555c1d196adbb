"""The `keyprov sandbox` command: a real process, its output, its flags."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

import keyprov.sandbox
from keyprov.sandbox import DEMO_MANAGEMENT_KEY, Sandbox
from keyprov.sandbox.command import sandbox_command
from tests.sandbox.support import MGMT


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


def _header(proc):
    """The URL line, then the lines up to and including the closing comment."""
    lines = [proc.stdout.readline().rstrip("\n")]
    while not lines[-1].startswith("# paste"):
        lines.append(proc.stdout.readline().rstrip("\n"))
    return lines


def _pasted(lines):
    """What a shell has in its environment after the lines are pasted into it."""
    script = "\n".join(
        [*lines, 'printf "%s\\n%s" "$OPENROUTER_BASE_URL" "$OPENROUTER_PROVISIONING_KEY"']
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, check=True)
    return done.stdout.split("\n")


def test_command_prints_its_url_and_the_export_lines_for_the_demo_key():
    proc = _run_command({})
    try:
        first, *rest = _header(proc)
        match = re.fullmatch(
            r"keyprov sandbox listening on (http://127\.0\.0\.1:(\d+)/api/v1)", first
        )
        assert match, first
        assert int(match.group(2)) > 0
        url = match.group(1)
        assert rest[:2] == [
            f"export OPENROUTER_BASE_URL={url}",
            f"export OPENROUTER_PROVISIONING_KEY={DEMO_MANAGEMENT_KEY}",
        ]
        assert _pasted(rest) == [url, DEMO_MANAGEMENT_KEY]

        auth = {"Authorization": f"Bearer {DEMO_MANAGEMENT_KEY}"}
        credits = requests.get(url + "/credits", headers=auth, timeout=5)
        assert credits.json() == {"data": {"total_credits": 12.5, "total_usage": 0.0}}
    finally:
        assert _stop(proc) == 0


def test_command_never_prints_a_key_from_the_environment():
    proc = _run_command({"OPENROUTER_PROVISIONING_KEY": "sk-or-v1-env-management-key"})
    try:
        first, *rest = _header(proc)
        url = first.split()[-1]
        assert rest[0] == f"export OPENROUTER_BASE_URL={url}"
        assert all(line.startswith("#") for line in rest[1:])
        assert _pasted(rest) == [url, ""]  # the user's own key stays where it is
        auth = {"Authorization": "Bearer sk-or-v1-env-management-key"}
        assert requests.get(url + "/keys", headers=auth, timeout=5).status_code == 200
    finally:
        assert _stop(proc) == 0
    out, err = proc.communicate()
    assert "sk-or-v1-env-management-key" not in "\n".join(rest) + out + err


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


# -- the subcommands, against a sandbox running in this process ------------------------------


@pytest.fixture
def running():
    with Sandbox(MGMT) as sb:
        yield sb


def invoke(sb, *args, key=MGMT, url=None):
    env = {"OPENROUTER_PROVISIONING_KEY": key, "OPENROUTER_BASE_URL": url or sb.base_url}
    return CliRunner().invoke(sandbox_command, list(args), env=env)


def usages(sb):
    return {k["name"]: (k["usage"], k["usage_daily"], k["usage_monthly"]) for k in sb.keys()}


def test_spend_sets_usage_on_the_keys_a_prefix_names(running):
    for name in ("keyprov:ws:ada", "keyprov:ws:bob", "other:carol"):
        running.create_key_directly(name, limit=5)

    result = invoke(running, "spend", "--name-prefix", "keyprov:ws:", "--usage", "1.5")

    assert result.exit_code == 0, result.output
    assert result.output == "spend set on 2 keys: 3.00 USD in all\n"
    assert usages(running) == {
        "keyprov:ws:ada": (1.5, 1.5, 1.5),
        "keyprov:ws:bob": (1.5, 1.5, 1.5),
        "other:carol": (0, 0, 0),
    }
    limits = {k["name"]: k["limit_remaining"] for k in running.keys()}
    assert limits["keyprov:ws:ada"] == 3.5


def test_spend_by_hash_with_windows(running):
    _, ada = running.create_key_directly("ada", limit=10, limit_reset="daily")
    running.create_key_directly("bob")

    args = ["spend", "--hash", ada["hash"], "--usage", "4", "--daily", "0.5", "--monthly", "3"]
    result = invoke(running, *args)

    assert result.exit_code == 0, result.output
    assert usages(running) == {"ada": (4, 0.5, 3), "bob": (0, 0, 0)}
    assert running.keys()[1]["usage_weekly"] == 3  # left out: the month's figure
    assert running.keys()[1]["limit_remaining"] == 9.5


def test_random_spend_stays_within_limits_and_repeats_with_a_seed(running):
    for i in range(5):
        running.create_key_directly(f"keyprov:ws:p{i}", limit=2)

    first = invoke(running, "spend", "--random", "--seed", "7")
    spent = usages(running)
    again = invoke(running, "spend", "--random", "--seed", "7")

    assert first.exit_code == again.exit_code == 0
    assert usages(running) == spent
    assert all(0 <= usage <= 2 for usage, _, _ in spent.values())
    assert len({usage for usage, _, _ in spent.values()}) > 1
    invoke(running, "spend", "--random", "--seed", "8")
    assert usages(running) != spent


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["spend", "--name-prefix", "x"], "--usage USD, or --random"),
        (["spend", "--name-prefix", "nobody:", "--usage", "1"], "no key's name starts with"),
        (["spend", "--usage", "1", "--daily", "2"], "daily <= weekly"),
        (["spend", "--random", "--usage", "1"], "either"),
        (["spend", "--hash", "f" * 64, "--usage", "1"], "no key has the hash"),
        (["force", "nope"], "unknown fault"),
        (["force", "slow"], "seconds"),
    ],
)
def test_subcommands_say_what_is_wrong_and_change_nothing(running, args, problem):
    running.create_key_directly("keyprov:ws:ada", limit=5)

    result = invoke(running, *args)

    assert result.exit_code != 0
    assert problem in result.output
    assert usages(running) == {"keyprov:ws:ada": (0, 0, 0)}
    assert running.forced() == []


def test_subcommands_explain_an_unreachable_or_refusing_sandbox(running):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    cases = [
        (dict(url=f"http://127.0.0.1:{port}/api/v1"), "cannot reach a sandbox"),
        (dict(key="sk-or-v1-not-the-key"), "refused the management key"),
        (dict(url="http://192.0.2.1:8787/api/v1"), "--allow-remote"),
        (dict(url="ftp://127.0.0.1/"), "not an http://"),
    ]
    for options, problem in cases:
        result = invoke(running, "spend", "--usage", "1", **options)
        assert result.exit_code == 1, result.output
        assert problem in result.output
        assert "sk-or-v1-not-the-key" not in result.output


def test_force_queues_a_fault_on_a_running_sandbox(running):
    result = invoke(running, "force", "list_null_data:2", "--path", "/keys", "--method", "GET")

    assert result.exit_code == 0, result.output
    assert "list_null_data" in result.output
    (pending,) = running.forced()
    assert (pending["kind"], pending["remaining"], pending["path_prefix"]) == (
        "list_null_data",
        2,
        "/keys",
    )
    slow = invoke(running, "force", "slow", "--seconds", "0.01")
    assert slow.exit_code == 0
    assert [f["seconds"] for f in running.forced()] == [0.0, 0.01]


def test_on_windows_the_lines_to_paste_are_powershell_s(sandbox):
    from keyprov.sandbox.command import export_lines

    lines = export_lines(sandbox, powershell=True)
    assert lines[0] == f"$env:OPENROUTER_BASE_URL = '{sandbox.base_url}'"
