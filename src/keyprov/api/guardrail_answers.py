"""What the guardrail and model endpoints must answer, checked before anything is believed.

Held to /work/shared/openrouter-guardrails-api.md §3-4: a guardrail comes with a string `id`
and `name`, model and provider lists are arrays of strings or null, the ZDR switches are
booleans or null; a list answer is `{"data": [...], "total_count": n}`; an assignment names a
`key_hash` and a `guardrail_id`; a model has a string `id` and `canonical_slug`. Fields that
keyprov does not rely on may be absent; none may be of the wrong type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keyprov.api.answers import malformed, shown
from keyprov.models import ZDR_GROUPS, Guardrail, KeyAssignment, Model
from keyprov.values import is_number

_ABSENT = object()


def guardrail_page(body: Any, where: str, status: int) -> tuple[list[Guardrail], int]:
    """GET /guardrails: `{"data": [Guardrail, ...], "total_count": n}`."""
    items, total = _page(body, where, status)
    return [
        _guardrail(item, where, status, f"item {n} of 'data'") for n, item in enumerate(items)
    ], total


def one_guardrail(body: Any, where: str, status: int, expected_id: str | None = None) -> Guardrail:
    """POST, GET or PATCH /guardrails[/{id}]: `{"data": Guardrail}` (that very one, if known)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise malformed(where, status, f"without a 'data' object (got {shown(body)})")
    guardrail = _guardrail(data, where, status, "'data'")
    if expected_id is not None and guardrail.id != expected_id:
        raise malformed(
            where, status, f"with the guardrail {guardrail.id!r}, not the one asked for"
        )
    return guardrail


def assignment_page(body: Any, where: str, status: int) -> tuple[list[KeyAssignment], int]:
    """GET /guardrails[/{id}]/assignments/keys: `{"data": [KeyAssignment], "total_count": n}`."""
    items, total = _page(body, where, status)
    return [_assignment(item, where, status, n) for n, item in enumerate(items)], total


def count(field: str) -> Callable[[Any, str, int], int]:
    """The reader of a bulk (un)assign answer: `{"assigned_count": n}` (or unassigned)."""

    def read(body: Any, where: str, status: int) -> int:
        value = body.get(field) if isinstance(body, dict) else None
        if type(value) is not int or value < 0:
            raise malformed(where, status, f"without a count {field!r} (got {shown(body)})")
        return value

    return read


