"""Through SendGrid, SMTP2GO and Mailgun (local fakes over real HTTP): what stops a run (a
refused key, sender or account), daily quotas, pacing, and participants with several
addresses."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest

from keyprov.delivery import JOURNAL_FILE_NAME, DeliveryStopped, Outcome, Quota
from tests.delivery.test_mail_http import (
    PROVIDERS,
    Sleeps,
    api_key_for,
    assert_each_got_only_their_own_key,
    deliver,
    fake,
    journal_events,
)
from tests.handouts.test_handouts import make_handout
from tests.mail_fake_apis import FAKES
from tests.mail_fakes import KEY

__all__ = ["fake"]  # the fixture, shared


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_key_stops_the_run_before_more_requests(provider, tmp_path):
    with FAKES[provider](api_key_for(provider)) as fake:
        handouts = [make_handout(i) for i in range(3)]
        wrong = api_key_for(provider)
        with pytest.raises(DeliveryStopped) as stopped:
            deliver(handouts, tmp_path, fake, env={"KEYPROV_MAIL_API_KEY": wrong})
        assert len(fake.raw) == 1, "one request, then nothing"
        assert fake.delivered == []
        outcomes = [result.outcome for result in stopped.value.results]
        assert outcomes == [Outcome.FAILED, Outcome.NOT_ATTEMPTED, Outcome.NOT_ATTEMPTED]
        message = str(stopped.value)
        assert wrong not in message
        if provider == "mailgun":
            assert "401 Forbidden" in message and "KEYPROV_MAIL_REGION=eu" in message
        else:
            assert "KEYPROV_MAIL_API_KEY" in message

        results = deliver(handouts, tmp_path, fake)  # the right key: a rerun sends everyone
        assert [result.outcome for result in results] == [Outcome.SENT] * 3


def test_sendgrid_out_of_credits_is_said_to_be_credits_not_the_key(tmp_path):
    with FAKES["sendgrid"](api_key_for("sendgrid")) as fake:
        fake.fail_next = [None, "credits"]  # type: ignore[list-item]
        with pytest.raises(DeliveryStopped, match="out of credits") as stopped:
            deliver([make_handout(i) for i in range(4)], tmp_path, fake)
        assert "not a problem with the key" in str(stopped.value)
        assert fake.sends == 2 and len(fake.delivered) == 1


def test_sendgrid_sandbox_200_is_not_sent_and_an_unverified_sender_stops(tmp_path):
    with FAKES["sendgrid"](api_key_for("sendgrid")) as fake:
        fake.fail_next = ["sandbox"]
        with pytest.raises(DeliveryStopped, match="sandbox mode"):
            deliver([make_handout(0)], tmp_path, fake)
        assert fake.delivered == []
        env = {"KEYPROV_MAIL_FROM": "someone@else.example"}
        with pytest.raises(DeliveryStopped, match="verified Sender Identity"):
            deliver([make_handout(0)], tmp_path, fake, env=env)


def test_smtp2go_permission_and_mailgun_free_account_answers(tmp_path):
    with FAKES["smtp2go"](api_key_for("smtp2go")) as fake:
        fake.fail_next = ["permission"]
        with pytest.raises(DeliveryStopped, match="does not let this key send"):
            deliver([make_handout(0)], tmp_path, fake)
    with FAKES["mailgun"](api_key_for("mailgun")) as fake:
        fake.fail_next = [None, "unauthorized_recipient"]  # type: ignore[list-item]
        (tmp_path / "b").mkdir()
        results = deliver([make_handout(i) for i in range(3)], tmp_path / "b", fake)
        assert [result.outcome for result in results] == [
            Outcome.SENT,
            Outcome.FAILED,
            Outcome.SENT,
        ]
        assert "authorized recipients" in results[1].detail and results[1].permanent


def test_a_daily_quota_stops_the_run_and_the_next_day_goes_on(fake, tmp_path):
    handouts = [make_handout(i) for i in range(5)]
    quota = Quota(3, "the test's plan")
    results = deliver(handouts, tmp_path, fake, quota=quota)
    assert [result.outcome for result in results] == [Outcome.SENT] * 3 + [Outcome.OVER_QUOTA] * 2
    assert "run keyprov send again tomorrow" in results[3].detail
    assert fake.sends == 3, "never a request past the quota"
    same_day = deliver(handouts, tmp_path, fake, quota=quota)
    assert [r.outcome for r in same_day][3:] == [Outcome.OVER_QUOTA] * 2 and fake.sends == 3

    # A day later (the journal's times moved back 25 hours).
    journal = tmp_path / JOURNAL_FILE_NAME
    events = journal_events(tmp_path)
    for event in events:
        moved = datetime.fromisoformat(event["at"]) - timedelta(hours=25)
        event["at"] = moved.isoformat(timespec="milliseconds")
    journal.write_text("".join(json.dumps(event) + "\n" for event in events))
    next_day = deliver(handouts, tmp_path, fake, quota=quota)
    assert [r.outcome for r in next_day] == [Outcome.ALREADY_SENT] * 3 + [Outcome.SENT] * 2
    assert_each_got_only_their_own_key(fake, handouts)


def test_a_participant_with_two_addresses_gets_one_message_at_both(fake, tmp_path):
    both = make_handout(0, emails=("person0@example.org", "ada.home@example.net"))
    other = make_handout(1)
    results = deliver([both, other], tmp_path, fake)
    assert [result.outcome for result in results] == [Outcome.SENT] * 2
    (item,) = fake.to("ada.home@example.net")
    assert item.recipients == ["person0@example.org", "ada.home@example.net"]
    assert item.keys == {both.secret}
    assert fake.to(other.email)[0].recipients == [other.email]
    # The quota counts addresses: the two messages used 3 of 3.
    third = make_handout(2)
    again = deliver([both, other, third], tmp_path, fake, quota=Quota(3, "three a day"))
    assert [result.outcome for result in again] == [Outcome.ALREADY_SENT] * 2 + [Outcome.OVER_QUOTA]


def test_messages_are_paced(fake, tmp_path):
    now = [1000.0]
    sleeps = Sleeps([])

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        now[0] += seconds

    handouts = [make_handout(i) for i in range(3)]
    deliver(handouts, tmp_path, fake, rate_per_minute=6, sleep=sleep, clock=lambda: now[0])
    assert sleeps.waits == [10.0, 10.0]
    assert len(fake.delivered) == 3


def test_sendgrid_waits_for_the_reset_when_its_window_is_used_up(tmp_path):
    # A bucket of one request a second: every answer says X-RateLimit-Remaining: 0.
    with FAKES["sendgrid"](api_key_for("sendgrid"), rate=1, burst=1) as fake:
        handouts = [make_handout(i) for i in range(2)]
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        results = deliver(handouts, tmp_path, fake, rate_per_minute=600, sleep=sleep)
        assert [result.outcome for result in results] == [Outcome.SENT] * 2
        (wait,) = waits
        assert wait > 0.1, "longer than the pace's 0.1 s: until X-RateLimit-Reset"
        assert fake.throttled == 0, "no 429: the headers were obeyed"


def test_nothing_written_holds_a_participant_key_or_the_api_key(fake, tmp_path):
    handouts = [make_handout(i) for i in range(3)]
    fake.reject.add(handouts[0].email)
    fake.fail_next = [None, "500_after"]  # type: ignore[list-item]
    results = deliver(handouts, tmp_path, fake)
    written = (tmp_path / JOURNAL_FILE_NAME).read_text() + repr(results)
    assert not KEY.search(written)
    assert fake.api_key not in written
