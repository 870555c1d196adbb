"""The key-management routes: /keys, /keys/{hash}, /key (and /auth/key), /credits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from keyprov.sandbox.auth import Caller
from keyprov.sandbox.listing import Listing
from keyprov.sandbox.replies import Reply, json_body
from keyprov.sandbox.store import (
    DEFAULT_CREATOR_USER_ID,
    DEFAULT_WORKSPACE_ID,
    PAGE_SIZE,
    ApiError,
    KeyStore,
    mask_secret,
    parse_create,
    parse_update,
    parse_workspace_id,
)

# The deprecated `rate_limit` object live `/key` answers still carry.
_RATE_LIMIT_NOTE = {
    "requests": -1,
    "interval": "10s",
    "note": "This field is deprecated and safe to ignore.",
}
_CURRENT_KEY_FIELDS = (
    "limit",
    "limit_reset",
    "limit_remaining",
    "include_byok_in_limit",
    "usage",
    "usage_daily",
    "usage_weekly",
    "usage_monthly",
    "byok_usage",
    "byok_usage_daily",
    "byok_usage_weekly",
    "byok_usage_monthly",
)


@dataclass(frozen=True)
class Route:
    name: str
    key_hash: str | None = None

    @property
    def management_only(self) -> bool:
        return self.name != "current"


def match_route(method: str, api_path: str) -> Route | None:
    if api_path == "/keys":
        name = {"GET": "list", "POST": "create"}.get(method)
        return Route(name) if name else None
    if api_path.startswith("/keys/"):
        key_hash = unquote(api_path[len("/keys/") :])
        name = {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(method)
        return Route(name, key_hash) if name and key_hash and "/" not in key_hash else None
    if method == "GET" and api_path in ("/key", "/auth/key"):
        return Route("current")
    if method == "GET" and api_path == "/credits":
        return Route("credits")
    return None


class KeyRoutes:
    """Answers the key-management routes from a KeyStore."""

    def __init__(
        self,
        store: KeyStore,
        management_key: str,
        *,
        total_credits: float,
        credits_for_normal_keys: bool,
    ) -> None:
        self._store = store
        self._management_key = management_key
        # Replaced as a whole tuple, so readers never see credits from one call and usage from
        # another without needing a lock.
        self.credits = (float(total_credits), 0.0)
        self.credits_for_normal_keys = credits_for_normal_keys

    def allows(self, route: Route, caller: Caller) -> bool:
        if not route.management_only or caller.management:
            return True
        return route.name == "credits" and self.credits_for_normal_keys

    def handle(self, route: Route, caller: Caller, query: dict[str, str], body: bytes) -> Reply:
        if route.name == "list":
            # The page is rendered once the fault layer has had its say (see Reply.listing).
            return Reply(200, None, listing=self._list(query))
        if route.name == "create":
            secret, key = self._store.create(parse_create(json_body(body)))
            return Reply(201, {"data": key, "key": secret})
        if route.name == "current":
            return Reply(200, {"data": self._current_key(caller)})
        if route.name == "credits":
            total_credits, total_usage = self.credits
            return Reply(
                200, {"data": {"total_credits": total_credits, "total_usage": total_usage}}
            )
        key_hash = route.key_hash or ""
        if route.name == "get":
            key = self._store.get(key_hash)
        elif route.name == "update":
            key = self._store.update(key_hash, parse_update(json_body(body)))
        else:
            if self._store.delete(key_hash):
                return Reply(200, {"deleted": True})
            key = None
        if key is None:
            raise ApiError(404, "Resource not found")
        return Reply(200, {"data": key})

    def _list(self, query: dict[str, str]) -> Listing[Any]:
        include = query.get("include_disabled", "false").lower()
        if include not in ("true", "false"):
            raise ApiError(400, "Invalid request parameters: include_disabled must be true/false")
        offset = query.get("offset", "0")
        if not re.fullmatch(r"[0-9]+", offset):
            raise ApiError(400, "Invalid request parameters: offset must be an integer >= 0")
        workspace = query.get("workspace_id")
        if workspace is not None:
            workspace = parse_workspace_id(workspace)
        rows = self._store.select(
            include_disabled=include == "true", workspace_id=workspace or DEFAULT_WORKSPACE_ID
        )
        return Listing(
            rows,
            offset=int(offset),
            page_size=PAGE_SIZE,
            ident=lambda record: record.hash,
            render=self._store.render,
        )

    def _current_key(self, caller: Caller) -> dict[str, Any]:
        if caller.key is None:
            # The management key has no spend of its own and no cap.
            numbers: dict[str, Any] = {f: 0 for f in _CURRENT_KEY_FIELDS}
            numbers.update(limit=None, limit_reset=None, limit_remaining=None)
            numbers["include_byok_in_limit"] = False
            label, expires_at, creator = (
                mask_secret(self._management_key),
                None,
                DEFAULT_CREATOR_USER_ID,
            )
        else:
            numbers = {f: caller.key[f] for f in _CURRENT_KEY_FIELDS}
            label = caller.key["label"]
            expires_at, creator = caller.key["expires_at"], caller.key["creator_user_id"]
        return {
            "label": label,
            "is_management_key": caller.management,
            "is_provisioning_key": caller.management,
            **numbers,
            "is_free_tier": False,
            "expires_at": expires_at,
            "creator_user_id": creator,
            "rate_limit": dict(_RATE_LIMIT_NOTE),
        }
