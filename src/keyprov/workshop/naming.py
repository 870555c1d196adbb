"""Deterministic key names: how a key on the server is found again for its participant."""

from __future__ import annotations

import re

KEY_NAME_PREFIX = "keyprov"


def workshop_slug(text: str) -> str:
    """A workshop name safe inside a key name and a folder name: 'BSSDH 2025' -> 'bssdh-2025'."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-.")
    return slug or "workshop"


def workshop_prefix(workshop: str) -> str:
    return f"{KEY_NAME_PREFIX}:{workshop}:"


def key_name(workshop: str, identity: str) -> str:
    """The one name this participant's key carries on the server, e.g. 'keyprov:bssdh:ada@x.org'.

    The name holds the identity (the email or id), not the display name, so that renaming a
    participant in the roster never makes keyprov think they are someone new.
    """
    return f"{workshop_prefix(workshop)}{identity}"


def identity_from_key_name(workshop: str, name: str) -> str | None:
    """The identity a key name belongs to, or None if the key is not this workshop's."""
    prefix = workshop_prefix(workshop)
    return name[len(prefix) :] if name.startswith(prefix) else None


def natural_key(text: str) -> list[int | str]:
    """Sort key ordering identities as a person reads them: rich2 before rich10, any case."""
    parts = re.split(r"(\d+)", text)
    return [int(part) if index % 2 else part.casefold() for index, part in enumerate(parts)]
