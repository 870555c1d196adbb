"""The last mile over real servers: the sandbox for keys, aiosmtpd for mail. Each participant
is handed exactly their own live key; what was handed out shows in keys.xlsx."""

from __future__ import annotations

import stat
from pathlib import Path

from openpyxl import load_workbook

from keyprov.api.client import OpenRouterClient
from keyprov.lifecycle import rotate
from keyprov.lifecycle.distribute import send_keys, write_handouts
from keyprov.provision import ProvisionSettings, provision
from keyprov.sandbox import Sandbox
from keyprov.workshop.folder import WorkshopRef
from tests.helpers import make_roster
from tests.smtp import KEY, Mailbox


def provisioned(tmp_path: Path, client: OpenRouterClient, count: int) -> WorkshopRef:
    roster = make_roster(tmp_path / "ws.csv", count)
    settings = ProvisionSettings(roster=roster, out_dir=tmp_path / "out")
    assert provision(settings, client).exit_status == 0
    return WorkshopRef(roster, None, tmp_path / "out")


def live_secrets(sandbox: Sandbox, folder: Path) -> dict[str, str]:
    """email -> the secret keys.xlsx holds for the participant's enabled key."""
    enabled = {key["hash"] for key in sandbox.keys() if not key["disabled"]}
    rows = load_workbook(folder / "keys.xlsx").active.iter_rows(min_row=2, values_only=True)
    return {str(row[1]): str(row[2]) for row in rows if row[6] in enabled}


def statuses(folder: Path) -> dict[str, str]:
    rows = load_workbook(folder / "keys.xlsx").active.iter_rows(min_row=2, values_only=True)
    return {str(row[1]): str(row[7]) for row in rows}


def smtp_env(port: int) -> dict[str, str]:
    return {
        "KEYPROV_SMTP_HOST": "127.0.0.1",
        "KEYPROV_SMTP_PORT": str(port),
        "KEYPROV_SMTP_SECURITY": "plain",
        "KEYPROV_SMTP_FROM": "Workshop team <team@example.org>",
    }


def test_handouts_hold_each_live_key_once_and_keys_xlsx_says_so(
    sandbox: Sandbox, client: OpenRouterClient, tmp_path: Path
) -> None:
    ref = provisioned(tmp_path, client, 5)
    files = write_handouts(ref, client)
    folder = tmp_path / "out" / "ws"
    assert {h.email: h.secret for h in files.handouts} == live_secrets(sandbox, folder)
    for path in (files.pdf, files.mail_merge):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(status.startswith("on slips ") for status in statuses(folder).values())

    again = write_handouts(ref, client, only="new")
    assert again.handouts == [], "everyone has theirs already"
    rotate(ref, client, participants=["person2@example.org"])
    replaced = write_handouts(ref, client, only="replaced")
    assert [h.email for h in replaced.handouts] == ["person2@example.org"]
    assert replaced.handouts[0].replaces is not None
    assert replaced.handouts[0].secret == live_secrets(sandbox, folder)["person2@example.org"]


def test_send_mails_each_their_own_live_key_once_and_a_rotation_once_more(
    sandbox: Sandbox,
    client: OpenRouterClient,
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server,
) -> None:
    ref = provisioned(tmp_path, client, 4)
    folder = tmp_path / "out" / "ws"
    env = smtp_env(smtp_server.port)
    sending = send_keys(ref, client, environ=env, rate_per_minute=6000)
    assert sending.exit_status == 0 and len(sending.results) == 4
    live = live_secrets(sandbox, folder)
    for email, secret in live.items():
        (message,) = mailbox.to(email)
        assert message.keys == {secret}, "their own key, and no other"
    assert all(s.startswith("sent") for s in statuses(folder).values())

    assert send_keys(ref, client, environ=env, rate_per_minute=6000).exit_status == 0
    assert len(mailbox.received) == 4, "a rerun sends nothing"

    rotate(ref, client, participants=["person1@example.org"])
    send_keys(ref, client, environ=env, rate_per_minute=6000)
    assert len(mailbox.received) == 5
    (first, second) = mailbox.to("person1@example.org")
    assert second.keys == {live_secrets(sandbox, folder)["person1@example.org"]}
    assert "replaces" in second.message.get_content()
    assert not KEY.search(str(first.message["Subject"]))
