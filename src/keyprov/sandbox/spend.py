"""Putting spend on keys: the sandbox serves no inference, so usage is set from outside.

Spend that happened today counts in every window, so a window left out gets the figure of
the next wider one (monthly gets the all-time usage, weekly the monthly, daily the weekly):
`--usage 1.5` alone makes a key look like it spent $1.50 today.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

WINDOWS = ("daily", "weekly", "monthly")
# Up to this much, in USD, for a key without a limit when the spend is random.
UNCAPPED_RANDOM_MAX = 5.0


def plan_spend(
    keys: Sequence[Mapping[str, Any]],
    *,
    name_prefix: str | None = None,
    hashes: Sequence[str] | None = None,
    usage: float | None = None,
    daily: float | None = None,
    weekly: float | None = None,
    monthly: float | None = None,
    random_spend: bool = False,
    seed: int | None = None,
) -> dict[str, dict[str, float]]:
    """The usage to set on each chosen key, as {hash: {"usage": ..., "daily": ..., ...}}.

    `keys` oldest first. Keys are chosen by `hashes`, or by `name_prefix`, or all of them.
    Either `usage` (with
    optional windows) or `random_spend` (each key somewhere between nothing and its limit,
    reproducible with `seed`). Raises ValueError naming what is wrong.
    """
    if hashes is not None and name_prefix is not None:
        raise ValueError("choose keys by hash or by name prefix, not both")
    if random_spend == (usage is not None):
        raise ValueError("give either a usage in USD or random spend")
    if random_spend and any(w is not None for w in (daily, weekly, monthly)):
        raise ValueError("random spend sets every window itself; leave out daily/weekly/monthly")
    chosen = _choose(keys, name_prefix=name_prefix, hashes=hashes)
    if random_spend:
        rng = random.Random(seed)
        plans = {}
        for key in chosen:
            amount = round(rng.uniform(0, key["limit"] or UNCAPPED_RANDOM_MAX), 6)
            plans[key["hash"]] = {"usage": amount, **dict.fromkeys(WINDOWS, amount)}
        return plans
    assert usage is not None
    numbers = {"usage": usage}
    wider = usage
    for window, value in (("monthly", monthly), ("weekly", weekly), ("daily", daily)):
        wider = numbers[window] = wider if value is None else value
    for name, value in numbers.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0 USD")
    ordered = [numbers[w] for w in (*WINDOWS, "usage")]
    if ordered != sorted(ordered):
        raise ValueError("spend must grow with the window: daily <= weekly <= monthly <= usage")
    return {key["hash"]: dict(numbers) for key in chosen}


def _choose(
    keys: Sequence[Mapping[str, Any]], *, name_prefix: str | None, hashes: Sequence[str] | None
) -> list[Mapping[str, Any]]:
    if hashes is not None:
        by_hash = {k["hash"]: k for k in keys}
        unknown = [h for h in hashes if h not in by_hash]
        if unknown:
            raise ValueError(f"no key has the hash {unknown[0]}")
        return [by_hash[h] for h in dict.fromkeys(hashes)]
    chosen = [k for k in keys if name_prefix is None or k["name"].startswith(name_prefix)]
    if not chosen:
        which = "no key" if name_prefix is None else f"no key's name starts with {name_prefix!r}"
        raise ValueError(f"{which}; nothing to put spend on")
    return chosen
