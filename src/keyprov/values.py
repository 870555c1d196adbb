"""Values as the API and the files write them: date-times and JSON numbers, read one way."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def parse_time(value: str | None) -> datetime | None:
    """An API date-time (`...Z`, `+00:00`, or naive, taken as UTC); None for none."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_number(value: Any) -> bool:
    """A JSON number: bool is an int to Python but not a number to JSON, and NaN and Infinity
    are not JSON at all."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))
