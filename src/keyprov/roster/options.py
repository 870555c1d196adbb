"""The reading options (--limit, --limit-reset, --max-limit), checked before any file is read.

A bad option is the command's fault, not the roster's: it is reported as the option the user
typed, with an example of a good one, and never as "the roster has 1 problem".
"""

from __future__ import annotations

import math

from keyprov.errors import OptionError
from keyprov.roster.table import cell_text
from keyprov.roster.values import LIMIT_RESETS


def check_options(
    default_limit: float | None, default_limit_reset: str | None, max_limit: float
) -> None:
    """Raise OptionError for the first unusable option, in the order the user reads them."""
    if not math.isfinite(max_limit) or max_limit <= 0:
        raise OptionError(
            f"--max-limit {cell_text(max_limit)}",
            "the maximum must be more than 0 USD; give e.g. --max-limit 100.",
        )
    if default_limit is not None:
        option = f"--limit {cell_text(default_limit)}"
        if not math.isfinite(default_limit):
            raise OptionError(option, "that is not an amount of US dollars; give e.g. --limit 2.")
        if default_limit <= 0:
            raise OptionError(option, "a limit must be more than 0 USD; give e.g. --limit 2.")
        if default_limit > max_limit:
            raise OptionError(
                option,
                f"that is above --max-limit {cell_text(max_limit)} USD per key (a typo for a "
                "smaller amount?). Give a smaller --limit, or raise --max-limit.",
            )
    if default_limit_reset is not None and default_limit_reset not in LIMIT_RESETS:
        raise OptionError(
            f"--limit-reset {default_limit_reset}",
            f"a limit resets {', '.join(LIMIT_RESETS[:-1])} or {LIMIT_RESETS[-1]}; "
            "give e.g. --limit-reset monthly.",
        )
