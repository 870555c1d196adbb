"""The order in which an /api/v1 request meets its route, authentication and the faults:
route (404), authentication (401/403), rate limit and forced "before" faults, random 5xx, the
handler, then list and after-create faults."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from keyprov.sandbox.faults import (
    AFTER_CREATE_KINDS,
    CREATE_WITHOUT_KEY,
    DROP_AFTER_COMMIT,
    HTML_200,
    FaultEngine,
    Faults,
)
from keyprov.sandbox.http import IncomingRequest
from keyprov.sandbox.replies import Reply, captive_portal, error, from_api_error
from keyprov.sandbox.routes import RouteFamily
from keyprov.sandbox.validation import ApiError

API_PREFIX = "/api/v1"


def serve_api(
    request: IncomingRequest,
    query: Mapping[str, str],
    *,
    faults: Faults,
    engine: FaultEngine,
    families: Sequence[RouteFamily],
) -> Reply:
    """Answer one /api/v1 request.

    `faults` is one snapshot for the whole request, so a test swapping the sandbox's faults
    mid-request cannot mix two configurations.
    """
    method, path = request.method, request.path
    if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
        return error(404)
    if faults.latency:
        time.sleep(faults.latency)
    api_path = path[len(API_PREFIX) :]
    if len(api_path) > 1 and api_path.endswith("/"):
        api_path = api_path[:-1]
    route = next(filter(None, (f.match(method, api_path) for f in families)), None)
    if route is None:
        return error(404)
    try:
        caller = route.family.authorize(route, request.authorization)
    except ApiError as exc:
        return from_api_error(exc)
    verdict = engine.before(faults, method, path, api_path)
    if verdict.fault == HTML_200:
        return captive_portal(HTML_200)
    if verdict.status is not None:
        return error(verdict.status, headers=verdict.headers, fault=verdict.fault)
    try:
        reply = route.family.handle(route, caller, query, request.body)
    except ApiError as exc:
        reply = from_api_error(exc)
    reply.fault, reply.delay = verdict.fault, verdict.delay_after
    if reply.listing is not None:
        _answer_listing(reply, engine, method, path, api_path)
    if reply.status == 201:
        kinds = AFTER_CREATE_KINDS if route.creates_key else (DROP_AFTER_COMMIT,)
        after = engine.after_create(
            faults, method, path, api_path, kinds=kinds, random_allowed=not verdict.forced
        )
        if after == DROP_AFTER_COMMIT:
            reply.drop, reply.fault = True, DROP_AFTER_COMMIT
        elif after == CREATE_WITHOUT_KEY:
            reply.payload.pop("key", None)
            reply.fault = _join_faults(reply.fault, CREATE_WITHOUT_KEY)
    return reply


def _answer_listing(
    reply: Reply, engine: FaultEngine, method: str, path: str, api_path: str
) -> None:
    listing = reply.listing
    assert listing is not None
    forced = engine.list_fault(method, path, api_path, listing.applies)
    if forced is None:
        reply.payload = listing.answer()
    else:
        reply.payload = listing.answer_with(forced)
        reply.fault = _join_faults(reply.fault, str(forced.kind))


def _join_faults(first: str | None, second: str) -> str:
    # A "slow" answer can also be a reshaped one; the log names both.
    return second if first is None else f"{first}+{second}"
