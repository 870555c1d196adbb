"""A local emulator of OpenRouter's management API, with fault injection.

It follows /work/shared/openrouter-keys-api.md and openrouter-guardrails-api.md: the same
routes (keys, credits, guardrails and their assignments, the model listings), bodies, status
codes and error messages, so the client can be tested end to end without a real account or
real money. This module is the `Sandbox` object: its lifecycle and its test hooks; the
request pipeline is in `pipeline`, the routes in `*_routes`.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from keyprov.sandbox.auth import authenticate
from keyprov.sandbox.catalogue import MODELS
from keyprov.sandbox.control import is_control_path, serve_control
from keyprov.sandbox.faults import (
    FaultEngine,
    Faults,
)
from keyprov.sandbox.guardrail_routes import GuardrailRoutes
from keyprov.sandbox.guardrails import parse_guardrail
from keyprov.sandbox.http import IncomingRequest, SandboxServer
from keyprov.sandbox.key_routes import KeyRoutes
from keyprov.sandbox.keys import parse_create
from keyprov.sandbox.model_routes import ModelRoutes
from keyprov.sandbox.options import Behaviour
from keyprov.sandbox.pipeline import API_PREFIX, serve_api
from keyprov.sandbox.rehearsal_hooks import RehearsalHooks
from keyprov.sandbox.replies import (
    MANAGEMENT_ONLY,
    Reply,
    error,
    from_api_error,
)
from keyprov.sandbox.requestlog import RequestRecord
from keyprov.sandbox.routes import RouteFamily
from keyprov.sandbox.spend import plan_spend
from keyprov.sandbox.store import KEY, MEMBER, Store
from keyprov.sandbox.validation import ApiError

MANAGEMENT_KEY_ENV = "OPENROUTER_PROVISIONING_KEY"
# Deliberately not `sk-or-v1-<64 hex>`: it can never be mistaken for (or flagged as) a real key.
DEMO_MANAGEMENT_KEY = "sk-or-v1-sandbox-demo-management-key"


def default_management_key() -> str:
    """The management key the sandbox accepts: $OPENROUTER_PROVISIONING_KEY, else the demo key."""
    return os.environ.get(MANAGEMENT_KEY_ENV) or DEMO_MANAGEMENT_KEY


class Sandbox(RehearsalHooks):
    """OpenRouter's management API on a local port, backed by memory (and optionally a file).

    A workshop can be rehearsed on it: spend over time and a clock (`RehearsalHooks`).

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
        behaviour: Behaviour | None = None,
    ) -> None:
        key = default_management_key() if management_key is None else management_key
        if not key:
            raise ValueError("the management key must not be empty")
        self._management_key = key
        self._host = host
        self._requested_port = port
        self._store = Store(state_path)
        self._init_rehearsal()
        self._keys = KeyRoutes(
            self._store,
            key,
            total_credits=total_credits,
            credits_for_normal_keys=credits_for_normal_keys,
        )
        self._engine = FaultEngine()
        self.faults = faults if faults is not None else Faults()
        self.behaviour = behaviour if behaviour is not None else Behaviour()
        self._families: tuple[RouteFamily, ...] = (
            self._keys,
            GuardrailRoutes(self._store, key, lambda: self.behaviour),
            ModelRoutes(self._store, key, lambda: self.behaviour, lambda: self.base_url),
        )
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
        self.stop_simulation()
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

        A request matches when its method is `method` (any when None) and its path is
        `path_prefix` or under it, in whole segments (any when None; given with or without
        "/api/v1"; "/key" is not "/keys", "/keys/" is only under it). Only requests that pass
        authentication and the rate limit, and that reach the fault's moment, use one up.

        Before the route runs (nothing is done):
          429 (with `Retry-After: retry_after`, omitted when None), 500, 502, 503;
          "html_200": 200 with a text/html captive-portal page;
          "slow": the work is done, the answer waits `seconds`.
        On a list answer (GET /keys, /guardrails and the assignment lists; the page is
        reshaped, nothing else changes):
          "list_no_data": 200 `{}`;  "list_null_data": 200 `{"data": null}`;
          "list_short_page": only the page's first half (rounded down), so it looks like the
            last page; used by the next non-empty page;
          "list_repeat_page": the page one page size earlier in place of this one, so hashes
            repeat and this page's keys are never shown; used by the next page at offset > 0;
          "list_missing_key": one key (`hash`, else the page's first) absent, the rest moved up
            so the page keeps its length; used by the next page that holds that key;
          "list_item_without_hash": one item (`hash`, else the page's first) lacks "hash"
            (a guardrail its "id", an assignment its "key_hash").
        After a create is committed (a 201):
          "drop_after_commit": the connection closes with no answer (keys, guardrails);
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
        return self._store.all_keys()

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

    def spend(
        self,
        *,
        name_prefix: str | None = None,
        hashes: list[str] | None = None,
        usage: float | None = None,
        daily: float | None = None,
        weekly: float | None = None,
        monthly: float | None = None,
        random: bool = False,
        seed: int | None = None,
    ) -> list[dict[str, Any]]:
        """Put spend on keys: those with these `hashes`, or whose name starts with
        `name_prefix`, or all. Either `usage` in USD (a window not given gets the next wider
        one's figure), or `random` spend between nothing and each key's limit (reproducible with
        `seed`). Returns the updated Keys, oldest first; raises ValueError naming what is
        wrong (nothing is changed then)."""
        plans = plan_spend(
            self._store.all_keys()[::-1],  # oldest first: a seed gives each key one amount
            name_prefix=name_prefix,
            hashes=hashes,
            usage=usage,
            daily=daily,
            weekly=weekly,
            monthly=monthly,
            random_spend=random,
            seed=seed,
        )
        return [self._store.set_usage(h, numbers) for h, numbers in plans.items()]

    def set_credits(self, total_credits: float, total_usage: float) -> None:
        """GET /credits answers these figures now; spend put on keys later adds to the usage."""
        other = float(total_usage) - self._store.total_usage()
        self._keys.credits = (float(total_credits), other)

    def create_key_directly(self, name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        """Store a key as POST /keys would, but without HTTP, faults or logging.

        Returns (secret, Key); raises ValueError for fields POST would reject.
        """
        try:
            return self._store.create_key(parse_create({"name": name, **fields}))
        except ApiError as exc:
            raise ValueError(exc.message) from None

    def guardrails(self) -> list[dict[str, Any]]:
        """Every guardrail as the API's Guardrail object, oldest first, all workspaces."""
        return self._store.all_guardrails()

    def assignments(self) -> list[dict[str, Any]]:
        """Every key assignment as the API's KeyAssignment object, oldest first."""
        return [self._store.render_assignment(r) for r in self._store.select_assignments(KEY, None)]

    def member_assignments(self) -> list[dict[str, Any]]:
        """Every member assignment as the API's MemberAssignment object, oldest first."""
        rows = self._store.select_assignments(MEMBER, None)
        return [self._store.render_assignment(r) for r in rows]

    def create_guardrail_directly(self, name: str, **fields: Any) -> dict[str, Any]:
        """Store a guardrail as POST /guardrails would, without HTTP, faults or logging.

        Returns the Guardrail; raises ValueError for fields POST would reject.
        """
        try:
            return self._store.create_guardrail(
                parse_guardrail({"name": name, **fields}, creating=True)
            )
        except ApiError as exc:
            raise ValueError(exc.message) from None

    def assign_keys_directly(self, guardrail_id: str, key_hashes: list[str]) -> int:
        """Put keys on a guardrail (moving them off any other), as the bulk assign would;
        return how many assignments changed. Raises KeyError for an unknown guardrail or key."""
        result = self._store.assign(guardrail_id, KEY, key_hashes, refuse_unknown=True)
        if result is None:
            raise KeyError(guardrail_id)
        if result.unknown:
            raise KeyError(result.unknown[0])
        return result.count

    def models(self) -> list[dict[str, Any]]:
        """The whole catalogue (every modality) as the API's Model objects."""
        return [copy.deepcopy(m.model) for m in MODELS]

    # -- request handling ----------------------------------------------------------------------

    def respond(self, request: IncomingRequest) -> Reply:
        if is_control_path(request.path):
            return self._respond_control(request)
        query_items = tuple(parse_qsl(request.query_string, keep_blank_values=True))
        query = dict(query_items)
        try:
            reply = serve_api(
                request, query, faults=self.faults, engine=self._engine, families=self._families
            )
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
