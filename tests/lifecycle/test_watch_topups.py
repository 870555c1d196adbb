"""Top-ups by rule, checked on the server: once per crossing, never past the ceilings, never
twice after a `keyprov watch` killed with SIGKILL in the middle of one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.lifecycle.topups import TopUpRule
from keyprov.lifecycle.watch import WatchOptions
from keyprov.sandbox import Sandbox
from keyprov.workshop.journal import Ledger
from tests.helpers import CliWorkshop, keyprov_process_env
from tests.lifecycle.watching import events, provision_room, spend, start_watch

RULE = TopUpRule(amount=1.0, when_left=0.2, share=True, max_per_key=1.5, max_total=2.5)


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path) -> CliWorkshop:
    room = CliWorkshop(sandbox, management_key, tmp_path)
    provision_room(room)
    return room


def limits(workshop: CliWorkshop) -> dict[str, float]:
    return {
        email: workshop.key_of(email)["limit"]
        for email in (
            "ada@example.org",
            "grace@example.org",
            "alan@example.org",
            "emile@example.org",
        )
    }


def test_top_ups_once_per_crossing_and_never_past_the_ceilings(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    for email in ("ada@example.org", "grace@example.org", "alan@example.org"):
        spend(workshop, email, 0.9)
    spend(workshop, "emile@example.org", 3.0)  # far over: one top-up cannot lift it
    watch = start_watch(client, workshop.sandbox, options=WatchOptions(top_up=RULE))
    first = watch.poll()
    outcomes = sorted((t.name, t.outcome, t.added) for t in first.top_ups)
    # 2.50 USD in all: two whole top-ups, a third cut to what is left, the fourth stopped.
    assert [o for _n, o, _a in outcomes].count("done") == 3
    assert sorted(a for _n, o, a in outcomes if o == "done") == [0.5, 1.0, 1.0]
    (stopped,) = [t for t in first.top_ups if t.outcome == "stopped"]
    assert stopped.detail == "--max-total reached: not topped up"
    server = limits(workshop)
    assert sum(server.values()) == pytest.approx(4 * 1.0 + 2.5)
    # The view shows the limits as they are now.
    assert sorted(k.limit for k in first.poll.keys) == sorted(server.values())

    # Nothing spent since: no key crossed again, nothing is topped up or told again.
    again = watch.poll()
    assert again.top_ups == []
    assert limits(workshop) == server

    # Every top-up is in audit.jsonl (and set-limit's journal saw each new limit).
    audit = [e for e in workshop.audit_events() if e == "top_up"]
    assert len(audit) == 3
    entries = {
        e.email: e for e in Ledger.open(workshop.folder / "output" / "ws" / "state.jsonl").entries()
    }
    assert {email: entries[email].limit for email in server} == server
    assert all(entry.limit_target is None for entry in entries.values())
    watch.__exit__(None, None, None)


def test_a_key_crossing_again_is_topped_up_again_up_to_its_ceiling(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    rule = TopUpRule(amount=1.0, when_left=0.25, share=False, max_per_key=1.5, max_total=10)
    spend(workshop, "ada@example.org", 0.8)
    watch = start_watch(client, workshop.sandbox, options=WatchOptions(top_up=rule))
    assert [(t.name, t.added) for t in watch.poll().top_ups] == [("Ada Lovelace", 1.0)]
    watch.__exit__(None, None, None)
    # Restarted; Ada spends most of the top-up: a second crossing, cut by --max-per-key.
    watch = start_watch(client, workshop.sandbox, options=WatchOptions(top_up=rule))
    assert watch.poll().top_ups == []
    spend(workshop, "ada@example.org", 1.9)
    (second,) = watch.poll().top_ups
    assert (second.outcome, second.added, second.new) == ("done", 0.5, 2.5)
    assert second.detail == "cut to 0.50 USD by --max-per-key"
    spend(workshop, "ada@example.org", 2.45)
    (third,) = watch.poll().top_ups  # a third crossing: the ceiling stops it, and says so
    assert (third.outcome, third.detail) == ("stopped", "--max-per-key reached: not topped up")
    assert watch.poll().top_ups == []  # said once per crossing
    assert workshop.key_of("ada@example.org")["limit"] == 2.5
    watch.__exit__(None, None, None)


@pytest.mark.parametrize("moment", ["patch_applied_unanswered", "patch_not_sent"])
def test_no_double_top_up_after_a_watch_is_killed_mid_top_up(
    workshop: CliWorkshop, moment: str
) -> None:
    sandbox = workshop.sandbox
    ada = spend(workshop, "ada@example.org", 2.5)  # so far over that one top-up leaves it low
    if moment == "patch_applied_unanswered":
        sandbox.force("slow", method="PATCH", seconds=30)
    else:
        sandbox.force(429, method="PATCH", retry_after="30")
    command = ["watch", "ws.csv", "--once", "--top-up", "1", "--when-left", "20%"]
    command += ["--max-per-key", "5", "--max-total", "5"]
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", *command],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        applied = workshop.key_of("ada@example.org")["limit"] == 2.0
        refused = any(r.method == "PATCH" and r.status == 429 for r in sandbox.request_log)
        if applied if moment == "patch_applied_unanswered" else refused:
            break
        time.sleep(0.005)
    process.kill()
    process.wait(timeout=30)
    begun = [e for e in events(workshop.folder) if e["event"] == "top_up_begun"]
    assert [(e["hash"], e["old"], e["new"]) for e in begun] == [(ada, 1.0, 2.0)]
    assert not [e for e in events(workshop.folder) if e["event"] == "top_up_done"]

    sandbox.clear_forced()
    done = workshop.keyprov(*command)
    assert done.returncode == 1, done.stderr  # Ada is still out of budget: worth a report
    assert workshop.key_of("ada@example.org")["limit"] == 2.0, "topped up once, not twice"
    finished = [e for e in events(workshop.folder) if e["event"] == "top_up_done"]
    assert [e["resumed"] for e in finished] == [True]
    # And a later poll does not top Ada up again: this crossing had its top-up.
    workshop.keyprov(*command)
    assert workshop.key_of("ada@example.org")["limit"] == 2.0
    state = Ledger.open(workshop.folder / "output" / "ws" / "state.jsonl")
    assert state.get("ada@example.org").limit == 2.0  # type: ignore[union-attr]
