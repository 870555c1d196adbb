"""The /_sandbox/ control routes: what a test or a second process uses to steer a sandbox.

They are never faulted, rate-limited or logged, and only the management key may call them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from keyprov.sandbox.faults import Faults, parse_kind
from keyprov.sandbox.keys import USAGE_FIELDS
from keyprov.sandbox.options import Behaviour
from keyprov.sandbox.replies import Reply, error, json_body
from keyprov.sandbox.validation import ApiError

if TYPE_CHECKING:
    from keyprov.sandbox.server import Sandbox

CONTROL_PREFIX = "/_sandbox"
_USAGE_ROUTE = re.compile(r"/keys/([^/]+)/usage")


def is_control_path(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def serve_control(sandbox: Sandbox, method: str, path: str, body: bytes) -> Reply:
    """Answer an already authenticated control request."""
    sub = path[len(CONTROL_PREFIX) :].rstrip("/")
    if sub == "/requests" and method == "GET":
        return Reply(200, [r.to_dict() for r in sandbox.request_log])
    if sub == "/requests" and method == "DELETE":
        sandbox.clear_log()
        return Reply(200, {"cleared": True})
    if sub == "/faults" and method == "GET":
        return Reply(200, sandbox.faults.to_dict())
    if sub == "/faults" and method == "PUT":
        return _put_faults(sandbox, json_body(body))
    if sub == "/behaviour" and method == "GET":
        return Reply(200, sandbox.behaviour.to_dict())
    if sub == "/behaviour" and method == "PUT":
        return _put_behaviour(sandbox, json_body(body))
    if sub == "/force" and method == "GET":
        return Reply(200, {"data": sandbox.forced()})
    if sub == "/force" and method == "POST":
        _post_force(sandbox, json_body(body))
        return Reply(200, {"data": sandbox.forced()})
    if sub == "/force" and method == "DELETE":
        sandbox.clear_forced()
        return Reply(200, {"cleared": True})
    if sub == "/spend" and method == "POST":
        return Reply(200, {"data": _post_spend(sandbox, json_body(body))})
    if sub == "/simulate" and method == "POST":
        return Reply(200, _post_simulate(sandbox, json_body(body)))
    if sub == "/simulate" and method == "DELETE":
        return Reply(200, {"stopped": sandbox.stop_simulation()})
    if sub == "/clock" and method == "GET":
        return Reply(200, {"now": sandbox.now().isoformat()})
    if sub == "/clock" and method == "POST":
        return Reply(200, {"now": _post_clock(sandbox, json_body(body)).isoformat()})
    match = _USAGE_ROUTE.fullmatch(sub)
    if match and method == "POST":
        return _post_usage(sandbox, unquote(match.group(1)), json_body(body))
    return error(404)


def _require_object(body: object) -> dict[str, object]:
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
    return body


def _put_faults(sandbox: Sandbox, body: object) -> Reply:
    # PUT replaces the whole configuration: fields left out go back to their defaults.
    try:
        sandbox.faults = Faults.from_dict(_require_object(body))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, f"Invalid request parameters: {exc}") from None
    return Reply(200, sandbox.faults.to_dict())


def _put_behaviour(sandbox: Sandbox, body: object) -> Reply:
    # PUT replaces the whole behaviour: fields left out go back to their defaults.
    try:
        sandbox.behaviour = Behaviour.from_dict(_require_object(body))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, f"Invalid request parameters: {exc}") from None
    return Reply(200, sandbox.behaviour.to_dict())


_FORCE_FIELDS: dict[str, tuple[type, ...]] = {
    "kind": (str, int),
    "count": (int,),
    "method": (str, type(None)),
    "path_prefix": (str, type(None)),
    "retry_after": (str, type(None)),
    "seconds": (int, float, type(None)),
    "hash": (str, type(None)),
}


def _post_force(sandbox: Sandbox, body: object) -> None:
    """`POST /_sandbox/force` takes `Sandbox.force`'s arguments as a JSON object."""
    fields = _require_object(body)
    for name, value in fields.items():
        if name not in _FORCE_FIELDS:
            raise ApiError(
                400, f"Invalid request parameters: {name}: expected one of {list(_FORCE_FIELDS)}"
            )
        if isinstance(value, bool) or not isinstance(value, _FORCE_FIELDS[name]):
            raise ApiError(400, f"Invalid request parameters: {name}: wrong type")
    if "kind" not in fields:
        raise ApiError(400, "Invalid request parameters: kind: is required")
    kind = fields.pop("kind")
    try:
        sandbox.force(parse_kind(str(kind)), **fields)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ApiError(400, f"Invalid request parameters: {exc}") from None


