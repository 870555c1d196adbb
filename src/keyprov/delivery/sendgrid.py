"""SendGrid v3 Mail Send (`POST /v3/mail/send`), as ../shared/email-apis.md §2 describes it.

- 202 with an empty body: accepted; the id is the `X-Message-Id` header.
- 200: only in sandbox mode, which keyprov never asks for: nothing was sent.
- 400, 413: this message is refused (a bad address, too large); the others go on.
- 401, 403: the run stops (exit 2). "Maximum credits exceeded" is the account out of credits
  (its daily quota or the end of the trial), not a bad key, and is said so.
- 429: wait until `X-RateLimit-Reset` (a Unix time). Every answer carries the rate headers:
  when `X-RateLimit-Remaining` reaches 0 the next request waits for the reset too.
- 5xx, timeouts: the outcome is unknown. SendGrid's log (Email Activity) needs a paid add-on,
  so keyprov cannot look the message up: it is held until `send --resend-unknown`.
"""

from __future__ import annotations

import time
from email.utils import getaddresses, parseaddr
from typing import Any

import requests

from keyprov.delivery.http_mail import HttpMailer, json_body, snippet
from keyprov.delivery.mail_settings import ApiMailSettings
from keyprov.delivery.mailer import KEYPROV_ID_HEADER, Accepted, Outgoing, RateLimited, StopSending
from keyprov.delivery.sender import PermanentFailure

PATH = "/v3/mail/send"
WAIT_WITHOUT_RESET = 10.0
"""Seconds to wait after a 429 that names no reset time."""


class SendGridMailer(HttpMailer):
    def __init__(self, settings: ApiMailSettings) -> None:
        super().__init__(settings)
        self.session.headers["Authorization"] = f"Bearer {settings.api_key}"

    def error_text(self, response: requests.Response) -> str:
        return _errors(response)

    def deliver(self, outgoing: Outgoing) -> Accepted:
        response = self.request("POST", PATH, json=payload(outgoing, self.from_address))
        status = response.status_code
        if status == 202:
            return Accepted(response.headers.get("X-Message-Id"), wait_before_next=_pause(response))
        if status == 200:
            raise StopSending(
                "SendGrid answered 200 OK, which it gives only in sandbox mode: the message "
                "was checked and not sent. Turn sandbox mode off for this key's account (or "
                "check KEYPROV_MAIL_API_URL), then run keyprov send again."
            )
        errors = _errors(response)
        if status == 401:
            if "maximum credits exceeded" in errors.lower():
                raise StopSending(
                    "SendGrid answered 401 'Maximum credits exceeded': the account is out of "
                    "credits (the trial's 100 a day are used up, or the trial has ended). This "
                    "is not a problem with the key: run keyprov send again when the credits are "
                    "renewed, or choose a plan."
                )
            raise StopSending(
                f"SendGrid refused the API key (401: {errors}). Check KEYPROV_MAIL_API_KEY: a "
                "SendGrid key starts with SG. and needs the Mail Send permission."
            )
        if status == 403:
            raise StopSending(
                f"SendGrid refused to send (403: {errors}). The sender "
                f"{self.from_address!r} must be a verified Sender Identity (or on an "
                "authenticated domain), and the key needs the Mail Send permission."
            )
        if status in (404, 405):
            raise self.wrong_address(response)
        if status == 429:
            raise RateLimited(
                f"SendGrid: too many requests ({errors})", wait=_until_reset(response)
            )
        if 400 <= status < 500:
            raise PermanentFailure(f"SendGrid refused it ({status}: {errors})", code=status)
        raise self.unexpected(response)


def payload(outgoing: Outgoing, sender: str) -> dict[str, Any]:
    """The request body: one personalization, so one message, to all of the participant's
    addresses, plain text, with keyprov's id in a header and in custom_args."""
    message = outgoing.message
    name, address = parseaddr(sender)
    to = []
    for display, email in getaddresses([str(value) for value in message.get_all("To", [])]):
        entry = {"email": email}
        # SendGrid refuses a name holding ';' or ',' ("Lovelace, Ada"): the address alone.
        if display and not set(display) & {";", ","}:
            entry["name"] = display
        to.append(entry)
    sender_field = {"email": address, **({"name": name} if name else {})}
    return {
        "personalizations": [{"to": to, "custom_args": {"keyprov_msg": outgoing.keyprov_id}}],
        "from": sender_field,
        "subject": str(message["Subject"]),
        "content": [{"type": "text/plain", "value": message.get_content()}],
        "headers": {KEYPROV_ID_HEADER: outgoing.keyprov_id},
    }


def _errors(response: requests.Response) -> str:
    body = json_body(response)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        parts = []
        for error in body["errors"]:
            if isinstance(error, dict):
                field = error.get("field")
                text = str(error.get("message") or "")
                parts.append(f"{text} ({field})" if field and field != "null" else text)
        if parts:
            return "; ".join(parts)
    return snippet(response)


def _reset(response: requests.Response) -> float | None:
    try:
        return float(response.headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return None


def _until_reset(response: requests.Response) -> float:
    reset = _reset(response)
    if reset is None:
        return WAIT_WITHOUT_RESET
    # A Unix time in whole seconds: the bucket refills during that second at the latest.
    return max(reset - time.time(), 0.0) + 0.5


def _pause(response: requests.Response) -> float:
    """Wait for the reset when this answer used the window's last request."""
    if response.headers.get("X-RateLimit-Remaining", "").strip() == "0":
        return _until_reset(response)
    return 0.0
