"""What instructors already have, end to end against the sandbox and a real SMTP server: a
plain list of addresses, and a cell with two addresses of one person."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pypdfium2
import pytest

from keyprov.sandbox import Sandbox
from tests.helpers import CliWorkshop, Invocation
from tests.smtp import LoopbackController, Mailbox

UNPACED = "600000"


class Workshop(CliWorkshop):
    def __init__(self, sandbox: Sandbox, key: str, folder: Path, smtp: LoopbackController) -> None:
        super().__init__(sandbox, key, folder)
        self.env.update(
            KEYPROV_SMTP_HOST="127.0.0.1",
            KEYPROV_SMTP_PORT=str(smtp.port),
            KEYPROV_SMTP_SECURITY="plain",
            KEYPROV_SMTP_FROM="Workshop team <team@example.org>",
        )

    def run(self, *args: str) -> Invocation:
        done = self.keyprov(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    @property
    def output(self) -> Path:
        return self.folder / "output" / "ws"

    def secret_of(self, row: tuple) -> str:
        secret = str(row[2])
        hashes = {key["hash"] for key in self.sandbox.keys() if not key["disabled"]}
        assert hashlib.sha256(secret.encode()).hexdigest() in hashes
        return secret


@pytest.fixture
def workshop(
    sandbox: Sandbox, management_key: str, tmp_path: Path, smtp_server: LoopbackController
) -> Workshop:
    return Workshop(sandbox, management_key, tmp_path, smtp_server)


def slip_text(pdf: Path) -> str:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_a_list_of_addresses_is_a_roster_of_people_known_by_their_address(
    workshop: Workshop, mailbox: Mailbox
) -> None:
    (workshop.folder / "participants_emails.txt").write_bytes(
        "\ufeffanna@example.org\r\n\r\nbob@example.org\r\nAnna@Example.org\r\n".encode()
    )
    done = workshop.run("provision", "participants_emails.txt", "--workshop", "ws", "--limit", "1")
    assert "row 4 repeats an address of an earlier row (in any case)" in done.stdout + done.stderr
    assert len(workshop.sandbox.keys()) == 2

    rows = workshop.sheet()
    assert [(row[0], row[1]) for row in rows] == [
        ("", "anna@example.org"),
        ("", "bob@example.org"),
    ]
    secrets = {str(row[1]): workshop.secret_of(row) for row in rows}

    workshop.run("handouts", "--workshop", "ws")
    text = slip_text(workshop.output / "handouts.pdf")
    assert "anna@example.org" in text and "bob@example.org" in text  # each slip says whose
    merged = (workshop.output / "mail-merge.csv").read_text(encoding="utf-8-sig")
    assert "Hello," in merged and "Hello ," not in merged

    workshop.run("send", "--workshop", "ws", "--rate", UNPACED)
    assert len(mailbox.received) == 2
    for item in mailbox.received:
        (address,) = item.envelope_to
        body = item.message.get_content()
        assert body.startswith("Hello,\r\n"), body[:40]
        assert item.keys == {secrets[address]}


def test_two_addresses_in_a_cell_are_one_participant_reached_at_both(
    workshop: Workshop, mailbox: Mailbox
) -> None:
    workshop.roster.write_text(
        "Name,Surname,E-mail\n"
        'Anna,Bērziņa,"anna@example.lv, Anna.B@example.com"\n'
        "Jānis,Ozols,janis@example.lv / janis@example.com\n"
        "Līga,Kalniņa,liga@example.lv\n",
        encoding="utf-8",
    )
    workshop.run("provision", "ws.csv", "--limit", "1")
    assert len(workshop.sandbox.keys()) == 3, "one key per person, not per address"
    rows = {str(row[0]): row for row in workshop.sheet()}
    assert rows["Anna Bērziņa"][1] == "anna@example.lv, anna.b@example.com"
    assert rows["Jānis Ozols"][1] == "janis@example.lv, janis@example.com"
    assert rows["Līga Kalniņa"][1] == "liga@example.lv"

    workshop.run("handouts", "ws.csv")
    merged = (workshop.output / "mail-merge.csv").read_text(encoding="utf-8-sig")
    assert "anna@example.lv, anna.b@example.com" in merged

    workshop.run("send", "ws.csv", "--rate", UNPACED)
    by_first = {item.envelope_to[0]: item for item in mailbox.received}
    assert len(mailbox.received) == 3, "one message per participant"
    anna = by_first["anna@example.lv"]
    assert anna.envelope_to == ["anna@example.lv", "anna.b@example.com"]
    assert [a.addr_spec for a in anna.message["To"].addresses] == anna.envelope_to
    assert anna.message.get_content().startswith("Hello Anna,\r\n")
    assert anna.keys == {workshop.secret_of(rows["Anna Bērziņa"])}

    # A third address added to her cell: the next provision keeps her key, and sends to all.
    workshop.roster.write_text(
        "Name,Surname,E-mail\n"
        'Anna,Bērziņa,"anna@example.lv, anna.b@example.com; a.berzina@example.net"\n'
        "Jānis,Ozols,janis@example.lv / janis@example.com\n"
        "Līga,Kalniņa,liga@example.lv\n",
        encoding="utf-8",
    )
    workshop.run("provision", "ws.csv")
    assert workshop.writes() == []
    mailbox.received.clear()
    workshop.run("send", "ws.csv", "--resend", "--participant", "anna@example.lv")
    (again,) = mailbox.received
    assert again.envelope_to == ["anna@example.lv", "anna.b@example.com", "a.berzina@example.net"]


def test_a_refused_second_address_still_delivers_to_the_first_and_says_so(
    workshop: Workshop, mailbox: Mailbox
) -> None:
    workshop.roster.write_text('name,email\nAda Example,"ada@example.org, old@example.com"\n')
    workshop.run("provision", "ws.csv", "--limit", "1")
    mailbox.refuse.add("old@example.com")
    done = workshop.run("send", "ws.csv", "--rate", UNPACED)
    (item,) = mailbox.received
    assert item.envelope_to == ["ada@example.org"]
    assert "old@example.com refused: 550" in done.stdout + done.stderr
    assert workshop.run("send", "ws.csv", "--rate", UNPACED).stdout == (
        "ws: 0 sent, 1 already sent\n"
    )


def test_keys_xlsx_gives_both_addresses_back_when_the_state_is_lost(
    workshop: Workshop, mailbox: Mailbox
) -> None:
    workshop.roster.write_text('name,email\nAda Example,"ada@example.org, ada@example.com"\n')
    workshop.run("provision", "ws.csv", "--limit", "1")
    (workshop.output / "state.jsonl").unlink()
    workshop.run("send", "ws.csv", "--rate", UNPACED)
    (item,) = mailbox.received
    assert item.envelope_to == ["ada@example.org", "ada@example.com"]