_SPEND_FIELDS: dict[str, tuple[type, ...]] = {
    "name_prefix": (str, type(None)),
    "hashes": (list, type(None)),
    "usage": (int, float, type(None)),
    "daily": (int, float, type(None)),
    "weekly": (int, float, type(None)),
    "monthly": (int, float, type(None)),
    "random": (bool,),
    "seed": (int, type(None)),
}


def _post_spend(sandbox: Sandbox, body: object) -> list[dict[str, Any]]:
    """`POST /_sandbox/spend` takes `Sandbox.spend`'s arguments as a JSON object."""
    fields = _require_object(body)
    for name, value in fields.items():
        if name not in _SPEND_FIELDS:
            raise ApiError(
                400, f"Invalid request parameters: {name}: expected one of {list(_SPEND_FIELDS)}"
            )
        wrong_bool = isinstance(value, bool) and name != "random"
        if wrong_bool or not isinstance(value, _SPEND_FIELDS[name]):
            raise ApiError(400, f"Invalid request parameters: {name}: wrong type")
    hashes = fields.get("hashes")
    if hashes is not None and not all(isinstance(h, str) for h in hashes):
        raise ApiError(400, "Invalid request parameters: hashes: must be strings")
    try:
        return sandbox.spend(**fields)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ApiError(400, f"Invalid request parameters: {exc}") from None


def _post_usage(sandbox: Sandbox, key_hash: str, body: object) -> Reply:
    numbers: dict[str, float] = {}
    for name, value in _require_object(body).items():
        if name not in USAGE_FIELDS:
            raise ApiError(
                400, f"Invalid request parameters: {name}: expected one of {list(USAGE_FIELDS)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError(400, f"Invalid request parameters: {name}: must be a number")
        numbers[name] = value
    try:
        return Reply(200, {"data": sandbox.set_usage(key_hash, **numbers)})
    except KeyError:
        raise ApiError(404, "Resource not found") from None


def _number(fields: dict[str, object], name: str, default: float | None) -> float | None:
    value = fields.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ApiError(400, f"Invalid request parameters: {name}: must be a number > 0")
    return float(value)


def _post_simulate(sandbox: Sandbox, body: object) -> dict[str, Any]:
    """`POST /_sandbox/simulate`: `{"name_prefix", "seed", "minutes", "tick"}`, all optional."""
    fields = _require_object(body)
    known = {"name_prefix", "seed", "minutes", "tick"}
    for name in fields:
        if name not in known:
            raise ApiError(
                400, f"Invalid request parameters: {name}: expected one of {sorted(known)}"
            )
    prefix, seed = fields.get("name_prefix"), fields.get("seed")
    if prefix is not None and not isinstance(prefix, str):
        raise ApiError(400, "Invalid request parameters: name_prefix: must be a string")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(400, "Invalid request parameters: seed: must be an integer")
    minutes = _number(fields, "minutes", 30.0)
    tick = _number(fields, "tick", 1.0)
    try:
        habit = sandbox.simulate(name_prefix=prefix, seed=seed, minutes=minutes or 30.0, tick=tick)
    except ValueError as exc:
        raise ApiError(400, f"Invalid request parameters: {exc}") from None
    counts: dict[str, int] = {}
    for kind in habit.values():
        counts[kind] = counts.get(kind, 0) + 1
    return {"keys": len(habit), "habits": counts}


def _post_clock(sandbox: Sandbox, body: object) -> Any:
    """`POST /_sandbox/clock`: `{"advance": seconds}` moves the sandbox's now forward."""
    fields = _require_object(body)
    if set(fields) != {"advance"}:
        raise ApiError(400, 'Invalid request parameters: give {"advance": seconds}')
    seconds = _number(fields, "advance", None)
    assert seconds is not None
    return sandbox.advance_clock(seconds)
