"""Sending through SendGrid, SMTP2GO and Mailgun, each a local fake over real HTTP built from
../shared/email-apis.md: every participant gets exactly their own key, once, whatever the
provider answers; a message whose outcome is unknown is never sent again unless asked.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from keyprov.delivery import (
    JOURNAL_FILE_NAME,
    DeliveryJournal,
    MailSettings,
    Outcome,
    Reason,
    RetryPolicy,
    send_all,
)
from keyprov.delivery.transports import mailer_for
from keyprov.handouts import Handout
from tests.handouts.test_handouts import make_handout
from tests.mail_fake_apis import FAKES
from tests.mail_fakes import MailFake

PROVIDERS = tuple(FAKES)
FAST_RETRY = RetryPolicy(attempts=3, base_wait=0.001, max_wait=0.01)
UNPACED = 6_000_000.0
SENDER = "Workshop team <team@example.org>"


def api_key_for(provider: str) -> str:
    """A fresh key of the provider's shape: a sentinel that must never leak."""
    return {
        "sendgrid": f"SG.{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}",
        "smtp2go": "api-" + secrets.token_hex(16).upper(),
        "mailgun": secrets.token_hex(16) + "-" + secrets.token_hex(4),
    }[provider]


def mail_env(fake: MailFake, **changes: str) -> dict[str, str]:
    env = {
        "KEYPROV_MAIL": fake.name,
        "KEYPROV_MAIL_API_KEY": fake.api_key,
        "KEYPROV_MAIL_FROM": SENDER,
        "KEYPROV_MAIL_API_URL": fake.api_url,
    }
    if fake.name == "mailgun":
        env["KEYPROV_MAIL_DOMAIN"] = fake.domain  # type: ignore[attr-defined]
    return {**env, **changes}


@pytest.fixture(params=PROVIDERS)
def fake(request: pytest.FixtureRequest) -> Iterator[MailFake]:
    with FAKES[request.param](api_key_for(request.param)) as server:
        yield server


@dataclass
class Sleeps:
    """The waits a run asked for, none of them slept: time is the test's, not the wall's."""

    waits: list[float]

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def deliver(handouts: list[Handout], folder: Path, fake: MailFake, **options):  # type: ignore[no-untyped-def]
    settings = MailSettings.from_env(mail_env(fake, **options.pop("env", {})))
    assert settings.api is not None
    timeout = options.pop("timeout", (5.0, 10.0))
    settings = replace(settings, api=replace(settings.api, timeout=timeout))
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_per_minute", UNPACED)
    options.setdefault("sleep", Sleeps([]))
    with mailer_for(settings) as sender:  # type: ignore[attr-defined]
        return send_all(handouts, DeliveryJournal(folder), sender, **options)


def assert_each_got_only_their_own_key(
    fake: MailFake, handouts: list[Handout], twice: frozenset[str] = frozenset()
) -> None:
    """Each participant's message(s) hold their key and no other: one each, two for `twice`."""
    assert len(fake.delivered) == len(handouts) + len(twice)
    for handout in handouts:
        mine = fake.to(handout.email)
        assert len(mine) == 1 + (handout.email in twice), handout.email
        for item in mine:
            assert item.recipients == [handout.email]
            assert item.keys == {handout.secret}, "their own key, and no other"


def journal_events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / JOURNAL_FILE_NAME).read_text().splitlines()]


# -- the acceptance ---------------------------------------------------------------------------


def test_every_participant_gets_one_message_with_their_own_key_and_a_rerun_sends_none(
    fake, tmp_path
):
    handouts = [make_handout(i) for i in range(5)]
    results = deliver(handouts, tmp_path, fake)
    assert [result.outcome for result in results] == [Outcome.SENT] * 5
    assert_each_got_only_their_own_key(fake, handouts)
    for handout, result in zip(handouts, results, strict=True):
        (item,) = fake.to(handout.email)
        assert result.provider_id == item.provider_id, "the provider's id is kept"
        assert item.keyprov_id == result.message_id, "keyprov's own id travels with it"
        assert item.sender == "team@example.org" or item.sender == SENDER
    sent = [event for event in journal_events(tmp_path) if event["event"] == "sent"]
    assert {event["provider_id"] for event in sent} == {item.provider_id for item in fake.delivered}
    assert all(event["transport"] == fake.name for event in journal_events(tmp_path)[::2])

    requests_before = len(fake.raw)
    again = deliver(handouts, tmp_path, fake)
    assert [result.outcome for result in again] == [Outcome.ALREADY_SENT] * 5
    assert len(fake.raw) == requests_before, "a rerun asks the provider nothing"


