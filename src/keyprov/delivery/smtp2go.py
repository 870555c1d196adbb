"""SMTP2GO v3 (`POST /email/send`, `POST /activity/search`), as ../shared/email-apis.md §3
describes them.

- 200 is not "sent" by itself: only with `data.email_id` and no `data.failed` or
  `data.failures` is the message accepted. A 200 that reports a failure is a refusal of this
  message; the others go on.
- 400: this message is refused, except ENDPOINT_PERMISSION_DENIED (the key may not send),
  which stops the run like 401, 402 and 403 (exit 2).
- 429: SMTP2GO times the whole IP address out for at least a minute: wait 60 s, doubling
  while it goes on (longer than RetryPolicy.max_told_wait: the run stops and says so).
- 5xx, timeouts: the outcome is unknown. A run looks the message up with
  `/activity/search` (keyprov's own X-Keyprov-Message-Id header, by recipient) before it
  would send it again.
"""

from __future__ import annotations

from email.utils import formataddr, getaddresses
from typing import Any

import requests

from keyprov.delivery.http_mail import HttpMailer, json_body, snippet
from keyprov.delivery.mail_settings import ApiMailSettings
from keyprov.delivery.mailer import (
    KEYPROV_ID_HEADER,
    Accepted,
    Attempt,
    OutcomeUnknown,
    Outgoing,
    RateLimited,
    StopSending,
)
from keyprov.delivery.sender import DeliveryError, PermanentFailure

SEND_PATH = "/email/send"
SEARCH_PATH = "/activity/search"
MIN_WAIT = 60.0
"""SMTP2GO's time-out after a 429 is "no less than 1 minute"; a module attribute so that
tests of the command can shorten it."""


class Smtp2goMailer(HttpMailer):
    def __init__(self, settings: ApiMailSettings) -> None:
        super().__init__(settings)
        self.session.headers["X-Smtp2go-Api-Key"] = settings.api_key
        self._throttled = 0

    def error_text(self, response: requests.Response) -> str:
        return _error(response)

    def deliver(self, outgoing: Outgoing) -> Accepted:
        response = self.request("POST", SEND_PATH, json=payload(outgoing, self.from_address))
        status = response.status_code
        body = json_body(response)
        data = body.get("data") if isinstance(body, dict) else None
        data = data if isinstance(data, dict) else {}
        if status == 429:
            self._throttled += 1
            wait = max(MIN_WAIT * 2 ** (self._throttled - 1), _reset(response))
            raise RateLimited(f"SMTP2GO: too many requests ({_error(response)})", wait=wait)
        self._throttled = 0
        if status == 200:
            return self._accepted(response, data)
        code = str(data.get("error_code") or (body or {}).get("error_code") or "")
        if status == 400 and "ENDPOINT_PERMISSION_DENIED" not in code:
            raise PermanentFailure(f"SMTP2GO refused it (400: {_error(response)})", code=400)
        if status == 401:
            raise StopSending(
                f"SMTP2GO refused the API key (401: {_error(response)}). Check "
                "KEYPROV_MAIL_API_KEY: an SMTP2GO key starts with api-."
            )
        if status in (400, 403):
            raise StopSending(
                f"SMTP2GO does not let this key send ({status}: {_error(response)}). Allow it "
                "/email/send in the key's permissions (SMTP2GO's dashboard, API Keys), and "
                f"check that the sender {self.from_address!r} is a verified sender."
            )
        if status == 402:
            raise StopSending(
                f"SMTP2GO refused to send (402: {_error(response)}): the request was valid "
                "but not carried out. An account past its monthly quota is refused this way; "
                "check the account in SMTP2GO's dashboard."
            )
        if status == 404:
            raise self.wrong_address(response)
        if 400 <= status < 500:
            raise PermanentFailure(
                f"SMTP2GO refused it ({status}: {_error(response)})", code=status
            )
        raise self.unexpected(response)

    def _accepted(self, response: requests.Response, data: dict[str, Any]) -> Accepted:
        failures = data.get("failures") or []
        failed = data.get("failed") or 0
        if failed or failures:
            reasons = "; ".join(str(item) for item in failures) if failures else "no reason given"
            raise PermanentFailure(
                f"SMTP2GO answered 200 but reported the message failed ({reasons})", code=200
            )
        email_id = data.get("email_id")
        if not email_id:
            # Neither accepted nor refused, as far as the answer says: it may be queued.
            raise OutcomeUnknown(
                f"SMTP2GO answered 200 without an email_id or a failure ({snippet(response)})"
            )
        return Accepted(str(email_id), wait_before_next=_pause(response))

    def find_sent(self, attempt: Attempt) -> str | None:
        """The email_id of the message when SMTP2GO's activity shows it with keyprov's id."""
        if not attempt.recipients:
            return None
        query = {"search_recipient": attempt.recipients[0], "custom_headers": [KEYPROV_ID_HEADER]}
        response = self.request("POST", SEARCH_PATH, json=query)
        if response.status_code in (401, 403):
            # Not a reason to stop sending: the key may be allowed to send and not to search.
            raise DeliveryError(
                f"{response.status_code}: {_error(response)}; give the key the "
                "/activity/search permission in SMTP2GO's dashboard"
            )
        if response.status_code != 200:
            raise DeliveryError(f"{response.status_code}: {_error(response)}")
        body = json_body(response)
        data = body.get("data") if isinstance(body, dict) else None
        events = data.get("events") if isinstance(data, dict) else None
        if not isinstance(events, list):
            raise DeliveryError(f"an answer without data.events ({snippet(response)})")
        for event in events:
            if isinstance(event, dict) and attempt.keyprov_id in _header_values(event):
                return str(event.get("email_id") or attempt.keyprov_id)
        return None


