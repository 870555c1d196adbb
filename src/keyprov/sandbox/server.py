"""A local emulator of OpenRouter's key-management API, with fault injection.

It follows /work/shared/openrouter-keys-api.md: the same routes, bodies, status codes and error
messages, so the client can be tested end to end without a real account or real money. This
module is the `Sandbox` object: its lifecycle, its test hooks, and the order in which a request
meets authentication, faults and its route.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from keyprov.sandbox.auth import authenticate
from keyprov.sandbox.control import is_control_path, serve_control
from keyprov.sandbox.faults import DROP_AFTER_COMMIT, FaultEngine, Faults
from keyprov.sandbox.http import IncomingRequest, SandboxServer
from keyprov.sandbox.key_routes import KeyRoutes, match_route
from keyprov.sandbox.replies import MANAGEMENT_ONLY, Reply, error, from_api_error
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
    """One /api/v1 request as the sandbox saw it.

    `status` is None for a dropped connection; `finished` is when the answer was ready to send
    (after any "slow" delay), both on the `time.monotonic()` clock.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    started: float
    finished: float
    fault: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        fault: str | int,
        count: int = 1,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        retry_after: str | None = "1",
        seconds: float | None = None,
    ) -> None:
        """Make the next `count` matching authenticated /api/v1 requests fail this way.

        `fault` is "drop_after_commit" (a POST /keys that succeeds, then the connection closes
        with no answer), "slow" (answer after `seconds`, the work already done), 429 (with
        `Retry-After: retry_after`, omitted when None), or 500/502/503 (answered without doing
        anything). `path_prefix` may be given with or without the "/api/v1" prefix. Only
        requests that pass authentication and the rate limit can use up a forced fault.
        """
        self._engine.force(
            fault,
            count,
            method=method,
            path_prefix=path_prefix,
            retry_after=retry_after,
            seconds=seconds,
        )

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
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
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
        if verdict.status is not None:
            return error(verdict.status, headers=verdict.headers, fault=verdict.fault)
        try:
            reply = self._keys.handle(route, caller, query, request.body)
        except ApiError as exc:
            reply = from_api_error(exc)
        reply.fault, reply.delay = verdict.fault, verdict.delay_after
        if reply.status == 201 and self._engine.drop_after_create(
            faults, method, path, api_path, random_allowed=not verdict.forced
        ):
            reply.drop, reply.fault = True, DROP_AFTER_COMMIT
        return reply
