"""Email delivery against a real SMTP server (aiosmtpd on 127.0.0.1): each participant gets
exactly their own key, once; reruns, rotations, crashes and failing servers never change that.
"""

from __future__ import annotations

import logging
import secrets
import stat
from dataclasses import replace

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from keyprov.delivery import (
    JOURNAL_FILE_NAME,
    DeliveryJournal,
    Outcome,
    Reason,
    RetryPolicy,
    SmtpSender,
    SmtpSettings,
    send_all,
)
from keyprov.errors import ConfigurationError
from keyprov.redaction import mask_secret
from tests.handouts.test_handouts import NAMES, make_handout
from tests.smtp import KEY, LoopbackController

FAST_RETRY = RetryPolicy(attempts=3, base_wait=0.001, max_wait=0.01)
UNPACED = 6_000_000.0
"""Messages a minute: no pacing, for tests that are not about it."""


def plain_settings(port: int, **changes) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=port,
        security="plain",
        from_address="Workshop team <team@example.org>",
        timeout=5,
        **changes,
    )


@pytest.fixture
def settings(smtp_server) -> SmtpSettings:
    return plain_settings(smtp_server.port)


def deliver(handouts, folder, settings, *, ssl_context=None, **options):
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_per_minute", UNPACED)
    with SmtpSender(settings, ssl_context=ssl_context) as sender:
        return send_all(handouts, DeliveryJournal(folder), sender, **options)


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_each_got_only_their_own_key(mailbox, handouts, copies=1):
    assert len(mailbox.received) == copies * len(handouts)
    for handout in handouts:
        mine = mailbox.to(handout.email)
        assert len(mine) == copies, handout.email
        for item in mine:
            assert item.envelope_to == [handout.email]
            assert item.message["To"].addresses[0].addr_spec == handout.email
            assert item.keys == {handout.secret}


# -- the acceptance ---------------------------------------------------------------------------


def test_every_participant_gets_one_message_with_their_own_key(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(len(NAMES))]
    results = deliver(handouts, tmp_path, settings)

    assert [result.outcome for result in results] == [Outcome.SENT] * len(handouts)
    assert_each_got_only_their_own_key(mailbox, handouts)
    for handout, result in zip(handouts, results, strict=True):
        (item,) = mailbox.to(handout.email)
        assert item.message["Message-ID"] == result.message_id
        assert item.message.get_content().count(handout.secret) == 1
        assert item.message["To"].addresses[0].display_name == handout.name
        assert result.reason is Reason.NEW


def test_a_rerun_sends_nothing_and_does_not_even_connect(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(5)]
    deliver(handouts, tmp_path, settings)

    results = deliver(handouts, tmp_path, plain_settings(closed_port()))
    assert [result.outcome for result in results] == [Outcome.ALREADY_SENT] * 5
    assert_each_got_only_their_own_key(mailbox, handouts)


def test_a_rotated_key_is_sent_once_more_saying_what_it_replaces(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(4)]
    deliver(handouts, tmp_path, settings)
    old = handouts[2]
    new_secret = "sk-or-v1-" + secrets.token_hex(32)
    rotated = replace(
        old, secret=new_secret, key_label=mask_secret(new_secret), key_hash=secrets.token_hex(32)
    )
    handouts[2] = rotated

    results = deliver(handouts, tmp_path, settings)
    assert [result.outcome for result in results] == [
        Outcome.ALREADY_SENT,
        Outcome.ALREADY_SENT,
        Outcome.SENT,
        Outcome.ALREADY_SENT,
    ]
    assert results[2].reason is Reason.ROTATED
    first, second = mailbox.to(old.email)
    assert first.keys == {old.secret}
    assert second.keys == {new_secret}
    body = second.message.get_content()
    assert f"This key replaces your previous key {old.key_label}, which no longer works." in body

    assert all(r.outcome is Outcome.ALREADY_SENT for r in deliver(handouts, tmp_path, settings))
    assert len(mailbox.to(old.email)) == 2


