"""The `keyprov` command as a user runs it: real HTTP, exit codes; a process of its own for
each exit path and each environment check, in process (`invoke`) for the rest."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from keyprov.cli import cli
from keyprov.cli.common import every_command
from keyprov.roster.headers import FIELDS
from keyprov.sandbox import Faults, Sandbox
from tests.helpers import (
    REPO,
    invoke,
    key_name_in,
    make_roster,
    most_at_once,
    run_keyprov,
    sandbox_env,
    write_csv,
)


def test_provision_logs_each_participant_with_a_running_count_and_exits_0(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 3)
    done = run_keyprov(
        ["provision", "ws.csv"], env=sandbox_env(sandbox, management_key), cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    # Not a terminal: progress is one numbered line per participant, on stderr.
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert [line[:5] for line in progress] == ["[1/3]", "[2/3]", "[3/3]"]
    assert sorted(line.split()[1:5] for line in progress) == [
        ["created", "Person", f"{i},", f"person{i}@example.org"] for i in range(3)
    ]
    assert "listed 0 keys on the server (1 page)" in done.stderr
    # The result on stdout: the summary, not one line per participant.
    assert done.stdout.splitlines()[0] == "ws: 3 participants: 3 created"
    assert "person0@example.org" not in done.stdout
    assert (tmp_path / "output" / "ws" / "keys.xlsx").exists()
    assert len(sandbox.keys()) == 3


def test_a_rejected_provisioning_key_stops_at_once_with_exit_2(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 3)
    done = run_keyprov(
        ["provision", "ws.csv"], env=sandbox_env(sandbox, "sk-or-v1-revoked"), cwd=tmp_path
    )
    assert done.returncode == 2
    assert "OpenRouter rejected the provisioning key" in done.stderr
    assert "OPENROUTER_PROVISIONING_KEY" in done.stderr
    # The first request (which account is this?) is refused once, never retried, and
    # nothing else is sent but the reads that go out with it (if they left before the exit).
    seen = [(r.method, r.path, r.status) for r in sandbox.request_log]
    assert ("GET", "/api/v1/key", 401) in seen
    sent_with_it = {("GET", "/api/v1/keys", 401), ("GET", "/api/v1/credits", 401)}
    assert set(seen) <= {("GET", "/api/v1/key", 401), *sent_with_it}
    assert len(seen) == len(set(seen)), seen
    assert "Traceback" not in done.stderr


def test_a_bad_roster_exits_2_before_any_api_call(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    write_csv(
        tmp_path / "ws.csv",
        ("name", "email", "limit"),
        [("Ada", "ada@example.org", "1"), ("Bob", "bob-at-example.org", "x")],
    )
    done = run_keyprov(
        ["provision", "ws.csv"], env=sandbox_env(sandbox, management_key), cwd=tmp_path
    )
    assert done.returncode == 2
    assert "ws.csv, row 3, column 'email': 'bob-at-example.org' is not a valid email" in done.stderr
    assert "ws.csv, row 3, column 'limit': 'x' is not a number" in done.stderr
    assert sandbox.request_log == []
    assert not (tmp_path / "output").exists()


def test_without_the_provisioning_key_it_exits_2_naming_the_variable(tmp_path: Path) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    done = run_keyprov(["provision", "ws.csv"], env={}, cwd=tmp_path)
    assert done.returncode == 2
    assert "OPENROUTER_PROVISIONING_KEY is not set" in done.stderr
    assert "make demo" in done.stderr


def test_make_provision_without_the_key_exits_2_naming_the_variable() -> None:
    done = subprocess.run(
        # -o: the suite runs inside the venv make built; never rebuild it from here.
        ["make", "-s", "-o", ".venv/.installed-stamp", "provision", "ROSTER=roster/example.csv"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    assert "OPENROUTER_PROVISIONING_KEY is not set" in done.stderr


def test_some_participants_not_provisioned_exits_1(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 2)
    sandbox.create_key_directly("keyprov:ws:person1@example.org", limit=1)  # secret not ours
    done = run_keyprov(
        ["provision", "ws.csv"], env=sandbox_env(sandbox, management_key), cwd=tmp_path
    )
    assert done.returncode == 1
    assert "person1@example.org: secret lost" in done.stderr
    assert len(sandbox.keys()) == 2, "the lost key is reported, never duplicated"


@pytest.mark.parametrize("command", sorted(every_command()))
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_cancelled_registrations_are_skipped_and_reported(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    write_csv(
        tmp_path / "ws.csv",
        ("Name", "Email", "Status"),
        [("Ada", "ada@example.org", "Attending"), ("Bob", "bob@example.org", "Refunded")],
    )
    done = invoke(
        ["provision", "ws.csv", "--limit", "1"],
        env=sandbox_env(sandbox, management_key),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "note: skipped:" in done.stderr and "bob@example.org" in done.stderr
    folder = tmp_path / "output" / "ws"
    assert [key["name"] for key in sandbox.keys()] == [key_name_in(folder, "ws", "ada@example.org")]
    audit = (tmp_path / "output" / "ws" / "audit.jsonl").read_text()
    assert "Refunded" in audit


def test_concurrency_above_the_default_is_real(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    # The client's connection pool and rate window cap the requests in flight: were they
    # left at the default of 64, a larger --concurrency would only queue threads behind them.
    # The window starts at 8 and grows by half each round trip: some 260 creates before it
    # passes 64, so 400 of them, each long enough that they overlap even on a slow machine.
    sandbox.faults = Faults(latency=0.2)
    make_roster(tmp_path / "ws.csv", 400)
    done = invoke(
        ["provision", "ws.csv", "--concurrency", "96", "--quiet"],
        env=sandbox_env(sandbox, management_key),
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    posts = [r for r in sandbox.request_log if r.method == "POST"]
    assert len(posts) == 400
    assert most_at_once(posts) > 64


def test_full_concurrency_fits_a_small_open_file_limit(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    """128 workers hold a socket each, and a state-file descriptor each while they fsync: up to
    twice what a soft limit like macOS's 256 allows. keyprov raises the limit for itself; here
    100, which 128 workers exceed without it."""
    make_roster(tmp_path / "ws.csv", 300)
    sandbox.faults = Faults(latency=0.1)  # every worker's create in flight at once

    def small_limit() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, hard))

    done = run_keyprov(
        ["provision", "ws.csv", "--concurrency", "128", "--quiet"],
        env=sandbox_env(sandbox, management_key),
        cwd=tmp_path,
        preexec_fn=small_limit,
    )
    assert done.returncode == 0, done.stderr
    assert len(sandbox.keys()) == 300


# -- conventions: usage errors, help, -v, option errors, nothing key-like echoed ------------


def test_a_usage_error_keeps_click_s_usage_line_and_hint_with_one_prefix(tmp_path: Path) -> None:
    done = invoke(["provision", "x.csv", "--limitt", "2"], env={}, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Usage: keyprov provision [OPTIONS] ROSTER",
        "Try 'keyprov provision -h' for help.",
        "",
        "error: No such option '--limitt'. (Did you mean one of: '--limit', '--limit-reset', "
        "'--max-limit'?)",
    ]
    missing = invoke(["provision"], env={}, cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[-1] == "error: Missing argument 'ROSTER'."
    assert "Error:" not in done.stderr + missing.stderr


def test_keyprov_alone_prints_its_help(tmp_path: Path) -> None:
    done = invoke([], env={}, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout == invoke(["-h"], env={}, cwd=tmp_path).stdout
    assert done.stdout.startswith("Usage: keyprov [OPTIONS] COMMAND [ARGS]...")
    assert "error" not in (done.stdout + done.stderr).lower()


def test_help_lists_the_commands_in_workflow_order_with_whole_summaries(tmp_path: Path) -> None:
    done = invoke(["-h"], env={}, cwd=tmp_path)
    section = done.stdout.split("Commands:\n")[1]
    names = [line.split()[0] for line in section.splitlines() if line.startswith("  ") and
             not line.startswith("    ")]  # fmt: skip
    expected = ["provision", "check", "handouts", "send", "open", "claim", "close", "report"]
    expected += ["watch", "set-limit", "rotate"]
    expected += ["revoke", "rename-keys", "workshops"]
    expected += ["doctor", "sandbox"]
    assert names == [name for name in expected if name in every_command()]
    assert "..." not in section
    for name in names:
        summary = every_command()[name].get_short_help_str(limit=1000)
        assert " ".join(summary.split()) in " ".join(section.split())


@pytest.mark.parametrize("command", sorted(every_command()))
def test_verbose_is_accepted_after_every_command(command: str, tmp_path: Path) -> None:
    done = invoke([command, "-v", "--help"], env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "-v, --verbose" in done.stdout


def test_verbose_after_the_roster_logs_the_requests(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    env = sandbox_env(sandbox, management_key)
    quiet = invoke(["provision", "ws.csv", "--dry-run"], env=env, cwd=tmp_path)
    done = invoke(["provision", "ws.csv", "--dry-run", "--verbose"], env=env, cwd=tmp_path)
    assert done.returncode == quiet.returncode == 0, done.stderr
    assert " DEBUG " in done.stderr and " DEBUG " not in quiet.stderr
    assert management_key not in done.stderr


def test_every_option_has_help_and_says_what_its_value_is() -> None:
    metavars: dict[str, str] = {}
    for name, command in every_command().items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.is_flag:
                assert param.help, f"{name} {param.opts[0]} has no help"
                metavars[f"{name} {param.opts[0]}"] = param.metavar or ""
    assert metavars["provision --limit"] == "USD"
    assert metavars["provision --max-limit"] == "USD"
    assert metavars["set-limit --max-limit"] == "USD"
    assert metavars["set-limit --add"] == "USD"
    assert metavars["provision --expires"] == metavars["check --expires"] == "DAY|TIME|7d"
    assert metavars["rotate --expires"] == "DAY|TIME|7d"
    assert metavars["provision --quickstart"] == "shell|powershell|python|colab"
    assert metavars["provision --concurrency"] == "N"
    assert metavars["check --warn-days"] == "N"
    provision_params = every_command()["provision"].params
    column_help = next(p.help for p in provision_params if p.name == "columns")
    assert all(field in (column_help or "") for field in FIELDS)
    reset_help = next(p.help for p in provision_params if p.name == "limit_reset")
    assert "every..." not in (reset_help or "")


def test_a_bad_option_value_is_reported_as_the_option_with_the_usage(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    write_csv(tmp_path / "r.csv", ("name", "email"), [("Ada", "ada@example.org")])
    done = invoke(
        ["provision", "r.csv", "--limit", "0"],
        env=sandbox_env(sandbox, management_key),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Usage: keyprov provision [OPTIONS] ROSTER",
        "Try 'keyprov provision -h' for help.",
        "",
        "error: --limit 0: a limit must be more than 0 USD; give e.g. --limit 2.",
    ]
    assert sandbox.request_log == []


@pytest.mark.parametrize(
    "arguments",
    [
        ["provision", "ws.csv", "--limit", "{token}"],  # click's own 'is not a valid float'
        ["provision", "ws.csv", "--expires", "{token}"],  # keyprov's 'is not a date'
        ["set-limit", "ws.csv", "--participant", "{token}", "--limit", "1"],  # a library error
    ],
)
def test_a_key_typed_without_its_prefix_is_never_echoed(
    arguments: list[str], sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    env = sandbox_env(sandbox, management_key)
    assert invoke(["provision", "ws.csv"], env=env, cwd=tmp_path).returncode == 0
    token = management_key.removeprefix("sk-or-v1-")
    done = invoke([arg.format(token=token) for arg in arguments], env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert token not in done.stdout + done.stderr
    assert token[:24] not in done.stdout + done.stderr
    assert "<hidden>" in done.stderr and "consider it exposed" in done.stderr


def test_a_value_that_cannot_be_a_key_is_still_shown(tmp_path: Path) -> None:
    done = invoke(["provision", "ws.csv", "--limit", "two"], env={}, cwd=tmp_path)
    assert done.returncode == 2
    assert "'two' is not a valid float" in done.stderr and "<hidden>" not in done.stderr
