"""The sandbox's key store: validation, the Key object, and optional JSON persistence.

Only the sha256 hash of each secret is ever kept, in memory or on disk, so a state file can be
shared or committed without leaking a usable key.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PAGE_SIZE = 100
LIMIT_RESETS = ("daily", "weekly", "monthly")
DEFAULT_WORKSPACE_ID = "0df9e665-d932-5740-b2c7-b52af166bc11"
DEFAULT_CREATOR_USER_ID = "user_2sandbox0000000000000000000"
STATE_FORMAT = "keyprov-sandbox-state"
STATE_VERSION = 1

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


class ApiError(Exception):
    """A request the API answers with an error body instead of doing anything."""

    def __init__(self, status: int, message: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.metadata = metadata


def _invalid(field_name: str, problem: str) -> ApiError:
    return ApiError(400, f"Invalid request parameters: {field_name}: {problem}")


def now_timestamp() -> str:
    """Now in the Postgres-style form the live API emits (`2025-02-19T20:52:27.363244+00:00`)."""
    return datetime.now(UTC).isoformat()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mask_secret(secret: str) -> str:
    """The `label` form live captures show: prefix, first 3 characters, `...`, last 3."""
    return f"sk-or-v1-{secret[9:12]}...{secret[-3:]}"


def _is_number(value: object) -> bool:
    # bool is an int subclass, but `true` is not a spending limit.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_limit(body: Mapping[str, Any]) -> None:
    value = body["limit"]
    if value is not None and not (_is_number(value) and value >= 0):
        raise _invalid("limit", "must be a number >= 0 or null")


def _check_limit_reset(body: Mapping[str, Any]) -> None:
    if body["limit_reset"] is not None and body["limit_reset"] not in LIMIT_RESETS:
        raise _invalid("limit_reset", "must be one of daily, weekly, monthly or null")


def _check_bool(body: Mapping[str, Any], name: str) -> None:
    if not isinstance(body[name], bool):
        raise _invalid(name, "must be a boolean")


def _check_name(body: Mapping[str, Any]) -> None:
    if not isinstance(body["name"], str) or not body["name"]:
        raise _invalid("name", "must be a non-empty string")


def _parse_expires_at(value: object) -> str | None:
    if value is None:
        return None
    match = _RFC3339_UTC.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _invalid(
            "expires_at", "must be an RFC 3339 date-time in UTC (ending in Z or +00:00) or null"
        )
    # fromisoformat takes at most 6 fractional digits; RFC 3339 allows more.
    fraction = (match["fraction"] or "")[:7]
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}+00:00")
    except ValueError:
        raise _invalid("expires_at", "is not a valid date-time") from None
    return parsed.isoformat()


def _require_object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
    return body


def parse_create(body: object) -> dict[str, Any]:
    """Validate a POST /keys body; return the stored fields it sets."""
    body = _require_object(body)
    for name in _CONNECT_ONLY_FIELDS:
        if name in body:
            raise ApiError(403, f"{name} can only be set with a Connect client secret")
    if "name" not in body:
        raise _invalid("name", "is required")
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
            raise _invalid("creator_user_id", "must be a non-empty string or null")
        out["creator_user_id"] = creator
    if "workspace_id" in body:
        out["workspace_id"] = parse_workspace_id(body["workspace_id"])
    return out


def parse_update(body: object) -> dict[str, Any]:
    """Validate a PATCH /keys/{hash} body; return the stored fields it changes."""
    body = _require_object(body)
    for name in _IMMUTABLE_FIELDS:
        if name in body:
            raise _invalid(name, "cannot be updated")
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


def parse_workspace_id(value: object) -> str:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise _invalid("workspace_id", "must be a UUID")


@dataclass
class _Record:
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


_RECORD_FIELDS = {f.name for f in fields(_Record)}
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


class KeyStore:
    """Thread-safe in-memory keys, written through to `state_path` after every change."""

    def __init__(self, state_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _Record] = {}
        self._next_seq = 1
        self._state_path = state_path
        if state_path is not None and state_path.exists():
            self._load(state_path)

    def create(self, fields_: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Store a key from validated fields; return (secret, Key). The secret is not kept."""
        secret = "sk-or-v1-" + secrets.token_hex(32)
        with self._lock:
            record = _Record(
                hash=secret_hash(secret),
                label=mask_secret(secret),
                seq=self._next_seq,
                created_at=now_timestamp(),
                **fields_,
            )
            self._next_seq += 1
            self._keys[record.hash] = record
            self._save()
            return secret, record.to_api()

    def get(self, key_hash: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._keys.get(key_hash)
            return record.to_api() if record else None

    def find_by_secret(self, secret: str) -> dict[str, Any] | None:
        return self.get(secret_hash(secret))

    def select(self, *, include_disabled: bool, workspace_id: str) -> list[_Record]:
        """The keys a listing shows, newest first; render each with `render`."""
        with self._lock:
            return [
                r
                for r in self._newest_first()
                if r.workspace_id == workspace_id and (include_disabled or not r.disabled)
            ]

    def render(self, record: _Record) -> dict[str, Any]:
        # Under the lock, so a PATCH in flight is seen whole or not at all.
        with self._lock:
            return record.to_api()

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_api() for r in self._newest_first()]

    def update(self, key_hash: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            record = self._keys.get(key_hash)
            if record is None:
                return None
            for name, value in changes.items():
                setattr(record, name, value)
            record.updated_at = now_timestamp()
            self._save()
            return record.to_api()

    def set_usage(self, key_hash: str, usage: Mapping[str, float]) -> dict[str, Any]:
        """Overwrite usage numbers, keyed as in USAGE_FIELDS; raise KeyError for an unknown hash."""
        with self._lock:
            record = self._keys[key_hash]
            for name, value in usage.items():
                setattr(record, USAGE_FIELDS[name], value)
            self._save()
            return record.to_api()

    def delete(self, key_hash: str) -> bool:
        with self._lock:
            if self._keys.pop(key_hash, None) is None:
                return False
            self._save()
            return True

    def _newest_first(self) -> list[_Record]:
        return sorted(self._keys.values(), key=lambda r: r.seq, reverse=True)

    def _save(self) -> None:
        # Called with the lock held, so the file always reflects one complete, ordered state.
        if self._state_path is None:
            return
        state = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "keys": [asdict(r) for r in self._newest_first()],
        }
        directory = self._state_path.parent
        directory.mkdir(parents=True, exist_ok=True)
        # Temp file in the same directory + os.replace: a reader or a crash never sees half a file.
        # No fsync: this guards against a killed process, not a power cut, and keeps creates fast.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sandbox-state-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state, f, indent=1)
            os.replace(tmp, self._state_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self, path: Path) -> None:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
                raise ValueError(f"expected format {STATE_FORMAT!r} version {STATE_VERSION}")
            records = [
                _Record(**{k: v for k, v in item.items() if k in _RECORD_FIELDS})
                for item in state["keys"]
            ]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"cannot read sandbox state file {path}: {exc}") from exc
        self._keys = {r.hash: r for r in records}
        self._next_seq = max((r.seq for r in records), default=0) + 1
