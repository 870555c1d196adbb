"""Where a watch's digest goes besides the terminal and events.jsonl: a webhook, an email.

The webhook's URL is a secret (whoever has it can post into the channel): it is read only
from KEYPROV_WEBHOOK_URL, never printed, and masked everywhere. An error names what went
wrong, never the address. A digest is journaled before it leaves and marked delivered per
channel after, so one that could not be delivered is sent at a later poll: at least once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import requests

from keyprov.api.baseurl import is_loopback
from keyprov.delivery.sender import DeliveryError, SmtpSender
from keyprov.delivery.settings import SmtpSettings
from keyprov.errors import ConfigurationError
from keyprov.redaction import register_secret

WEBHOOK_VARIABLE = "KEYPROV_WEBHOOK_URL"
WEBHOOK_FORMATS = ("slack", "json")
WEBHOOK_TIMEOUT = (5.0, 10.0)
WEBHOOK, EMAIL = "webhook", "email"

TextOf = Callable[[Mapping[str, Any]], str]
"""A digest record -> the text a person reads (keyprov.render builds it)."""
EmailOf = Callable[[Mapping[str, Any]], tuple[str, str]]
"""A digest record -> (subject, body)."""


@dataclass(frozen=True)
class Webhook:
    url: str = field(repr=False)
    format: str = "slack"

    @classmethod
    def from_env(
        cls, webhook_format: str, environ: Mapping[str, str] | None = None
    ) -> Webhook | None:
        """KEYPROV_WEBHOOK_URL, checked (https, or http to this machine); None when unset."""
        env = os.environ if environ is None else environ
        url = env.get(WEBHOOK_VARIABLE, "").strip()
        if not url:
            return None
        register_secret(url)
        parts = urlsplit(url)
        local = parts.scheme == "http" and is_loopback(parts.hostname or "")
        if not (parts.scheme == "https" or local) or not parts.hostname:
            raise ConfigurationError(
                f"{WEBHOOK_VARIABLE} is not an https:// address (plain http only to this "
                "machine): paste the webhook URL your chat tool gave you."
            )
        if webhook_format not in WEBHOOK_FORMATS:
            raise ConfigurationError(f"--webhook-format must be one of {WEBHOOK_FORMATS}")
        return cls(url, webhook_format)


def webhook_payload(digest: Mapping[str, Any], text_of: TextOf, webhook_format: str) -> object:
    """Slack's `{"text": …}`, or the documented JSON: participants by short name only."""
    if webhook_format == "slack":
        return {"text": text_of(digest)}
    payload: dict[str, Any] = {
        "workshop": digest["workshop"],
        "polled_at": digest["polled_at"],
        "alerts": [
            {
                "participant": alert["short"],
                "threshold": alert["threshold"],
                "spent": alert["spent"],
                "limit": alert["limit"],
                "window": alert["window"],
            }
            for alert in digest["alerts"]
        ],
    }
    if digest.get("credits"):
        payload["credits"] = digest["credits"]
    return payload


@dataclass
class Notifier:
    """Delivers digests to the channels configured now; says why one failed (no secret)."""

    text_of: TextOf
    email_of: EmailOf
    webhook: Webhook | None = None
    email_to: tuple[str, ...] = ()
    smtp: SmtpSettings | None = None

    @property
    def channels(self) -> list[str]:
        return [WEBHOOK] * (self.webhook is not None) + [EMAIL] * bool(self.email_to)

    def deliver(self, digest: Mapping[str, Any], channel: str) -> str | None:
        """None when delivered, else why not."""
        if channel == WEBHOOK and self.webhook is not None:
            return self._post(digest, self.webhook)
        if channel == EMAIL and self.email_to and self.smtp is not None:
            return self._mail(digest, self.smtp)
        return "not configured in this run"

    def _post(self, digest: Mapping[str, Any], webhook: Webhook) -> str | None:
        payload = webhook_payload(digest, self.text_of, webhook.format)
        try:
            answer = requests.post(
                webhook.url, json=payload, timeout=WEBHOOK_TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as error:
            # Never str(error): it holds the URL's path, which is the secret part.
            return f"the webhook could not be reached ({type(error).__name__})"
        if 200 <= answer.status_code < 300:
            return None
        return f"the webhook answered {answer.status_code}"

    def _mail(self, digest: Mapping[str, Any], smtp: SmtpSettings) -> str | None:
        subject, body = self.email_of(digest)
        problems = []
        with SmtpSender(smtp) as sender:
            for address in self.email_to:
                message = EmailMessage()
                message["Subject"] = subject
                message["From"] = smtp.from_address
                message["To"] = address
                message.set_content(body)
                try:
                    sender.send(message, [address])
                except (DeliveryError, ConfigurationError) as error:
                    problems.append(f"{address}: {getattr(error, 'detail', error)}")
        return "; ".join(problems) or None