def test_a_rotated_key_is_sent_once_more(fake, tmp_path):
    handouts = [make_handout(i) for i in range(3)]
    deliver(handouts, tmp_path, fake)
    old = handouts[1]
    handouts[1] = make_handout(1)  # a new key for the same participant
    results = deliver(handouts, tmp_path, fake)
    assert [result.outcome for result in results] == [
        Outcome.ALREADY_SENT,
        Outcome.SENT,
        Outcome.ALREADY_SENT,
    ]
    assert results[1].reason is Reason.ROTATED
    first, second = fake.to(old.email)
    assert first.keys == {old.secret} and second.keys == {handouts[1].secret}
    assert f"This key replaces your previous key {old.key_label}" in second.text


def test_a_refused_address_is_reported_for_that_participant_and_the_others_are_sent(fake, tmp_path):
    handouts = [make_handout(i) for i in range(4)]
    fake.reject.add(handouts[2].email)
    results = deliver(handouts, tmp_path, fake)
    assert [result.outcome for result in results] == [Outcome.SENT] * 2 + [
        Outcome.FAILED,
        Outcome.SENT,
    ]
    assert results[2].permanent and results[2].attempts == 1, "not retried"
    assert fake.to(handouts[2].email) == []

    fake.reject.clear()
    results = deliver(handouts, tmp_path, fake)
    assert results[2].outcome is Outcome.SENT and results[2].reason is Reason.RETRY
    assert_each_got_only_their_own_key(fake, handouts)


def test_smtp2go_200_with_failed_recipients_is_not_sent(tmp_path):
    with FAKES["smtp2go"](api_key_for("smtp2go")) as fake:
        handouts = [make_handout(i) for i in range(3)]
        fake.fail_next = [None, "failed_200"]  # type: ignore[list-item]
        results = deliver(handouts, tmp_path, fake)
        assert [result.outcome for result in results] == [
            Outcome.SENT,
            Outcome.FAILED,
            Outcome.SENT,
        ]
        assert "SMTP2GO answered 200 but reported the message failed" in results[1].detail
        assert results[1].permanent
        assert deliver(handouts, tmp_path, fake)[1].outcome is Outcome.SENT
        assert_each_got_only_their_own_key(fake, handouts)


@pytest.mark.parametrize("fault", ["500_after", "503_after", "drop_after", "slow_after"])
def test_an_answer_lost_after_the_provider_took_the_message_is_never_sent_twice_blindly(
    fake, tmp_path, fault
):
    handouts = [make_handout(i) for i in range(3)]
    fake.fail_next = [None, fault]  # type: ignore[list-item]
    fake.slow = 3.0
    results = deliver(handouts, tmp_path, fake, timeout=(5.0, 1.0))
    assert [result.outcome for result in results] == [
        Outcome.SENT,
        Outcome.UNKNOWN,
        Outcome.SENT,
    ]
    assert results[1].attempts == 1, "no retry within the run"
    assert_each_got_only_their_own_key(fake, handouts), "the provider has it, once"
    assert [e["event"] for e in journal_events(tmp_path)][2:4] == ["sending", "unknown"]

    rerun = deliver(handouts, tmp_path, fake)
    if fake.name == "sendgrid":
        # Its log needs a paid add-on: held, and said why.
        assert rerun[1].outcome is Outcome.UNKNOWN
        assert "paid Email Activity add-on" in rerun[1].detail
        assert len(fake.delivered) == 3, "not sent again"
        forced = deliver(handouts, tmp_path, fake, resend_unknown=True)
        assert forced[1].outcome is Outcome.SENT
        assert forced[1].reason is Reason.RESEND_UNKNOWN
        # The risk --resend-unknown takes: the first copy had arrived.
        assert_each_got_only_their_own_key(fake, handouts, twice=frozenset({handouts[1].email}))
    else:
        # SMTP2GO's activity search / Mailgun's events show it: recorded as sent.
        assert rerun[1].outcome is Outcome.ALREADY_SENT
        assert "found in" in rerun[1].detail
        assert rerun[1].provider_id == fake.to(handouts[1].email)[0].provider_id.strip("<>")
        forced = deliver(handouts, tmp_path, fake, resend_unknown=True)
        assert forced[1].outcome is Outcome.ALREADY_SENT, "looked up first, never resent"
        assert_each_got_only_their_own_key(fake, handouts)


@pytest.mark.parametrize("fault", ["500_before", "503_before"])
def test_a_5xx_before_the_provider_took_it_is_held_until_asked_for(fake, tmp_path, fault):
    handouts = [make_handout(i) for i in range(2)]
    fake.fail_next = [fault]
    results = deliver(handouts, tmp_path, fake)
    assert [result.outcome for result in results] == [Outcome.UNKNOWN, Outcome.SENT]
    assert fault[:3] in results[0].detail
    assert fake.to(handouts[0].email) == []

    rerun = deliver(handouts, tmp_path, fake)
    assert rerun[0].outcome is Outcome.UNKNOWN, "not sent again without being asked"
    if fake.name != "sendgrid":
        assert "not in" in rerun[0].detail and "log" in rerun[0].detail
    assert fake.to(handouts[0].email) == []

    forced = deliver(handouts, tmp_path, fake, resend_unknown=True)
    assert [result.outcome for result in forced] == [Outcome.SENT, Outcome.ALREADY_SENT]
    assert_each_got_only_their_own_key(fake, handouts)


