"""The claim page on the web: participants fetch their own key with their claim code.

`page.ClaimPage` holds the workshop and serves; `app` is the HTTP side (starlette) with its
protections (CSRF, Host check, no caching, a strict Content-Security-Policy, no framing, a
loopback-only organiser page); `serving` binds the address and TLS (uvicorn), `tls` makes a
certificate for one session. What a claim does is decided in the library
(keyprov.lifecycle.claiming); like the CLI, this room is a way in: it sits above render.
"""
