"""`keyprov send` through an HTTP provider, by the real CLI: keys from the sandbox, mail to a
local fake of SendGrid, SMTP2GO or Mailgun. What a person reads (dry run, summary, errors)
and what they must never read (a key, the API key)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyprov.sandbox import Sandbox
from tests.delivery.test_mail_http import api_key_for, mail_env
from tests.helpers import CliWorkshop, Invocation
from tests.mail_fake_apis import FAKES
from tests.mail_fakes import KEY, MailFake

UNPACED = "600000"


class HttpMailWorkshop(CliWorkshop):
    """A workshop on the sandbox whose `send` goes to a provider's local fake."""

    def __init__(self, sandbox: Sandbox, management_key: str, folder: Path, fake: MailFake):
        super().__init__(sandbox, management_key, folder)
        self.fake = fake
        self.env.update(mail_env(fake))
        self.printed: list[str] = []

    def keyprov(self, *args: str) -> Invocation:
        done = super().keyprov(*args)
        self.printed += [done.stdout, done.stderr]
        return done

    def send(self, *options: str) -> Invocation:
        return self.keyprov("send", "ws.csv", "--rate", UNPACED, *options)

    def live_keys(self) -> dict[str, str]:
        keys = {}
        for row in self.sheet():
            email, secret = str(row[1]), str(row[2])
            assert hashlib.sha256(secret.encode()).hexdigest() == self.key_of(email)["hash"]
            keys[email] = secret
        return keys

    def assert_each_has_exactly_their_own_key(self, twice: set[str] = frozenset()) -> None:
        live = self.live_keys()
        for email, secret in live.items():
            mine = self.fake.to(email)
            assert len(mine) == 1 + (email in twice), email
            assert all(item.keys == {secret} and item.recipients == [email] for item in mine)
        assert len(self.fake.delivered) == len(live) + len(twice)

    def assert_nothing_leaked(self) -> None:
        folder = self.folder / "output" / "ws"
        written = "".join(
            path.read_text(errors="replace")
            for path in folder.iterdir()
            if path.name in ("audit.jsonl", "deliveries.jsonl")
        )
        for text in [*self.printed, written]:
            assert KEY.findall(text) == [], text
            assert self.fake.api_key not in text


@pytest.fixture(params=tuple(FAKES))
def workshop(
    request: pytest.FixtureRequest, sandbox: Sandbox, management_key: str, tmp_path: Path
) -> Iterator[HttpMailWorkshop]:
    with FAKES[request.param](api_key_for(request.param)) as fake:
        yield HttpMailWorkshop(sandbox, management_key, tmp_path, fake)


def test_each_participant_gets_their_own_live_key_once_and_a_rerun_sends_none(workshop):
    workshop.provisioned(4)
    done = workshop.send()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ws: 4 sent, 0 already sent\n"
    workshop.assert_each_has_exactly_their_own_key()
    assert all(str(row[7]).startswith("sent ") for row in workshop.sheet())
    again = workshop.send()
    assert (again.returncode, again.stdout) == (0, "ws: 0 sent, 4 already sent\n")
    assert len(workshop.fake.delivered) == 4
    workshop.assert_nothing_leaked()


