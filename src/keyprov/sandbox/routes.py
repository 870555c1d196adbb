"""What every group of /api/v1 routes provides to the request pipeline, and what they share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from keyprov.sandbox.auth import Caller
from keyprov.sandbox.replies import Reply
from keyprov.sandbox.validation import ApiError


@dataclass(frozen=True)
class Route:
    family: RouteFamily
    name: str
    param: str | None = None  # the {hash} or {id} in the path
    creates_key: bool = False  # POST /keys: the only route "create_without_key" applies to


class RouteFamily(Protocol):
    def match(self, method: str, api_path: str) -> Route | None:
        """The route for this method and path (without "/api/v1"), or None if not ours."""

    def authorize(self, route: Route, authorization: str | None) -> Caller | None:
        """Who may call: the caller (None for a public route); an ApiError (401/403) if not."""

    def handle(
        self, route: Route, caller: Caller | None, query: Mapping[str, str], body: bytes
    ) -> Reply:
        """Do the work; raise ApiError for a request the API refuses."""


def integer_param(
    query: Mapping[str, str], name: str, *, default: int, low: int, high: int | None = None
) -> int:
    """A query parameter that must be a whole number in [low, high]; 400 otherwise."""
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]+", text) or int(text) < low or (high and int(text) > high):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise ApiError(400, f"Invalid request parameters: {name} must be an integer {bounds}")
    return int(text)
