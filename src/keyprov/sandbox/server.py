"""A local emulator of OpenRouter's key-management API, with fault injection.

It follows /work/shared/openrouter-keys-api.md: the same routes, bodies, status codes and error
messages, so the client can be tested end to end without a real account or real money.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from keyprov.sandbox.faults import DROP_AFTER_COMMIT, FaultEngine, Faults
from keyprov.sandbox.store import (
    DEFAULT_CREATOR_USER_ID,
    DEFAULT_WORKSPACE_ID,
    USAGE_FIELDS,
    ApiError,
    KeyStore,
    mask_secret,
    parse_create,
    parse_update,
    parse_workspace_id,
)

API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_sandbox"
MANAGEMENT_KEY_ENV = "OPENROUTER_PROVISIONING_KEY"
# Deliberately not `sk-or-v1-<64 hex>`: it can never be mistaken for (or flagged as) a real key.
DEMO_MANAGEMENT_KEY = "sk-or-v1-sandbox-demo-management-key"

MANAGEMENT_ONLY = "Only management keys can perform this operation"
_MESSAGES = {
    401: "No auth credentials found",
    404: "Not Found",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
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
_USAGE_ROUTE = re.compile(r"/keys/([^/]+)/usage")


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


@dataclass
class _Reply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    drop: bool = False  # close the socket without writing a byte
    delay: float = 0.0  # sleep before writing, to look like a slow server


def _error(
    status: int,
    message: str | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    fault: str | None = None,
) -> _Reply:
    error: dict[str, Any] = {"code": status, "message": message or _MESSAGES.get(status, "Error")}
    if status == 429 and metadata is None:
        metadata = {"error_type": "rate_limit_exceeded"}
    if metadata is not None:
        error["metadata"] = metadata
    return _Reply(status, {"error": error}, headers=headers or {}, fault=fault)


def _from_api_error(exc: ApiError) -> _Reply:
    return _error(exc.status, exc.message, metadata=exc.metadata)


def _json_body(body: bytes) -> object:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Invalid request parameters: the body is not valid JSON") from None


@dataclass(frozen=True)
class _Caller:
    management: bool
    key: dict[str, Any] | None = None  # the caller's own Key, for a normal key


@dataclass(frozen=True)
class _Route:
    name: str
    key_hash: str | None = None

    @property
    def management_only(self) -> bool:
        return self.name != "current"


def _match_route(method: str, api_path: str) -> _Route | None:
    if api_path == "/keys":
        name = {"GET": "list", "POST": "create"}.get(method)
        return _Route(name) if name else None
    if api_path.startswith("/keys/"):
        key_hash = unquote(api_path[len("/keys/") :])
        name = {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(method)
        return _Route(name, key_hash) if name and key_hash and "/" not in key_hash else None
    if method == "GET" and api_path in ("/key", "/auth/key"):
        return _Route("current")
    if method == "GET" and api_path == "/credits":
        return _Route("credits")
    return None


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


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
        self._engine = FaultEngine()
        self.faults = faults if faults is not None else Faults()
        # Replaced as a whole tuple, so readers never see credits from one call and usage from
        # another without needing a lock.
        self._credits = (float(total_credits), 0.0)
        self._credits_for_normal_keys = credits_for_normal_keys
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        server = _Server((self._host, self._requested_port), self)
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
    ) -> None:
        """Set a key's spend numbers (the sandbox serves no inference to spend them)."""
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
        self._store.set_usage(hash, {k: v for k, v in given.items() if v is not None})

    def set_credits(self, total_credits: float, total_usage: float) -> None:
        self._credits = (float(total_credits), float(total_usage))

    def create_key_directly(self, name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        """Store a key as POST /keys would, but without HTTP, faults or logging.

        Returns (secret, Key); raises ValueError for fields POST would reject.
        """
        try:
            return self._store.create(parse_create({"name": name, **fields}))
        except ApiError as exc:
            raise ValueError(exc.message) from None

    # -- request handling ----------------------------------------------------------------------

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)

    def _authenticate(self, header: str | None) -> _Caller:
        token = _bearer(header)
        if token is None:
            raise ApiError(401, "No auth credentials found")
        if hmac.compare_digest(token.encode(), self._management_key.encode()):
            return _Caller(management=True)
        key = self._store.find_by_secret(token)
        # A disabled key is as unusable as a deleted one ("disabled/invalid API key" is a 401).
        if key is None or key["disabled"]:
            raise ApiError(401, "User not found.")
        return _Caller(management=False, key=key)

    def _serve_api(
        self, method: str, path: str, query: dict[str, str], auth: str | None, body: bytes
    ) -> _Reply:
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            return _error(404)
        # One snapshot per request, so a test swapping `faults` mid-request cannot mix configs.
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        api_path = path[len(API_PREFIX) :]
        if len(api_path) > 1 and api_path.endswith("/"):
            api_path = api_path[:-1]
        route = _match_route(method, api_path)
        if route is None:
            return _error(404)
        try:
            caller = self._authenticate(auth)
            credits_open = route.name == "credits" and self._credits_for_normal_keys
            if route.management_only and not caller.management and not credits_open:
                raise ApiError(403, MANAGEMENT_ONLY)
        except ApiError as exc:
            return _from_api_error(exc)
        verdict = self._engine.before(faults, method, path, api_path)
        if verdict.status is not None:
            return _error(verdict.status, headers=verdict.headers, fault=verdict.fault)
        try:
            reply = self._handle(route, caller, query, body)
        except ApiError as exc:
            reply = _from_api_error(exc)
        reply.fault, reply.delay = verdict.fault, verdict.delay_after
        if reply.status == 201 and self._engine.drop_after_create(
            faults, method, path, api_path, random_allowed=not verdict.forced
        ):
            reply.drop, reply.fault = True, DROP_AFTER_COMMIT
        return reply

    def _handle(self, route: _Route, caller: _Caller, query: dict[str, str], body: bytes) -> _Reply:
        if route.name == "list":
            return _Reply(200, {"data": self._list(query)})
        if route.name == "create":
            secret, key = self._store.create(parse_create(_json_body(body)))
            return _Reply(201, {"data": key, "key": secret})
        if route.name == "current":
            return _Reply(200, {"data": self._current_key(caller)})
        if route.name == "credits":
            total_credits, total_usage = self._credits
            return _Reply(
                200, {"data": {"total_credits": total_credits, "total_usage": total_usage}}
            )
        key_hash = route.key_hash or ""
        if route.name == "get":
            key = self._store.get(key_hash)
        elif route.name == "update":
            key = self._store.update(key_hash, parse_update(_json_body(body)))
        else:
            if self._store.delete(key_hash):
                return _Reply(200, {"deleted": True})
            key = None
        if key is None:
            raise ApiError(404, "Resource not found")
        return _Reply(200, {"data": key})

    def _list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        include = query.get("include_disabled", "false").lower()
        if include not in ("true", "false"):
            raise ApiError(400, "Invalid request parameters: include_disabled must be true/false")
        offset = query.get("offset", "0")
        if not re.fullmatch(r"[0-9]+", offset):
            raise ApiError(400, "Invalid request parameters: offset must be an integer >= 0")
        workspace = query.get("workspace_id")
        if workspace is not None:
            workspace = parse_workspace_id(workspace)
        return self._store.page(
            offset=int(offset),
            include_disabled=include == "true",
            workspace_id=workspace or DEFAULT_WORKSPACE_ID,
        )

    def _current_key(self, caller: _Caller) -> dict[str, Any]:
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

    def _serve_control(self, method: str, path: str, auth: str | None, body: bytes) -> _Reply:
        """The /_sandbox/ namespace: never faulted, rate-limited or logged."""
        try:
            if not self._authenticate(auth).management:
                raise ApiError(403, MANAGEMENT_ONLY)
            sub = path[len(CONTROL_PREFIX) :].rstrip("/")
            if sub == "/requests" and method == "GET":
                return _Reply(200, [r.to_dict() for r in self.request_log])
            if sub == "/requests" and method == "DELETE":
                self.clear_log()
                return _Reply(200, {"cleared": True})
            if sub == "/faults" and method == "GET":
                return _Reply(200, self.faults.to_dict())
            if sub == "/faults" and method == "PUT":
                return self._put_faults(_json_body(body))
            match = _USAGE_ROUTE.fullmatch(sub)
            if match and method == "POST":
                return self._post_usage(unquote(match.group(1)), _json_body(body))
            return _error(404)
        except ApiError as exc:
            return _from_api_error(exc)

    def _put_faults(self, body: object) -> _Reply:
        # PUT replaces the whole configuration: fields left out go back to their defaults.
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
        try:
            self.faults = Faults.from_dict(body)
        except (ValueError, TypeError) as exc:
            raise ApiError(400, f"Invalid request parameters: {exc}") from None
        return _Reply(200, self.faults.to_dict())

    def _post_usage(self, key_hash: str, body: object) -> _Reply:
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
        for name, value in body.items():
            if name not in USAGE_FIELDS:
                raise ApiError(
                    400, f"Invalid request parameters: {name}: expected one of {list(USAGE_FIELDS)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ApiError(400, f"Invalid request parameters: {name}: must be a number")
        try:
            return _Reply(200, {"data": self._store.set_usage(key_hash, body)})
        except KeyError:
            raise ApiError(404, "Resource not found") from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a benchmark opens many connections at once

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse-DNS lookup (getfqdn), which can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-request is normal under fault injection, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real client pool expects
    # Buffered, so headers and body leave in one write (flushed by _send): in two writes, Nagle
    # would hold the body for the client's delayed ACK (40 ms on Linux), a cost no real API
    # adds to every request, and each write is a system call the benchmark pays for.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _Server

    def handle_expect_100(self) -> bool:
        # The interim answer must leave now: a client sending `Expect: 100-continue` (curl,
        # for a large body) waits for it before sending the body.
        answered = super().handle_expect_100()
        self.wfile.flush()
        return answered

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        # One stderr line per request would drown a benchmark's output; request_log has it all.
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            return
        sandbox = self.server.sandbox
        auth = self.headers.get("Authorization")
        if url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/"):
            self._send(sandbox._serve_control(self.command, url.path, auth, body))
            return
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            reply = sandbox._serve_api(self.command, url.path, query, auth, body)
        except Exception:
            # A sandbox bug: answer like the real API would, but leave the traceback visible.
            traceback.print_exc()
            reply = _error(500)
        if reply.delay:
            time.sleep(reply.delay)
        # Logged before the first byte goes out: a client that has its answer (or its dropped
        # connection) must already find the request in the log.
        record = RequestRecord(
            method=self.command,
            path=url.path,
            query=query,
            status=None if reply.drop else reply.status,
            started=started,
            finished=time.monotonic(),
            fault=reply.fault,
        )
        sandbox._record(record)
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _read_body(self) -> bytes | None:
        # Read the body before anything can answer early, or its bytes would be parsed as the next
        # request on this keep-alive connection.
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(_error(411, "Length Required: send a Content-Length"))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(_error(400, "Invalid request parameters: bad Content-Length"))
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, reply: _Reply) -> None:
        data = json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            # The client gave up (e.g. a read timeout during a "slow" fault); nothing to tell it.
            self.close_connection = True

    def _drop(self) -> None:
        # shutdown() first: close() alone would leave the socket open while rfile/wfile hold it,
        # and the client must see the connection end with no status line at all.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()
