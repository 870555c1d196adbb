"""Claim codes as participants receive them: slips with a QR code of the claim page, the
mail-merge columns, the message placeholders; and those codes work on the claim page."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from keyprov.workshop.claimcodes import ALPHABET, normalise_code
from tests.claim.support import Browser, claim_page, folder_of, key_in
from tests.delivery.test_send import MailWorkshop
from tests.handouts.test_handouts_pdf import decoded_qr_codes, page_texts
from tests.helpers import CliWorkshop, make_roster
from tests.smtp import KEY

CLAIM_URL = "https://laptop.local:8443/claim"


def merged(workshop: CliWorkshop) -> list[dict[str, str]]:
    with (folder_of(workshop) / "mail-merge.csv").open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def closed(workshop: CliWorkshop) -> CliWorkshop:
    make_roster(workshop.roster, 3)
    done = workshop.provision("--closed", "--claim-url", "https://LAPTOP.local:8443")
    assert done.returncode == 0, done.stderr
    return workshop


def test_mail_merge_has_each_participants_code_and_link_and_a_reprint_keeps_them(
    closed: CliWorkshop,
) -> None:
    done = closed.keyprov("handouts", "ws.csv")
    assert done.returncode == 0, done.stderr  # a closed workshop's keys are handed out
    rows = merged(closed)
    assert len(rows) == 3
    codes = [row["claim_code"] for row in rows]
    assert len(set(codes)) == 3
    for row in rows:
        plain = normalise_code(row["claim_code"])
        assert re.fullmatch(
            f"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}", row["claim_code"]
        )
        assert len(plain) >= 10 and set(plain) <= set(ALPHABET)
        assert row["claim_url"] == f"{CLAIM_URL}?code={row['claim_code']}"
        assert KEY.fullmatch(row["key"])
    assert closed.keyprov("handouts", "ws.csv").returncode == 0
    assert [row["claim_code"] for row in merged(closed)] == codes, "the same codes again"


def test_claim_slips_carry_the_code_and_a_qr_of_the_claim_page_and_no_key(
    closed: CliWorkshop, management_key
) -> None:
    done = closed.keyprov("handouts", "ws.csv", "--claim")
    assert done.returncode == 0, done.stderr
    rows = merged(closed)
    assert all(row["key"] == "" for row in rows), "no key in the mail merge"
    pdf = folder_of(closed) / "handouts.pdf"
    text = "".join(page_texts(pdf))
    assert not KEY.search(text) and "sk-or-v1-" not in text
    assert "Scan to claim your key" in text and "laptop.local:8443/claim" in text
    qr = [code for page in decoded_qr_codes(pdf) for code in page]
    assert sorted(qr) == sorted(row["claim_url"] for row in rows)
    for row in rows:
        assert row["claim_code"] in text
    assert "claim slip" in str(closed.sheet())
    # The code on a slip fetches that participant's key on the claim page.
    ada = next(row for row in rows if row["email"] == "person1@example.org")
    with claim_page(closed, management_key) as page:
        shown = Browser(page.url).claim(ada["claim_code"])
    assert shown.status_code == 200
    assert key_in(shown) == next(str(row[2]) for row in closed.sheet() if row[1] == ada["email"])


def test_claim_slips_need_the_claim_page_address(workshop: CliWorkshop) -> None:
    workshop.provisioned(2)
    done = workshop.keyprov("handouts", "ws.csv", "--claim")
    assert done.returncode == 2 and "--claim-url" in done.stderr
    assert not (folder_of(workshop) / "handouts.pdf").exists()
    bad = workshop.provision("--claim-url", "ftp://laptop/claim")
    assert bad.returncode == 2 and "--claim-url" in bad.stderr


@pytest.fixture
def mail_workshop(sandbox, management_key: str, tmp_path: Path, smtp_server) -> MailWorkshop:
    mailing = MailWorkshop(sandbox, management_key, tmp_path, smtp_server)
    make_roster(mailing.roster, 3)
    assert mailing.provision("--closed", "--claim-url", CLAIM_URL).returncode == 0
    return mailing


def test_send_claim_mails_the_code_and_link_never_the_key(mail_workshop, mailbox) -> None:
    done = mail_workshop.send("--claim")
    assert done.returncode == 0, done.stderr
    assert len(mailbox.received) == 3
    for received in mailbox.received:
        body = received.message.get_content()
        assert received.keys == set() and "sk-or-v1-" not in body
        found = re.search(r"https://laptop\.local:8443/claim\?code=([A-Z0-9-]+)", body)
        assert found and found[1] in body.replace(found[0], "")
        assert found[1] not in received.message["Subject"]


def test_a_template_places_the_code_where_it_likes(mail_workshop, mailbox, tmp_path) -> None:
    template = tmp_path / "message.txt"
    template.write_text("Subject: Your code\n\nHi {first_name}: {claim_code} at {claim_url}\n")
    keyed = tmp_path / "keyed.txt"
    keyed.write_text("Subject: Your key\n\n{key} and {claim_code}\n")
    refused = mail_workshop.send("--claim", "--template", str(keyed))
    assert refused.returncode == 2 and "leave {key} out" in refused.stderr
    in_subject = tmp_path / "subject.txt"
    in_subject.write_text("Subject: {claim_code}\n\nHi\n{claim_url}\n")
    assert mail_workshop.send("--template", str(in_subject)).returncode == 2
    done = mail_workshop.send("--claim", "--template", str(template))
    assert done.returncode == 0, done.stderr
    for received in mailbox.received:
        body = received.message.get_content()
        assert re.fullmatch(r"Hi Person: (\S+) at https://\S+\?code=\1\s*", body), body
