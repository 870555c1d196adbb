"""The key-management routes: /keys, /keys/{hash}, /key (and /auth/key), /credits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from keyprov.sandbox.auth import Caller, authenticate
from keyprov.sandbox.keys import PAGE_SIZE, mask_secret, parse_create, parse_update
from keyprov.sandbox.listing import Listing
from keyprov.sandbox.replies import MANAGEMENT_ONLY, Reply, json_body
from keyprov.sandbox.routes import Route
from keyprov.sandbox.store import Store
from keyprov.sandbox.validation import (
    DEFAULT_CREATOR_USER_ID,
    DEFAULT_WORKSPACE_ID,
    ApiError,
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


class KeyRoutes:
    """Answers the key-management routes from the Store."""

    def __init__(
        self,
        store: Store,
        management_key: str,
        *,
        total_credits: float,
        credits_for_normal_keys: bool,
    ) -> None:
        self._store = store
        self._management_key = management_key
        # Replaced as a whole tuple, so readers never see credits from one call and usage from
        # another without needing a lock. The second figure is the usage of no key of the
        # store (spend before the sandbox started): the keys' own usage is added to it, so
        # GET /credits follows the spend.
        self.credits = (float(total_credits), 0.0)
        self.credits_for_normal_keys = credits_for_normal_keys

    def match(self, method: str, api_path: str) -> Route | None:
        if api_path == "/keys":
            name = {"GET": "list", "POST": "create"}.get(method)
            return Route(self, name, creates_key=name == "create") if name else None
        if api_path.startswith("/keys/"):
            key_hash = unquote(api_path[len("/keys/") :])
            name = {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(method)
            valid = name and key_hash and "/" not in key_hash
            return Route(self, name, key_hash) if valid and name else None
        if method == "GET" and api_path in ("/key", "/auth/key"):
            return Route(self, "current")
        if method == "GET" and api_path == "/credits":
            return Route(self, "credits")
        return None

    def authorize(self, route: Route, authorization: str | None) -> Caller:
        caller = authenticate(authorization, management_key=self._management_key, store=self._store)
        # /key describes any caller's own key; /credits may be opened to normal keys ([U]).
        open_to_all = route.name == "current" or (
            route.name == "credits" and self.credits_for_normal_keys
        )
        if not caller.management and not open_to_all:
            raise ApiError(403, MANAGEMENT_ONLY)
        return caller

    def handle(
        self, route: Route, caller: Caller | None, query: Mapping[str, str], body: bytes
    ) -> Reply:
        if route.name == "list":
            # The page is rendered once the fault layer has had its say (see Reply.listing).
            return Reply(200, None, listing=self._list(query))
        if route.name == "create":
            secret, key = self._store.create_key(parse_create(json_body(body)))
            return Reply(201, {"data": key, "key": secret})
        if route.name == "current":
            assert caller is not None
            return Reply(200, {"data": self._current_key(caller)})
        if route.name == "credits":
            total_credits, other_usage = self.credits
            total_usage = round(other_usage + self._store.total_usage(), 9)
            return Reply(
                200, {"data": {"total_credits": total_credits, "total_usage": total_usage}}
            )
        key_hash = route.param or ""
        if route.name == "get":
            key = self._store.get_key(key_hash)
        elif route.name == "update":
            key = self._store.update_key(key_hash, parse_update(json_body(body)))
        else:
            if self._store.delete_key(key_hash):
                return Reply(200, {"deleted": True})
            key = None
        if key is None:
            raise ApiError(404, "Resource not found")
        return Reply(200, {"data": key})

    def _list(self, query: Mapping[str, str]) -> Listing[Any]:
        include = query.get("include_disabled", "false").lower()
        if include not in ("true", "false"):
            raise ApiError(400, "Invalid request parameters: include_disabled must be true/false")
        offset = query.get("offset", "0")
        if not re.fullmatch(r"[0-9]+", offset):
            raise ApiError(400, "Invalid request parameters: offset must be an integer >= 0")
        workspace = query.get("workspace_id")
        if workspace is not None:
            workspace = parse_workspace_id(workspace)
        rows = self._store.select_keys(
            include_disabled=include == "true", workspace_id=workspace or DEFAULT_WORKSPACE_ID
        )
        return Listing(
            rows,
            offset=int(offset),
            page_size=PAGE_SIZE,
            ident=lambda record: record.hash,
            render=self._store.render_key,
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
