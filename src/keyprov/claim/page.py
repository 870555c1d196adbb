"""`keyprov claim`: the claim page for one workshop, served from the organiser's laptop.

`ClaimPage` holds the workshop for as long as the page is up (its lock, state and audit log,
as any command that changes keys does), reads it once, finishes claims a stop left half-done,
and serves with uvicorn: plain http on loopback by default; https with the organiser's own
certificate (`--tls-cert/--tls-key`) or one made for the session (`--self-signed`); plain
http to the room only when asked for by name (`--plain-http`), since every key would then
cross the Wi-Fi readable by anyone on it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from keyprov.api.client import OpenRouterClient
from keyprov.claim.app import claim_app
from keyprov.claim.tls import CertFiles, given_certificate, self_signed
from keyprov.engine.session import session
from keyprov.errors import ConfigurationError, OptionError
from keyprov.lifecycle.claim_limits import Budgets, FailureBudget
from keyprov.lifecycle.claim_window import ClaimWindow
from keyprov.lifecycle.claiming import ClaimCounts, ClaimService
from keyprov.workshop.claimcodes import CLAIM_PATH, form_key, is_loopback_host
from keyprov.workshop.folder import WorkshopRef

DEFAULT_PORT = 8000
ANY_ADDRESS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class ClaimSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """0: any free port (tests)."""
    opens: datetime | None = None
    closes: datetime | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    self_signed: bool = False
    plain_http: bool = False
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def https(self) -> bool:
        return self.self_signed or self.tls_cert is not None

    def check(self) -> None:
        """OptionError (exit 2, nothing served) for options that do not go together, or
        plain http to the room without --plain-http."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise OptionError("--tls-cert/--tls-key", "give both: the certificate and its key")
        if self.self_signed and self.tls_cert is not None:
            raise OptionError("--self-signed", "or --tls-cert/--tls-key, not both")
        if self.plain_http and self.https:
            raise OptionError("--plain-http", "contradicts --tls-cert and --self-signed")
        if not self.https and not self.plain_http and not is_loopback_host(self.host):
            raise OptionError(
                f"--host {self.host}",
                "plain http to the room sends every key across its network readable by anyone "
                "on it (an open Wi-Fi, a shared LAN). Serve https with --self-signed (or "
                "--tls-cert F --tls-key F), or accept the risk with --plain-http",
            )
        ClaimWindow(self.opens, self.closes)  # raises for a window that closes before it opens


@dataclass(frozen=True)
class ClaimInfo:
    """What the terminal tells the organiser once the page is up (no secret)."""

    workshop: str
    url: str
    """The address to project for the room."""
    also: str | None
    """The same page by this machine's address, when `url` names it otherwise (a name
    that mDNS may not resolve on every phone)."""
    local_url: str
    organiser_url: str
    https: bool
    self_signed: bool
    fingerprint: str | None
    room: bool
    """Served beyond this machine (a room's network)."""
    plain_http: bool
    claim_url: str | None
    """The address the slips and messages carry (--claim-url), if any."""
    counts: ClaimCounts
    closed: bool
    window: str
    problems: list[str]


def lan_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if is_loopback_host(address) else address


def window_in_words(window: ClaimWindow) -> str:
    def at(moment: datetime) -> str:
        local = moment.astimezone()
        return f"{local:%H:%M} ({local.day} {local:%b})"

    if window.opens and window.closes:
        return f"from {at(window.opens)} to {at(window.closes)}"
    if window.opens:
        return f"from {at(window.opens)}"
    if window.closes:
        return f"until {at(window.closes)}"
    return "open until the page is stopped"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Ctrl-C is how the organiser stops the page: a clean stop, not an interrupted
        # command, so the signal is not raised again once the server is down (uvicorn does).
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = [signal.SIGINT, signal.SIGTERM]
        original = {signum: signal.signal(signum, self.handle_exit) for signum in handled}
        try:
            yield
        finally:
            for signum, handler in original.items():
                signal.signal(signum, handler)


