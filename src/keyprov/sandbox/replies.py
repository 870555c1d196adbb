"""What the sandbox answers: a reply value and OpenRouter's error envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from keyprov.sandbox.store import ApiError

MANAGEMENT_ONLY = "Only management keys can perform this operation"
MESSAGES = {
    401: "No auth credentials found",
    404: "Not Found",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Reply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    drop: bool = False  # close the socket without writing a byte
    delay: float = 0.0  # sleep before writing, to look like a slow server


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
