"""A local emulator of OpenRouter's key-management API, with fault injection.

It follows /work/shared/openrouter-keys-api.md: the same routes, bodies, status codes and error
messages, so the client can be tested end to end without a real account or real money. This
module is the `Sandbox` object: its lifecycle, its test hooks, and the order in which a request
meets authentication, faults and its route.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from keyprov.sandbox.auth import authenticate
from keyprov.sandbox.control import is_control_path, serve_control
from keyprov.sandbox.faults import (
    AFTER_CREATE_KINDS,
    CREATE_WITHOUT_KEY,
    DROP_AFTER_COMMIT,
    HTML_200,
    FaultEngine,
    Faults,
)
from keyprov.sandbox.http import IncomingRequest, SandboxServer
from keyprov.sandbox.key_routes import KeyRoutes, match_route
from keyprov.sandbox.replies import (
    MANAGEMENT_ONLY,
    Reply,
    captive_portal,
    error,
    from_api_error,
)
from keyprov.sandbox.store import ApiError, KeyStore, parse_create

API_PREFIX = "/api/v1"
MANAGEMENT_KEY_ENV = "OPENROUTER_PROVISIONING_KEY"
# Deliberately not `sk-or-v1-<64 hex>`: it can never be mistaken for (or flagged as) a real key.
DEMO_MANAGEMENT_KEY = "sk-or-v1-sandbox-demo-management-key"


def default_management_key() -> str:
    """The management key the sandbox accepts: $OPENROUTER_PROVISIONING_KEY, else the demo key."""
    return os.environ.get(MANAGEMENT_KEY_ENV) or DEMO_MANAGEMENT_KEY


@dataclass(frozen=True)
class RequestRecord:
    """One /api/v1 request as the sandbox saw it, headers left out (the Authorization header
    above all: the log never holds a credential).

    `path` is as sent (not percent-decoded); `query` maps each parameter to its last value,
    `query_items` keeps every (name, value) pair in order, decoded, and `query_string` is the
    query as sent. `body` is the request body as text ("" when there was none). `status` is
    None for a dropped connection; `finished` is when the answer was ready to send (after any
    "slow" delay), both on the `time.monotonic()` clock.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    started: float
    finished: float
    fault: str | None
    query_string: str = ""
    query_items: tuple[tuple[str, str], ...] = ()
    body: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sent_text(self) -> str:
        """Everything this request carried but its headers, decoded, one part per line.

        For "was X ever sent" assertions: the decoded path and query, the body as sent, and the
        body's JSON again without escapes (a client sends "Zo\\u00eb" for "Zoë").
        """
        parts = [unquote(self.path), *(f"{name}={value}" for name, value in self.query_items)]
        parts.append(self.body)
        with contextlib.suppress(ValueError):
            parts.append(json.dumps(json.loads(self.body), ensure_ascii=False))
        return "\n".join(parts)


