"""--title names the workshop as participants know it, in subjects, slips and the PDF, and is
remembered; a replacement's subject says it is one; "replaces your previous key" only for
someone an earlier key reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyprov.sandbox import Sandbox
from tests.delivery.test_send import MailWorkshop
from tests.handouts.test_handouts_pdf import page_texts
from tests.smtp import Mailbox

TITLE = "DH Summer Workshop 2026"


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path, smtp_server) -> MailWorkshop:
    return MailWorkshop(sandbox, management_key, tmp_path, smtp_server)


def test_the_title_is_in_every_subject_and_on_the_slips_and_is_remembered(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(3)
    sent = workshop.send("--title", TITLE)
    assert sent.returncode == 0, sent.stderr
    subjects = {str(item.message["Subject"]) for item in mailbox.received}
    assert subjects == {f"Your OpenRouter API key for {TITLE}"}

    slips = workshop.keyprov("handouts", "ws.csv")  # no --title: the remembered one
    assert slips.returncode == 0, slips.stderr
    (text, *_) = page_texts(workshop.folder / "output" / "ws" / "handouts.pdf")
    assert f"OpenRouter API key · {TITLE}" in " ".join(text.split())

    rotated = workshop.keyprov("rotate", "ws.csv", "--participant", "person1@example.org")
    assert rotated.returncode == 0, rotated.stderr
    again = workshop.send()
    assert again.returncode == 0, again.stderr
    latest = mailbox.to("person1@example.org")[-1].message
    assert str(latest["Subject"]) == (
        f"Your new OpenRouter API key for {TITLE} (it replaces your previous key)"
    )
    assert "This key replaces your previous key" in latest.get_content()


def test_a_key_that_replaces_one_never_handed_out_does_not_say_it_replaces_one(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(2)
    rotated = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert rotated.returncode == 0
    assert workshop.statuses()["person0@example.org"] == "new"
    assert workshop.send().returncode == 0
    (item,) = mailbox.to("person0@example.org")
    assert "replaces" not in item.message.get_content()
    assert str(item.message["Subject"]) == "Your OpenRouter API key for ws"


@pytest.mark.parametrize("title", ["Summer\u2028Workshop", "Summer\nWorkshop", "   "])
def test_a_title_that_cannot_be_a_subject_is_refused_before_anything(
    workshop: MailWorkshop, mailbox: Mailbox, title: str
) -> None:
    workshop.provisioned(1)
    done = workshop.send("--title", title)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--title" in done.stderr and mailbox.received == []


def test_a_template_whose_subject_cannot_be_a_header_stops_before_the_first_message(
    workshop: MailWorkshop, mailbox: Mailbox
) -> None:
    workshop.provisioned(2)
    template = workshop.folder / "message.txt"
    template.write_text("Subject: Your key\u2028for {workshop}\n\nHello {first_name}: {key}\n")
    done = workshop.send("--template", str(template))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the subject holds LINE SEPARATOR (U+2028)" in done.stderr
    assert "check the address" not in done.stderr
    assert mailbox.received == [] and workshop.statuses() == {
        "person0@example.org": "new",
        "person1@example.org": "new",
    }
