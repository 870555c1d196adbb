"""The texts of handouts and send, exactly, as pure functions of their results."""

from __future__ import annotations

from pathlib import Path

from keyprov.delivery import DeliveryResult, Outcome, Reason
from keyprov.lifecycle.distribute import (
    HandoutFiles,
    LeftOut,
    LeftOutKind,
    Recipient,
    Sending,
    SendPlan,
)
from keyprov.render.distribute import (
    handouts_lines,
    send_lines,
    send_progress_line,
    send_start_line,
)
from tests.handouts.test_handouts import make_handout

ADA = Recipient("ada@example.org", "Ada Lovelace", "ada@example.org", "sk-or-v1-abc...123")


def sending(to_send: int, already: int = 0, **fields) -> Sending:
    plan = SendPlan([ADA] * to_send, [ADA] * already)
    return Sending("bssdh", "smtp.example.org:587 (starttls)", plan, [], **fields)


def test_the_start_line_says_how_long_a_paced_run_takes() -> None:
    assert send_start_line(sending(31, 4), 30) == (
        "sending 31 messages through smtp.example.org:587 (starttls), at most 30 a minute "
        "(about 1 min 00 s); 4 already sent"
    )
    assert send_start_line(sending(1), 30) == (
        "sending 1 message through smtp.example.org:587 (starttls)"
    )


def test_a_progress_line_names_the_recipient_the_key_and_why_it_is_sent_again() -> None:
    result = DeliveryResult(
        "ada@example.org",
        "ada@example.org",
        "sk-or-v1-abc...123",
        "0" * 64,
        Outcome.SENT,
        Reason.ROTATED,
    )
    assert send_progress_line(3, 12, result) == (
        "[ 3/12] sent           ada@example.org  sk-or-v1-abc...123  (replaces an earlier key)"
    )


def test_who_was_left_out_is_named_when_it_matters_and_counted_when_not(tmp_path: Path) -> None:
    left_out = [
        LeftOut("a@x.org", "Ann", "a@x.org", LeftOutKind.NO_KEY, "the key is disabled"),
        LeftOut("b@x.org", "Bob", "b@x.org", LeftOutKind.HANDED_OUT, "sent 2026-12-01T10:00"),
        LeftOut("c@x.org", "Cy", "c@x.org", LeftOutKind.HANDED_OUT, "handed out 2026-12-01"),
        LeftOut("d@x.org", "Di", "d@x.org", LeftOutKind.NOT_IN_ROSTER),
    ]
    files = HandoutFiles(
        "bssdh", tmp_path / "h.pdf", tmp_path / "m.csv", "letter", [make_handout(0)], left_out, 1
    )
    lines = handouts_lines(files)
    assert lines.stderr == [
        "not included: Ann, a@x.org: the key is disabled",
        "left out: 2 handed out already (--only new), 1 not in the roster (name them with "
        "--participant to include them)",
    ]
    assert lines.stdout[:2] == [
        f"slips:      {tmp_path / 'h.pdf'} (1 slip on 1 page, letter; cut along the marks)",
        f"mail merge: {tmp_path / 'm.csv'} (1 row, one per participant)",
    ]
    assert files.exit_status == 1


def test_a_run_with_failures_says_to_run_again() -> None:
    failed = DeliveryResult(
        "ada@example.org",
        "ada@example.org",
        "sk-or-v1-abc...123",
        "0" * 64,
        Outcome.NOT_ATTEMPTED,
        detail="not attempted: the mail server could not be reached",
    )
    lines = send_lines(sending(1, results=[failed]))
    assert lines.stdout == ["bssdh: 0 sent, 0 already sent, 1 not attempted"]
    assert lines.stderr == [
        "FAIL  ada@example.org  sk-or-v1-abc...123: not attempted: the mail server could not be "
        "reached (a rerun tries again)",
        "keyprov send --workshop bssdh again sends the 1 not yet delivered; nobody gets their "
        "key twice.",
    ]


def test_a_key_that_stopped_working_is_not_sent_and_no_rerun_is_promised() -> None:
    withdrawn = DeliveryResult(
        "ada@example.org",
        "ada@example.org",
        "sk-or-v1-abc...123",
        "0" * 64,
        Outcome.WITHDRAWN,
        detail="its key was disabled on the server meanwhile",
    )
    retried = DeliveryResult(
        "bo@example.org", "bo@example.org", "sk-or-v1-def...456", "1" * 64, Outcome.SENT, attempts=3
    )
    lines = send_lines(sending(2, results=[withdrawn, retried]))
    assert lines.stdout == [
        "bssdh: 1 sent, 0 already sent, 1 not sent (key no longer works), 1 message sent again "
        "after a temporary failure"
    ]
    assert lines.stderr == [
        "FAIL  ada@example.org  sk-or-v1-abc...123: its key was disabled on the server meanwhile "
        "(not mailed: a key that does not work is never sent)",
        "1 participant without a working key: no rerun of send helps them; keyprov rotate (or "
        "provision --reenable) first, then send.",
    ]