class Sandbox:
    """OpenRouter's key-management API on a local port, backed by memory (and optionally a file).

    Usage::

        with Sandbox() as sandbox:
            requests.post(f"{sandbox.base_url}/keys", json={"name": "alice"},
                          headers={"Authorization": f"Bearer {sandbox.management_key}"})
    """

    def __init__(
        self,
        management_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: Path | None = None,
        faults: Faults | None = None,
        total_credits: float = 1000.0,
        credits_for_normal_keys: bool = False,
    ) -> None:
        key = default_management_key() if management_key is None else management_key
        if not key:
            raise ValueError("the management key must not be empty")
        self._management_key = key
        self._host = host
        self._requested_port = port
        self._store = KeyStore(state_path)
        self._keys = KeyRoutes(
            self._store,
            key,
            total_credits=total_credits,
            credits_for_normal_keys=credits_for_normal_keys,
        )
        self._engine = FaultEngine()
        self.faults = faults if faults is not None else Faults()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        server = SandboxServer((self._host, self._requested_port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits up to one poll interval
            name=f"keyprov-sandbox-{server.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        # Idle keep-alive connections would otherwise keep answering from a "stopped" sandbox.
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}{API_PREFIX}"

    @property
    def management_key(self) -> str:
        return self._management_key

    # -- test hooks ----------------------------------------------------------------------------

    def force(
        self,
        kind: str | int,
        count: int = 1,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        retry_after: str | None = "1",
        seconds: float | None = None,
        hash: str | None = None,
    ) -> None:
        """Make the next `count` matching authenticated /api/v1 requests go wrong this way.

        A request matches when its method is `method` (any when None) and its path starts with
        `path_prefix` (any when None; given with or without "/api/v1"). Only requests that pass
        authentication and the rate limit, and that reach the fault's moment, use one up.

        Before the route runs (nothing is done):
          429 (with `Retry-After: retry_after`, omitted when None), 500, 502, 503;
          "html_200": 200 with a text/html captive-portal page;
          "slow": the work is done, the answer waits `seconds`.
        On a list answer (GET /keys; the page is reshaped, nothing else changes):
          "list_no_data": 200 `{}`;  "list_null_data": 200 `{"data": null}`;
          "list_short_page": only the page's first half (rounded down), so it looks like the
            last page; used by the next non-empty page;
          "list_repeat_page": the page one page size earlier in place of this one, so hashes
            repeat and this page's keys are never shown; used by the next page at offset > 0;
          "list_missing_key": one key (`hash`, else the page's first) absent, the rest moved up
            so the page keeps its length; used by the next page that holds that key;
          "list_item_without_hash": one item (`hash`, else the page's first) lacks "hash".
        After a create is committed (a 201):
          "drop_after_commit": the connection closes with no answer;
          "create_without_key": POST /keys answers 201 with `data` but no `key`.

        Raises ValueError for an unknown kind or an argument the kind cannot take.
        """
        self._engine.force(
            kind,
            count,
            method=method,
            path_prefix=path_prefix,
            retry_after=retry_after,
            seconds=seconds,
            hash=hash,
        )

    def forced(self) -> list[dict[str, Any]]:
        """The forced faults not yet used up, oldest first, as `force`'s arguments plus
        `remaining`."""
        return [entry.to_dict() for entry in self._engine.pending()]

    def clear_forced(self) -> None:
        self._engine.clear_forced()

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def keys(self) -> list[dict[str, Any]]:
        """Every stored key as the API's Key object, newest first, disabled ones included."""
        return self._store.all()

    def set_usage(
        self,
        hash: str,
        *,
        usage: float | None = None,
        daily: float | None = None,
        weekly: float | None = None,
        monthly: float | None = None,
        byok: float | None = None,
        byok_daily: float | None = None,
        byok_weekly: float | None = None,
        byok_monthly: float | None = None,
    ) -> dict[str, Any]:
        """Set a key's spend numbers (the sandbox serves no inference to spend them).

        Returns the updated Key; raises KeyError for an unknown hash.
        """
        given = {
            "usage": usage,
            "daily": daily,
            "weekly": weekly,
            "monthly": monthly,
            "byok": byok,
            "byok_daily": byok_daily,
            "byok_weekly": byok_weekly,
            "byok_monthly": byok_monthly,
        }
        return self._store.set_usage(hash, {k: v for k, v in given.items() if v is not None})

    def set_credits(self, total_credits: float, total_usage: float) -> None:
        self._keys.credits = (float(total_credits), float(total_usage))

    def create_key_directly(self, name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        """Store a key as POST /keys would, but without HTTP, faults or logging.

        Returns (secret, Key); raises ValueError for fields POST would reject.
        """
        try:
            return self._store.create(parse_create({"name": name, **fields}))
        except ApiError as exc:
            raise ValueError(exc.message) from None

    # -- request handling ----------------------------------------------------------------------

    def respond(self, request: IncomingRequest) -> Reply:
        if is_control_path(request.path):
            return self._respond_control(request)
        query_items = tuple(parse_qsl(request.query_string, keep_blank_values=True))
        query = dict(query_items)
        try:
            reply = self._serve_api(request, query)
        except Exception:
            # A sandbox bug: answer like the real API would, but leave the traceback visible.
            traceback.print_exc()
            reply = error(500)
        if reply.delay:
            time.sleep(reply.delay)
        # Logged before the first byte goes out: a client that has its answer (or its dropped
        # connection) must already find the request in the log.
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=query,
            status=None if reply.drop else reply.status,
            started=request.started,
            finished=time.monotonic(),
            fault=reply.fault,
            query_string=request.query_string,
            query_items=query_items,
            body=request.body.decode("utf-8", errors="replace"),
        )
        with self._log_lock:
            self._log.append(record)
        return reply

    def _respond_control(self, request: IncomingRequest) -> Reply:
        try:
            caller = authenticate(
                request.authorization, management_key=self._management_key, store=self._store
            )
            if not caller.management:
                raise ApiError(403, MANAGEMENT_ONLY)
            return serve_control(self, request.method, request.path, request.body)
        except ApiError as exc:
            return from_api_error(exc)

    def _serve_api(self, request: IncomingRequest, query: dict[str, str]) -> Reply:
        method, path = request.method, request.path
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            return error(404)
        # One snapshot per request, so a test swapping `faults` mid-request cannot mix configs.
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        api_path = path[len(API_PREFIX) :]
        if len(api_path) > 1 and api_path.endswith("/"):
            api_path = api_path[:-1]
        route = match_route(method, api_path)
        if route is None:
            return error(404)
        try:
            caller = authenticate(
                request.authorization, management_key=self._management_key, store=self._store
            )
            if not self._keys.allows(route, caller):
                raise ApiError(403, MANAGEMENT_ONLY)
        except ApiError as exc:
            return from_api_error(exc)
        verdict = self._engine.before(faults, method, path, api_path)
        if verdict.fault == HTML_200:
            return captive_portal(HTML_200)
        if verdict.status is not None:
            return error(verdict.status, headers=verdict.headers, fault=verdict.fault)
        try:
            reply = self._keys.handle(route, caller, query, request.body)
        except ApiError as exc:
            reply = from_api_error(exc)
        reply.fault, reply.delay = verdict.fault, verdict.delay_after
        if reply.listing is not None:
            self._answer_listing(reply, method, path, api_path)
        if reply.status == 201:
            kinds = AFTER_CREATE_KINDS if route.name == "create" else (DROP_AFTER_COMMIT,)
            after = self._engine.after_create(
                faults, method, path, api_path, kinds=kinds, random_allowed=not verdict.forced
            )
            if after == DROP_AFTER_COMMIT:
                reply.drop, reply.fault = True, DROP_AFTER_COMMIT
            elif after == CREATE_WITHOUT_KEY:
                reply.payload.pop("key", None)
                reply.fault = _join_faults(reply.fault, CREATE_WITHOUT_KEY)
        return reply

    def _answer_listing(self, reply: Reply, method: str, path: str, api_path: str) -> None:
        listing = reply.listing
        assert listing is not None
        forced = self._engine.list_fault(method, path, api_path, listing.applies)
        if forced is None:
            reply.payload = listing.answer()
        else:
            reply.payload = listing.answer_with(forced)
            reply.fault = _join_faults(reply.fault, str(forced.kind))


def _join_faults(first: str | None, second: str) -> str:
    # A "slow" answer can also be a reshaped one; the log names both.
    return second if first is None else f"{first}+{second}"
