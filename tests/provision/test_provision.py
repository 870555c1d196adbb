"""Provisioning end to end through the library API, against the sandbox over HTTP.

Fault tests inject the fault in the sandbox and assert the end state: keys on the server
against rows in keys.xlsx and the local state.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import re
import stat
from pathlib import Path

import pytest
from openpyxl import load_workbook

from keyprov import cli
from keyprov.api.client import OpenRouterClient, RetryPolicy
from keyprov.errors import AuthenticationError, StateWriteError
from keyprov.provision import Outcome, ProvisionSettings, provision
from keyprov.render.run import attention_lines
from keyprov.sandbox import Faults, Sandbox
from keyprov.status import ExitStatus
from keyprov.workshop.journal import Ledger
from tests.helpers import (
    FAST_RETRY,
    CliWorkshop,
    key_name_in,
    make_roster,
    run_keyprov,
    sandbox_env,
    write_csv,
)


def settings_for(roster: Path, tmp_path: Path, **overrides: object) -> ProvisionSettings:
    return ProvisionSettings(roster=roster, out_dir=tmp_path / "out", **overrides)  # type: ignore[arg-type]


def read_sheet(path: Path) -> list[dict[str, object]]:
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def assert_one_live_key_per_participant(
    sandbox: Sandbox, keys_xlsx: Path, emails: list[str], workshop: str
) -> None:
    """The end state that matters: server, spreadsheet and roster agree exactly."""
    server = sandbox.keys()
    names = sorted(key["name"] for key in server)

    def name(email: str) -> str:
        return key_name_in(keys_xlsx.parent, workshop, email)

    assert names == sorted(name(email) for email in emails), "orphan/duplicate"
    assert all(not key["disabled"] for key in server)
    by_hash = {key["hash"]: key for key in server}
    rows = read_sheet(keys_xlsx)
    assert sorted(row["Email"] for row in rows) == sorted(emails)
    for row in rows:
        secret = str(row["API key"])
        key = by_hash[hashlib.sha256(secret.encode()).hexdigest()]  # the secret is live
        assert key["name"] == name(str(row["Email"]))
        assert row["Key hash"] == key["hash"]


def test_provisions_every_participant_and_writes_outputs(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    roster = write_csv(
        tmp_path / "bssdh.csv",
        ("name", "email", "limit"),
        [("Ada Lovelace", "ada@example.org", "2"), ("Grace Hopper", "grace@example.org", "")],
    )
    settings = settings_for(roster, tmp_path, default_limit=0.5, limit_reset="monthly")
    result = provision(settings, client)

    assert result.exit_status is ExitStatus.OK
    assert [r.outcome for r in result.results] == [Outcome.CREATED, Outcome.CREATED]
    keys_xlsx = tmp_path / "out" / "bssdh" / "keys.xlsx"
    assert_one_live_key_per_participant(
        sandbox, keys_xlsx, ["ada@example.org", "grace@example.org"], "bssdh"
    )
    limits = {key["name"]: (key["limit"], key["limit_reset"]) for key in sandbox.keys()}
    folder = keys_xlsx.parent
    assert limits == {
        key_name_in(folder, "bssdh", "ada@example.org"): (2.0, "monthly"),
        key_name_in(folder, "bssdh", "grace@example.org"): (0.5, "monthly"),
    }
    assert all("@" not in name for name in limits), "no email reaches the server"
    rows = read_sheet(keys_xlsx)
    assert [(r["Name"], r["Limit USD"], r["Status"]) for r in rows] == [
        ("Ada Lovelace", 2.0, "new"),
        ("Grace Hopper", 0.5, "new"),
    ]
    folder = tmp_path / "out" / "bssdh"
    assert stat.S_IMODE(keys_xlsx.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "state.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_audit_log_tells_the_run_without_a_secret(
    sandbox: Sandbox, client: OpenRouterClient, management_key: str, tmp_path: Path
) -> None:
    roster = make_roster(tmp_path / "w.csv", 3)
    sandbox.force(503, count=1, method="GET", path_prefix="/keys")  # a retry, to be logged
    result = provision(settings_for(roster, tmp_path), client)

    text = result.audit_path.read_text()
    events = [json.loads(line) for line in text.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("participant") == 3 and "retry" in kinds
    start = events[0]
    assert start["roster_sha256"] == hashlib.sha256(roster.read_bytes()).hexdigest()
    assert start["base_url"] == sandbox.base_url
    assert len({event["run_id"] for event in events}) == 1
    assert events[-1]["counts"] == {"created": 3}
    ledger = Ledger.open(tmp_path / "out" / "w" / "state.jsonl")
    secrets = [entry.secret for entry in ledger.entries()]
    assert len(secrets) == 3
    for secret in [*secrets, management_key]:
        assert secret not in text
    masked = _secret_like_tokens(text)
    assert masked, "labels (masked keys) identify keys in the log"
    assert all(len(token) == len("sk-or-v1-abc...xyz") and "..." in token for token in masked)


def _secret_like_tokens(text: str) -> list[str]:
    return re.findall(r"sk-or-v1-[^\s\",]*", text)


def test_commit_then_drop_ends_with_exactly_one_key(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    roster = make_roster(tmp_path / "w.csv", 4)
    sandbox.force("drop_after_commit", count=2)
    result = provision(settings_for(roster, tmp_path), client)

    assert result.exit_status is ExitStatus.OK
    emails = [f"person{i}@example.org" for i in range(4)]
    assert_one_live_key_per_participant(sandbox, result.keys_path, emails, "w")
    dropped = [r for r in sandbox.request_log if r.fault == "drop_after_commit"]
    assert len(dropped) == 2
    deletes = [r for r in sandbox.request_log if r.method == "DELETE"]
    assert len(deletes) == 2, "each undelivered key is deleted, not left as an orphan"


def test_200_rows_against_a_faulty_server(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    roster = make_roster(tmp_path / "big.csv", 200)
    sandbox.faults = Faults(error_rate=0.10, drop_after_commit_rate=0.05, seed=7)
    result = provision(settings_for(roster, tmp_path), client)

    assert result.exit_status is ExitStatus.OK, attention_lines(result.results)
    emails = [f"person{i}@example.org" for i in range(200)]
    assert_one_live_key_per_participant(sandbox, result.keys_path, emails, "big")
    assert any(r.fault == "drop_after_commit" for r in sandbox.request_log)
    assert any(r.status in (500, 502, 503) for r in sandbox.request_log)


def test_keyprov_provision_on_200_rows_against_a_faulty_server(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    """The same, as an instructor runs it: the real command, with its real backoff."""
    make_roster(tmp_path / "big.csv", 200)
    sandbox.faults = Faults(error_rate=0.10, drop_after_commit_rate=0.05, seed=11)
    env = sandbox_env(sandbox, management_key)
    done = run_keyprov(["provision", "big.csv", "--quiet"], env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("big: 200 participants: 200 created"), done.stdout
    emails = [f"person{i}@example.org" for i in range(200)]
    keys_xlsx = tmp_path / "output" / "big" / "keys.xlsx"
    assert_one_live_key_per_participant(sandbox, keys_xlsx, emails, "big")
    assert any(r.fault == "drop_after_commit" for r in sandbox.request_log)
    assert any(r.status in (500, 502, 503) for r in sandbox.request_log)


def test_rerun_of_a_provisioned_roster_writes_nothing_on_the_server(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    roster = make_roster(tmp_path / "w.csv", 5)
    provision(settings_for(roster, tmp_path), client)
    sandbox.clear_log()
    again = provision(settings_for(roster, tmp_path), client)

    assert [r.outcome for r in again.results] == [Outcome.PRESENT] * 5
    assert {r.method for r in sandbox.request_log} == {"GET"}
    rows = read_sheet(again.keys_path)
    assert len(rows) == 5 and all(str(r["API key"]).startswith("sk-or-v1-") for r in rows)


def test_rerun_after_adding_rows_creates_only_the_new_ones(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    roster = tmp_path / "w.csv"
    make_roster(roster, 3)
    provision(settings_for(roster, tmp_path), client)
    make_roster(roster, 5)
    sandbox.clear_log()
    again = provision(settings_for(roster, tmp_path), client)

    assert [r.method for r in sandbox.request_log].count("POST") == 2
    assert [r.outcome for r in again.results] == [Outcome.PRESENT] * 3 + [Outcome.CREATED] * 2
    emails = [f"person{i}@example.org" for i in range(5)]
    assert_one_live_key_per_participant(sandbox, again.keys_path, emails, "w")


def test_unresolved_create_from_a_crashed_run_is_resolved_next_run(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    """A journaled intent with a key on the server but no secret: the key was never delivered."""
    roster = make_roster(tmp_path / "w.csv", 2)
    folder = tmp_path / "out" / "w"
    folder.mkdir(parents=True)
    with Ledger.open(folder / "state.jsonl") as ledger:
        ledger.record_intent("person0@example.org", "keyprov:w:person0@example.org")
    sandbox.create_key_directly("keyprov:w:person0@example.org", limit=1)

    result = provision(settings_for(roster, tmp_path), client)
    assert result.exit_status is ExitStatus.OK
    emails = ["person0@example.org", "person1@example.org"]
    assert_one_live_key_per_participant(sandbox, result.keys_path, emails, "w")


def test_text_that_looks_like_a_formula_stays_text(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    roster = write_csv(
        tmp_path / "w.csv",
        ("name", "email", "limit"),
        [('=HYPERLINK("http://evil.example","x")', "ada@example.org", "1")],
    )
    result = provision(settings_for(roster, tmp_path), client)
    cell = load_workbook(result.keys_path).active["A2"]
    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://evil.example","x")'


def test_the_listing_and_the_balance_are_read_while_get_key_names_the_account(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    # Three independent reads at once: two round trips off every run, where there were three.
    sandbox.faults = Faults(latency=0.3)
    roster = make_roster(tmp_path / "w.csv", 2)
    for run in ("first", "rerun"):
        sandbox.clear_log()
        # A client of its own for each run, as each `keyprov` process has.
        with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as client:
            provision(settings_for(roster, tmp_path), client)
        # Before its first create (a run that created lists once more after: issue 28).
        writes = [r.started for r in sandbox.request_log if r.method != "GET"]
        first_write = min(writes, default=float("inf"))
        reads = [r for r in sandbox.request_log if r.method == "GET" and r.started < first_write]
        assert sorted(r.path for r in reads) == [
            "/api/v1/credits",
            "/api/v1/key",  # which account the workshop is filed under
            "/api/v1/keys",  # each asked for once: the page read early is the listing's
        ], run
        assert max(r.started for r in reads) < min(r.finished for r in reads), run
    # The rerun has nothing to create: it asked for the balance before it knew, and nothing else.
    assert [r.method for r in sandbox.request_log] == ["GET"] * 3


def test_a_balance_that_failed_before_the_server_was_known_is_asked_again(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    roster = make_roster(tmp_path / "w.csv", 2)
    # The early balance gets a captive portal's page at every try while GET /key and the first
    # page are still on their way: with nothing yet answered as the API, the client calls the
    # server unreachable. It is not, and the run goes on as it would, had it asked later.
    for path in ("/key", "/keys"):
        sandbox.force("slow", method="GET", path_prefix=path, seconds=1.0)
    sandbox.force("html_200", 2, method="GET", path_prefix="/credits")
    two_tries = RetryPolicy(max_attempts=2, max_total_seconds=30, base_wait=0.01, max_wait=0.01)
    with OpenRouterClient(management_key, sandbox.base_url, retry=two_tries) as client:
        result = provision(settings_for(roster, tmp_path), client)
    assert result.counts() == {"created": 2}
    assert len(sandbox.keys()) == 2
    portal = [r.fault for r in sandbox.request_log if r.path == "/api/v1/credits"]
    assert portal == ["html_200", "html_200", None]  # then the balance
    events = [json.loads(line) for line in result.audit_path.read_text().splitlines()]
    assert [event["event"] for event in events].count("credits") == 1


def test_retries_before_the_workshop_was_known_are_in_its_audit_log(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    roster = make_roster(tmp_path / "w.csv", 2)
    settings = provision(settings_for(roster, tmp_path), client)
    audit = settings.audit_path
    runs_before = audit.read_text().count('"run_start"')
    # One 503 for each of the three reads that go out at once (GET /key, the listing's first
    # page, the balance): all retried before the account, so the audit log, was known.
    for path in ("/key", "/keys", "/credits"):
        sandbox.force(503, method="GET", path_prefix=path)
    provision(settings_for(roster, tmp_path), client)
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    starts = [i for i, event in enumerate(events) if event["event"] == "run_start"]
    rerun = events[starts[runs_before] :]
    retried = sorted(event["operation"] for event in rerun if event["event"] == "retry")
    assert retried == ["credits", "current key", "list keys"]
    # Told within the run, none before its start: the log says which run retried them.
    assert events[starts[runs_before] - 1]["event"] == "run_end"


def created_in_audit(folder: Path) -> set[str]:
    lines = (folder / "audit.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {r["hash"] for r in records if r["event"] == "participant" and r["outcome"] == "created"}


def fail_from_call(
    monkeypatch: pytest.MonkeyPatch, name: str, first: int, last: int, only: Path | None = None
) -> None:
    """Make calls number `first` to `last` of os.<name> (on the file `only`, if given) fail as
    a full disk does."""
    real = getattr(os, name)
    calls = itertools.count(1)

    def failing(fd: int, *args: object) -> object:
        if only is not None and not (only.exists() and os.path.samestat(os.fstat(fd), only.stat())):
            return real(fd, *args)
        if first <= next(calls) <= last:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, *args)

    monkeypatch.setattr(os, name, failing)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_disk_error_stops_the_run_and_no_key_paid_for_is_lost(
    sandbox: Sandbox,
    client: OpenRouterClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    roster = make_roster(tmp_path / "w.csv", 40)
    folder = tmp_path / "out" / "w"
    # The 10th call is about the 5th participant's (an intent and a created record each).
    fail_from_call(monkeypatch, failing, 10, 10, only=folder / "state.jsonl")
    with pytest.raises(StateWriteError, match="No space left"):
        provision(settings_for(roster, tmp_path, concurrency=2), client)

    # Creating stopped (but for the creates already in flight), and every key the server made
    # is in keys.xlsx and the audit log as created: the run's end saved the state afresh, then
    # wrote keys.xlsx from it.
    server = {key["hash"] for key in sandbox.keys()}
    delivered = {row["Key hash"] for row in read_sheet(folder / "keys.xlsx")}
    assert 0 < len(server) <= 5 + 2
    assert server <= delivered
    assert server == created_in_audit(folder)

    monkeypatch.undo()
    sandbox.clear_log()
    again = provision(settings_for(roster, tmp_path), client)
    assert again.exit_status is ExitStatus.OK, again.summary()
    assert not [r for r in sandbox.request_log if r.method == "DELETE"], "a paid key was lost"
    emails = [f"person{i}@example.org" for i in range(40)]
    assert_one_live_key_per_participant(sandbox, again.keys_path, emails, "w")


def test_a_disk_that_stays_full_leaves_keys_xlsx_as_it_was_and_the_next_run_converges(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roster = make_roster(tmp_path / "w.csv", 5)
    first = provision(settings_for(roster, tmp_path), client)
    handed_out = read_sheet(first.keys_path)
    make_roster(roster, 20)

    fail_from_call(monkeypatch, "fsync", 10, 10_000)
    with pytest.raises(StateWriteError, match="could not be saved"):
        provision(settings_for(roster, tmp_path), client)
    # Its new secrets may not be in the state, so none may be handed out from keys.xlsx.
    assert read_sheet(first.keys_path) == handed_out

    monkeypatch.undo()
    again = provision(settings_for(roster, tmp_path), client)
    assert again.exit_status is ExitStatus.OK, again.summary()
    emails = [f"person{i}@example.org" for i in range(20)]
    assert_one_live_key_per_participant(sandbox, again.keys_path, emails, "w")
    live = {key["hash"] for key in sandbox.keys()}
    assert {row["Key hash"] for row in handed_out} <= live


def test_a_full_disk_is_a_clear_error_with_exit_1(
    sandbox: Sandbox,
    management_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_roster(tmp_path / "ws.csv", 10)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENROUTER_PROVISIONING_KEY", management_key)
    monkeypatch.setenv("OPENROUTER_BASE_URL", sandbox.base_url)
    fail_from_call(monkeypatch, "write", 8, 8)
    with pytest.raises(SystemExit) as exited:
        cli.main(["provision", "ws.csv", "--quiet"])

    assert exited.value.code == ExitStatus.INCOMPLETE
    err = capsys.readouterr().err
    assert "error: " in err and "No space left on device" in err, err
    assert "internal error" not in err


def test_an_audit_log_that_cannot_be_synced_does_not_hide_a_rejected_key(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roster = make_roster(tmp_path / "w.csv", 2)
    folder = tmp_path / "out" / "w"
    folder.mkdir(parents=True)
    (folder / "audit.jsonl").touch()
    fail_from_call(monkeypatch, "fsync", 1, 10_000, only=folder / "audit.jsonl")
    with (
        OpenRouterClient("sk-or-v1-" + "0" * 64, sandbox.base_url) as rejected,
        pytest.raises(AuthenticationError),
    ):
        provision(settings_for(roster, tmp_path), rejected)


def test_a_record_torn_by_a_full_disk_is_not_glued_to_the_next_runs(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roster = make_roster(tmp_path / "w.csv", 6)
    audit = tmp_path / "out" / "w" / "audit.jsonl"
    real_write = os.write
    calls = itertools.count(1)

    def half_written(fd: int, data: bytes) -> int:
        if audit.exists() and os.path.samestat(os.fstat(fd), audit.stat()) and next(calls) == 4:
            return real_write(fd, data[: len(data) // 2])  # what a nearly full disk does
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_written)
    with pytest.raises(StateWriteError, match="audit log could not be written"):
        provision(settings_for(roster, tmp_path), client)
    assert not audit.read_bytes().endswith(b"\n"), "positive control: a torn last line"

    monkeypatch.undo()
    again = provision(settings_for(roster, tmp_path), client)
    assert again.exit_status is ExitStatus.OK, again.summary()
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert records[-1]["event"] == "run_end" and records[-1]["exit_status"] == 0
    emails = [f"person{i}@example.org" for i in range(6)]
    assert_one_live_key_per_participant(sandbox, again.keys_path, emails, "w")


def test_a_limit_change_the_server_keeps_failing_fails_that_participant_and_the_others_go_on(
    workshop: CliWorkshop, fast_retries
) -> None:
    workshop.provisioned(3)
    make_roster(workshop.roster, 3, limit=2.0)
    refused = workshop.key_of("person1@example.org")["hash"]
    workshop.sandbox.force(500, count=100, method="PATCH", path_prefix=f"/keys/{refused}")

    done = workshop.provision()

    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr
    assert "could not update the key" in done.stdout + done.stderr
    limits = {key["name"]: key["limit"] for key in workshop.sandbox.keys()}
    assert sorted(limits.values()) == [1.0, 2.0, 2.0], "only the refused PATCH left its limit"