def test_the_dry_run_shows_transport_sender_quota_and_the_first_message_masked(workshop):
    workshop.provisioned(3)
    workshop.env["KEYPROV_MAIL_DAILY_QUOTA"] = "2"
    done = workshop.keyprov("send", "ws.csv", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    first = workshop.key_of("person0@example.org")["label"]
    assert lines[:5] == [
        "dry run: the first message, with its key masked:",
        "",
        "    From: Workshop team <team@example.org>",
        "    To: Person 0 <person0@example.org>",
        "    Subject: Your OpenRouter API key for ws",
    ]
    assert f"        {first}" in lines
    title = {"sendgrid": "SendGrid", "smtp2go": "SMTP2GO", "mailgun": "Mailgun"}
    where = workshop.fake.api_url + (
        ", domain mg.example.org" if workshop.fake.name == "mailgun" else ""
    )
    server = f"{title[workshop.fake.name]} ({where})"
    rate = {"sendgrid": "600", "smtp2go": "6", "mailgun": "60"}[workshop.fake.name]
    assert (
        f"transport: {server}, from Workshop team <team@example.org>, at most {rate} messages "
        "a minute"
    ) in lines
    assert "quota: 2 a day (KEYPROV_MAIL_DAILY_QUOTA); 0 sent in the last 24 hours, 2 left" in lines
    assert f"would send 3 messages through {server}:" in lines
    assert (
        "warning: 3 addresses to send to and 2 left of the daily quota (2 a day: "
        "KEYPROV_MAIL_DAILY_QUOTA; 0 sent in the last 24 hours): the run stops there (exit 1); "
        "run it again tomorrow for the rest"
    ) in done.stderr.splitlines()
    assert workshop.fake.raw == [], "a dry run asks the provider nothing"
    workshop.assert_nothing_leaked()


def test_the_run_stops_at_the_daily_quota_without_a_wall_of_errors(workshop):
    workshop.provisioned(5)
    workshop.env["KEYPROV_MAIL_DAILY_QUOTA"] = "3"
    done = workshop.send()
    assert done.returncode == 1
    assert done.stdout == "ws: 3 sent, 0 already sent, 2 left: run again tomorrow\n"
    assert "FAIL" not in done.stderr
    assert (
        "the daily quota (3 a day: KEYPROV_MAIL_DAILY_QUOTA) is reached: run keyprov send again "
        "tomorrow; only those not yet sent their current key get a message."
    ) in done.stderr.splitlines()
    assert len(workshop.fake.delivered) == 3 == workshop.fake.sends


def test_a_wrong_key_stops_the_run_with_exit_2_and_says_what_was_sent(workshop):
    workshop.provisioned(3)
    wrong = api_key_for(workshop.fake.name)
    workshop.env["KEYPROV_MAIL_API_KEY"] = wrong
    done = workshop.send()
    assert done.returncode == 2
    assert done.stdout == "ws: 0 sent, 0 already sent, 1 failed, 2 not attempted\n"
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "401" in errors[0]
    assert len(workshop.fake.raw) == 1, "no request after the refusal"
    assert wrong not in done.stdout + done.stderr
    del workshop.env["KEYPROV_MAIL_API_KEY"]
    key_file = workshop.folder / "mail-key"
    key_file.write_text(workshop.fake.api_key + "\n")
    workshop.env["KEYPROV_MAIL_API_KEY_FILE"] = str(key_file)
    assert workshop.send().returncode == 0
    workshop.assert_each_has_exactly_their_own_key()


def test_an_unknown_outcome_exits_1_is_held_and_resent_only_when_asked(workshop):
    workshop.provisioned(3)
    workshop.fake.fail_next = ["503_before"]
    done = workshop.send()
    assert done.returncode == 1
    assert done.stdout == "ws: 2 sent, 0 already sent, 1 outcome unknown\n"
    label = workshop.key_of("person0@example.org")["label"]
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("UNKNOWN")]
    assert line.startswith(f"UNKNOWN  person0@example.org  {label}: ")
    assert "answered 503" in line and line.endswith("after the request was sent")
    hint = done.stderr.splitlines()[-1]
    assert hint.startswith("1 message may have been delivered: ")
    assert hint.endswith(
        "keyprov send --resend-unknown sends it again, and a participant whose first copy "
        "arrived then gets their key twice (the same key, to their own address)."
    )
    if workshop.fake.name == "sendgrid":
        assert "SendGrid's log cannot be searched without its paid add-on" in hint
    else:
        assert "the next run looks it up in" in hint

    held = workshop.send()
    assert held.returncode == 1 and held.stdout == "ws: 0 sent, 2 already sent, 1 outcome unknown\n"
    assert workshop.fake.to("person0@example.org") == [], "not resent without being asked"

    dry = workshop.keyprov("send", "ws.csv", "--dry-run")
    assert (
        "outcome unknown: 1 participant whose message may have been delivered (a run looks "
        "them up first where the provider allows; --resend-unknown sends them again)"
    ) in dry.stdout.splitlines()

    forced = workshop.send("--resend-unknown")
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr.startswith(
        "warning: --resend-unknown sends 1 message again whose first copy may have been "
        "delivered: those participants may get their key twice (the same key, to their own "
        "address)."
    )
    workshop.assert_each_has_exactly_their_own_key()
    workshop.assert_nothing_leaked()


def test_an_answer_lost_after_acceptance_is_found_in_the_log_where_the_provider_has_one(
    workshop,
):
    workshop.provisioned(2)
    workshop.fake.fail_next = ["500_after"]
    assert workshop.send().returncode == 1
    rerun = workshop.send()
    if workshop.fake.name == "sendgrid":
        assert rerun.returncode == 1
        assert "paid Email Activity add-on" in rerun.stderr
    else:
        assert rerun.returncode == 0, rerun.stderr
        assert rerun.stdout == "ws: 0 sent, 2 already sent\n"
        assert "its unanswered message was found in" in rerun.stderr
        assert workshop.sheet()[0][7].startswith("sent ")
    workshop.assert_each_has_exactly_their_own_key()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"KEYPROV_MAIL": "postmark"}, "KEYPROV_MAIL='postmark' is not one of smtp, sendgrid"),
        ({"KEYPROV_MAIL_API_KEY": ""}, "KEYPROV_MAIL_API_KEY is not set"),
        ({"KEYPROV_MAIL_FROM": "nobody"}, "KEYPROV_MAIL_FROM='nobody' is not an email address"),
        (
            {"KEYPROV_MAIL_API_URL": "http://mail.example.org"},
            "KEYPROV_MAIL_API_URL='http://mail.example.org' would send the",
        ),
        ({"KEYPROV_MAIL_REGION": "asia"}, "KEYPROV_MAIL_REGION='asia': "),
        ({"KEYPROV_MAIL_DAILY_QUOTA": "lots"}, "KEYPROV_MAIL_DAILY_QUOTA='lots' is not a number"),
    ],
)
def test_a_configuration_problem_is_named_and_exits_2_before_any_request(
    workshop, changes, message
):
    workshop.provisioned(1)
    workshop.env.update(changes)
    done = workshop.send()
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {message}"), done.stderr
    assert workshop.fake.raw == [] and workshop.sandbox.request_log == []
