"""What the sandbox answers: a reply value and OpenRouter's error envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from keyprov.sandbox.listing import Listing
from keyprov.sandbox.validation import ApiError

MANAGEMENT_ONLY = "Only management keys can perform this operation"
MESSAGES = {
    401: "No auth credentials found",
    404: "Not Found",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


# What a captive portal (hotel or conference Wi-Fi) answers in place of any API call.
CAPTIVE_PORTAL_HTML = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Welcome to Venue Wi-Fi</title></head>
<body><h1>Welcome to Venue Wi-Fi</h1>
<p>Please accept the terms of use to continue to the Internet.</p>
<form method="post" action="/login"><button type="submit">Accept and connect</button></form>
</body></html>
"""


@dataclass
class Reply:
    """One answer. `payload` is JSON-encoded, unless it is bytes (sent as `content_type`)."""

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    drop: bool = False  # close the socket without writing a byte
    delay: float = 0.0  # sleep before writing, to look like a slow server
    content_type: str = "application/json"
    # A list route's rows: the pipeline renders `payload` from them once it knows whether a
    # forced list fault reshapes the page.
    listing: Listing[Any] | None = None


def captive_portal(fault: str | None = None) -> Reply:
    return Reply(200, CAPTIVE_PORTAL_HTML, fault=fault, content_type="text/html; charset=utf-8")


def error(
    status: int,
    message: str | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    fault: str | None = None,
) -> Reply:
    """OpenRouter's error body: `{"error": {"code": status, "message": ..., "metadata"?}}`."""
    body: dict[str, Any] = {"code": status, "message": message or MESSAGES.get(status, "Error")}
    if status == 429 and metadata is None:
        metadata = {"error_type": "rate_limit_exceeded"}
    if metadata is not None:
        body["metadata"] = metadata
    return Reply(status, {"error": body}, headers=headers or {}, fault=fault)


def from_api_error(exc: ApiError) -> Reply:
    return error(exc.status, exc.message, metadata=exc.metadata)


def json_body(body: bytes) -> object:
    """The request body as JSON (None when empty); a 400 ApiError when it is not JSON."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Invalid request parameters: the body is not valid JSON") from None