def test_a_lagging_log_keeps_the_message_held(tmp_path):
    with FAKES["mailgun"](api_key_for("mailgun")) as fake:
        handouts = [make_handout(0)]
        fake.fail_next = ["500_after"]
        deliver(handouts, tmp_path, fake)
        fake.log_lags = True
        (held,) = deliver(handouts, tmp_path, fake)
        assert held.outcome is Outcome.UNKNOWN and "the next run looks again" in held.detail
        fake.log_lags = False
        (found,) = deliver(handouts, tmp_path, fake)
        assert found.outcome is Outcome.ALREADY_SENT
        assert_each_got_only_their_own_key(fake, handouts)


def test_a_run_stops_after_three_unknown_outcomes_in_a_row(fake, tmp_path):
    handouts = [make_handout(i) for i in range(5)]
    fake.fail_next = ["500_before"] * 3
    results = deliver(handouts, tmp_path, fake)
    assert [result.outcome for result in results] == [Outcome.UNKNOWN] * 3 + [
        Outcome.NOT_ATTEMPTED
    ] * 2
    assert "3 messages in a row got no clear answer" in results[3].detail
    assert fake.sends == 3, "no request after the third"


def test_429_waits_as_the_provider_says_and_then_sends(fake, tmp_path, monkeypatch):
    handouts = [make_handout(i) for i in range(2)]
    fake.fail_next = ["429"]
    sleeps = Sleeps([])
    results = deliver(handouts, tmp_path, fake, sleep=sleeps)
    assert [result.outcome for result in results] == [Outcome.SENT] * 2, results
    assert results[0].attempts == 2
    (wait,) = sleeps.waits
    if fake.name == "smtp2go":
        assert wait == 60.0, "SMTP2GO times out the IP for at least a minute"
    elif fake.name == "mailgun":
        assert wait == fake.retry_after, "the seconds Mailgun's message names"
    else:
        assert 0 < wait <= 2.5, "until X-RateLimit-Reset"
    assert_each_got_only_their_own_key(fake, handouts)


def test_a_429_asking_for_too_long_stops_the_run_and_says_so(tmp_path):
    with FAKES["mailgun"](api_key_for("mailgun")) as fake:
        fake.retry_after = 3600
        fake.fail_next = ["429"]
        handouts = [make_handout(i) for i in range(3)]
        results = deliver(handouts, tmp_path, fake)
        assert [result.outcome for result in results] == [Outcome.FAILED] + [
            Outcome.NOT_ATTEMPTED
        ] * 2
        assert "try again after 3600 seconds" in results[1].detail
        assert fake.sends == 1
        assert deliver(handouts, tmp_path, fake)[0].reason is Reason.RETRY
        assert_each_got_only_their_own_key(fake, handouts)


def test_a_crash_between_the_request_and_its_record_is_looked_up_not_resent(fake, tmp_path):
    """A run killed after the provider took the message and before `sent` was written: over
    HTTP that is an unknown outcome like any other (over SMTP it is sent again)."""
    handouts = [make_handout(i) for i in range(3)]
    deliver(handouts, tmp_path, fake)
    journal = tmp_path / JOURNAL_FILE_NAME
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text(
        "".join(line for line in lines if not ('"sent"' in line and handouts[1].email in line))
    )

    rerun = deliver(handouts, tmp_path, fake)
    if fake.name == "sendgrid":
        assert rerun[1].outcome is Outcome.UNKNOWN
    else:
        assert rerun[1].outcome is Outcome.ALREADY_SENT
        assert "found in" in rerun[1].detail
    assert_each_got_only_their_own_key(fake, handouts)


def test_a_key_that_may_send_but_not_search_leaves_the_message_held_and_the_run_going(tmp_path):
    with FAKES["mailgun"](api_key_for("mailgun")) as fake:
        fake.sending_key = api_key_for("mailgun")
        handouts = [make_handout(i) for i in range(2)]
        fake.fail_next = ["500_before"]
        sending_key = {"KEYPROV_MAIL_API_KEY": fake.sending_key}
        deliver(handouts, tmp_path, fake, env=sending_key)
        (rerun, _) = deliver(handouts, tmp_path, fake, env=sending_key)
        assert rerun.outcome is Outcome.UNKNOWN
        assert "log could not be searched (401: Forbidden; a domain sending key" in rerun.detail
        forced = deliver(handouts, tmp_path, fake, env=sending_key, resend_unknown=True)
        assert [result.outcome for result in forced] == [Outcome.SENT, Outcome.ALREADY_SENT]
        assert_each_got_only_their_own_key(fake, handouts)
