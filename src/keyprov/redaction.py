"""Masking secrets wherever text leaves the process: terminal, logs, audit, tracebacks.

OpenRouter keys all start with `sk-or-`; anything of that shape is replaced by the masked form
OpenRouter itself shows (`sk-or-v1-abc...123`) before it is printed or logged. Exact values
registered with `register_secret` (the admin key, whatever its shape) are masked too.
"""

from __future__ import annotations

import logging
import re
import threading

# Possessive: a masked label `sk-or-v1-abc...123` must not be matched again as `sk-or-v1-abc`.
SECRET_PATTERN = re.compile(r"sk-or-[A-Za-z0-9_-]++(?!\.\.\.)")
HIDDEN = "<hidden>"

_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask this exact value everywhere from now on (for secrets of any shape)."""
    if len(value) >= 8:
        with _registered_lock:
            _registered.add(value)


def mask(secret: str) -> str:
    """OpenRouter's own masked form for a full-length key; nothing at all of a shorter one."""
    if secret.startswith("sk-or-v1-") and len(secret) >= 40:
        return f"sk-or-v1-{secret[9:12]}...{secret[-3:]}"
    return HIDDEN


def mask_secret(secret: str) -> str:
    """The form OpenRouter itself shows a key in (`label`): safe to print and log."""
    if secret.startswith("sk-or-v1-") and len(secret) > 15:
        return f"sk-or-v1-{secret[9:12]}...{secret[-3:]}"
    return HIDDEN


def redact(text: str) -> str:
    with _registered_lock:
        registered = sorted(_registered, key=len, reverse=True)
    for value in registered:
        if value in text:
            text = text.replace(value, mask(value))
    return SECRET_PATTERN.sub(lambda match: mask(match.group(0)), text)


class RedactingFilter(logging.Filter):
    """A filter for every handler: the message, its arguments and any traceback are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redacting_logging(level: int) -> None:
    """Route all logging (keyprov, tenacity, requests, urllib3) through one masked handler."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
