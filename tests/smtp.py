"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping what it accepts."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

KEY = re.compile(r"sk-or-v1-[0-9a-f]{64}")


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def keys(self) -> set[str]:
        """Every full key anywhere in the message a person reads: headers and body."""
        headers = " ".join(f"{name}: {value}" for name, value in self.message.items())
        return set(KEY.findall(headers + self.message.get_content()))


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts, and fails on demand."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    """Recipients answered 550 (no such mailbox)."""
    failure_rate: float = 0.0
    """Share of messages failed temporarily: 451, or the connection dropped, in turn."""
    fail_next: list[str] = field(default_factory=list)
    """Answers for the next messages' DATA: "451", "421" or "drop"."""
    failures: int = 0
    random: random.Random = field(default_factory=lambda: random.Random(20261205))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        action = self.fail_next.pop(0) if self.fail_next else None
        if action is None and self.random.random() < self.failure_rate:
            action = "451" if self.failures % 2 == 0 else "drop"
        if action is not None:
            self.failures += 1
        if action == "451":
            return "451 4.3.0 Temporary local problem, try again"
        if action == "421":
            return "421 4.3.2 Service shutting down"
        if action == "drop":
            server.transport.close()
            return "250 never heard"
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 2.0.0 Queued"

    def to(self, address: str) -> list[Received]:
        return [item for item in self.received if address in item.envelope_to]


class LoopbackController(Controller):
    """aiosmtpd on 127.0.0.1 and a free port the system picks."""

    def __init__(self, handler: Mailbox, **kwargs) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, **kwargs)

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
