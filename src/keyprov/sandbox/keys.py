"""Keys: the POST and PATCH bodies the API accepts, and the stored Key record.

Only the sha256 hash of each secret is ever kept, in memory or on disk, so a state file can be
shared or committed without leaking a usable key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from keyprov.sandbox.validation import (
    DEFAULT_CREATOR_USER_ID,
    DEFAULT_WORKSPACE_ID,
    ApiError,
    invalid,
    is_number,
    parse_workspace_id,
    require_object,
)

PAGE_SIZE = 100
LIMIT_RESETS = ("daily", "weekly", "monthly")

# Fields the API refuses to change after creation; anything else unknown is ignored, as a
# schema-stripping validator would.
_IMMUTABLE_FIELDS = ("expires_at", "workspace_id", "creator_user_id")
# Accepted only from a "Connect client secret", a credential the sandbox does not emulate.
_CONNECT_ONLY_FIELDS = ("external_user", "external_api_key")
# An explicit UTC designator is required: the API rejects other offsets, and a naive time would be
# read in some unknown zone.
_RFC3339_UTC = re.compile(
    r"(?P<date>\d{4}-\d\d-\d\d)[Tt ](?P<time>\d\d:\d\d:\d\d)(?P<fraction>\.\d+)?(Z|z|\+00:00)"
)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mask_secret(secret: str) -> str:
    """The `label` form live captures show: prefix, first 3 characters, `...`, last 3."""
    return f"sk-or-v1-{secret[9:12]}...{secret[-3:]}"


def _check_limit(body: Mapping[str, Any]) -> None:
    value = body["limit"]
    if value is not None and not (is_number(value) and value >= 0):
        raise invalid("limit", "must be a number >= 0 or null")


def _check_limit_reset(body: Mapping[str, Any]) -> None:
    if body["limit_reset"] is not None and body["limit_reset"] not in LIMIT_RESETS:
        raise invalid("limit_reset", "must be one of daily, weekly, monthly or null")


def _check_bool(body: Mapping[str, Any], name: str) -> None:
    if not isinstance(body[name], bool):
        raise invalid(name, "must be a boolean")


def _check_name(body: Mapping[str, Any]) -> None:
    if not isinstance(body["name"], str) or not body["name"]:
        raise invalid("name", "must be a non-empty string")


def _parse_expires_at(value: object) -> str | None:
    if value is None:
        return None
    match = _RFC3339_UTC.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(
            "expires_at", "must be an RFC 3339 date-time in UTC (ending in Z or +00:00) or null"
        )
    # fromisoformat takes at most 6 fractional digits; RFC 3339 allows more.
    fraction = (match["fraction"] or "")[:7]
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}+00:00")
    except ValueError:
        raise invalid("expires_at", "is not a valid date-time") from None
    return parsed.isoformat()


def parse_create(body: object) -> dict[str, Any]:
    """Validate a POST /keys body; return the stored fields it sets."""
    body = require_object(body)
    for name in _CONNECT_ONLY_FIELDS:
        if name in body:
            raise ApiError(403, f"{name} can only be set with a Connect client secret")
    if "name" not in body:
        raise invalid("name", "is required")
    _check_name(body)
    out: dict[str, Any] = {"name": body["name"]}
    if "limit" in body:
        _check_limit(body)
        out["limit"] = body["limit"]
    if "limit_reset" in body:
        _check_limit_reset(body)
        out["limit_reset"] = body["limit_reset"]
    if "include_byok_in_limit" in body:
        _check_bool(body, "include_byok_in_limit")
        out["include_byok_in_limit"] = body["include_byok_in_limit"]
    if "expires_at" in body:
        out["expires_at"] = _parse_expires_at(body["expires_at"])
    if "creator_user_id" in body:
        creator = body["creator_user_id"]
        if creator is not None and not (isinstance(creator, str) and creator):
            raise invalid("creator_user_id", "must be a non-empty string or null")
        out["creator_user_id"] = creator
    if "workspace_id" in body:
        out["workspace_id"] = parse_workspace_id(body["workspace_id"])
    return out


def parse_update(body: object) -> dict[str, Any]:
    """Validate a PATCH /keys/{hash} body; return the stored fields it changes."""
    body = require_object(body)
    for name in _IMMUTABLE_FIELDS:
        if name in body:
            raise invalid(name, "cannot be updated")
    checks = {
        "name": _check_name,
        "limit": _check_limit,
        "limit_reset": _check_limit_reset,
        "disabled": lambda b: _check_bool(b, "disabled"),
        "include_byok_in_limit": lambda b: _check_bool(b, "include_byok_in_limit"),
    }
    out: dict[str, Any] = {}
    for name, check in checks.items():
        if name in body:
            check(body)
            out[name] = body[name]
    return out


@dataclass
class KeyRecord:
    """One stored key. `seq` orders keys newest first even when two share a timestamp."""

    hash: str
    name: str
    label: str
    seq: int
    created_at: str
    disabled: bool = False
    limit: float | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    usage: float = 0
    usage_daily: float = 0
    usage_weekly: float = 0
    usage_monthly: float = 0
    byok_usage: float = 0
    byok_usage_daily: float = 0
    byok_usage_weekly: float = 0
    byok_usage_monthly: float = 0
    updated_at: str | None = None
    expires_at: str | None = None
    creator_user_id: str | None = DEFAULT_CREATOR_USER_ID
    workspace_id: str = DEFAULT_WORKSPACE_ID

    def limit_remaining(self) -> float | None:
        if self.limit is None:
            return None
        window = {
            "daily": (self.usage_daily, self.byok_usage_daily),
            "weekly": (self.usage_weekly, self.byok_usage_weekly),
            "monthly": (self.usage_monthly, self.byok_usage_monthly),
        }.get(self.limit_reset or "", (self.usage, self.byok_usage))
        spent = window[0] + (window[1] if self.include_byok_in_limit else 0)
        # Not clamped at 0: whether the live API clamps is unknown, and a negative number makes an
        # overspend visible to the client instead of hiding it.
        return self.limit - spent

    def to_api(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "name": self.name,
            "label": self.label,
            "disabled": self.disabled,
            "limit": self.limit,
            "limit_remaining": self.limit_remaining(),
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            "usage": self.usage,
            "usage_daily": self.usage_daily,
            "usage_weekly": self.usage_weekly,
            "usage_monthly": self.usage_monthly,
            "byok_usage": self.byok_usage,
            "byok_usage_daily": self.byok_usage_daily,
            "byok_usage_weekly": self.byok_usage_weekly,
            "byok_usage_monthly": self.byok_usage_monthly,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "creator_user_id": self.creator_user_id,
            "workspace_id": self.workspace_id,
        }


KEY_RECORD_FIELDS = {f.name for f in fields(KeyRecord)}
USAGE_FIELDS = {
    "usage": "usage",
    "daily": "usage_daily",
    "weekly": "usage_weekly",
    "monthly": "usage_monthly",
    "byok": "byok_usage",
    "byok_daily": "byok_usage_daily",
    "byok_weekly": "byok_usage_weekly",
    "byok_monthly": "byok_usage_monthly",
}
