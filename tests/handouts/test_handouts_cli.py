"""`keyprov handouts` through the real CLI against the sandbox: handouts.pdf read back as a
person's tools read it (its text, its QR codes), mail-merge.csv as Python and LibreOffice read
it. Each slip and row holds its own participant's live key, and nothing else does."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from keyprov.api.client import OpenRouterClient
from tests.handouts.test_handouts_pdf import decoded_qr_codes, page_texts
from tests.helpers import CliWorkshop, make_roster, write_csv
from tests.smtp import KEY

PEOPLE = [
    ("José Müller", "jose@example.org"),
    ("Zoë Ñandú-Œuvre", "zoe@example.org"),
    ("Łukasz Żółć", "lukasz@example.org"),
    ("Ærø Åsmund", "aero@example.org"),
    ("François d'Éçà", "francois@example.org"),
]


def folder_of(workshop: CliWorkshop) -> Path:
    return workshop.folder / "output" / "ws"


def accented_roster(workshop: CliWorkshop) -> None:
    write_csv(workshop.roster, ("name", "email", "limit"), [(n, e, 2) for n, e in PEOPLE])
    done = workshop.provision()
    assert done.returncode == 0, done.stderr


def live_key(workshop: CliWorkshop, email: str) -> str:
    """The participant's secret from keys.xlsx, checked to be their enabled key on the server."""
    secret = next(str(row[2]) for row in workshop.sheet() if row[1] == email)
    assert hashlib.sha256(secret.encode()).hexdigest() == workshop.key_of(email)["hash"]
    return secret


def slips(pdf: Path, names: list[str]) -> list[tuple[str, str]]:
    """(name, key) of each slip in reading order: each key with the name printed above it."""
    found = []
    for text in page_texts(pdf):
        for match in KEY.finditer(text):
            before = text[: match.start()]
            owner = max(names, key=before.rfind)
            found.append((owner, match.group(0)))
    return found


def statuses(workshop: CliWorkshop) -> dict[str, str]:
    return {str(row[1]): str(row[7]) for row in workshop.sheet()}


def test_each_slip_and_row_holds_its_own_participants_live_key_once(
    workshop: CliWorkshop,
) -> None:
    accented_roster(workshop)
    done = workshop.keyprov("handouts", "ws.csv")
    assert done.returncode == 0, done.stderr
    folder = folder_of(workshop)
    pdf, merge = folder / "handouts.pdf", folder / "mail-merge.csv"
    assert done.stdout.splitlines() == [
        f"slips:      {pdf} (5 slips on 2 pages, A4; cut along the marks)",
        f"mail merge: {merge} (5 rows, one per participant)",
        "ws: 5 participants in the handouts; both files hold their keys (owner-only): delete "
        "them once the keys are handed out.",
    ]
    assert done.stderr == ""
    for path in (pdf, merge):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    live = {email: live_key(workshop, email) for _, email in PEOPLE}
    names = [name for name, _ in PEOPLE]
    whole = "".join(page_texts(pdf))
    assert sorted(KEY.findall(whole)) == sorted(live.values()), "every key once, no other"
    on_slips = slips(pdf, names)
    alphabetical = ["Ærø Åsmund", "François d'Éçà", "José Müller", "Łukasz Żółć", "Zoë Ñandú-Œuvre"]
    assert on_slips == [(name, live[dict(PEOPLE)[name]]) for name in alphabetical], (
        "in alphabetical order, each slip its own participant's key"
    )
    for name in names:
        assert name in whole
    # Each QR code, top to bottom, is the key printed on its slip.
    assert [code for page in decoded_qr_codes(pdf) for code in page] == [key for _, key in on_slips]

    text = merge.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff"), "a BOM, so Excel reads the accents as UTF-8"
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert sorted((row["name"], row["email"], row["key"]) for row in rows) == sorted(
        (name, email, live[email]) for name, email in PEOPLE
    )
    jose = next(row for row in rows if row["email"] == "jose@example.org")
    assert jose["first_name"] == "José" and jose["budget"] == "$2.00 in total"

    today = {status.split()[-1] for status in statuses(workshop).values()}
    assert all(s.startswith("on slips ") for s in statuses(workshop).values()) and len(today) == 1
    printed = done.stdout + done.stderr
    audit = (folder / "audit.jsonl").read_text()
    for secret in live.values():
        assert secret not in printed and secret not in audit
    events = [json.loads(line) for line in audit.splitlines()]
    (event,) = [event for event in events if event["event"] == "handouts"]
    assert event["participants"] == 5 and len(event["keys"]) == 5


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_the_mail_merge_file_opens_in_libreoffice_with_accents_and_one_row_each(
    workshop: CliWorkshop, tmp_path: Path
) -> None:
    accented_roster(workshop)
    assert workshop.keyprov("handouts", "ws.csv").returncode == 0
    merge = folder_of(workshop) / "mail-merge.csv"
    converted = tmp_path / "converted"
    # As Calc opens a .csv: comma, double quotes, and the character set left to it to detect.
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
            "--headless",
            "--infilter=CSV:44,34,,1",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(converted),
            str(merge),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sheet = load_workbook(converted / "mail-merge.xlsx").active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header[:4] == ("first_name", "name", "email", "key")
    assert sorted((row[1], row[2], row[3]) for row in rows) == sorted(
        (name, email, live_key(workshop, email)) for name, email in PEOPLE
    )
    quickstart = header.index("quickstart")
    for row in rows:  # one cell, every line
        assert "export OPENROUTER_API_KEY=<your key>\ncurl " in str(row[quickstart])
        assert "pip install openai\n" in str(row[quickstart])


