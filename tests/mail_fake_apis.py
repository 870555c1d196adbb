"""SendGrid, SMTP2GO and Mailgun as ../shared/email-apis.md describes them, on tests/mail_fakes'
server: each route, its auth, what it checks, and each documented answer."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.mail_fakes import (
    KEYPROV_ID,
    Delivered,
    MailFake,
    Reply,
    addresses,
    fault_status,
    form_fields,
    json_reply,
    new_id,
    query_of,
    unix_reset,
)


class SendGridFake(MailFake):
    """`POST /v3/mail/send` (§2): Bearer auth, 202 with X-Message-Id, X-RateLimit-* headers on
    every answer, errors as {"errors": [...]}."""

    name = "sendgrid"

    def __init__(self, api_key: str, *, verified: str = "team@example.org", **options: Any):
        super().__init__(api_key, **options)
        self.verified = verified

    def respond(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        if (method, path) != ("POST", "/v3/mail/send"):
            return json_reply(404, {"errors": [{"message": "not found"}]})
        allowed, left, refill = self.spend_token()
        limits = {
            "X-RateLimit-Limit": str(int(self.burst or 1000)),
            "X-RateLimit-Remaining": str(left),
            "X-RateLimit-Reset": unix_reset(refill),
        }
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            message = "The provided authorization grant is invalid, expired, or revoked"
            return json_reply(401, _errors(message, None), **limits)
        fault = self.next_fault()
        if not allowed or fault == "429":
            self.throttled += fault == "429"
            return json_reply(429, _errors("too many requests", None), **limits)
        if fault == "credits":
            return json_reply(401, _errors("Maximum credits exceeded", None), **limits)
        request = json.loads(body)
        sender = request.get("from", {}).get("email")
        if not sender:
            return json_reply(400, _errors("The from object must be provided", "from.email"))
        if sender != self.verified:
            message = "The from address does not match a verified Sender Identity."
            return json_reply(403, _errors(message, "from"), **limits)
        (personalization,) = request["personalizations"]
        to = [entry["email"].lower() for entry in personalization["to"]]
        for index, address in enumerate(to):
            if address in self.reject:
                field = f"personalizations.0.to.{index}.email"
                return json_reply(400, _errors("Does not contain a valid address.", field))
        content = request.get("content") or []
        if not content or content[0].get("type") != "text/plain" or not request.get("subject"):
            return json_reply(400, _errors("invalid request", "content"))
        if fault == "sandbox":
            return Reply(200, b"", limits)
        item = Delivered(
            to,
            sender,
            request["subject"],
            content[0]["value"],
            request.get("headers", {}).get(KEYPROV_ID, ""),
            new_id(),
        )
        success = Reply(202, b"", {**limits, "X-Message-Id": item.provider_id})
        failure = json_reply(fault_status(fault), _errors("internal server error", None))
        return self.after(fault, item, success, failure)


def _errors(message: str, field: str | None) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field, "help": None}]}


class Smtp2goFake(MailFake):
    """`POST /v3/email/send` and `/v3/activity/search` (§3): the X-Smtp2go-Api-Key header (or
    api_key in the body), 200 {"request_id", "data": {...}} that may carry failures."""

    name = "smtp2go"

    @property
    def api_url(self) -> str:
        return self.base + "/v3"

    def respond(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        request = json.loads(body or b"{}")
        key = headers.get("X-Smtp2go-Api-Key") or request.get("api_key")
        if method != "POST" or path not in ("/v3/email/send", "/v3/activity/search"):
            return self._error(404, "Not found", "E_ApiResponseCodes.ENDPOINT_NOT_FOUND")
        if key != self.api_key:
            return self._error(401, "Invalid API key", "E_ApiResponseCodes.API_KEY_INVALID")
        if path == "/v3/activity/search":
            return self._search(request)
        allowed, _, _ = self.spend_token()
        fault = self.next_fault()
        if not allowed or fault == "429":
            self.throttled += fault == "429"
            text = "This endpoint is rate limited, please slow down"
            return self._error(429, text, "E_ApiResponseCodes.REQ_LIMIT_EXCEEDED")
        if fault == "permission":
            text = "You do not have permission to access this API endpoint"
            return self._error(400, text, "E_ApiResponseCodes.ENDPOINT_PERMISSION_DENIED")
        if not request.get("sender") or not request.get("to"):
            text = "An error occurred processing the json data you sent with the request"
            return self._error(400, text, "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD")
        to = addresses(request["to"])
        custom = {item["header"]: item["value"] for item in request.get("custom_headers", [])}
        email_id = new_id()
        if fault == "failed_200" or set(to) & self.reject:
            failures = [f"{address}: recipient address rejected" for address in to]
            data = {"succeeded": 0, "failed": 1, "failures": failures, "email_id": email_id}
            return json_reply(200, {"request_id": new_id(), "data": data})
        item = Delivered(
            to,
            request["sender"],
            request.get("subject", ""),
            request.get("text_body", ""),
            custom.get(KEYPROV_ID, ""),
            email_id,
        )
        data = {"succeeded": 1, "failed": 0, "failures": [], "email_id": email_id}
        success = json_reply(200, {"request_id": new_id(), "data": data})
        failure = self._error(
            fault_status(fault), "Something went wrong", "E_ApiResponseCodes.API_EXCEPTION"
        )
        return self.after(fault, item, success, failure)

    def _search(self, request: dict[str, Any]) -> Reply:
        recipient = str(request.get("search_recipient", "")).lower()
        wanted = request.get("custom_headers") or []
        events = []
        for item in [] if self.log_lags else list(self.delivered):
            if recipient and recipient not in item.recipients:
                continue
            headers = (
                [{"header": KEYPROV_ID, "value": item.keyprov_id}] if KEYPROV_ID in wanted else []
            )
            events.append(
                {
                    "email_id": item.provider_id,
                    "recipient": item.recipients[0],
                    "event": "processed",
                    "custom_headers": headers,
                }
            )
        return json_reply(200, {"request_id": new_id(), "data": {"events": events}})

    def _error(self, status: int, text: str, code: str) -> Reply:
        return json_reply(
            status, {"request_id": new_id(), "data": {"error": text, "error_code": code}}
        )


class MailgunFake(MailFake):
    """`POST /v3/{domain}/messages` and `GET /v3/{domain}/events` (§4): Basic auth `api:key`,
    401 as the bare text Forbidden, 404 for an unknown domain, 429 naming its wait in words."""

    name = "mailgun"

    def __init__(self, api_key: str, *, domain: str = "mg.example.org", **options: Any):
        super().__init__(api_key, **options)
        self.domain = domain
        self.sending_key = ""
        """A domain sending key: it may POST messages, and nothing else."""

    def respond(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        path, query = query_of(path)
        keys = {self.api_key} | ({self.sending_key} if self.sending_key else set())
        given = headers.get("Authorization", "")
        allowed = {"Basic " + base64.b64encode(f"api:{key}".encode()).decode() for key in keys}
        sending_only = self.sending_key and given.endswith(
            base64.b64encode(f"api:{self.sending_key}".encode()).decode()
        )
        if given not in allowed or (sending_only and not path.endswith("/messages")):
            return Reply(401, b"Forbidden", {"Content-Type": "text/plain"})
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "v3":
            return json_reply(404, {"message": "Not Found"})
        if parts[1] != self.domain:
            return json_reply(404, {"message": f"Domain not found: {parts[1]}"})
        if method == "GET" and parts[2:] == ["events"]:
            return self._events(query)
        if method == "GET" and parts[2:] == ["events", "next"]:
            return json_reply(200, {"items": [], "paging": {}})
        if method != "POST" or parts[2:] != ["messages"]:
            return json_reply(404, {"message": "Not Found"})
        allowed, _, _ = self.spend_token()
        fault = self.next_fault()
        if not allowed or fault == "429":
            self.throttled += fault == "429"
            message = (
                f"Domain {self.domain} is not allowed to send: account-requests-per-sec limit "
                f"exceeded, try again after {self.retry_after} seconds"
            )
            return json_reply(429, {"message": message})
        fields = form_fields(headers, body)
        for name in ("from", "to", "subject"):
            if not fields.get(name):
                return json_reply(400, {"message": f"{name} parameter is missing."})
        to = addresses(fields["to"])
        if fault == "unauthorized_recipient":
            message = (
                f"Domain {self.domain} is not allowed to send: Free accounts are for test "
                "purposes only. Please upgrade or add the address to authorized recipients in "
                "Account Settings."
            )
            return json_reply(403, {"message": message})
        if set(to) & self.reject:
            message = "to parameter is not a valid address. please check documentation."
            return json_reply(400, {"message": message})
        item = Delivered(
            to,
            fields["from"][0],
            fields["subject"][0],
            (fields.get("text") or [""])[0],
            (fields.get("v:keyprov_msg") or [""])[0],
            f"<{new_id()}@{self.domain}>",
        )
        success = json_reply(200, {"id": item.provider_id, "message": "Queued. Thank you."})
        failure = json_reply(fault_status(fault), {"message": "Internal Server Error"})
        return self.after(fault, item, success, failure)

    def _events(self, query: dict[str, list[str]]) -> Reply:
        recipient = (query.get("recipient") or [""])[0].lower()
        items = [
            {
                "event": "accepted",
                "recipient": item.recipients[0],
                "user-variables": {"keyprov_msg": item.keyprov_id},
                "message": {"headers": {"message-id": item.provider_id.strip("<>")}},
            }
            for item in ([] if self.log_lags else list(self.delivered))
            if not recipient or recipient in item.recipients
        ]
        following = f"{self.base}/v3/{self.domain}/events/next"
        return json_reply(200, {"items": items, "paging": {"next": following}})


FAKES = {"sendgrid": SendGridFake, "smtp2go": Smtp2goFake, "mailgun": MailgunFake}
