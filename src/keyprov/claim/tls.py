"""A certificate made for one claim session (`--self-signed`), and fingerprints to read out.

Browsers warn about a certificate no authority signed; the organiser reads out its SHA-256
fingerprint, and a participant who compares it with what their browser shows knows the page
is the organiser's laptop and not someone else on the Wi-Fi. The private key lives only in a
temporary owner-only folder for the session's life.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keyprov.errors import OptionError

VALID_DAYS = 2


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path
    fingerprint: str
    """SHA-256 of the certificate, as browsers show it: 32 hex pairs with colons."""
    folder: Path | None = None
    """The temporary folder of a certificate made for the session; removed by `discard`."""

    def discard(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def fingerprint_of(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def self_signed(names: list[str]) -> CertFiles:
    """An EC P-256 certificate for these host names and addresses, valid for two days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            alternative.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyprov claim page")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="keyprov-claim-"))  # mode 0700
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb", opener=_private) as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return CertFiles(cert_path, key_path, fingerprint_of(der), folder)


def given_certificate(cert: Path, key: Path) -> CertFiles:
    """`--tls-cert` and `--tls-key`: checked readable and PEM, before anything is served."""
    from cryptography import x509

    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not path.is_file():
            raise OptionError(f"{option} {path}", "no such file; give a PEM file")
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    except ValueError as error:
        raise OptionError(f"--tls-cert {cert}", f"not a PEM certificate ({error})") from None
    from cryptography.hazmat.primitives import serialization

    der = certificate.public_bytes(serialization.Encoding.DER)
    return CertFiles(cert, key, fingerprint_of(der))


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