def payload(outgoing: Outgoing, sender: str) -> dict[str, Any]:
    """One message to all of the participant's addresses, plain text, keyprov's id in a header."""
    message = outgoing.message
    to = [
        formataddr(pair)
        for pair in getaddresses([str(value) for value in message.get_all("To", [])])
    ]
    return {
        "sender": sender,
        "to": to,
        "subject": str(message["Subject"]),
        "text_body": message.get_content(),
        "custom_headers": [{"header": KEYPROV_ID_HEADER, "value": outgoing.keyprov_id}],
    }


def _header_values(event: dict[str, Any]) -> list[str]:
    """The custom header values an activity event carries: their format is not documented,
    so a list of {header, value}, a list of "Name: value" and a mapping are all read."""
    headers = event.get("custom_headers")
    values: list[str] = []
    if isinstance(headers, dict):
        values = [str(value) for value in headers.values()]
    elif isinstance(headers, list):
        for item in headers:
            if isinstance(item, dict):
                values.append(str(item.get("value", "")))
            else:
                values.append(str(item).partition(":")[2].strip())
    return values


def _error(response: requests.Response) -> str:
    body = json_body(response)
    if isinstance(body, dict):
        data = body.get("data") if isinstance(body.get("data"), dict) else body
        text = str(data.get("error") or "")
        code = str(data.get("error_code") or "")
        fields = data.get("field_validation_errors")
        if fields:
            text += f" {fields}"
        if text or code:
            return f"{text.strip()} [{code}]".strip() if code else text.strip()
    return snippet(response)


def _reset(response: requests.Response) -> float:
    """The 2017 spec's X-RateLimit-Reset: seconds until the count resets."""
    try:
        return max(float(response.headers.get("X-RateLimit-Reset", "0")), 0.0)
    except ValueError:
        return 0.0


def _pause(response: requests.Response) -> float:
    if response.headers.get("X-RateLimit-Remaining", "").strip() == "0":
        return _reset(response)
    return 0.0
