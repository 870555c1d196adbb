"""Emailing each participant their own key, once, safely again after a crash: over SMTP or
through an HTTP mail API (SendGrid, SMTP2GO, Mailgun).

`MailSettings.from_env` reads KEYPROV_MAIL and what it needs (`SmtpSettings` for SMTP);
`Template` is the message (default or from a file); `compose_message` builds one
participant's message; a `Mailer` (`SmtpSender`, or `mailer_for`'s HTTP sender) sends it and
sorts failures; `DeliveryJournal` records every step in `deliveries.jsonl`; `send_all`
applies the rerun, rotation, unknown-outcome and quota rules.
"""

from keyprov.delivery.compose import (
    compose_message,
    message_id,
    render_preview,
)
from keyprov.delivery.engine import (
    DEFAULT_RATE_PER_MINUTE,
    DeliveryPlan,
    DeliveryResult,
    DeliveryStopped,
    Outcome,
    PlannedDelivery,
    Reason,
    RetryPolicy,
    plan_deliveries,
    send_all,
)
from keyprov.delivery.journal import JOURNAL_FILE_NAME, DeliveryJournal, SentKey, Status
from keyprov.delivery.mail_settings import ApiMailSettings, MailSettings, Quota
from keyprov.delivery.mailer import (
    Accepted,
    Mailer,
    OutcomeUnknown,
    Outgoing,
    RateLimited,
    StopSending,
)
from keyprov.delivery.sender import (
    DeliveryError,
    PermanentFailure,
    SmtpSender,
    TemporaryFailure,
)
from keyprov.delivery.settings import SmtpSettings, is_address
from keyprov.delivery.template import KNOWN_FIELDS, Template

__all__ = [
    "DEFAULT_RATE_PER_MINUTE",
    "JOURNAL_FILE_NAME",
    "KNOWN_FIELDS",
    "Accepted",
    "ApiMailSettings",
    "DeliveryError",
    "DeliveryJournal",
    "DeliveryPlan",
    "DeliveryResult",
    "DeliveryStopped",
    "MailSettings",
    "Mailer",
    "Outcome",
    "OutcomeUnknown",
    "Outgoing",
    "PermanentFailure",
    "PlannedDelivery",
    "Quota",
    "RateLimited",
    "Reason",
    "RetryPolicy",
    "SentKey",
    "SmtpSender",
    "SmtpSettings",
    "Status",
    "StopSending",
    "Template",
    "TemporaryFailure",
    "compose_message",
    "is_address",
    "message_id",
    "plan_deliveries",
    "render_preview",
    "send_all",
]
