"""A workshop's name: its identity (NFC), and the folder name its keys' names carry too.

Two different names never share a folder, and one name never gets two: a name the readable
slug keeps whole (ASCII letters, digits, spaces, '.', '_', '-') is its slug; any other gets a
short hash of its NFC form beside the readable part. Folders made before that keep their
names (keyprov.workshop.folder_identity finds them by `legacy_slugs`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

NAME_HASH_LENGTH = 8
"""Hex digits of the name's hash in a slug that does not keep the name whole (32 bits)."""
_KEPT_WHOLE = re.compile(r"[A-Za-z0-9._ -]+")
"""Names of only these characters are told apart by their readable slug alone (up to case
and spacing, as before)."""


def display_name(text: str) -> str:
    """A workshop's name as its identity: NFC (a name typed and the same name as macOS saves
    it are one), trimmed, its runs of spaces one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def workshop_slug(text: str) -> str:
    """The workshop's name as its folder and its keys' names carry it: 'BSSDH 2025' ->
    'bssdh-2025'. A name the readable form does not keep whole (other letters than a-z,
    accents, other punctuation) also carries a short hash of the name, so that two names never
    share one: 'Семинар' -> 'workshop-1c5e0a7b', 'Café' -> 'cafe-8d1f7c2a'."""
    name = display_name(text)
    readable = _readable(name)
    if readable and _KEPT_WHOLE.fullmatch(name):
        return readable
    digest = hashlib.sha256(name.casefold().encode("utf-8")).hexdigest()[:NAME_HASH_LENGTH]
    return f"{readable or 'workshop'}-{digest}"


def legacy_slugs(text: str) -> list[str]:
    """The folder names keyprov before issue 28 gave this name (as typed, and in NFC and NFD),
    other than its own now: an existing workshop keeps its folder."""
    found = []
    for form in (text, unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)):
        slug = re.sub(r"[^a-z0-9._-]+", "-", form.strip().lower()).strip("-.") or "workshop"
        if slug not in found and slug != workshop_slug(text):
            found.append(slug)
    return found


def _readable(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9._-]+", "-", folded.lower()).strip("-.")
