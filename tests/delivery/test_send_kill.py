"""kill -9 during `keyprov send`, at random moments, then reruns.

Half the kills come from the mail server itself, the moment it has accepted a message and
before it answers: the sender dies not knowing the message left, which is the one window a
duplicate can come from. The others land wherever the clock says: start-up, the listing,
the pacing wait, a message half sent, the journal being written. Whatever the moment,
nobody may receive another participant's key, and each kill may cost one duplicate at most.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from keyprov.sandbox import Sandbox
from tests.delivery.test_send import smtp_env
from tests.helpers import CliWorkshop, keyprov_process_env, run_keyprov
from tests.smtp import KEY, LoopbackController, Mailbox

PARTICIPANTS = 30
KILLS_WANTED = 10
RATE = "1200"
"""Messages a minute: one every 50 ms, so a run is still sending when the kill comes."""


@dataclass
class KillingMailbox(Mailbox):
    """A slow mail server that, when armed, kills the sender after accepting a message."""

    delay: float = 0.02
    process: subprocess.Popen[bytes] | None = None
    kill_when_holding: int | None = None
    """Kill the sender once this many messages are accepted, before answering the last."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        answer = await super().handle_DATA(server, session, envelope)
        process = self.process
        armed = self.kill_when_holding is not None and len(self.received) >= self.kill_when_holding
        if armed and process is not None and process.poll() is None:
            process.kill()
            process.wait()
        return answer


def wait_for_messages(mailbox: Mailbox, count: int, process: subprocess.Popen[bytes]) -> None:
    """Until the server holds `count` messages, or the run has ended."""
    deadline = time.monotonic() + 30
    while process.poll() is None and len(mailbox.received) < count:
        assert time.monotonic() < deadline, "the run stalled"
        time.sleep(0.002)


def wait_at_most(
    seconds: float, mailbox: Mailbox, count: int, process: subprocess.Popen[bytes]
) -> None:
    """`seconds`, but no longer than until the server holds `count` messages or the run ends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None and len(mailbox.received) < count:
        time.sleep(0.002)


def test_kill_9_during_send_costs_at_most_one_duplicate_and_never_a_wrong_key(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    mailbox = KillingMailbox()
    controller = LoopbackController(mailbox)
    controller.start()
    try:
        workshop = CliWorkshop(sandbox, management_key, tmp_path)
        workshop.provisioned(PARTICIPANTS)
        env = {**workshop.env, **smtp_env(controller.port)}
        chance = random.Random(20261201)
        printed: list[bytes] = []
        kills = kills_by_server = 0
        for attempt in range(40):
            if kills >= KILLS_WANTED:
                break
            by_server = attempt % 2 == 0
            held = len(mailbox.received)
            messages = chance.randint(0, 2)
            mailbox.kill_when_holding = held + messages + 1 if by_server else None
            process = subprocess.Popen(
                [sys.executable, "-m", "keyprov", "send", "ws.csv", "--rate", RATE],
                cwd=tmp_path,
                env=keyprov_process_env(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            mailbox.process = process
            if by_server:
                process.wait(timeout=30)
            else:
                wait_for_messages(mailbox, held + messages, process)
                if messages:
                    time.sleep(chance.uniform(0, 0.08))
                else:
                    # Start-up, the listing or the pacing wait, but not past a few messages:
                    # a clock that outlasts a fast start-up would send everyone's mail and
                    # leave nothing to send for the kills that follow.
                    wait_at_most(chance.uniform(0, 1.2), mailbox, held + 3, process)
            killed = process.poll() is None or process.returncode == -9
            if process.poll() is None:
                process.kill()
            out, err = process.communicate(timeout=60)
            printed += [out, err]
            mailbox.process = None
            if killed:
                kills += 1
                kills_by_server += by_server
        mailbox.kill_when_holding = None
        assert kills >= KILLS_WANTED, "every kill landed while there was still mail to send"

        for _ in range(3):
            final = run_keyprov(["send", "ws.csv", "--rate", "600000"], env=env, cwd=tmp_path)
            printed += [final.stdout.encode(), final.stderr.encode()]
            if final.returncode == 0:
                break
        assert final.returncode == 0, final.stderr
        again = run_keyprov(["send", "ws.csv", "--rate", "600000"], env=env, cwd=tmp_path)
        assert again.returncode == 0 and again.stdout.startswith("ws: 0 sent,")
    finally:
        controller.stop()

    live = {str(row[1]): str(row[2]) for row in workshop.sheet()}
    for email, secret in live.items():
        assert hashlib.sha256(secret.encode()).hexdigest() == workshop.key_of(email)["hash"]
    for item in mailbox.received:
        (address,) = item.envelope_to
        assert item.message["To"].addresses[0].addr_spec == address
        assert item.keys == {live[address]}, "their own key, and no other"
    copies = [len(mailbox.to(email)) for email in live]
    assert min(copies) == 1, "everyone got their key"
    duplicates = len(mailbox.received) - len(live)
    assert duplicates <= kills, "at most one duplicate per kill"
    assert duplicates >= kills_by_server >= KILLS_WANTED // 2, (
        "each kill between the server's acceptance and its answer cost exactly that duplicate"
    )
    assert {str(row[7]).split()[0] for row in workshop.sheet()} == {"sent"}

    folder = tmp_path / "output" / "ws"
    written = (folder / "audit.jsonl").read_text() + (folder / "deliveries.jsonl").read_text()
    assert KEY.findall(written) == []
    assert all(KEY.findall(text.decode()) == [] for text in printed)
