"""A rotated key's budget is cut for the window now running only: from the next reset its
regular limit is back, given back by the first command after the reset, and journaled."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest

from tests import clock
from tests.helpers import CliWorkshop, make_roster


def the_next_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """keyprov's clock a day on: the daily window the cut was for is over."""
    tomorrow = clock.now() + timedelta(days=1)
    monkeypatch.setattr("keyprov.engine.budget_cuts.utc_now", lambda: tomorrow)
    monkeypatch.setattr("keyprov.lifecycle.check.utc_now", lambda: tomorrow)


def journal(workshop: CliWorkshop) -> list[dict[str, object]]:
    text = (workshop.folder / "output" / "ws" / "state.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_a_daily_limit_is_cut_for_today_only_and_given_back_after_the_reset(
    workshop: CliWorkshop, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_roster(workshop.roster, 2, limit=2)
    assert workshop.provision("--limit-reset", "daily").returncode == 0
    old = workshop.key_of("person0@example.org")
    workshop.sandbox.set_usage(old["hash"], usage=1.2, daily=1.2)

    rotated = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert rotated.returncode == 0, rotated.stderr
    successor = workshop.key_of("person0@example.org")
    assert successor["limit"] == pytest.approx(0.8), "no second budget today"
    assert workshop.keyprov("check", "ws.csv").returncode == 0, "the cut is expected today"

    handouts = workshop.keyprov("handouts", "ws.csv", "--participant", "person0@example.org")
    assert handouts.returncode == 0, handouts.stderr
    with (workshop.folder / "output" / "ws" / "mail-merge.csv").open(encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["budget"] == "$2.00 per day; $0.80 left today, renewed every day at 00:00 UTC"
    assert row["limit"] == "$2.00"

    the_next_day(monkeypatch)
    workshop.sandbox.set_usage(successor["hash"], usage=0.3, daily=0)  # the server's reset
    late = workshop.keyprov("check", "ws.csv")
    assert late.returncode == 1
    assert "limit still cut to 0.80 USD after its daily window ended" in late.stdout
    assert "ws.csv (or any command that changes the workshop) gives back 2.00 USD" in late.stdout

    given_back = workshop.provision("--limit-reset", "daily")
    assert given_back.returncode == 0, given_back.stderr
    (patch,) = workshop.writes()
    assert patch.method == "PATCH" and workshop.key_of("person0@example.org")["limit"] == 2
    assert "limit_restored" in workshop.audit_events()
    restored = [r for r in journal(workshop) if r.get("cut_until", "x") is None]
    assert restored and restored[-1]["limit"] == 2, "journaled"
    assert workshop.keyprov("check", "ws.csv").returncode == 0
    assert workshop.provision("--limit-reset", "daily").returncode == 0
    assert workshop.writes() == [], "given back once"


def test_a_limit_set_by_hand_during_the_cut_is_not_overwritten_after_it(
    workshop: CliWorkshop, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_roster(workshop.roster, 1, limit=2)
    assert workshop.provision("--limit-reset", "daily").returncode == 0
    workshop.sandbox.set_usage(workshop.key_of("person0@example.org")["hash"], daily=1.5)
    assert workshop.keyprov("rotate", "ws.csv", "--all", "--yes").returncode == 0
    top_up = workshop.keyprov("set-limit", "ws.csv", "--all", "--limit", "1", "--yes")
    assert top_up.returncode == 0, top_up.stderr

    the_next_day(monkeypatch)
    assert workshop.provision("--limit-reset", "daily").returncode == 0
    assert workshop.key_of("person0@example.org")["limit"] == 1