def test_a_server_failing_a_fifth_of_deliveries_ends_with_everyone_sent_once(
    mailbox, settings, tmp_path
):
    mailbox.failure_rate = 0.2
    handouts = [make_handout(i) for i in range(30)]
    runs = 0
    while True:
        runs += 1
        # Two attempts per message and run: some messages fail in a run and need the next.
        results = deliver(handouts, tmp_path, settings, retry=replace(FAST_RETRY, attempts=2))
        if all(result.ok for result in results):
            break
        assert runs < 40, "reruns make no progress"
        assert {result.outcome for result in results} <= {
            Outcome.SENT,
            Outcome.ALREADY_SENT,
            Outcome.FAILED,
            Outcome.NOT_ATTEMPTED,
        }
    assert mailbox.failures >= 3, "the server did fail"
    assert runs > 1, "some run did not get through: reruns were exercised"
    assert_each_got_only_their_own_key(mailbox, handouts)


def test_a_refused_address_is_reported_and_the_others_are_sent(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(4)]
    mailbox.refuse.add(handouts[1].email)

    results = deliver(handouts, tmp_path, settings)
    assert [result.outcome for result in results] == [
        Outcome.SENT,
        Outcome.FAILED,
        Outcome.SENT,
        Outcome.SENT,
    ]
    refused = results[1]
    assert refused.permanent
    assert refused.attempts == 1, "a permanent failure is not retried"
    assert "550" in refused.detail and handouts[1].email in refused.detail
    assert mailbox.to(handouts[1].email) == []

    # Fixed on the server's side (or in the roster): the rerun sends that one only.
    mailbox.refuse.clear()
    results = deliver(handouts, tmp_path, settings)
    assert [result.outcome for result in results].count(Outcome.SENT) == 1
    assert results[1].reason is Reason.RETRY
    assert_each_got_only_their_own_key(mailbox, handouts)


# -- crashes and the journal ------------------------------------------------------------------


def test_a_crash_between_sending_and_recording_sends_that_key_once_more(
    mailbox, settings, tmp_path
):
    handouts = [make_handout(i) for i in range(3)]
    deliver(handouts, tmp_path, settings)
    journal = tmp_path / JOURNAL_FILE_NAME
    # The server took the message, then the run died before writing `sent`.
    lines = journal.read_text().splitlines(keepends=True)
    sent_for_middle = next(
        line for line in lines if '"sent"' in line and handouts[1].identity in line
    )
    journal.write_text("".join(line for line in lines if line != sent_for_middle))

    results = deliver(handouts, tmp_path, settings)
    assert [result.outcome for result in results] == [
        Outcome.ALREADY_SENT,
        Outcome.SENT,
        Outcome.ALREADY_SENT,
    ]
    assert results[1].reason is Reason.UNCONFIRMED
    assert [item.keys for item in mailbox.to(handouts[1].email)] == [{handouts[1].secret}] * 2
    assert len(mailbox.to(handouts[0].email)) == len(mailbox.to(handouts[2].email)) == 1


def test_a_torn_last_journal_line_is_ignored_and_cut(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(2)]
    deliver(handouts[:1], tmp_path, settings)
    journal = tmp_path / JOURNAL_FILE_NAME
    with journal.open("a") as handle:
        handle.write('{"at":"2026-12-01","event":"sent","identity":"person1@exa')

    results = deliver(handouts, tmp_path, settings)
    assert [result.outcome for result in results] == [Outcome.ALREADY_SENT, Outcome.SENT]
    assert all(line.endswith("}") for line in journal.read_text().splitlines())


def test_the_journal_is_private_and_holds_no_key(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(3)]
    mailbox.refuse.add(handouts[0].email)
    deliver(handouts, tmp_path, settings)
    journal = tmp_path / JOURNAL_FILE_NAME
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    content = journal.read_text()
    assert not KEY.search(content)
    for handout in handouts:
        assert handout.key_hash in content and handout.key_label in content


def test_resend_forces_one_participant_only(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(3)]
    deliver(handouts, tmp_path, settings)
    results = deliver(handouts, tmp_path, settings, resend={handouts[0].identity})
    assert [result.outcome for result in results] == [
        Outcome.SENT,
        Outcome.ALREADY_SENT,
        Outcome.ALREADY_SENT,
    ]
    assert results[0].reason is Reason.RESEND
    assert len(mailbox.to(handouts[0].email)) == 2
    # A forced resend does not make the next plain run send again.
    assert all(r.outcome is Outcome.ALREADY_SENT for r in deliver(handouts, tmp_path, settings))


