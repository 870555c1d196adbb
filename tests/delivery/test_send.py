"""`keyprov send` through the real CLI: keys from the sandbox, mail to aiosmtpd on 127.0.0.1.

Every participant receives exactly one message, to their own address, holding exactly their
own live key; reruns, rotations and a faulty server change that only as the rules say; and
no key is printed or written to audit.jsonl on the way.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.sandbox import Sandbox
from tests.helpers import CliWorkshop, Invocation
from tests.smtp import KEY, LoopbackController, Mailbox

UNPACED = "600000"
"""--rate for tests that are not about pacing."""


def smtp_env(port: int, **changes: str) -> dict[str, str]:
    return {
        "KEYPROV_SMTP_HOST": "127.0.0.1",
        "KEYPROV_SMTP_PORT": str(port),
        "KEYPROV_SMTP_SECURITY": "plain",
        "KEYPROV_SMTP_FROM": "Workshop team <team@example.org>",
        **changes,
    }


class MailWorkshop(CliWorkshop):
    """A workshop on the sandbox whose `send` goes to the test's SMTP server."""

    def __init__(
        self, sandbox: Sandbox, management_key: str, folder: Path, smtp: LoopbackController
    ) -> None:
        super().__init__(sandbox, management_key, folder)
        self.env.update(smtp_env(smtp.port))
        self.printed: list[str] = []

    def keyprov(self, *args: str) -> Invocation:
        done = super().keyprov(*args)
        self.printed += [done.stdout, done.stderr]
        return done

    def send(self, *options: str) -> Invocation:
        return self.keyprov("send", "ws.csv", "--rate", UNPACED, *options)

    def live_keys(self) -> dict[str, str]:
        """email -> the secret keys.xlsx holds, checked to be their enabled key on the server."""
        keys = {}
        for row in self.sheet():
            email, secret = str(row[1]), str(row[2])
            assert hashlib.sha256(secret.encode()).hexdigest() == self.key_of(email)["hash"]
            keys[email] = secret
        return keys

    def statuses(self) -> dict[str, str]:
        return {str(row[1]): str(row[7]) for row in self.sheet()}

    def audit(self) -> list[dict]:
        text = (self.folder / "output" / "ws" / "audit.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]

    def assert_no_key_printed_or_audited(self, *secrets: str) -> None:
        audit = (self.folder / "output" / "ws" / "audit.jsonl").read_text()
        journal = self.folder / "output" / "ws" / "deliveries.jsonl"
        written = audit + (journal.read_text() if journal.exists() else "")
        assert KEY.findall(written) == []
        for text in self.printed:
            assert KEY.findall(text) == [], text
        for secret in secrets:
            assert secret not in written


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path, smtp_server) -> MailWorkshop:
    return MailWorkshop(sandbox, management_key, tmp_path, smtp_server)


def assert_each_has_exactly_their_own_key(mailbox: Mailbox, live: dict[str, str]) -> None:
    for email, secret in live.items():
        (message,) = mailbox.to(email)
        assert message.envelope_to == [email]
        assert message.message["To"].addresses[0].addr_spec == email
        assert message.keys == {secret}, "their own key, and no other"
    assert len(mailbox.received) == len(live)