def test_only_new_and_only_replaced_follow_what_was_handed_out(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    workshop.provisioned(4)
    assert workshop.keyprov("handouts", "ws.csv").returncode == 0
    pdf = folder_of(workshop) / "handouts.pdf"
    first = pdf.read_bytes()

    nothing = workshop.keyprov("handouts", "ws.csv", "--only", "new")
    assert nothing.returncode == 0
    assert nothing.stdout == "ws: nothing to hand out; no file was written.\n"
    assert nothing.stderr == "left out: 4 handed out already (--only new)\n"
    assert pdf.read_bytes() == first

    make_roster(workshop.roster, 6)
    assert workshop.provision().returncode == 0
    new = workshop.keyprov("handouts", "ws.csv", "--only", "new", "--paper", "letter")
    assert new.returncode == 0
    assert sorted(KEY.findall("".join(page_texts(pdf)))) == sorted(
        live_key(workshop, f"person{i}@example.org") for i in (4, 5)
    )

    old_label = workshop.key_of("person1@example.org")["label"]
    assert (
        workshop.keyprov("rotate", "ws.csv", "--participant", "person1@example.org").returncode == 0
    )
    assert statuses(workshop)["person1@example.org"] == (
        "replaced — hand out again: handouts.pdf holds the old key; keyprov handouts writes it "
        "again"
    ), "the old key was on the slips"
    replaced = workshop.keyprov("handouts", "ws.csv", "--only", "replaced")
    assert replaced.returncode == 0
    (text,) = page_texts(pdf)
    assert KEY.findall(text) == [live_key(workshop, "person1@example.org")]
    assert f"This key replaces your previous key {old_label}" in " ".join(text.split())
    assert statuses(workshop)["person1@example.org"].startswith("on slips ")

    one = workshop.keyprov("handouts", "ws.csv", "--participant", "PERSON3@example.org")
    assert one.returncode == 0
    assert KEY.findall("".join(page_texts(pdf))) == [live_key(workshop, "person3@example.org")]

    unknown = workshop.keyprov("handouts", "ws.csv", "--participant", "nobody@example.org")
    assert unknown.returncode == 2
    assert "no participant nobody@example.org in this workshop's state" in unknown.stderr
    bad_paper = workshop.keyprov("handouts", "ws.csv", "--paper", "a5")
    assert bad_paper.returncode == 2 and "'a5' is not one of 'a4', 'letter'" in bad_paper.stderr


def test_a_key_that_does_not_work_is_never_handed_out_and_its_owner_is_named(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    workshop.provisioned(4)
    client.update_key(workshop.key_of("person1@example.org")["hash"], disabled=True)
    make_roster(workshop.roster, 3)  # person3 cancelled: not in the roster any more
    assert workshop.provision().returncode == 1, "person1's key is disabled"

    done = workshop.keyprov("handouts", "ws.csv")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "not included: Person 1, person1@example.org: the key is disabled on the server "
        "(keyprov provision --reenable enables it)",
        "left out: 1 not in the roster (name them with --participant to include them)",
    ]
    pdf = folder_of(workshop) / "handouts.pdf"
    assert sorted(KEY.findall("".join(page_texts(pdf)))) == sorted(
        live_key(workshop, f"person{i}@example.org") for i in (0, 2)
    )

    named = workshop.keyprov("handouts", "ws.csv", "--participant", "person3@example.org")
    assert named.returncode == 0, "named, a participant no longer in the roster is included"
    assert KEY.findall("".join(page_texts(pdf))) == [live_key(workshop, "person3@example.org")]


def test_a_larger_workshop_gets_one_pdf_with_every_key_once(workshop: CliWorkshop) -> None:
    # 60, not 300: twenty pages show the slips run on page after page; 300 spent 80% of
    # the time drawing QR codes (segno scores eight masks per code) for nothing more.
    workshop.provisioned(60)
    done = workshop.keyprov("handouts", "ws.csv", "--paper", "letter")
    assert done.returncode == 0, done.stderr
    texts = page_texts(folder_of(workshop) / "handouts.pdf")
    assert len(texts) == 20
    sheet = workshop.sheet()
    secrets = [str(row[2]) for row in sheet]
    assert sorted(KEY.findall("".join(texts))) == sorted(secrets)
    assert len(set(secrets)) == 60
    # Rebuilt by handouts, which does not read the roster, keys.xlsx still follows it.
    assert [row[1] for row in sheet] == [f"person{i}@example.org" for i in range(60)]
