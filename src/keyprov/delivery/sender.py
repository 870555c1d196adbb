"""Sending over SMTP with smtplib, and telling a failure worth retrying from one that is not.

- temporary (`TemporaryFailure`): a 4xx answer, or the connection refused, dropped or timed
  out. Sending again later may work. After a dropped connection the message may or may not
  have been delivered; the journal treats it as unknown.
- permanent (`PermanentFailure`): a 5xx answer for this message or recipient (a bad address,
  a refused message). Sending the same again will not help.
- configuration (`keyprov.errors.ConfigurationError`): the server cannot be used at all
  (unknown host, no STARTTLS, a certificate that does not verify, a refused login or sender).

Certificates are always verified: `starttls()` and SMTPS use `ssl.create_default_context()`
(which honours `SSL_CERT_FILE` for a private CA) unless the caller passes its own context.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING

from keyprov.api.baseurl import is_loopback
from keyprov.delivery.settings import PLAIN, PORT, SECURITY, SSL, STARTTLS, SmtpSettings
from keyprov.errors import ConfigurationError
from keyprov.redaction import redact

if TYPE_CHECKING:
    from keyprov.delivery.mailer import Accepted, Outgoing


class DeliveryError(Exception):
    """One message could not be sent; `detail` is safe to print and log."""

    permanent = False

    def __init__(self, detail: str, *, code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = redact(detail)
        self.code = code


class TemporaryFailure(DeliveryError):
    """Worth trying again later (4xx, connection trouble)."""

    def __init__(self, detail: str, *, code: int | None = None, connection: bool = False) -> None:
        super().__init__(detail, code=code)
        self.connection = connection
        """True when the server could not be reached or the connection broke."""


class PermanentFailure(DeliveryError):
    """Sending the same message again will not help (5xx, a refused recipient)."""

    permanent = True


class SmtpSender:
    """One connection to the mail server, opened on first use and again after a drop.

    A `keyprov.delivery.mailer.Mailer`: over SMTP a message whose outcome is unknown (the
    connection dropped after DATA) is sent again, as it always was.
    """

    transport = "smtp"
    holds_unknown = False

    def __init__(
        self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.settings = settings
        self._context = ssl_context
        self._smtp: smtplib.SMTP | None = None

    @property
    def title(self) -> str:
        return "the mail server"

    @property
    def from_address(self) -> str:
        return self.settings.from_address

    @property
    def description(self) -> str:
        settings = self.settings
        return f"{settings.host}:{settings.port} ({settings.security})"

    def deliver(self, outgoing: Outgoing) -> Accepted:
        """Send to every address of the participant in one transaction."""
        from keyprov.delivery.mailer import Accepted  # the interface's module imports this one

        refused = self.send(outgoing.message, outgoing.recipients)
        return Accepted(note=f"not to every address: {'; '.join(refused)}" if refused else "")

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connect(self) -> None:
        """Open, secure and log in, unless already connected. Raises ConfigurationError or
        TemporaryFailure (with `connection` set)."""
        if self._smtp is not None:
            return
        settings = self.settings
        if settings.security == PLAIN and not is_loopback(settings.host):
            raise ConfigurationError(f"{SECURITY}=plain is allowed only to this machine.")
        context = self._context or ssl.create_default_context()
        where = f"{settings.host}:{settings.port}"
        smtp: smtplib.SMTP | None = None
        try:
            if settings.security == SSL:
                smtp = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=settings.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            smtp.ehlo()
            if settings.security == STARTTLS:
                if not smtp.has_extn("starttls"):
                    raise ConfigurationError(
                        f"the mail server {where} does not offer STARTTLS, and keyprov does not "
                        f"send keys unencrypted. Check {PORT} (587 for starttls), or set "
                        f"{SECURITY}=ssl for a server that speaks TLS from the start (465)."
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.user is not None:
                smtp.login(settings.user, settings.password or "")
        except ConfigurationError:
            _quietly_close(smtp)
            raise
        except ssl.SSLCertVerificationError as error:
            _quietly_close(smtp)
            raise ConfigurationError(
                f"the certificate of {where} could not be verified ({error.verify_message}); "
                "keyprov always verifies it. If the server uses your organisation's own "
                "certificate authority, point SSL_CERT_FILE at that authority's certificate."
            ) from error
        except ssl.SSLError as error:
            _quietly_close(smtp)
            raise ConfigurationError(
                f"TLS with {where} failed ({error.reason or error}). Is {SECURITY} right for "
                f"this port (starttls: usually 587, ssl: 465)?"
            ) from error
        except smtplib.SMTPAuthenticationError as error:
            _quietly_close(smtp)
            raise ConfigurationError(
                f"the mail server {where} refused the login of {settings.user!r} "
                f"({_reply(error)}). Check KEYPROV_SMTP_USER and the password."
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            _quietly_close(smtp)
            raise ConfigurationError(
                f"the mail server {where} does not accept a login here ({error}). Unset "
                "KEYPROV_SMTP_USER if it needs none."
            ) from error
        except socket.gaierror as error:
            _quietly_close(smtp)
            raise ConfigurationError(
                f"the mail server's name {settings.host!r} cannot be resolved ({error.strerror}). "
                "Check KEYPROV_SMTP_HOST."
            ) from error
        except smtplib.SMTPResponseException as error:
            _quietly_close(smtp)
            if 400 <= error.smtp_code < 500:
                raise TemporaryFailure(
                    f"{where} answered {_reply(error)}", code=error.smtp_code, connection=True
                ) from error
            raise ConfigurationError(
                f"the mail server {where} refused the connection ({_reply(error)})."
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            _quietly_close(smtp)
            raise TemporaryFailure(
                f"cannot talk to {where} ({_describe(error)})", connection=True
            ) from error
        self._smtp = smtp

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[str]:
        """Send `message` to `recipients` only (the envelope is set explicitly; the headers
        do not decide): one participant's addresses, in one message. Returns what the server
        said of the recipients it refused while it took the others (the message was sent);
        raises TemporaryFailure, PermanentFailure or ConfigurationError when it took none."""
        if isinstance(recipients, str):  # a str is a Sequence[str]: one letter per recipient
            raise TypeError("recipients is a list of addresses, not one address")
        self.connect()
        smtp = self._smtp
        assert smtp is not None
        try:
            refused = smtp.send_message(
                message, from_addr=self.settings.envelope_sender, to_addrs=list(recipients)
            )
        except smtplib.SMTPRecipientsRefused as error:
            answers = [error.recipients.get(r, (550, b"recipient refused")) for r in recipients]
            detail = "; ".join(
                f"{recipient} refused: {code} {_text(reply)}"
                for recipient, (code, reply) in zip(recipients, answers, strict=True)
            )
            self._forget_if_closed()
            if any(400 <= code < 500 for code, _reply in answers):
                # One address may take it later: sending again is worth it.
                raise TemporaryFailure(detail, code=answers[0][0]) from error
            raise PermanentFailure(detail, code=answers[0][0]) from error
        except smtplib.SMTPSenderRefused as error:
            self._forget_if_closed()
            if 400 <= error.smtp_code < 500:
                raise TemporaryFailure(
                    f"sender refused for now: {_reply(error)}", code=error.smtp_code
                ) from error
            raise ConfigurationError(
                f"the mail server refused the sender {error.sender!r} ({_reply(error)}). Set "
                "KEYPROV_SMTP_FROM to an address this account may send from."
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            raise PermanentFailure(
                f"{', '.join(recipients)}: the server cannot take this address ({error})"
            ) from error
        except smtplib.SMTPResponseException as error:
            self._forget_if_closed()
            if 400 <= error.smtp_code < 500:
                raise TemporaryFailure(_reply(error), code=error.smtp_code) from error
            raise PermanentFailure(_reply(error), code=error.smtp_code) from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise TemporaryFailure(
                f"connection lost ({_describe(error)})", connection=True
            ) from error
        return [
            f"{recipient} refused: {code} {_text(reply)}"
            for recipient, (code, reply) in refused.items()
        ]

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            _quietly_close(smtp)

    def _forget_if_closed(self) -> None:
        """After a 421 smtplib closes the connection itself: open a new one next time."""
        if self._smtp is not None and self._smtp.sock is None:
            self._smtp = None


def _quietly_close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _reply(error: smtplib.SMTPResponseException) -> str:
    return f"{error.smtp_code} {_text(error.smtp_error)}"


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
