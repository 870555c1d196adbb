"""What a valid cell of each field is: an email address, an amount of US dollars, a reset.

The row checks use these to validate a participant, and the column choice uses them to tell
which of two candidate columns holds the field (a column of 'anonymous' holds no email).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, time

from keyprov.roster.table import Cell

LIMIT_RESETS = ("daily", "weekly", "monthly")
DEFAULT_MAX_LIMIT = 100.0

_LOCAL_PART = r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
_DOMAIN_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
EMAIL_PATTERN = re.compile(
    rf"^{_LOCAL_PART}@(?:{_DOMAIN_LABEL}\.)+(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)$"
)
MAX_EMAIL_LENGTH = 254

_CURRENCY = re.compile(r"^(?:us\s*\$|\$|usd)?\s*(.*?)\s*(?:usd|us\s*\$|\$)?$", re.IGNORECASE)
_WHOLE = re.compile(r"\d+")
_AMBIGUOUS = re.compile(r"[1-9]\d{0,2}[.,]\d{3}")
"""'1,000' or '2.500': a thousands separator or a decimal point, depending on the locale."""
_ONE_SEPARATOR = re.compile(r"\d*[.,]\d+")
_COMMA_GROUPS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DOT_GROUPS = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_EXCEL_ERRORS = frozenset(
    {"#n/a", "#value!", "#ref!", "#div/0!", "#num!", "#name?", "#null!", "#spill!", "#calc!"}
)


def clean_email(text: str) -> str:
    """The address as keyprov compares it: lowercase, without invisible characters.

    Invisible characters (zero-width spaces from copy and paste) are never part of an
    address; everything else that is odd is reported, not repaired.
    """
    if text.isascii():  # no ASCII character is invisible (Cf): the common case, cheaply
        return text.lower()
    return "".join(char for char in text if unicodedata.category(char) != "Cf").lower()


def is_email(email: str) -> bool:
    """Whether a cleaned address is one address like name@example.org."""
    return len(email) <= MAX_EMAIL_LENGTH and EMAIL_PATTERN.match(email) is not None


_ADDRESS_SEPARATORS = re.compile(r"[\s,;/]+")


def split_addresses(text: str) -> list[str]:
    """The addresses of a cell that holds several ('a@x.lv, b@y.com', 'a@x.lv / b@y.com'),
    cleaned, in order. A cell is several addresses when it has two '@', or when one of its
    parts is an address and another is not (a typo beside it); else it is one address (or
    one typo, such as 'omar at example.org'), whole.

    Commas, semicolons, slashes and spaces separate them, as the mail tools that wrote such
    cells split them. A '/' may be part of an address, but one that does is rare enough, next
    to a second address in the same cell, to be read as a separator.
    """
    whole = clean_email(text)
    parts = [clean_email(part) for part in _ADDRESS_SEPARATORS.split(text) if part]
    if len(parts) > 1 and (text.count("@") > 1 or any(is_email(part) for part in parts)):
        return parts
    return [whole]


def _without_currency(text: str) -> str:
    matched = _CURRENCY.match(text)
    return matched.group(1) if matched else text.strip()


def parse_amount(cell: Cell, text: str) -> float | str:
    """US dollars from a cell: a number as stored, or text like '2.50', '$2', '2,50 USD'.

    Returns the amount, or the end of a message saying why it is not one.
    """
    not_a_number = "is not a number of US dollars. Write e.g. 2.50."
    if isinstance(cell, bool):
        return not_a_number
    if isinstance(cell, int | float):
        return round(float(cell), 6) if math.isfinite(cell) else not_a_number
    if isinstance(cell, datetime | date | time):
        return "is a date or time, not an amount. Write the amount in US dollars, e.g. 2.50."
    if text.lower() in _EXCEL_ERRORS:
        return "is an Excel error, not an amount. Fix the formula, or type the amount."
    sign = 1.0
    body = _without_currency(text)
    if body[:1] in ("-", "\u2212", "+"):
        sign = 1.0 if body[0] == "+" else -1.0
        body = _without_currency(body[1:])
    if _AMBIGUOUS.fullmatch(body):
        return (
            "is ambiguous: a thousands separator or a decimal point? Write it without "
            "separators (e.g. 2.5 or 2500)."
        )
    if _WHOLE.fullmatch(body) or _ONE_SEPARATOR.fullmatch(body):
        value = float(body.replace(",", "."))
    elif _COMMA_GROUPS.fullmatch(body):
        value = float(body.replace(",", ""))
    elif _DOT_GROUPS.fullmatch(body):
        value = float(body.replace(".", "").replace(",", "."))
    else:
        return not_a_number
    return round(sign * value, 6)
