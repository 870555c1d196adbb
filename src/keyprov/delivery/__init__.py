"""Emailing each participant their own key over SMTP, once, safely again after a crash.

`SmtpSettings.from_env` reads `KEYPROV_SMTP_*`; `Template` is the message (default or from a
file); `compose_message` builds one participant's message; `SmtpSender` sends it and sorts
failures into temporary and permanent; `DeliveryJournal` records every step in
`deliveries.jsonl`; `send_all` applies the rerun, rotation and resend rules.
"""

from keyprov.delivery.compose import compose_message, message_id, render_preview
from keyprov.delivery.engine import (
    DEFAULT_RATE_PER_MINUTE,
    DeliveryPlan,
    DeliveryResult,
    Outcome,
    PlannedDelivery,
    Reason,
    RetryPolicy,
    plan_deliveries,
    send_all,
)
from keyprov.delivery.journal import JOURNAL_FILE_NAME, DeliveryJournal, SentKey, Status
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
    "DeliveryError",
    "DeliveryJournal",
    "DeliveryPlan",
    "DeliveryResult",
    "Outcome",
    "PermanentFailure",
    "PlannedDelivery",
    "Reason",
    "RetryPolicy",
    "SentKey",
    "SmtpSender",
    "SmtpSettings",
    "Status",
    "Template",
    "TemporaryFailure",
    "compose_message",
    "is_address",
    "message_id",
    "plan_deliveries",
    "render_preview",
    "send_all",
]
