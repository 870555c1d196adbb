"""The workshop's title ("DH Summer Workshop 2026"): what participants read in subjects, on
slips and on the PDF, instead of the workshop's file name. Remembered with the workshop."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from keyprov.errors import OptionError

TITLE_OPTION = "title"
MAX_TITLE = 120


def checked_title(title: str | None) -> str | None:
    """A title fit for a mail subject: one line, printable, not too long (OptionError)."""
    if title is None:
        return None
    text = title.strip()
    given = f"--title {title!r}"
    if not text:
        raise OptionError(given, "give the workshop's name as participants know it.")
    for char in text:
        # Cc, Cf, Zl, Zp: line breaks and invisible controls would break a mail header.
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise OptionError(
                given, f"holds {unicodedata.name(char, hex(ord(char)))}; keep it to one line."
            )
    if len(text) > MAX_TITLE:
        raise OptionError(given, f"keep it under {MAX_TITLE} characters (a subject line).")
    return text


def title_of(options: Mapping[str, Any], name: str) -> str:
    """The remembered title, else the workshop's name."""
    remembered = options.get(TITLE_OPTION)
    return str(remembered) if remembered else name


def remembering(options: Mapping[str, Any], title: str | None) -> dict[str, Any] | None:
    """The options to remember with a new `title`; None when there is nothing new."""
    if title is None or options.get(TITLE_OPTION) == title:
        return None
    return {**options, TITLE_OPTION: title}


def kept_title(options: Mapping[str, Any]) -> dict[str, Any]:
    """The title to keep when a command remembers its options anew (provision)."""
    return {TITLE_OPTION: options[TITLE_OPTION]} if options.get(TITLE_OPTION) else {}
