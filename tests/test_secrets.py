"""No secret leaks: the admin key and created keys live only where they must.

Sentinel secrets (fresh random keys) go through every command and failure path; then every
byte the tool printed or wrote outside keys.xlsx and state.jsonl is searched for them.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from keyprov import cli
from keyprov.sandbox import Sandbox
from keyprov.workshop.journal import Ledger
from tests.delivery.test_mail_http import api_key_for, mail_env
from tests.delivery.test_send import smtp_env
from tests.helpers import Invocation, invoke, make_roster, run_keyprov, sandbox_env
from tests.mail_fake_apis import FAKES
from tests.smtp import Mailbox

SECRET_FILES = {"keys.xlsx", "state.jsonl", "handouts.pdf", "mail-merge.csv"}


def created_secrets(out: Path) -> list[str]:
    found = []
    for state in out.glob("*/state.jsonl"):
        found += [entry.secret for entry in Ledger.open(state).entries() if entry.secret]
    return found


def test_sentinel_secrets_never_leave_the_secret_files(
    sandbox: Sandbox,
    management_key: str,
    tmp_path: Path,
    monkeypatch,
    capsys,
    mailbox: Mailbox,
    smtp_server,
    fast_retries,
) -> None:
    out = tmp_path / "output"
    env = sandbox_env(sandbox, management_key)
    make_roster(tmp_path / "ws.csv", 12)
    printed: list[str] = []

    def run(*args: str, **extra_env: str) -> Invocation:
        done = invoke(list(args), env={**env, **extra_env}, cwd=tmp_path)
        printed.extend([done.stdout, done.stderr])
        return done

    # The demo, with the sentinel as the sandbox's management key.
    demo = subprocess.run(
        [sys.executable, "-m", "keyprov.cli.demo", "--out", str(tmp_path / "demo-out")],
        env={**os.environ, "OPENROUTER_PROVISIONING_KEY": management_key},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    printed.extend([demo.stdout, demo.stderr])

    # Provisioning through retries and creates whose answer is lost, verbose.
    sandbox.force(503, count=3, method="GET")
    sandbox.force(429, count=2, method="POST")
    sandbox.force("drop_after_commit", count=3)
    sandbox.force(502, count=2, method="POST")
    assert run("--verbose", "provision", "ws.csv").returncode == 0
    assert "retrying" in printed[-1], "--verbose shows the retries"

    # Every other command and failure path.
    make_roster(tmp_path / "ws.csv", 14)
    assert run("provision", "ws.csv", "--dry-run").returncode == 0
    assert run("--verbose", "provision", "ws.csv", "--prune").returncode == 0
    assert run("doctor", "--out", str(out)).returncode == 0

    # The lifecycle commands, verbose; a rotated-away key is a sentinel too.
    rotated_away = created_secrets(out)
    assert run("--verbose", "check", "ws.csv").returncode == 0
    assert run("--verbose", "report", "ws.csv").returncode == 0
    assert run("--verbose", "set-limit", "ws.csv", "--all", "--add", "1").returncode == 0
    assert (
        run("--verbose", "rotate", "ws.csv", "--participant", "person0@example.org").returncode == 0
    )
    sandbox.force(429, count=1, method="POST", retry_after="3600")
    assert (
        run("--verbose", "rotate", "ws.csv", "--participant", "person1@example.org").returncode == 1
    )

    # Handing the keys out: slips, mail merge, and email through failures, verbose.
    mail = smtp_env(smtp_server.port)
    smtp_password = "smtp-" + secrets.token_hex(16)
    assert run("--verbose", "handouts", "ws.csv").returncode == 0
    assert run("handouts", "ws.csv", "--only", "new", "--paper", "letter").returncode == 0
    assert run("--verbose", "send", "ws.csv", "--dry-run", **mail).returncode == 0
    mailbox.refuse.add("person2@example.org")
    mailbox.fail_next = ["451", "421"]
    fast = ("--rate", "600000", "--attempts", "1")
    assert run("--verbose", "send", "ws.csv", *fast, **mail).returncode == 1
    assert len(mailbox.received) == 11, "all but the refused one and two failed for now"
    mailbox.refuse.clear()
    mailbox.fail_next = ["drop"]
    assert run("send", "ws.csv", *fast, **mail).returncode == 1
    assert run("send", "ws.csv", *fast, **mail).returncode == 0
    assert len(mailbox.received) == 14, "everyone has their key"
    assert run("--verbose", "send", "ws.csv", "--resend", "--participant", "person3@example.org",
               *fast, **mail).returncode == 0  # fmt: skip
    template = tmp_path / "message.txt"
    template.write_text("Subject: {key}\n\n{key}\n")
    assert run("send", "ws.csv", "--template", str(template), **mail).returncode == 2
    login = {**mail, "KEYPROV_SMTP_USER": "team", "KEYPROV_SMTP_PASSWORD": smtp_password}
    assert run("--verbose", "send", "ws.csv", "--resend", "--participant", "person4@example.org",
               **login).returncode == 2, "this server offers no login"  # fmt: skip
    assert (
        run("send", "ws.csv", **{**login, "KEYPROV_SMTP_HOST": "smtp.example.org"}).returncode == 2
    )

    # Through HTTP mail APIs, whose keys are sentinels too (Mailgun's also as the base64 of its
    # Basic auth): a refused key, an unknown outcome, a lookup and --resend-unknown, verbose.
    mail_keys: list[str] = []
    for provider, participant in (("sendgrid", "person5"), ("mailgun", "person6")):
        with FAKES[provider](api_key_for(provider)) as fake:
            http = mail_env(fake)
            mail_keys += [fake.api_key, base64.b64encode(f"api:{fake.api_key}".encode()).decode()]
            rotate = ("rotate", "ws.csv", "--participant", f"{participant}@example.org")
            assert run(*rotate).returncode == 0
            assert run("--verbose", "send", "ws.csv", "--dry-run", **http).returncode == 0
            mail_keys.append(api_key_for(provider))  # a mistyped key is a secret too
            wrong = {**http, "KEYPROV_MAIL_API_KEY": mail_keys[-1]}
            assert run("--verbose", "send", "ws.csv", *fast, **wrong).returncode == 2
            fake.fail_next = ["500_after"]
            assert run("--verbose", "send", "ws.csv", *fast, **http).returncode == 1
            looked_up = run("--verbose", "send", "ws.csv", *fast, **http).returncode
            assert looked_up == (1 if provider == "sendgrid" else 0)
            assert run("send", "ws.csv", *fast, "--resend-unknown", **http).returncode == 0
            assert len(fake.delivered) == (2 if provider == "sendgrid" else 1)

    assert run("--verbose", "revoke", "ws.csv", "--dry-run").returncode == 0
    assert run("--verbose", "revoke", "ws.csv", "--yes").returncode == 0
    assert run("--verbose", "check", "ws.csv").returncode == 1, "every key is disabled now"
    assert (
        run("provision", "ws.csv", OPENROUTER_PROVISIONING_KEY="sk-or-v1-" + "0" * 64).returncode
        == 2
    )
    leaked = created_secrets(out)[0]
    assert run("provision", "ws.csv", "--limit", leaked).returncode == 2
    assert run("--help").returncode == 0
    sandbox_process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "sandbox", "--port", "0"],
        env={**os.environ, "OPENROUTER_PROVISIONING_KEY": management_key},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed.extend([sandbox_process.stdout.readline(), sandbox_process.stdout.readline()])
    finally:
        sandbox_process.terminate()
        try:
            rest, errors = sandbox_process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sandbox_process.kill()
            rest, errors = sandbox_process.communicate()
            pytest.fail(f"the sandbox did not stop on SIGTERM within 30 s; stderr: {errors}")
        printed.extend([rest, errors])

    # A forced exception that carries both kinds of secret, with and without --verbose.
    def explode(*_args, **_kwargs):
        raise RuntimeError(f"boom with {management_key} and {leaked}")

    monkeypatch.setattr("keyprov.engine.snapshot.make_plan", explode)
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for verbose in ([], ["--verbose"]):
        with pytest.raises(SystemExit) as exited:
            cli.main([*verbose, "provision", "ws.csv"])
        assert exited.value.code == 1
        captured = capsys.readouterr()
        assert "internal error: RuntimeError: boom with sk-or-v1-" in captured.err
        printed.extend([captured.out, captured.err])
    assert "Traceback" in printed[-1]

    keys = {*created_secrets(out), *rotated_away, *created_secrets(tmp_path / "demo-out")}
    assert len(keys) >= 14 + 1 + 8, "the workshop's keys, the one rotated away, the demo's"
    sentinels = [management_key, smtp_password, *mail_keys, *keys]
    for text in printed:
        for sentinel in sentinels:
            assert sentinel not in text
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    for path in written:
        content = path.read_bytes()
        holds = [sentinel for sentinel in sentinels if sentinel.encode() in content]
        if path.name in SECRET_FILES:
            assert management_key not in map(str, holds)
        else:
            assert holds == [], f"{path} holds a secret"
    xlsx_text = b"".join(p.read_bytes() for p in out.glob("*/keys.xlsx"))
    assert xlsx_text, "positive control: keys.xlsx exists"


def test_the_admin_key_as_an_argument_is_refused_without_echoing_it(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    done = invoke(
        ["provision", "ws.csv", "--api-key", management_key],
        env=sandbox_env(sandbox, management_key),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "argument 4 looks like an API key" in done.stderr
    assert management_key not in done.stdout + done.stderr
    assert sandbox.request_log == []


def test_a_key_without_the_openrouter_prefix_is_refused_by_value_on_the_command_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    odd_key = "admin-" + secrets.token_hex(16)
    make_roster(tmp_path / "ws.csv", 1)
    done = invoke(
        ["provision", f"--workshop={odd_key}", "ws.csv"],
        env=sandbox_env(sandbox, odd_key),
        cwd=tmp_path,
    )
    assert done.returncode == 2 and odd_key not in done.stderr


def test_a_key_that_does_not_look_like_openrouters_gets_a_warning_not_an_echo(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    odd_key = "admin-" + secrets.token_hex(16)
    make_roster(tmp_path / "ws.csv", 1)
    done = invoke(["provision", "ws.csv"], env=sandbox_env(sandbox, odd_key), cwd=tmp_path)
    assert "does not look like an OpenRouter key" in done.stderr
    assert odd_key not in done.stdout + done.stderr


def test_the_key_can_come_from_a_file_or_a_git_ignored_dotenv(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    key_file = tmp_path / "admin.key"
    key_file.write_text(management_key + "\n")
    done = run_keyprov(
        ["provision", "ws.csv"],
        env={
            "OPENROUTER_PROVISIONING_KEY_FILE": str(key_file),
            "OPENROUTER_BASE_URL": sandbox.base_url,
        },
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".env").write_text(
        f"OPENROUTER_PROVISIONING_KEY={management_key}\nOPENROUTER_BASE_URL={sandbox.base_url}\n"
    )
    (tmp_path / ".gitignore").write_text("output/\n")
    done = run_keyprov(["provision", "ws.csv"], env={}, cwd=tmp_path)
    assert done.returncode == 2
    assert "refusing to read" in done.stderr and ".env" in done.stderr

    (tmp_path / ".gitignore").write_text("output/\n.env\n")
    done = run_keyprov(["provision", "ws.csv"], env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_secret_files_are_private_from_the_first_byte(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 2)
    old_umask = os.umask(0o000)  # even a permissive umask must not widen them
    try:
        done = invoke(
            ["provision", "ws.csv"], env=sandbox_env(sandbox, management_key), cwd=tmp_path
        )
    finally:
        os.umask(old_umask)
    assert done.returncode == 0
    folder = tmp_path / "output" / "ws"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("keys.xlsx", "state.jsonl", "audit.jsonl"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    # Every other file too, lock files included, here and in keyprov's own folder.
    home = Path(os.environ["KEYPROV_HOME"])
    for path in [*folder.rglob("*"), *home.rglob("*")]:
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_outputs_inside_a_git_work_tree_must_be_ignored(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    make_roster(tmp_path / "ws.csv", 1)
    env = sandbox_env(sandbox, management_key)

    done = invoke(["provision", "ws.csv"], env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "refusing to write secrets" in done.stderr and "not git-ignored" in done.stderr
    assert not (tmp_path / "output").exists() and sandbox.request_log == []

    assert invoke(["provision", "ws.csv", "--force"], env=env, cwd=tmp_path).returncode == 0
    (tmp_path / ".gitignore").write_text("output/\n")
    assert invoke(["provision", "ws.csv"], env=env, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    "base_url",
    ["http://openrouter.ai/api/v1", "http://10.0.0.5:8787/api/v1", "ftp://127.0.0.1/api/v1"],
)
def test_the_key_never_travels_in_clear_text(
    base_url: str, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    done = invoke(
        ["provision", "ws.csv"],
        env={"OPENROUTER_PROVISIONING_KEY": management_key, "OPENROUTER_BASE_URL": base_url},
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "would send the provisioning key" in done.stderr


def test_doctor_reports_key_kind_permissions_and_git_ignore(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    env = sandbox_env(sandbox, management_key)
    assert invoke(["provision", "ws.csv"], env=env, cwd=tmp_path).returncode == 0
    done = invoke(["doctor"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert re.search(r"^ok\s+management key\s+accepted", done.stdout, re.MULTILINE)
    assert re.search(r"^ok\s+permissions ws\s+owner-only", done.stdout, re.MULTILINE)

    (tmp_path / "output" / "ws" / "keys.xlsx").chmod(0o644)
    participant_key = created_secrets(tmp_path / "output")[0]
    done = invoke(["doctor"], env=sandbox_env(sandbox, participant_key), cwd=tmp_path)
    assert done.returncode == 1
    assert re.search(r"^FAIL\s+management key\s+.*not a management key", done.stdout, re.M)
    assert re.search(r"^FAIL\s+permissions ws\s+keys.xlsx is -rw-r--r--", done.stdout, re.M)
    assert participant_key not in done.stdout + done.stderr


def test_ignoring_only_the_secret_files_by_name_is_not_enough(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    """Half-written temporary copies of them live in the same folder and must be ignored too."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("keys.xlsx\nstate.jsonl\n")
    make_roster(tmp_path / "ws.csv", 1)
    done = invoke(["provision", "ws.csv"], env=sandbox_env(sandbox, management_key), cwd=tmp_path)
    assert done.returncode == 2 and "refusing to write secrets" in done.stderr