def test_each_participant_gets_one_message_with_their_own_live_key_and_a_rerun_sends_none(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(5)
    done = workshop.send()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ws: 5 sent, 0 already sent\n"
    live = workshop.live_keys()
    assert_each_has_exactly_their_own_key(mailbox, live)
    assert all(
        re.fullmatch(r"sent \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC", s)
        for s in workshop.statuses().values()
    )

    deliveries = [event for event in workshop.audit() if event["event"] == "delivery"]
    received = {item.envelope_to[0]: item.message for item in mailbox.received}
    assert len(deliveries) == 5
    for event in deliveries:
        message = received[event["recipient"]]
        assert event["outcome"] == "sent"
        assert event["message_id"] == message["Message-ID"]
        assert event["label"] == workshop.key_of(event["recipient"])["label"]

    again = workshop.send()
    assert again.returncode == 0
    assert again.stdout == "ws: 0 sent, 5 already sent\n" and again.stderr == ""
    assert len(mailbox.received) == 5, "a rerun sends 0"
    workshop.assert_no_key_printed_or_audited(*live.values())


def test_after_a_rotation_exactly_one_new_message_goes_to_that_participant(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(4)
    assert workshop.send().returncode == 0
    old = workshop.key_of("person2@example.org")["label"]
    assert (
        workshop.keyprov("rotate", "ws.csv", "--participant", "person2@example.org").returncode == 0
    )
    assert workshop.statuses()["person2@example.org"] == "replaced — send again"

    done = workshop.send()
    assert done.returncode == 0
    assert done.stdout == "ws: 1 sent, 3 already sent\n"
    assert len(mailbox.received) == 5
    first, second = mailbox.to("person2@example.org")
    live = workshop.live_keys()
    assert second.keys == {live["person2@example.org"]} != first.keys
    body = second.message.get_content().replace("\r\n", "\n")
    assert body.startswith("Hello Person,\n\nThis key replaces your previous key " + old)
    assert workshop.statuses()["person2@example.org"].startswith("sent ")
    workshop.assert_no_key_printed_or_audited(*live.values())


def test_resend_forces_one_participant_and_needs_to_be_told_who(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(3)
    assert workshop.send().returncode == 0
    done = workshop.send("--resend", "--participant", "person1@example.org")
    assert done.returncode == 0
    assert [len(mailbox.to(f"person{i}@example.org")) for i in range(3)] == [1, 2, 1]
    assert mailbox.to("person1@example.org")[1].keys == {
        workshop.live_keys()["person1@example.org"]
    }

    everyone = workshop.send("--resend")
    assert everyone.returncode == 2
    assert "--resend sends a key again: name who with --participant" in everyone.stderr
    assert len(mailbox.received) == 4


def test_a_server_failing_a_fifth_of_deliveries_ends_with_everyone_sent_once(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(20)
    mailbox.failure_rate = 0.2
    codes = []
    while not codes or codes[-1] != 0:
        # One try per message and run: whatever the server fails is left to the rerun.
        codes.append(workshop.send("--attempts", "1").returncode)
        assert len(codes) < 30, "reruns make no progress"
    assert set(codes[:-1]) == {1} and len(codes) > 1, "some runs did not get through"
    assert mailbox.failures >= 3
    assert_each_has_exactly_their_own_key(mailbox, workshop.live_keys())
    workshop.assert_no_key_printed_or_audited()


def test_a_refused_address_is_reported_and_the_others_are_sent(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(4)
    mailbox.refuse.add("person1@example.org")
    done = workshop.send()
    assert done.returncode == 1
    assert done.stdout == "ws: 3 sent, 0 already sent, 1 failed\n"
    label = workshop.key_of("person1@example.org")["label"]
    assert (
        f"FAIL  person1@example.org  {label}: person1@example.org refused: 550 5.1.1 "
        "<person1@example.org>: mailbox unavailable (the server refused it for good: check the "
        "address; a rerun tries again)"
    ) in done.stderr.splitlines()
    assert mailbox.to("person1@example.org") == []
    assert len(mailbox.received) == 3
    assert workshop.statuses()["person1@example.org"] == "new"
    (failed,) = [e for e in workshop.audit() if e["event"] == "delivery" and e["outcome"] != "sent"]
    assert failed["recipient"] == "person1@example.org" and "550" in failed["detail"]

    mailbox.refuse.clear()
    assert workshop.send().returncode == 0
    assert_each_has_exactly_their_own_key(mailbox, workshop.live_keys())


def test_plain_to_another_machine_exits_2_before_connecting_anywhere(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(2)
    workshop.env.update(KEYPROV_SMTP_HOST="smtp.example.org")
    done = workshop.send()
    assert done.returncode == 2
    assert "KEYPROV_SMTP_SECURITY=plain would send the keys, and your password, unencrypted to " \
        "smtp.example.org" in done.stderr  # fmt: skip
    assert workshop.sandbox.request_log == [], "not even OpenRouter was asked"
    assert not (workshop.folder / "output" / "ws" / "deliveries.jsonl").exists()
    assert mailbox.received == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"KEYPROV_SMTP_HOST": ""}, "KEYPROV_SMTP_HOST is not set"),
        ({"KEYPROV_SMTP_SECURITY": "tls"}, "KEYPROV_SMTP_SECURITY='tls' is not one of"),
        ({"KEYPROV_SMTP_PORT": "58x"}, "KEYPROV_SMTP_PORT='58x' is not a port number"),
        ({"KEYPROV_SMTP_USER": "team"}, "KEYPROV_SMTP_USER is set but no password"),
        ({"KEYPROV_SMTP_FROM": ""}, "KEYPROV_SMTP_FROM is not set"),
    ],
)
def test_a_configuration_problem_is_named_and_exits_2(
    workshop: MailWorkshop, mailbox: Mailbox, changes: dict[str, str], message: str
) -> None:
    workshop.provisioned(1)
    workshop.env.update(changes)
    done = workshop.send()
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {message}")
    assert mailbox.received == [] and workshop.sandbox.request_log == []


def test_an_unknown_placeholder_stops_the_run_before_anything_is_sent(
    workshop: MailWorkshop, mailbox: Mailbox, tmp_path: Path
) -> None:
    workshop.provisioned(2)
    template = tmp_path / "message.txt"
    template.write_text("Subject: Your key for {workshop}\n\nHi {frist_name},\n\n{key}\n")
    done = workshop.send("--template", str(template))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {template}, line 3: unknown placeholder {{frist_name}}")
    assert mailbox.received == [] and workshop.sandbox.request_log == []

    template.write_text(
        "Subject: Your key for {workshop}\n\nHi {first_name},\n\n  {key}\n\n{budget}\n"
    )
    assert workshop.send("--template", str(template)).returncode == 0
    live = workshop.live_keys()
    for email, secret in live.items():
        (item,) = mailbox.to(email)
        assert item.message["Subject"] == "Your key for ws"
        assert (
            item.message.get_content().replace("\r\n", "\n")
            == f"Hi Person,\n\n  {secret}\n\n$1.00 in total\n"
        )


def test_a_dry_run_shows_the_first_message_masked_and_who_would_get_one(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(3)
    assert workshop.send("--participant", "person0@example.org").returncode == 0
    done = workshop.send("--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    first = workshop.key_of("person1@example.org")["label"]
    second = workshop.key_of("person2@example.org")["label"]
    assert lines[:5] == [
        "dry run: the first message, with its key masked:",
        "",
        "    From: Workshop team <team@example.org>",
        "    To: Person 1 <person1@example.org>",
        "    Subject: Your OpenRouter API key for ws",
    ]
    assert f"        {first}" in lines
    assert lines[-5:] == [
        f"would send 2 messages through 127.0.0.1:{workshop.env['KEYPROV_SMTP_PORT']} (plain):",
        f"  Person 1  person1@example.org  {first}  new key",
        f"  Person 2  person2@example.org  {second}  new key",
        "already sent their current key: 1 participant (--resend --participant EMAIL sends one "
        "again)",
        "dry run: nothing was sent.",
    ]
    assert len(mailbox.received) == 1, "the dry run sent nothing"
    workshop.assert_no_key_printed_or_audited(*workshop.live_keys().values())


def test_a_participant_without_a_working_key_is_named_and_the_run_exits_1(
    workshop: MailWorkshop, mailbox: Mailbox, client: OpenRouterClient
) -> None:
    workshop.provisioned(3)
    client.update_key(workshop.key_of("person0@example.org")["hash"], disabled=True)
    done = workshop.send()
    assert done.returncode == 1
    assert done.stdout == "ws: 2 sent, 0 already sent, 1 without a usable key\n"
    assert (
        "not sent: Person 0, person0@example.org: the key is disabled on the server "
        "(keyprov provision --reenable enables it)"
    ) in done.stderr.splitlines()
    assert mailbox.to("person0@example.org") == [] and len(mailbox.received) == 2


def test_a_send_noted_only_in_the_delivery_journal_shows_in_keys_xlsx_on_the_next_run(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    """A run killed after the server took the message and before the state noted it."""
    workshop.provisioned(2)
    assert workshop.send().returncode == 0
    state = workshop.folder / "output" / "ws" / "state.jsonl"
    noted, count = re.subn(r'"handed_out":"sent [^"]*"', '"handed_out":null', state.read_text())
    assert count == 2
    state.write_text(noted)

    done = workshop.send()
    assert done.stdout == "ws: 0 sent, 2 already sent\n"
    assert all(status.startswith("sent ") for status in workshop.statuses().values())
    assert len(mailbox.received) == 2
