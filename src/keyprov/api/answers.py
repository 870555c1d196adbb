"""What each endpoint must answer, checked before anything is believed.

The fields keyprov relies on are held to `/work/shared/openrouter-keys-api.md`: a listing's
`data` is an array of objects each with a string `hash` and `name`; numbers are JSON numbers
or null; a key, a created key, credits and the current key each come in a `data` object; a
create's secret is a string `key` beside it. Plain isinstance checks, so that reading 10,000
keys stays cheap. A field the contract marks optional may be absent (a default is used), but
never of the wrong type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from keyprov.api.retries import parse_retry_after
from keyprov.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    CredentialError,
    MalformedAnswerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
)
from keyprov.models import ApiKey, CreatedKey, Credits
from keyprov.redaction import redact
from keyprov.values import is_number


class _Missing:
    """The type of a field the answer left out, where the contract lets it."""


_MISSING = _Missing()
_NUMBER = frozenset({int, float})
_OPTIONAL_NUMBER = frozenset({int, float, type(None), _Missing})
_OPTIONAL_TEXT = frozenset({str, type(None), _Missing})
_FIELD_TYPES = (
    ("hash", frozenset({str})),
    ("name", frozenset({str})),
    ("label", frozenset({str, _Missing})),
    ("disabled", frozenset({bool, _Missing})),
    ("limit", _OPTIONAL_NUMBER),
    ("limit_remaining", _OPTIONAL_NUMBER),
    ("limit_reset", _OPTIONAL_TEXT),
    # Numbers in the contract; null or absent is read as 0, as a fresh key's usage is.
    ("usage", _OPTIONAL_NUMBER),
    ("usage_daily", _OPTIONAL_NUMBER),
    ("usage_weekly", _OPTIONAL_NUMBER),
    ("usage_monthly", _OPTIONAL_NUMBER),
    ("created_at", frozenset({str, _Missing})),
    ("updated_at", _OPTIONAL_TEXT),
    ("expires_at", _OPTIONAL_TEXT),
)
_EXPECTED = {
    "label": "a string",
    "created_at": "a string",
    "disabled": "true or false",
    "limit": "a number or null",
    "limit_remaining": "a number or null",
    "limit_reset": "a string or null",
    "updated_at": "a string or null",
    "expires_at": "a string or null",
    **{field: "a number" for field in ("usage", "usage_daily", "usage_weekly", "usage_monthly")},
}
_SHOWN_CHARACTERS = 80
NOT_DOCUMENTED = ": the server's answer is not what OpenRouter documents"


def malformed(
    where: str, status: int, problem: str, *, not_api: bool = False
) -> MalformedAnswerError:
    """E.g. "GET /keys?offset=100 answered 200 without a 'data' array (got {}): ..."."""
    return MalformedAnswerError(
        f"{where} answered {status} {problem}{NOT_DOCUMENTED}", status=status, not_api=not_api
    )


def shown(value: Any) -> str:
    """A short, masked excerpt of what the server sent, for an error message."""
    text = redact(repr(value))
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 3] + "..."


def request_name(method: str, path: str, params: Mapping[str, str] | None) -> str:
    """How messages name a request: `GET /keys?offset=100&include_disabled=true`."""
    return f"{method} {path}?{urlencode(params)}" if params else f"{method} {path}"


def json_body(response: requests.Response, where: str) -> Any:
    """A 2xx answer's JSON; an HTML page or an empty body is a MalformedAnswerError."""
    try:
        return response.json()
    except ValueError as error:
        content_type = response.headers.get("Content-Type", "").split(";")[0] or "no content type"
        problem = f"with {content_type}, not JSON"
        raise malformed(where, response.status_code, problem, not_api=True) from error


