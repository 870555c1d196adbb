"""STARTTLS and SMTPS against aiosmtpd with a certificate made for the test (by the openssl
command): certificates are always verified, and keys never travel unencrypted."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from keyprov.delivery import JOURNAL_FILE_NAME, Outcome, SmtpSettings
from keyprov.errors import ConfigurationError
from tests.delivery.test_delivery import deliver
from tests.handouts.test_handouts import make_handout
from tests.smtp import LoopbackController, Mailbox

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl command to make a certificate"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid two days, and its private key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=keyprov test server",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
            "-addext", "extendedKeyUsage=serverAuth",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_context(certificate) -> ssl.SSLContext:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def trusting(certificate) -> ssl.SSLContext:
    """A client context that trusts the test's certificate and verifies as the default does."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"tls-password"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def starttls_server(server_context):
    mailbox = Mailbox()
    controller = LoopbackController(
        mailbox, tls_context=server_context, require_starttls=True, authenticator=authenticator
    )
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def smtps_server(server_context):
    mailbox = Mailbox()
    controller = LoopbackController(mailbox, ssl_context=server_context)
    controller.start()
    yield controller, mailbox
    controller.stop()


def tls_settings(port: int, security: str, host: str = "127.0.0.1", **changes) -> SmtpSettings:
    return SmtpSettings(
        host=host, port=port, security=security, from_address="team@example.org", **changes
    )


def test_starttls_with_a_verified_certificate_logs_in_and_delivers(
    starttls_server, trusting, tmp_path
):
    controller, mailbox = starttls_server
    handout = make_handout(0)
    settings = tls_settings(controller.port, "starttls", user="team", password="tls-password")
    (result,) = deliver([handout], tmp_path, settings, ssl_context=trusting)
    assert result.outcome is Outcome.SENT
    assert [item.keys for item in mailbox.to(handout.email)] == [{handout.secret}]


def test_ssl_with_a_verified_certificate_delivers(smtps_server, trusting, tmp_path):
    controller, mailbox = smtps_server
    handout = make_handout(0)
    (result,) = deliver(
        [handout], tmp_path, tls_settings(controller.port, "ssl"), ssl_context=trusting
    )
    assert result.outcome is Outcome.SENT
    assert len(mailbox.to(handout.email)) == 1


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_certificate_nobody_vouches_for_stops_the_run_before_any_message(
    starttls_server, smtps_server, security, tmp_path
):
    controller, mailbox = starttls_server if security == "starttls" else smtps_server
    with pytest.raises(ConfigurationError, match="could not be verified"):
        deliver([make_handout(0)], tmp_path, tls_settings(controller.port, security))
    assert mailbox.received == []
    assert not (tmp_path / JOURNAL_FILE_NAME).exists()


def test_a_certificate_for_another_name_is_refused(starttls_server, trusting, tmp_path):
    controller, mailbox = starttls_server
    # The certificate names 127.0.0.1 only; "localhost" reaches the same server.
    settings = tls_settings(controller.port, "starttls", host="localhost")
    with pytest.raises(ConfigurationError, match="could not be verified"):
        deliver([make_handout(0)], tmp_path, settings, ssl_context=trusting)
    assert mailbox.received == []


def test_ssl_cert_file_names_a_private_authority(
    starttls_server, certificate, monkeypatch, tmp_path
):
    controller, mailbox = starttls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    settings = tls_settings(controller.port, "starttls", user="team", password="tls-password")
    (result,) = deliver([make_handout(0)], tmp_path, settings)
    assert result.outcome is Outcome.SENT
    assert len(mailbox.received) == 1


def test_a_server_without_starttls_gets_no_key(tmp_path):
    mailbox = Mailbox()
    controller = LoopbackController(mailbox)  # no TLS at all
    controller.start()
    try:
        with pytest.raises(ConfigurationError, match="does not offer STARTTLS"):
            deliver([make_handout(0)], tmp_path, tls_settings(controller.port, "starttls"))
        assert mailbox.received == []
    finally:
        controller.stop()
