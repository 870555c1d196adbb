"""The one interface every way of sending implements (SMTP, and the HTTP APIs), and the
outcomes a send can have beyond SMTP's.

The engine (`send_all`) talks only to a `Mailer`: it hands over one participant's message,
already composed, with their addresses, and gets back `Accepted` or one of:

- `TemporaryFailure`: not sent, try again (with `connection`: nothing reached the server);
- `RateLimited`: not sent; the provider said how long to wait;
- `PermanentFailure`: refused for this participant; the others go on;
- `OutcomeUnknown`: the request left and no clear answer came back (5xx, timeout, dropped
  connection): it may have been delivered, and none of the providers can de-duplicate a
  second attempt, so it is never sent again without the user's say;
- `ConfigurationError` (`StopSending` when the account says so mid-run): nothing more can be
  sent until the user fixes something (a refused key, an unverified sender, no credits).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from keyprov.delivery.sender import DeliveryError, TemporaryFailure
from keyprov.errors import ConfigurationError

KEYPROV_ID_HEADER = "X-Keyprov-Message-Id"
"""Our own id for each message, sent along so a provider's log can be searched for it."""


@dataclass(frozen=True)
class Outgoing:
    """One participant's message, ready to go."""

    message: EmailMessage
    recipients: tuple[str, ...]
    """Every address of the participant: one message reaches them all."""
    keyprov_id: str
    """The Message-ID keyprov made; journaled before sending."""


@dataclass(frozen=True)
class Accepted:
    provider_id: str | None = None
    """The provider's id for the message (SendGrid's X-Message-Id, SMTP2GO's email_id,
    Mailgun's id); None over SMTP, where our Message-ID is the id."""
    note: str = ""
    """Something worth telling about an accepted message (an address refused among several)."""
    wait_before_next: float = 0.0
    """Seconds the provider asks to leave before the next request (its rate headers)."""


@dataclass(frozen=True)
class Attempt:
    """A message whose outcome is unknown, as the journal remembers it."""

    keyprov_id: str
    recipients: tuple[str, ...]
    at: str
    """When it was journaled (ISO 8601, UTC)."""
    transport: str


class RateLimited(TemporaryFailure):
    """Refused before acceptance because of the rate (a 429): safe to send after `wait`."""

    def __init__(self, detail: str, *, wait: float, code: int | None = 429) -> None:
        super().__init__(detail, code=code)
        self.wait = wait


class OutcomeUnknown(DeliveryError):
    """The request was sent and no usable answer came: it may have been delivered."""


class StopSending(ConfigurationError):
    """The provider refused the account, key or sender: no further request may help."""


@runtime_checkable
class Mailer(Protocol):
    transport: str
    """The journal's name for it: "smtp", "sendgrid", "smtp2go", "mailgun"."""
    holds_unknown: bool
    """True: a message whose outcome is unknown is held until it is looked up or the user
    asks for it again. False (SMTP, as always): it is sent again."""

    @property
    def title(self) -> str:
        """Its name in a sentence: "SendGrid", "the mail server"."""
        ...

    @property
    def from_address(self) -> str: ...

    @property
    def description(self) -> str:
        """Where the mail goes, for people: `smtp.example.org:587 (starttls)`."""
        ...

    def connect(self) -> None: ...

    def deliver(self, outgoing: Outgoing) -> Accepted: ...

    def close(self) -> None: ...


@runtime_checkable
class Reconciler(Protocol):
    """A provider whose log can say whether a message whose answer was lost was accepted."""

    def find_sent(self, attempt: Attempt) -> str | None:
        """The provider's id when its log shows the message, else None (not there yet: which
        is weak evidence right after sending). Raises DeliveryError when it cannot ask."""
        ...
