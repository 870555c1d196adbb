"""The claim page's HTTP side: routes, and what protects them.

- A GET never reveals, enables or consumes anything: it shows the form (a code in the URL only
  fills it in) and gives the browser its device cookie. Mail scanners and link previews that
  open the link change nothing.
- POST /claim needs the form's token, an HMAC of the device cookie (CSRF), and, where the
  browser says where the form came from (Origin, Sec-Fetch-Site), this page itself.
- Every answer: `Cache-Control: no-store`, a Content-Security-Policy that allows only the
  page's own script and style and no framing, `X-Frame-Options: DENY`, no referrer.
- Requests whose Host is not one this page is served as are refused (DNS rebinding).
- The organiser page answers only on this machine (loopback address and Host).
- The blocking work (the claim journal's fsync, the PATCH that enables a key) runs in worker
  threads, up to CLAIM_WORKERS at once, so a room claiming together is served concurrently.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from importlib import resources
from urllib.parse import parse_qs

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyprov.lifecycle.claiming import ClaimOutcome, ClaimService, Refusal, device_hash
from keyprov.render import claim_page
from keyprov.workshop.claimcodes import is_loopback_host

DEVICE_COOKIE = "keyprov_device"
COOKIE_DAYS = 3
MAX_FORM_BYTES = 2048
CLAIM_WORKERS = 64
"""Claims decided at once; each mostly waits (fsync, the server's answer to its PATCH)."""

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # Never to another site (a claim link's code stays here); same-origin keeps the Origin
    # header on the form's POST, which no-referrer would turn into "null".
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
STATUS = {
    Refusal.WRONG_CODE: 403,
    Refusal.ALREADY_CLAIMED: 409,
    Refusal.NOT_YET: 403,
    Refusal.OVER: 403,
    Refusal.THROTTLED: 429,
    Refusal.NO_KEY: 404,
    Refusal.UNAVAILABLE: 503,
}
STATIC_FILES = {"claim.css": "text/css", "claim.js": "text/javascript"}


HTTPS_ONLY_HEADERS = [
    # Browsers ignore it (and complain) on plain http to an address other than loopback.
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the headers above to every answer, errors and refusals of the Host check too."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + (HTTPS_ONLY_HEADERS if https else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.headers}
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)


class ClaimApp:
    """The routes over one ClaimService."""

    def __init__(
        self,
        service: ClaimService,
        *,
        form_key: bytes,
        https: bool,
        window_text: Callable[[], str],
    ) -> None:
        self.service = service
        self.form_key = form_key
        self.https = https
        self.window_text = window_text
        self.workshop = service.held.workshop.name
        self.limiter = anyio.CapacityLimiter(CLAIM_WORKERS)

    # -- the device and its form token ----------------------------------------------------

    def _device(self, request: Request) -> tuple[str, bool]:
        """The browser's device cookie, and whether it is new (to be set on the answer)."""
        token = request.cookies.get(DEVICE_COOKIE, "")
        if 20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
            return token, False
        return secrets.token_urlsafe(24), True

    def _form_token(self, device: str) -> str:
        return hmac.new(self.form_key, device.encode(), hashlib.sha256).hexdigest()

    def _answer(self, html: str, status: int, device: str, new: bool) -> HTMLResponse:
        response = HTMLResponse(html, status_code=status)
        if new:
            response.set_cookie(
                DEVICE_COOKIE,
                device,
                max_age=COOKIE_DAYS * 86400,
                httponly=True,
                samesite="lax",
                secure=self.https,
            )
        return response

    # -- routes ---------------------------------------------------------------------------

    async def home(self, _request: Request) -> Response:
        return RedirectResponse("/claim", status_code=303)

    async def no_icon(self, _request: Request) -> Response:
        return Response(status_code=204)  # browsers ask for one; there is none to show

    async def form(self, request: Request) -> Response:
        device, new = self._device(request)
        state = self.service.window.state(self.service.now())
        if state != "open":
            window = self.service.window
            when = window.opens if state == "before" else window.closes
            html = claim_page.window_page(self.workshop, state, when)
            return self._answer(html, 200, device, new)
        code = request.query_params.get("code", "")[:40]
        html = claim_page.form_page(self.workshop, self._form_token(device), code)
        return self._answer(html, 200, device, new)

    async def claim(self, request: Request) -> Response:
        device, new = self._device(request)
        token = self._form_token(device)
        if not _same_origin(request):
            text = "This form must be sent from the claim page itself."
            html = claim_page.message_page(self.workshop, "Refused", text)
            return self._answer(html, 403, device, new)
        fields = await _form_fields(request)
        if fields is None:
            html = claim_page.message_page(self.workshop, "Refused", "That form was too large.")
            return self._answer(html, 413, device, new)
        sent = fields.get("token", "")
        if new or not hmac.compare_digest(sent.encode(), token.encode()):
            html = claim_page.expired_form_page(self.workshop, token)
            return self._answer(html, 403, device, new)
        client = request.client.host if request.client else "unknown"
        outcome: ClaimOutcome = await anyio.to_thread.run_sync(
            self.service.claim,
            fields.get("code", ""),
            device_hash(device),
            client,
            limiter=self.limiter,
        )
        if outcome.shown is not None:
            return self._answer(claim_page.key_page(self.workshop, outcome.shown), 200, device, new)
        assert outcome.refusal is not None
        response = self._answer(
            claim_page.refusal_page(self.workshop, outcome, token),
            STATUS[outcome.refusal],
            device,
            new,
        )
        if outcome.refusal is Refusal.THROTTLED:
            response.headers["Retry-After"] = str(max(1, round(outcome.retry_after)))
        return response

    async def organiser(self, request: Request) -> Response:
        client = request.client.host if request.client else ""
        if not (is_loopback_host(client) and is_loopback_host(request.url.hostname or "")):
            return PlainTextResponse("Not found", status_code=404)
        counts = await anyio.to_thread.run_sync(self.service.counts, limiter=self.limiter)
        html = claim_page.organiser_page(
            self.workshop,
            counts,
            closed=self.service.held.ledger.replayed.closed,
            window=self.window_text(),
        )
        return HTMLResponse(html)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return PlainTextResponse("Not found", status_code=404)
        data = resources.files("keyprov.claim").joinpath("static", name).read_bytes()
        return Response(data, media_type=STATIC_FILES[name])


def _same_origin(request: Request) -> bool:
    """Where the browser says where a POST came from, it must be this page (CSRF, with the
    token); a client that says nothing (no Origin, no Sec-Fetch-Site) relies on the token."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":  # an opaque origin: only the browser's own word can vouch for it
        return request.headers.get("sec-fetch-site") == "same-origin"
    host = request.headers.get("host", "")
    return origin in (f"{request.url.scheme}://{host}",)


async def _form_fields(request: Request) -> dict[str, str] | None:
    """The urlencoded form, at most MAX_FORM_BYTES (None when larger): first value of each."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in parsed.items()}


def claim_app(
    service: ClaimService,
    *,
    form_key: bytes,
    allowed_hosts: list[str],
    https: bool,
    window_text: Callable[[], str] = lambda: "open",
) -> Starlette:
    """The ASGI app: the claim page over `service`, answering only to `allowed_hosts`."""
    routes = ClaimApp(service, form_key=form_key, https=https, window_text=window_text)
    return Starlette(
        routes=[
            Route("/", routes.home, methods=["GET"]),
            Route("/favicon.ico", routes.no_icon, methods=["GET"]),
            Route("/claim", routes.form, methods=["GET"]),
            Route("/claim", routes.claim, methods=["POST"]),
            Route("/organiser", routes.organiser, methods=["GET"]),
            Route("/static/{name}", routes.static, methods=["GET"]),
        ],
        middleware=[
            Middleware(SecurityHeaders, https=https),
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts, www_redirect=False),
        ],
    )
