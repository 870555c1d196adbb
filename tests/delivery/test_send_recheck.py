"""send reads each key again just before its message: a key disabled (or deleted, expired,
replaced) while the run goes on is never mailed, and the run says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.sandbox import Sandbox
from tests.delivery.test_send import MailWorkshop
from tests.helpers import FAST_RETRY
from tests.smtp import LoopbackController, Mailbox


@dataclass
class DisablingMailbox(Mailbox):
    """Accepts messages; once `after` are in, disables `victims`' keys on the sandbox (as an
    instructor on the dashboard would, while send goes on)."""

    after: int = 2
    disable: list[str] = field(default_factory=list)
    client: OpenRouterClient | None = None

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.received) == self.after and self.client is not None:
            for key_hash in self.disable:
                self.client.update_key(key_hash, disabled=True)
        return answer


@pytest.fixture
def mailbox() -> DisablingMailbox:
    return DisablingMailbox()


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path, smtp_server) -> MailWorkshop:
    return MailWorkshop(sandbox, management_key, tmp_path, smtp_server)


def test_keys_disabled_during_a_send_are_never_mailed_and_the_run_says_so(
    workshop: MailWorkshop,
    mailbox: DisablingMailbox,
    smtp_server: LoopbackController,
    sandbox: Sandbox,
    management_key: str,
) -> None:
    workshop.provisioned(6)
    victims = [f"person{i}@example.org" for i in (3, 4, 5)]
    mailbox.disable = [workshop.key_of(email)["hash"] for email in victims]

    with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as client:
        mailbox.client = client
        done = workshop.send()

    assert done.returncode == 1, done.stdout + done.stderr
    received = {item.envelope_to[0] for item in mailbox.received}
    assert received.isdisjoint(victims), "a disabled key is never mailed"
    assert len(received) == 3
    assert "ws: 3 sent, 0 already sent, 3 not sent (key no longer works)" in done.stdout
    for email in victims:
        assert f"FAIL  {email}" in done.stderr
    assert "its key was disabled on the server meanwhile" in done.stderr
    assert "no rerun of send helps them" in done.stderr
    assert "run keyprov send again" not in done.stderr
