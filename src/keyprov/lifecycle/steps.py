"""What a command that changes live keys owes its user: to ask before, to show while.

`Impact` is what a command is about to do to working keys, told before its first write, so
the CLI can ask (or refuse without `--yes`); `ChangeProgress` hears the listing and each key
done, so the CLI can draw the same bar as provision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from keyprov.errors import ConfigurationError, OptionError


@dataclass(frozen=True)
class Impact:
    """What a command will do to keys that work now, before it does it."""

    command: str
    workshop: str
    keys: int
    """How many keys it touches."""
    effect: str
    """What happens to them: 'stop working now', 'get a limit of 0.50 USD now'."""
    afterwards: str = ""
    """What the user must do after (rotate: hand out the new keys)."""


Confirm = Callable[[Impact], bool]
"""Asked once, before the first write; False: the command changes nothing and stops."""


class NotConfirmed(ConfigurationError):
    """The user did not confirm (or could not be asked): nothing was changed; exit 2."""


def ask_first(confirm: Confirm | None, impact: Impact) -> None:
    """Ask `confirm` about `impact` when it touches any key; raise NotConfirmed on a no."""
    if confirm is None or impact.keys == 0:
        return
    if not confirm(impact):
        raise NotConfirmed(
            f"{impact.command} stopped before changing anything: the workshop's name was not "
            "typed. Nothing was changed."
        )


class ChangeProgress(Protocol):
    """Told as a per-key command works: the listing, how many keys, each one done."""

    def listing(self, keys: int, pages: int, done: bool) -> None: ...

    def start(self, total: int) -> None: ...

    def step(self, identity: str, label: str, ok: bool, detail: str) -> None: ...


class Silent:
    """Progress for a caller that shows none (the library's default)."""

    def listing(self, keys: int, pages: int, done: bool) -> None:
        pass

    def start(self, total: int) -> None:
        pass

    def step(self, identity: str, label: str, ok: bool, detail: str) -> None:
        pass


def checked_amount(option: str, value: float | None, *, ceiling: float | None = None) -> None:
    """Refuse, before any request, an amount of US dollars no key can be given: not a
    number, infinite, zero or negative, or over the ceiling (--max-limit)."""
    if value is None:
        return
    given = f"{option} {value:g}"
    if math.isnan(value) or math.isinf(value):
        raise OptionError(given, "give a number of US dollars, such as 2 or 2.50.")
    if value <= 0:
        what = "a limit above 0" if option == "--limit" else "more than 0 to add"
        raise OptionError(given, f"give {what} (to stop keys, use keyprov revoke).")
    if ceiling is not None and value > ceiling:
        raise OptionError(
            given,
            f"more than the workshop's maximum of {ceiling:.2f} USD; add --max-limit "
            f"{value:g} if that much is meant.",
        )