def test_a_resend_for_someone_not_in_the_list_is_refused(mailbox, settings, tmp_path):
    with pytest.raises(ConfigurationError, match=r"cannot resend to nobody@example\.org"):
        deliver([make_handout(0)], tmp_path, settings, resend={"nobody@example.org"})
    assert mailbox.received == []


def test_two_participants_with_one_key_are_refused_before_anything_is_sent(
    mailbox, settings, tmp_path
):
    first = make_handout(0)
    second = replace(make_handout(1), secret=first.secret, key_label=first.key_label)
    with pytest.raises(ConfigurationError, match="share one key"):
        deliver([first, second], tmp_path, settings)
    assert mailbox.received == []


def test_a_key_that_does_not_match_its_label_is_never_sent(mailbox, settings, tmp_path):
    handouts = [make_handout(i) for i in range(3)]
    # A secret that is not the key its label and hash name: perhaps another participant's.
    handouts[1] = replace(handouts[1], key_label=handouts[2].key_label)
    results = deliver(handouts, tmp_path, settings)
    assert [result.outcome for result in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert "does not match its label" in results[1].detail
    assert mailbox.to(handouts[1].email) == []


# -- failures of the server -------------------------------------------------------------------


def test_temporary_failures_are_retried_in_the_same_run(mailbox, settings, tmp_path):
    mailbox.fail_next = ["451", "421", "drop"]
    handout = make_handout(0)
    (result,) = deliver([handout], tmp_path, settings, retry=replace(FAST_RETRY, attempts=4))
    assert result.outcome is Outcome.SENT
    assert result.attempts == 4
    assert_each_got_only_their_own_key(mailbox, [handout])


def test_a_server_that_cannot_be_reached_sends_nothing_and_a_rerun_continues(tmp_path, settings):
    handouts = [make_handout(i) for i in range(3)]
    results = deliver(handouts, tmp_path, plain_settings(closed_port()))
    assert [result.outcome for result in results] == [Outcome.NOT_ATTEMPTED] * 3
    assert "cannot talk to 127.0.0.1" in results[0].detail
    assert all(result.outcome is Outcome.SENT for result in deliver(handouts, tmp_path, settings))


def test_a_refused_login_is_a_configuration_error_before_any_message(mailbox, tmp_path):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right-password"
        return AuthResult(success=ok, handled=False)

    controller = LoopbackController(mailbox, authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        wrong = plain_settings(controller.port, user="team", password="wrong-password")
        with pytest.raises(ConfigurationError, match="refused the login of 'team'"):
            deliver([make_handout(0)], tmp_path, wrong)
        assert mailbox.received == []
        assert not (tmp_path / JOURNAL_FILE_NAME).exists()

        right = plain_settings(controller.port, user="team", password="right-password")
        (result,) = deliver([make_handout(0)], tmp_path, right)
        assert result.outcome is Outcome.SENT
    finally:
        controller.stop()


def test_messages_are_paced(mailbox, settings, tmp_path):
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    handouts = [make_handout(i) for i in range(3)]
    deliver(handouts, tmp_path, settings, rate_per_minute=6, sleep=sleep, clock=lambda: now[0])
    assert waits == [10.0, 10.0]
    assert len(mailbox.received) == 3


def test_nothing_printed_or_logged_holds_a_key(mailbox, settings, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    handouts = [make_handout(i) for i in range(4)]
    mailbox.refuse.add(handouts[0].email)
    mailbox.fail_next = ["451", "drop"]
    results = deliver(handouts, tmp_path, settings)
    shown = capsys.readouterr()
    # Every logger but the test server's own ("mail.log" logs each line it receives).
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "mail.log"
    )
    everything = shown.out + shown.err + logged + repr(results) + repr(handouts)
    assert not KEY.search(everything)
    assert any(not result.ok for result in results), "failures were logged too"
