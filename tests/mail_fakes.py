"""Local fakes of the three HTTP mail APIs over real HTTP on 127.0.0.1, built from
../shared/email-apis.md: their routes, auth, request checks, success and error bodies,
rate-limit signals, and logs to look a message up in. Each keeps what it accepted.

Faults are queued with `fail_next` and apply to the next send requests in turn:

- "500_before" / "503_before": a 5xx, the message NOT taken;
- "500_after" / "503_after": the message taken, then a 5xx;
- "drop_after": the message taken, the connection closed without an answer;
- "slow_after": the message taken, the answer after `slow` seconds (past the client's timeout);
- "429": refused for the rate, the provider's way;
- "credits" (SendGrid: 401 Maximum credits exceeded), "sandbox" (SendGrid: 200, not sent),
  "failed_200" (SMTP2GO: 200 reporting a failure), "permission" (SMTP2GO: 400
  ENDPOINT_PERMISSION_DENIED), "unauthorized_recipient" (Mailgun: free account).
"""

from __future__ import annotations

import contextlib
import email
import json
import math
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KEY = re.compile(r"sk-or-v1-[0-9a-f]{64}")
KEYPROV_ID = "X-Keyprov-Message-Id"


@dataclass
class Delivered:
    """One message a fake accepted."""

    recipients: list[str]
    sender: str
    subject: str
    text: str
    keyprov_id: str
    provider_id: str

    @property
    def keys(self) -> set[str]:
        return set(KEY.findall(self.subject + "\n" + self.text))


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


def json_reply(status: int, value: Any, **headers: str) -> Reply:
    return Reply(
        status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
    )


class MailFake:
    """The common part: a server on a free port, the messages taken, the faults queued, a
    token bucket for the rate limit, and every request as it arrived (for leak searches)."""

    name = ""

    def __init__(self, api_key: str, *, rate: float | None = None, burst: float | None = None):
        self.api_key = api_key
        self.delivered: list[Delivered] = []
        self.fail_next: list[str] = []
        self.reject: set[str] = set()
        """Addresses the provider refuses (its way: a 400, or SMTP2GO's 200 with failures)."""
        self.log_lags = False
        """The provider's log does not show messages yet (SMTP2GO activity, Mailgun events)."""
        self.slow = 2.0
        self.retry_after = 1
        self.raw: list[bytes] = []
        self.on_take: Callable[[], None] | None = None
        """Called once a message is taken, before it is answered (a test kills the sender)."""
        self.sends = 0
        self.throttled = 0
        self.rate = rate
        self.burst = burst if burst is not None else (rate or 0)
        self._tokens = self.burst
        self._filled = time.monotonic()
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        """What KEYPROV_MAIL_API_URL is set to for this fake."""
        return self.base

    def __enter__(self) -> MailFake:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def to(self, address: str) -> list[Delivered]:
        return [item for item in self.delivered if address in item.recipients]

    def take(self, item: Delivered) -> None:
        with self.lock:
            self.delivered.append(item)
        if self.on_take is not None:
            self.on_take()

    def next_fault(self) -> str | None:
        with self.lock:
            self.sends += 1
            return self.fail_next.pop(0) if self.fail_next else None

    def spend_token(self) -> tuple[bool, int, float]:
        """(allowed, tokens left, seconds until the next token) for one request."""
        if self.rate is None:
            return True, 1000, 0.0
        with self.lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._filled) * self.rate)
            self._filled = now
            allowed = self._tokens >= 1
            if allowed:
                self._tokens -= 1
            else:
                self.throttled += 1
            return allowed, int(self._tokens), max(1 - self._tokens, 0) / self.rate

    def after(self, fault: str | None, item: Delivered, success: Reply, failure: Reply) -> Reply:
        """The reply to a valid send: the message taken (or not), as the fault says."""
        if fault in ("500_before", "503_before"):
            return failure
        self.take(item)
        if fault in ("500_after", "503_after"):
            return failure
        if fault == "drop_after":
            return Reply(0, drop=True)
        if fault == "slow_after":
            success.delay = self.slow
        return success

    def respond(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        raise NotImplementedError


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: MailFake) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        import socketserver

        socketserver.TCPServer.server_bind(self)  # no reverse-DNS lookup


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        fake: MailFake = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with fake.lock:
            fake.raw.append(self.requestline.encode() + b"\n" + bytes(self.headers) + body)
        reply = fake.respond(self.command, self.path, self.headers, body)
        if reply.drop:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if reply.delay:
            time.sleep(reply.delay)
        with contextlib.suppress(OSError):
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

    do_GET = do_POST = _handle


def addresses(values: list[str]) -> list[str]:
    return [address.lower() for _, address in getaddresses(values)]


def form_fields(headers: Any, body: bytes) -> dict[str, list[str]]:
    """multipart/form-data (as Mailgun documents) or urlencoded (as its samples post)."""
    kind = headers.get("Content-Type", "")
    if kind.startswith("multipart/form-data"):
        parsed = email.message_from_bytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + body, policy=policy.HTTP
        )
        fields: dict[str, list[str]] = {}
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields.setdefault(str(name), []).append(part.get_content())
        return fields
    return parse_qs(body.decode(), keep_blank_values=True)


def fault_status(fault: str | None) -> int:
    """The status a "5xx_before" / "5xx_after" fault answers with (500 for the others)."""
    return int(fault[:3]) if fault and fault[:3].isdigit() else 500


def unix_reset(seconds: float) -> str:
    return str(math.ceil(time.time() + seconds))


def new_id() -> str:
    return secrets.token_hex(8)


def query_of(path: str) -> tuple[str, dict[str, list[str]]]:
    split = urlsplit(path)
    return split.path, parse_qs(split.query)
