"""HTTP plumbing: a threading HTTP/1.1 server that hands each request to the sandbox and sends
(or drops) its reply. It knows nothing of OpenRouter's routes."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from keyprov.sandbox.replies import Reply, error


@dataclass(frozen=True)
class IncomingRequest:
    """One request as read off the wire, before any routing."""

    method: str
    path: str  # as sent, not percent-decoded
    query_string: str  # as sent, without the "?"
    authorization: str | None
    body: bytes
    started: float  # time.monotonic() when the request line was read


class App(Protocol):
    def respond(self, request: IncomingRequest) -> Reply:
        """The reply to send; called in the connection's thread, so it may sleep."""


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a benchmark opens many connections at once

    def __init__(self, address: tuple[str, int], app: App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
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
    server: SandboxServer

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
        request = IncomingRequest(
            method=self.command,
            path=url.path,
            query_string=url.query,
            authorization=self.headers.get("Authorization"),
            body=body,
            started=started,
        )
        try:
            reply = self.server.app.respond(request)
        except Exception:
            # A sandbox bug: answer like the real API would, but leave the traceback visible.
            traceback.print_exc()
            reply = error(500)
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _read_body(self) -> bytes | None:
        # Read the body before anything can answer early, or its bytes would be parsed as the next
        # request on this keep-alive connection.
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(error(411, "Length Required: send a Content-Length"))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(error(400, "Invalid request parameters: bad Content-Length"))
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        payload = reply.payload
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
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
