"""What every route's validation shares: the API error, the checks, the account's fixed ids."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# The one workspace, user and organisation the sandbox's account has.
DEFAULT_WORKSPACE_ID = "0df9e665-d932-5740-b2c7-b52af166bc11"
DEFAULT_CREATOR_USER_ID = "user_2sandbox0000000000000000000"
ORGANIZATION_ID = "org_2sandbox0000000000000000000"


class ApiError(Exception):
    """A request the API answers with an error body instead of doing anything."""

    def __init__(self, status: int, message: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.metadata = metadata


def invalid(field_name: str, problem: str) -> ApiError:
    return ApiError(400, f"Invalid request parameters: {field_name}: {problem}")


def now_timestamp() -> str:
    """Now in the Postgres-style form the live API emits (`2025-02-19T20:52:27.363244+00:00`)."""
    return datetime.now(UTC).isoformat()


def now_iso_z() -> str:
    """Now as a JavaScript backend writes it (`2026-12-01T09:00:00.123Z`), as the guardrail
    examples do."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def is_number(value: object) -> bool:
    # bool is an int subclass, but `true` is not a spending limit.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def require_object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
    return body


def parse_workspace_id(value: object) -> str:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise invalid("workspace_id", "must be a UUID")