def model_list(body: Any, where: str, status: int) -> list[Model]:
    """GET /models or /models/user asked for everything at once: `{"data": [Model, ...]}`.

    `total_count` and `links` are in the schema but not in the examples, so they may be
    absent; present, they must say that this is the whole list: an incomplete catalogue would
    call a real model unknown, and an incomplete list of a key's models would hide one.
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise malformed(where, status, f"without a 'data' array (got {shown(body)})")
    models = [_model(item, where, status, n) for n, item in enumerate(data)]
    links = body.get("links")
    following = links.get("next") if isinstance(links, dict) else None
    if following is not None:
        raise malformed(where, status, f"with a next page ({shown(following)}), not every model")
    total = body.get("total_count")
    if type(total) is int and total > len(models):
        raise malformed(where, status, f"with {len(models)} of the {total} models it counts")
    return models


def _page(body: Any, where: str, status: int) -> tuple[list[Any], int]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise malformed(where, status, f"without a 'data' array (got {shown(body)})")
    total = body.get("total_count")
    if type(total) is not int or total < 0:
        raise malformed(where, status, f"without a 'total_count' (got {shown(total)})")
    return data, total


def _guardrail(item: Any, where: str, status: int, what: str) -> Guardrail:
    if not isinstance(item, dict):
        raise malformed(where, status, f"with {what} not an object (got {shown(item)})")
    problem = _text(item, "id", what, required=True) or _text(item, "name", what, required=True)
    for name in ("allowed_models", "allowed_providers", "ignored_models", "ignored_providers"):
        problem = problem or _strings(item, name, what)
    for name in ("enforce_zdr", *(f"enforce_zdr_{group}" for group in ZDR_GROUPS)):
        value = item.get(name)
        if value is not None and type(value) is not bool:
            problem = problem or f"with '{name}' of {what} not true, false or null"
    limit = item.get("limit_usd")
    if limit is not None and not is_number(limit):
        problem = problem or f"with 'limit_usd' of {what} not a number or null"
    for name in ("description", "workspace_id", "created_at", "updated_at"):
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            problem = problem or f"with '{name}' of {what} not a string or null"
    if problem:
        raise malformed(where, status, f"{problem} (got {shown(item)})")
    # A per-group switch left out falls back to the deprecated `enforce_zdr`, as on write.
    fallback = item.get("enforce_zdr") is True
    zdr = frozenset(
        group
        for group in ZDR_GROUPS
        if (item[f"enforce_zdr_{group}"] is True if f"enforce_zdr_{group}" in item else fallback)
    )
    return Guardrail(
        id=item["id"],
        name=item["name"],
        description=item.get("description"),
        allowed_models=_tuple(item.get("allowed_models")),
        allowed_providers=_tuple(item.get("allowed_providers")),
        ignored_models=_tuple(item.get("ignored_models")),
        ignored_providers=_tuple(item.get("ignored_providers")),
        zdr=zdr,
        limit_usd=None if limit is None else float(limit),
        workspace_id=item.get("workspace_id"),
        created_at=item.get("created_at") or "",
        updated_at=item.get("updated_at"),
    )


def _assignment(item: Any, where: str, status: int, number: int) -> KeyAssignment:
    what = f"item {number} of 'data'"
    if not isinstance(item, dict):
        raise malformed(where, status, f"with {what} not an object (got {shown(item)})")
    problem = _text(item, "key_hash", what, required=True) or _text(
        item, "guardrail_id", what, required=True
    )
    for name in ("id", "key_name", "key_label", "created_at"):
        problem = problem or _text(item, name, what, required=False)
    if problem:
        raise malformed(where, status, f"{problem} (got {shown(item)})")
    return KeyAssignment(
        id=item.get("id") or "",
        key_hash=item["key_hash"],
        guardrail_id=item["guardrail_id"],
        key_name=item.get("key_name") or "",
        key_label=item.get("key_label") or "",
        created_at=item.get("created_at") or "",
    )


def _model(item: Any, where: str, status: int, number: int) -> Model:
    what = f"model {number} of 'data'"
    if not isinstance(item, dict):
        raise malformed(where, status, f"with {what} not an object (got {shown(item)})")
    problem = _text(item, "id", what, required=True) or _text(
        item, "canonical_slug", what, required=True
    )
    problem = problem or _text(item, "name", what, required=False)
    expires = item.get("expiration_date")
    if expires is not None and not isinstance(expires, str):
        problem = problem or f"with 'expiration_date' of {what} not a string or null"
    target = item.get("alias_target")
    alias_of = target.get("slug") if isinstance(target, dict) else None
    if target is not None and not (isinstance(alias_of, str) and alias_of):
        problem = problem or f"with 'alias_target' of {what} not an object with a 'slug'"
    if problem:
        raise malformed(where, status, f"{problem} (got {shown(item)})")
    return Model(
        id=item["id"],
        canonical_slug=item["canonical_slug"],
        name=item.get("name") or item["id"],
        expiration_date=expires,
        alias_of=alias_of,
    )


def _text(item: dict[str, Any], name: str, what: str, *, required: bool) -> str | None:
    """Why `item[name]` is not a string (non-empty when required), or None."""
    value = item.get(name, _ABSENT)
    if value is _ABSENT and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        return f"with {what} lacking a string '{name}'"
    return None


def _strings(item: dict[str, Any], name: str, what: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return f"with '{name}' of {what} not an array of strings or null"
    return None


def _tuple(value: list[str] | None) -> tuple[str, ...] | None:
    # The guide reads an empty list as "no restriction" (§10); the schema forbids sending one.
    return tuple(value) if value else None
