"""Mailgun v3 (`POST /v3/{domain}/messages`, `GET /v3/{domain}/events`), as
../shared/email-apis.md §4 describes them.

- 200 `{"id": "<...>", "message": "Queued. Thank you."}`: accepted; `id` is kept.
- 400, 413: this message is refused; the others go on. So is "not allowed to send ...
  authorized recipients" (a free account without a card reaches 5 addresses only), whatever
  its status.
- 401 is the bare text `Forbidden`: a wrong key, or, as often, a domain of the other region
  (EU domains answer 401 on the US host): the message says to check KEYPROV_MAIL_REGION
  first. 401, 402, 403 and 404 (`Domain not found`) stop the run (exit 2).
- 429: wait the seconds its message names ("try again after 120 seconds"), else back off.
- 5xx, timeouts: the outcome is unknown. A run looks the message up in `/events` (by
  recipient, from a little before the attempt, matched on keyprov's `v:keyprov_msg`) before
  it would send it again.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr, getaddresses
from typing import Any

import requests

from keyprov.delivery.http_mail import HttpMailer, json_body, snippet
from keyprov.delivery.mail_settings import REGION, ApiMailSettings
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

VARIABLE = "keyprov_msg"
"""The custom variable (`v:`) that carries keyprov's id into Mailgun's events."""
EVENT_PAGES = 5
BACKOFF = 10.0
"""Seconds after a 429 whose message names no wait, doubling while it goes on."""
_TRY_AGAIN = re.compile(r"try again after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
_UNAUTHORIZED_RECIPIENT = re.compile(r"not allowed to send.*authorized recipients", re.I | re.S)


class MailgunMailer(HttpMailer):
    def __init__(self, settings: ApiMailSettings) -> None:
        super().__init__(settings)
        self.session.auth = ("api", settings.api_key)
        self.domain = settings.domain or ""
        self._throttled = 0

    def error_text(self, response: requests.Response) -> str:
        return _message(response)

    def deliver(self, outgoing: Outgoing) -> Accepted:
        response = self.request(
            "POST", f"/v3/{self.domain}/messages", files=form(outgoing, self.from_address)
        )
        status = response.status_code
        message = _message(response)
        if status == 429:
            self._throttled += 1
            told = _TRY_AGAIN.search(message)
            wait = float(told.group(1)) if told else BACKOFF * 2 ** (self._throttled - 1)
            raise RateLimited(f"Mailgun: {message}", wait=wait)
        self._throttled = 0
        if status == 200:
            body = json_body(response)
            if isinstance(body, dict) and body.get("id"):
                return Accepted(str(body["id"]))
            raise OutcomeUnknown(f"Mailgun answered 200 without a message id ({message})")
        if _UNAUTHORIZED_RECIPIENT.search(message):
            raise PermanentFailure(
                f"Mailgun refused it ({status}: {message}); a free account without a card "
                "sends only to its authorized recipients",
                code=status,
            )
        if status == 401:
            other = "eu" if self.settings.region != "eu" else "us"
            raise StopSending(
                f"Mailgun answered 401 {message}. First check the region: a domain created in "
                f"Mailgun's other region answers exactly this (try {REGION}={other}); then "
                "KEYPROV_MAIL_API_KEY (the account's key, or this domain's sending key)."
            )
        if status in (402, 403):
            raise StopSending(
                f"Mailgun refused to send from {self.domain} ({status}: {message}). Check the "
                "domain's state and the account's sending limits in Mailgun's dashboard."
            )
        if status == 404:
            raise StopSending(
                f"Mailgun answered 404 ({message}): check KEYPROV_MAIL_DOMAIN={self.domain} "
                f"(as Mailgun's Domains page shows it) and {REGION}={self.settings.region}."
            )
        if 400 <= status < 500:
            raise PermanentFailure(f"Mailgun refused it ({status}: {message})", code=status)
        raise self.unexpected(response)

    def find_sent(self, attempt: Attempt) -> str | None:
        """Mailgun's id of the message when its events show it with keyprov's id."""
        if not attempt.recipients:
            return None
        try:
            since = datetime.fromisoformat(attempt.at) - timedelta(minutes=5)
        except ValueError:
            since = datetime.now(UTC) - timedelta(days=3)
        path = f"/v3/{self.domain}/events"
        params: dict[str, str] | None = {
            "recipient": attempt.recipients[0],
            "begin": format_datetime(since.astimezone(UTC), usegmt=True),
            "ascending": "yes",
            "limit": "300",
        }
        for _ in range(EVENT_PAGES):
            response = self.request("GET", path, params=params)
            if response.status_code in (401, 403):
                # Not a reason to stop sending: a domain's sending key may send, not search.
                raise DeliveryError(
                    f"{response.status_code}: {_message(response)}; a domain sending key may "
                    "only send: the account's API key can look messages up"
                )
            if response.status_code != 200:
                raise DeliveryError(f"{response.status_code}: {_message(response)}")
            body = json_body(response)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise DeliveryError(f"an answer without items ({snippet(response)})")
            for item in items:
                if isinstance(item, dict) and _carries(item, attempt.keyprov_id):
                    return _message_id(item) or attempt.keyprov_id
            path, params = self._next_page(body, items)
            if path == "":
                return None
        return None

    def _next_page(self, body: dict[str, Any], items: list[Any]) -> tuple[str, None]:
        """The next page's path, only on this API's own host; "" when there is none."""
        paging = body.get("paging")
        following = paging.get("next") if isinstance(paging, dict) else None
        base = self.settings.base_url
        if not items or not isinstance(following, str) or not following.startswith(base + "/"):
            return "", None
        return following[len(base) :], None


def form(outgoing: Outgoing, sender: str) -> list[tuple[str, tuple[None, str]]]:
    """multipart/form-data fields: one message to all of the participant's addresses."""
    message = outgoing.message
    fields = [("from", sender)]
    fields += [
        ("to", formataddr(pair))
        for pair in getaddresses([str(value) for value in message.get_all("To", [])])
    ]
    fields += [
        ("subject", str(message["Subject"])),
        ("text", message.get_content()),
        (f"h:{KEYPROV_ID_HEADER}", outgoing.keyprov_id),
        (f"v:{VARIABLE}", outgoing.keyprov_id),
    ]
    return [(name, (None, value)) for name, value in fields]


def _carries(item: dict[str, Any], keyprov_id: str) -> bool:
    variables = item.get("user-variables")
    if isinstance(variables, dict) and variables.get(VARIABLE) == keyprov_id:
        return True
    return any(str(value) == keyprov_id for value in _headers(item).values())


def _message_id(item: dict[str, Any]) -> str | None:
    return str(_headers(item).get("message-id") or "") or None


def _headers(item: dict[str, Any]) -> dict[str, Any]:
    message = item.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    return headers if isinstance(headers, dict) else {}


def _message(response: requests.Response) -> str:
    """Mailgun's `message`, or the body itself (a 401 is the bare text `Forbidden`)."""
    body = json_body(response)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return snippet(response)
