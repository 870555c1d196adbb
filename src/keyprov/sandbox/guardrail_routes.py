"""The guardrail routes: /guardrails, /guardrails/{id}, and their key and member assignments.

Follows /work/shared/openrouter-guardrails-api.md §2 and §4. Member assignments take the
shape of OpenRouter's published SDK models (MemberAssignment: id, user_id, organization_id,
guardrail_id, assigned_by, created_at), which the contract names but does not spell out.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from keyprov.sandbox.auth import Caller, authenticate
from keyprov.sandbox.guardrails import parse_guardrail, parse_subjects
from keyprov.sandbox.listing import Listing
from keyprov.sandbox.options import Behaviour
from keyprov.sandbox.replies import MANAGEMENT_ONLY, Reply, json_body
from keyprov.sandbox.routes import Route, integer_param
from keyprov.sandbox.store import KEY, MEMBER, AssignResult, Store
from keyprov.sandbox.validation import DEFAULT_WORKSPACE_ID, ApiError, parse_workspace_id

DEFAULT_PAGE, MAX_PAGE = 50, 100
NOT_FOUND = "Resource not found"
_KINDS = {"keys": KEY, "members": MEMBER}
_SUBJECT_FIELD = {KEY: "key_hashes", MEMBER: "member_user_ids"}
_ONE = re.compile(r"/guardrails/([^/]+)")
_ASSIGNMENTS = re.compile(r"/guardrails/([^/]+)/assignments/(keys|members)(/remove)?")
_ALL_ASSIGNMENTS = re.compile(r"/guardrails/assignments/(keys|members)")


class GuardrailRoutes:
    """Answers the guardrail routes from the Store; management key only."""

    def __init__(
        self, store: Store, management_key: str, behaviour: Callable[[], Behaviour]
    ) -> None:
        self._store = store
        self._management_key = management_key
        self._behaviour = behaviour

    def match(self, method: str, api_path: str) -> Route | None:
        if api_path == "/guardrails":
            name = {"GET": "list", "POST": "create"}.get(method)
            return Route(self, name) if name else None
        if (every := _ALL_ASSIGNMENTS.fullmatch(api_path)) and method == "GET":
            return Route(self, "all_assignments", _KINDS[every.group(1)])
        if assignments := _ASSIGNMENTS.fullmatch(api_path):
            guardrail_id, kind = unquote(assignments.group(1)), _KINDS[assignments.group(2)]
            if assignments.group(3):
                return Route(self, f"unassign_{kind}", guardrail_id) if method == "POST" else None
            name = {"GET": f"assignments_{kind}", "POST": f"assign_{kind}"}.get(method)
            return Route(self, name, guardrail_id) if name else None
        if one := _ONE.fullmatch(api_path):
            name = {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(method)
            return Route(self, name, unquote(one.group(1))) if name else None
        return None

    def authorize(self, route: Route, authorization: str | None) -> Caller:
        caller = authenticate(authorization, management_key=self._management_key, store=self._store)
        if not caller.management:
            status = self._behaviour().normal_key_status
            raise ApiError(status, MANAGEMENT_ONLY if status == 403 else "User not found.")
        return caller

    def handle(
        self, route: Route, caller: Caller | None, query: Mapping[str, str], body: bytes
    ) -> Reply:
        name = route.name
        if name == "list":
            return self._list(query)
        if name == "create":
            return Reply(201, {"data": self._store.create_guardrail(_create_fields(body))})
        if name == "all_assignments":
            return self._assignments(query, route.param or KEY, None)
        guardrail_id = _uuid_or_none(route.param)
        if guardrail_id is None:  # not a uuid, so no guardrail has it
            raise ApiError(404, NOT_FOUND)
        if name.startswith("assignments_"):
            if self._store.get_guardrail(guardrail_id) is None:
                raise ApiError(404, NOT_FOUND)
            return self._assignments(query, name.removeprefix("assignments_"), guardrail_id)
        if name.startswith(("assign_", "unassign_")):
            return self._bulk(name, guardrail_id, body)
        if name == "get":
            guardrail = self._store.get_guardrail(guardrail_id)
        elif name == "update":
            changes = parse_guardrail(json_body(body), creating=False)
            guardrail = self._store.update_guardrail(guardrail_id, changes)
        else:
            if self._store.delete_guardrail(guardrail_id):
                return Reply(200, {"deleted": True})
            guardrail = None
        if guardrail is None:
            raise ApiError(404, NOT_FOUND)
        return Reply(200, {"data": guardrail})

    def _list(self, query: Mapping[str, str]) -> Reply:
        offset, limit = _page(query)
        workspace = query.get("workspace_id")
        workspace_id = DEFAULT_WORKSPACE_ID if workspace is None else parse_workspace_id(workspace)
        rows = self._store.select_guardrails(workspace_id=workspace_id)
        listing: Listing[Any] = Listing(
            rows,
            offset=offset,
            page_size=limit,
            ident=lambda r: r.id,
            render=self._store.render_guardrail,
            id_field="id",
            extra={"total_count": len(rows)},
        )
        return Reply(200, None, listing=listing)

    def _assignments(self, query: Mapping[str, str], kind: str, guardrail_id: str | None) -> Reply:
        offset, limit = _page(query)
        rows = self._store.select_assignments(kind, guardrail_id)
        listing: Listing[Any] = Listing(
            rows,
            offset=offset,
            page_size=limit,
            ident=lambda r: r.subject,
            render=self._store.render_assignment,
            id_field="key_hash" if kind == KEY else "user_id",
            extra={"total_count": len(rows)},
        )
        return Reply(200, None, listing=listing)

    def _bulk(self, name: str, guardrail_id: str, body: bytes) -> Reply:
        verb, kind = name.split("_")
        subjects = parse_subjects(json_body(body), _SUBJECT_FIELD[kind])
        policy = self._behaviour().unknown_assignment
        change = self._store.assign if verb == "assign" else self._store.unassign
        result = change(guardrail_id, kind, subjects, refuse_unknown=policy != "skip")
        if result is None:
            raise ApiError(404, NOT_FOUND)
        _refuse_unknown(result, policy, _SUBJECT_FIELD[kind])
        return Reply(200, {f"{verb}ed_count": result.count})


def _create_fields(body: bytes) -> dict[str, Any]:
    return parse_guardrail(json_body(body), creating=True)


def _page(query: Mapping[str, str]) -> tuple[int, int]:
    offset = integer_param(query, "offset", default=0, low=0)
    limit = integer_param(query, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE)
    return offset, limit


def _uuid_or_none(text: str | None) -> str | None:
    try:
        return str(uuid.UUID(text or ""))
    except ValueError:
        return None


def _refuse_unknown(result: AssignResult, policy: str, field_name: str) -> None:
    if not result.unknown or policy == "skip":
        return
    shown = ", ".join(repr(s) for s in result.unknown[:5])
    if policy == "404":
        raise ApiError(404, NOT_FOUND, {"unknown": result.unknown})
    raise ApiError(400, f"Invalid request parameters: {field_name}: unknown {shown}")
