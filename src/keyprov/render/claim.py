"""What `keyprov claim` prints for the organiser: the address to project, its QR code, the
certificate's fingerprint, and what to do when phones cannot reach the page."""

from __future__ import annotations

import io
from typing import Protocol

import segno

from keyprov.render.text import Lines, plural


class _Info(Protocol):
    """keyprov.claim.page.ClaimInfo (render may not import the claim room, which is above it)."""

    workshop: str
    url: str
    also: str | None
    local_url: str
    organiser_url: str
    https: bool
    self_signed: bool
    fingerprint: str | None
    room: bool
    plain_http: bool
    claim_url: str | None
    closed: bool
    window: str
    problems: list[str]

    @property
    def counts(self) -> _Counts: ...


class _Counts(Protocol):
    participants: int
    claimed: int
    waiting: int


def text_qr(url: str) -> str:
    """The URL as a QR code in text (two rows of modules per line), light on dark terminals."""
    buffer = io.StringIO()
    segno.make(url, error="m").terminal(out=buffer, compact=True)
    return buffer.getvalue().rstrip("\n")


def claim_start_lines(info: _Info) -> Lines:
    lines = Lines()
    counts = info.counts
    lines.out(
        f"Claim page for workshop {info.workshop!r}: {plural(counts.participants, 'participant')}"
        f" with a key, {counts.claimed} claimed so far. Claims: {info.window}.",
        "",
        "Project this address (or the QR code) for the room:",
        f"  {info.url}",
        text_qr(info.url),
        "",
    )
    if info.also:
        lines.out(
            f"If a phone cannot find that name, the same page is at {info.also} (the "
            "certificate and the Host check allow both).",
            "",
        )
    if info.claim_url and info.claim_url != info.url:
        lines.err(
            f"warning: the slips and messages point to {info.claim_url}, but this page is at "
            f"{info.url}: their links will not open it. Participants open the projected "
            "address and type their code (or run keyprov claim with the --host/--port and TLS "
            "the slips were made for)."
        )
    if info.self_signed and info.fingerprint:
        lines.out(
            "The certificate was made for this session, so browsers warn about it. Read out "
            "its SHA-256 fingerprint; participants compare it with what their browser shows "
            "under the certificate's details before going on:",
            f"  {info.fingerprint}",
            "",
        )
    elif info.https and info.fingerprint:
        lines.out(f"Certificate SHA-256: {info.fingerprint}", "")
    if info.plain_http:
        lines.err(
            "warning: plain http to the room (--plain-http): every key crosses the network "
            "readable by anyone on it; on an open Wi-Fi anyone nearby can read keys in transit. "
            "--self-signed avoids that."
        )
    if not info.room:
        lines.out(
            "Only this machine can open the page now. For the room: --host 0.0.0.0 with "
            "--self-signed (or --tls-cert/--tls-key)."
        )
    else:
        lines.out(
            "If phones cannot open it: venue Wi-Fi often keeps devices apart (client "
            "isolation). Turn on a phone's hotspot, join it with this laptop and have the "
            "room join it too, then start the page again (its address changes).",
        )
    gate = (
        "The workshop is closed: a key is enabled when it is claimed."
        if info.closed
        else "The workshop is open: every key already works."
    )
    lines.out(
        gate,
        f"Organiser page (this machine only; counts, never a key): {info.organiser_url}",
        "Ctrl-C stops the page; claimed keys stay as they are.",
    )
    lines.err(*(f"warning: a claim could not be finished: {problem}" for problem in info.problems))
    return lines


def claim_end_lines(workshop: str, counts: _Counts) -> list[str]:
    return [
        f"{workshop}: claim page stopped; {counts.claimed} of "
        f"{plural(counts.participants, 'participant')} claimed their key."
    ]