class ClaimPage:
    """The claim page of one workshop: `with ClaimPage(...) as page: page.serve()`."""

    def __init__(
        self,
        ref: WorkshopRef,
        client: OpenRouterClient,
        settings: ClaimSettings,
        *,
        budget: FailureBudget | None = None,
    ) -> None:
        settings.check()
        self.ref = ref
        self.client = client
        self.settings = settings
        self.window = ClaimWindow(settings.opens, settings.closes)
        self.budget = budget or FailureBudget(settings.budgets)
        self._stack = contextlib.ExitStack()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ClaimPage:
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
            if hasattr(self, "service"):
                self.service.note_claimed()
        finally:
            self._stack.close()

    def _open(self) -> None:
        settings = self.settings
        self.socket = self._bind()
        self._stack.callback(self.socket.close)
        port = self.socket.getsockname()[1]
        details = {"host": settings.host, "port": port, "https": settings.https}
        held = self._stack.enter_context(session(self.ref, self.client, "claim", details=details))
        self.service = ClaimService(held, window=self.window, budget=self.budget)
        problems = self.service.start()
        claim_url = held.workshop.options.get("claim_url")
        scheme = "https" if settings.https else "http"
        room = not is_loopback_host(settings.host)
        if settings.host in ANY_ADDRESS:
            shown_host = lan_address() or socket.gethostname()
        else:
            shown_host = settings.host
        names = [shown_host, "localhost", "127.0.0.1"]
        if claim_url:
            names.insert(1, urlsplit(claim_url).hostname or "localhost")
        if settings.host in ANY_ADDRESS:
            hostname = socket.gethostname()
            names += [hostname, f"{hostname}.local"]
        certs = self._certificate(names)
        url = f"{scheme}://{shown_host}:{port}{CLAIM_PATH}"
        also = None
        if claim_url and _same_place(claim_url, scheme, port) and room:
            url, also = claim_url, url
        self.url = url
        self.local_url = f"{scheme}://127.0.0.1:{port}{CLAIM_PATH}"
        app = claim_app(
            self.service,
            form_key=form_key(self.service.secret),
            allowed_hosts=list(dict.fromkeys(name.lower() for name in names)),
            https=settings.https,
            window_text=lambda: window_in_words(self.window),
        )
        config = uvicorn.Config(
            app,
            ssl_certfile=str(certs.cert) if certs else None,
            ssl_keyfile=str(certs.key) if certs else None,
            proxy_headers=False,  # the address a claim came from is the peer's, never a header
            server_header=False,
            access_log=False,  # an access log would hold every claim link's code
            log_config=None,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=5,
            timeout_graceful_shutdown=3,  # then phones holding a connection open are cut
        )
        self.server = _Server(config)
        self.info = ClaimInfo(
            workshop=held.workshop.name,
            url=url,
            also=also if also != url else None,
            local_url=self.local_url,
            organiser_url=f"{scheme}://127.0.0.1:{port}/organiser",
            https=settings.https,
            self_signed=settings.self_signed,
            fingerprint=certs.fingerprint if certs else None,
            room=room,
            plain_http=room and not settings.https,
            claim_url=claim_url,
            counts=self.service.counts(),
            closed=held.ledger.replayed.closed,
            window=window_in_words(self.window),
            problems=problems,
        )

    def _bind(self) -> socket.socket:
        host, port = self.settings.host, self.settings.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            # Not on Windows, where it would let another program take the port over.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(2048)
        except OSError as error:
            sock.close()
            raise ConfigurationError(
                f"--host {host} --port {port}: cannot serve there ({error.strerror or error}); "
                "choose another --port, or an address of this machine."
            ) from error
        return sock

    def _certificate(self, names: list[str]) -> CertFiles | None:
        settings = self.settings
        if settings.self_signed:
            certs = self_signed(names)
            self._stack.callback(certs.discard)
            return certs
        if settings.tls_cert is not None and settings.tls_key is not None:
            return given_certificate(settings.tls_cert, settings.tls_key)
        return None

    # -- serving --------------------------------------------------------------------------

    def serve(self) -> None:
        """Serve until Ctrl-C (or SIGTERM): the claims made stay made."""
        self.server.run(sockets=[self.socket])

    def start_in_thread(self) -> None:
        """Serve from a thread (tests, the bench); `stop` ends it."""
        self._thread = threading.Thread(target=self.serve, name="claim-page", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the claim page did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if hasattr(self, "server"):
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


def _same_place(claim_url: str, scheme: str, port: int) -> bool:
    parts = urlsplit(claim_url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme == scheme and (parts.port or default) == port