def error_for(where: str, response: requests.Response) -> ApiError | CredentialError:
    """The typed error an answer of 300 or more stands for."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if message is None:
        message = response.reason or "no message"
    answered = f"{where} answered {status} {str(message)!r}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 401:
        return AuthenticationError(
            f"OpenRouter rejected the provisioning key ({answered}). Check that "
            "OPENROUTER_PROVISIONING_KEY holds a current management key "
            "(https://openrouter.ai/settings/management-keys).",
            status=status,
        )
    if status == 403:
        return PermissionDeniedError(
            f"the key in OPENROUTER_PROVISIONING_KEY is not a management key ({answered}). "
            "Create a management key at https://openrouter.ai/settings/management-keys.",
            status=status,
        )
    if status == 404:
        if not isinstance(error, dict):
            # A web server's page, not OpenRouter saying "no such key": it proves no absence.
            return malformed(where, status, "without OpenRouter's error object", not_api=True)
        return NotFoundError(answered, status=status)
    if status == 400:
        return BadRequestError(answered, status=status)
    if status == 429:
        return RateLimitedError(answered, retry_after=retry_after)
    if status >= 500:
        return ServerError(answered, status=status, retry_after=retry_after)
    return ApiError(answered, status=status)


def key_page(body: Any, where: str, status: int) -> list[ApiKey]:
    """GET /keys: `{"data": [Key, ...]}`."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise malformed(where, status, f"without a 'data' array (got {shown(body)})")
    return [
        _key(item, where, status, f"item {number} of 'data'") for number, item in enumerate(data)
    ]


def one_key(body: Any, where: str, status: int, expected_hash: str) -> ApiKey:
    """GET or PATCH /keys/{hash}: `{"data": Key}` for that very key."""
    key = _key(_data_object(body, where, status), where, status, "'data'")
    if key.hash != expected_hash:
        raise malformed(where, status, f"with the key {key.hash[:16]!r}, not the one asked for")
    return key


def created_key(body: Any, where: str, status: int) -> CreatedKey:
    """POST /keys: `{"data": Key, "key": "sk-or-v1-..."}`; the body is never echoed."""
    if not isinstance(body, dict):
        raise malformed(where, status, "without a JSON object")
    secret = body.get("key")
    if not isinstance(secret, str) or not secret or not secret.isprintable() or " " in secret:
        raise malformed(where, status, "without the new key's secret (a string 'key')")
    data = body.get("data")
    if not isinstance(data, dict):
        raise malformed(where, status, "without a 'data' object")
    return CreatedKey(key=_key(data, where, status, "'data'"), secret=secret)


def deleted(body: Any, where: str, status: int) -> None:
    """DELETE /keys/{hash}: `{"deleted": true}`."""
    if not isinstance(body, dict) or body.get("deleted") is not True:
        raise malformed(where, status, f"without 'deleted': true (got {shown(body)})")


def current_key(body: Any, where: str, status: int) -> dict[str, Any]:
    """GET /key: `{"data": CurrentKey}`."""
    return _data_object(body, where, status)


def credits(body: Any, where: str, status: int) -> Credits:
    """GET /credits: `{"data": {"total_credits": n, "total_usage": n}}`."""
    data = _data_object(body, where, status)
    values = [data.get(name) for name in ("total_credits", "total_usage")]
    for name, value in zip(("total_credits", "total_usage"), values, strict=True):
        if not is_number(value):
            raise malformed(where, status, f"with 'data.{name}' not a number (got {shown(value)})")
    return Credits(float(values[0]), float(values[1]))


def _data_object(body: Any, where: str, status: int) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise malformed(where, status, f"without a 'data' object (got {shown(body)})")
    return data


def _key(item: Any, where: str, status: int, what: str) -> ApiKey:
    if not isinstance(item, dict):
        raise malformed(where, status, f"with {what} not an object (got {shown(item)})")
    # The fast path: one type lookup per field; the slow one only to word the error.
    for field, allowed in _FIELD_TYPES:
        value = item.get(field, _MISSING)
        kind = type(value)
        if kind not in allowed or (kind is float and not math.isfinite(value)):
            raise _wrong(where, status, what, field, item)
    if not item["hash"]:
        raise _wrong(where, status, what, "hash", item)
    return ApiKey.from_json(item)


def _wrong(where: str, status: int, what: str, field: str, item: dict[str, Any]) -> Exception:
    if field in ("hash", "name"):
        problem = f"with {what} lacking a string '{field}' (got {shown(item)})"
    else:
        expected = _EXPECTED[field]
        problem = f"with '{field}' of {what} not {expected} (got {shown(item.get(field))})"
    return malformed(where, status, problem)
