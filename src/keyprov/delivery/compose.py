"""One participant's message, built from their handout alone: nobody else's key can be in it.

The Message-ID is made here, before anything is sent, so the journal can record it first.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from keyprov.delivery.template import (
    DEFAULT_SOURCE,
    REPLACEMENT_PREFIX,
    REPLACEMENT_SUBJECT,
    Template,
)
from keyprov.handouts import Handout, handout_fields, replaces_in_words

_BLANK_RUNS = re.compile(r"\n{3,}")


def compose_message(
    handout: Handout,
    template: Template,
    *,
    sender: str,
    workshop: str | None = None,
    replaces: str | None = None,
    masked: bool = False,
) -> EmailMessage:
    """The message for `handout`, from `sender` (`KEYPROV_SMTP_FROM`).

    `replaces` (else `handout.replaces`) is the label of the key this one replaces: its line
    opens the body even when the template has no `{replaces}`. With `masked`, the key is its
    masked label (for a preview). ValueError when the participant's address cannot be used.
    """
    values = handout_fields(handout, masked=masked)
    values["workshop"] = workshop or ""
    values["replaces"] = replaces_in_words(replaces or handout.replaces)
    subject, body = template.render(values)
    if values["replaces"] and "replaces" not in _subject_fields(template):
        # A replacement must not look like the message it replaces, down to the inbox line.
        if template.source == DEFAULT_SOURCE and values["workshop"]:
            subject = REPLACEMENT_SUBJECT.format(workshop=values["workshop"])
        else:
            subject = REPLACEMENT_PREFIX + subject
    if values["replaces"] and "replaces" not in template.fields:
        body = f"{values['replaces']}\n\n{body}"
    # An empty {replaces} paragraph (no rotation) leaves no gap behind.
    body = _BLANK_RUNS.sub("\n\n", body).lstrip("\n")

    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient_addresses(handout)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message.set_content(body)
    return message


def recipient_addresses(handout: Handout) -> tuple[Address, ...]:
    """The participant's name and every address of theirs, for the To header; ValueError if
    one is unusable."""
    found = []
    for email in handout.addresses:
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in email):
            raise ValueError(f"{email!r} is not an email address")
        found.append(Address(display_name=handout.name, username=local, domain=domain))
    return tuple(found)


def message_id(message: EmailMessage) -> str:
    return str(message["Message-ID"])


def render_preview(message: EmailMessage) -> str:
    """The message as a person reads it: its headers and its decoded body (for --dry-run;
    compose it with `masked=True`)."""
    headers = "".join(f"{name}: {message[name]}\n" for name in ("From", "To", "Subject"))
    return f"{headers}\n{message.get_content()}"


def _domain(sender: str) -> str:
    """The sender's domain: the Message-ID names it, not this machine's host name."""
    return parseaddr(sender)[1].rpartition("@")[2] or "keyprov.invalid"


def _subject_fields(template: Template) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template.subject) if name}
