"""The sandbox rehearses a workshop: spend over time by habit, /credits following it, and a
clock whose midnight starts the daily windows again."""

from __future__ import annotations

from collections import Counter

import requests

from keyprov.sandbox import Sandbox


def credits(sandbox: Sandbox) -> dict:
    answer = requests.get(
        f"{sandbox.base_url}/credits",
        headers={"Authorization": f"Bearer {sandbox.management_key}"},
        timeout=10,
    )
    return answer.json()["data"]


def test_simulated_spend_has_busy_idle_and_overspent_keys_and_credits_follow(
    sandbox: Sandbox,
) -> None:
    for number in range(200):
        sandbox.create_key_directly(f"keyprov:ws:{number}", limit=2.0, limit_reset="daily")
    sandbox.create_key_directly("other:0", limit=2.0)
    habits = sandbox.simulate(name_prefix="keyprov:ws:", seed=11, minutes=1, tick=None)
    assert len(habits) == 200 and set(Counter(habits.values())) == {
        "idle",
        "steady",
        "busy",
        "over",
    }
    for _ in range(30):
        sandbox.simulate_step(10)
    by_hash = {key["hash"]: key for key in sandbox.keys()}
    spent = {h: 2.0 - by_hash[h]["limit_remaining"] for h in habits}
    assert all(spent[h] == 0 for h, habit in habits.items() if habit == "idle")
    assert all(2.0 <= spent[h] <= 2.0 * 1.25 + 1e-9 for h, hb in habits.items() if hb == "over")
    assert any(spent[h] > 2.0 for h, hb in habits.items() if hb == "over")
    assert all(spent[h] <= 2.0 + 1e-9 for h, hb in habits.items() if hb in ("steady", "busy"))
    assert all(key["usage"] == 0 for key in sandbox.keys() if key["name"] == "other:0")
    total = sum(key["usage"] for key in sandbox.keys())
    assert abs(credits(sandbox)["total_usage"] - total) < 1e-6

    # A top-up lets a blocked key spend again.
    blocked = next(h for h, hb in habits.items() if hb == "busy")
    requests.patch(
        f"{sandbox.base_url}/keys/{blocked}",
        json={"limit": 3.0},
        headers={"Authorization": f"Bearer {sandbox.management_key}"},
        timeout=10,
    )
    sandbox.simulate_step(60)
    assert next(k for k in sandbox.keys() if k["hash"] == blocked)["limit_remaining"] < 1.0
    assert sandbox.stop_simulation()


def test_the_clock_past_midnight_starts_the_daily_windows_again(sandbox: Sandbox) -> None:
    _secret, key = sandbox.create_key_directly("keyprov:ws:a", limit=1.0, limit_reset="daily")
    sandbox.set_usage(key["hash"], usage=3.0, daily=0.9, weekly=2.0, monthly=3.0)
    before = sandbox.now()
    after = sandbox.advance_clock(24 * 3600)
    assert (after - before).total_seconds() >= 24 * 3600
    (now,) = sandbox.keys()
    assert (now["usage_daily"], now["usage"], now["limit_remaining"]) == (0.0, 3.0, 1.0)
    answer = requests.post(
        f"{sandbox.base_url.removesuffix('/api/v1')}/_sandbox/clock",
        json={"advance": 60},
        headers={"Authorization": f"Bearer {sandbox.management_key}"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["now"] > after.isoformat()
