"""The sender KEYPROV_MAIL chose: SMTP, or one of the HTTP providers."""

from __future__ import annotations

import ssl

from keyprov.delivery.mail_settings import MailSettings
from keyprov.delivery.mailer import Mailer
from keyprov.delivery.providers import MAILGUN, SENDGRID, SMTP2GO


def mailer_for(settings: MailSettings, *, ssl_context: ssl.SSLContext | None = None) -> Mailer:
    """A Mailer for `settings` (close it when done); nothing is connected yet."""
    if settings.api is None:
        from keyprov.delivery.sender import SmtpSender

        assert settings.smtp is not None
        return SmtpSender(settings.smtp, ssl_context=ssl_context)
    # Each provider's module is imported only when it is the one chosen.
    if settings.transport == SENDGRID:
        from keyprov.delivery.sendgrid import SendGridMailer

        return SendGridMailer(settings.api)
    if settings.transport == SMTP2GO:
        from keyprov.delivery.smtp2go import Smtp2goMailer

        return Smtp2goMailer(settings.api)
    assert settings.transport == MAILGUN, settings.transport
    from keyprov.delivery.mailgun import MailgunMailer

    return MailgunMailer(settings.api)
