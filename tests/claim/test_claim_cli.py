"""`keyprov claim` as the organiser runs it: its own process, TLS, what it prints, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from keyprov.claim.tls import fingerprint_of, self_signed
from tests.claim.support import Browser, code_of, key_in
from tests.helpers import CliWorkshop, keyprov_process_env, make_roster

URL = re.compile(r"^  (https?://\S+/claim)$", re.MULTILINE)
real_clock_only = pytest.mark.skipif(
    bool(os.environ.get("KEYPROV_TRAVEL_DAYS")),
    reason="OpenSSL checks a certificate's dates against the real clock, which make "
    "test-ahead does not move (only Python's)",
)


def start_claim(workshop: CliWorkshop, *options: str) -> tuple[subprocess.Popen[str], str, str]:
    """`keyprov claim ws.csv OPTIONS` in its own process; (process, URL, what it printed)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "claim", "ws.csv", "--port", "0", *options],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    printed = ""
    for line in process.stdout:
        printed += line
        if line.startswith("Ctrl-C stops the page"):
            break
    found = URL.search(printed)
    assert found, printed + (process.stderr.read() if process.poll() is not None else "")
    return process, found[1], printed


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


@pytest.fixture
def closed(workshop: CliWorkshop) -> CliWorkshop:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--closed").returncode == 0
    return workshop


@real_clock_only
def test_self_signed_serves_https_and_prints_the_fingerprint_to_read_out(
    closed: CliWorkshop, tmp_path: Path
) -> None:
    process, url, printed = start_claim(closed, "--self-signed")
    try:
        assert url.startswith("https://127.0.0.1:")
        host, port = url.split("/")[2].split(":")
        pem = ssl.get_server_certificate((host, int(port)))
        served = fingerprint_of(ssl.PEM_cert_to_DER_cert(pem))
        assert served in printed, "the fingerprint read out is the served certificate's"
        assert "█" in printed, "a QR code of the address"
        (tmp_path / "served.pem").write_text(pem)
        phone = Browser(url, verify=str(tmp_path / "served.pem"))
        shown = phone.claim(code_of(closed, "person0@example.org"))
        assert shown.status_code == 200 and key_in(shown) is not None
    finally:
        code, out, err = stop(process)
    assert code == 0, err
    assert "claim page stopped; 1 of 3 participants claimed their key" in out
    assert "sk-or-v1-" not in printed + out + err.replace("sk-or-v1-", "", 0)


@real_clock_only
def test_the_organisers_own_certificate_is_served(closed: CliWorkshop, tmp_path: Path) -> None:
    made = self_signed(["127.0.0.1", "localhost"])
    try:
        process, url, printed = start_claim(
            closed, "--tls-cert", str(made.cert), "--tls-key", str(made.key)
        )
        try:
            assert made.fingerprint in printed
            shown = Browser(url, verify=str(made.cert)).claim(
                code_of(closed, "person1@example.org")
            )
            assert shown.status_code == 200 and key_in(shown) is not None
            cookie = Browser(url, verify=str(made.cert)).open().headers["Set-Cookie"]
            assert "Secure" in cookie
        finally:
            assert stop(process)[0] == 0
    finally:
        made.discard()


def test_plain_http_to_the_room_needs_plain_http_and_says_the_risk(closed: CliWorkshop) -> None:
    refused = closed.keyprov("claim", "ws.csv", "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2
    assert "--plain-http" in refused.stderr and "readable by anyone" in refused.stderr
    process, url, printed = start_claim(closed, "--host", "0.0.0.0", "--plain-http")
    assert Browser(url).open().status_code == 200, "served to the room's address"
    code, _out, err = stop(process)
    assert code == 0
    assert url.startswith("http://") and "client isolation" in printed and "hotspot" in printed
    assert "anyone nearby can read keys in transit" in err


def test_options_that_do_not_go_together_are_refused(closed: CliWorkshop) -> None:
    for options in (
        ["--tls-cert", "c.pem"],
        ["--self-signed", "--plain-http"],
        ["--opens", "10:00", "--closes", "09:00"],
        ["--opens", "tomorrow"],
    ):
        done = closed.keyprov("claim", "ws.csv", "--port", "0", *options)
        assert done.returncode == 2, (options, done.stderr)
        assert "Error" in done.stderr or "error" in done.stderr
