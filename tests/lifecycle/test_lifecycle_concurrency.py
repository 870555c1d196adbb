"""set-limit, revoke, rotate and rename-keys send their per-key requests many at once, as
provision does, and stay exact: every key changed once, whatever the server's latency, 5xx,
429s or a signal mid-way. Overlap is read from the sandbox's request log, never from a clock."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from keyprov.engine.fanout import fan_out
from keyprov.sandbox import Faults, RequestRecord, Sandbox
from keyprov.workshop.journal import Ledger
from tests.helpers import CliWorkshop, most_at_once, signalled_mid_way

KEY_PATH = "/api/v1/keys/"
LATENCY = 0.1
"""Long enough that requests sent together are still in flight together on a slow machine."""
OVERLAP = 8
"""The least that counts as "at once": far below the 64 sent, far above one at a time."""


def per_key(workshop: CliWorkshop, method: str) -> list[RequestRecord]:
    """This command's requests for one key each (not the listing), answered 2xx."""
    return [
        r
        for r in workshop.calls(method)
        if r.path.startswith(KEY_PATH) and r.status is not None and r.status < 300
    ]


def hashes_of(records: list[RequestRecord]) -> list[str]:
    return sorted(r.path[len(KEY_PATH) :] for r in records)


def all_hashes(sandbox: Sandbox) -> list[str]:
    return sorted(str(key["hash"]) for key in sandbox.keys())


def audit_hashes(workshop: CliWorkshop, event: str) -> set[str]:
    text = (workshop.folder / "output" / "ws" / "audit.jsonl").read_text()
    records = [json.loads(line) for line in text.splitlines()]
    return {record["hash"] for record in records if record["event"] == event}


def test_set_limit_add_reads_every_limit_then_writes_every_key_at_once(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(40, "--quiet")
    workshop.sandbox.faults = Faults(latency=LATENCY)

    done = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "1")

    assert done.returncode == 0, done.stdout + done.stderr
    assert [key["limit"] for key in workshop.sandbox.keys()] == [2] * 40
    gets, patches = per_key(workshop, "GET"), per_key(workshop, "PATCH")
    everyone = all_hashes(workshop.sandbox)
    assert hashes_of(gets) == hashes_of(patches) == everyone, "one read, one write per key"
    assert most_at_once(gets) >= OVERLAP and most_at_once(patches) >= OVERLAP
    # Every new limit is known (and journaled) before the first is sent.
    assert max(r.finished for r in gets) <= min(r.started for r in patches)
    emails = [line.split()[1] for line in done.stdout.splitlines() if line[:2] == "ok"]
    assert emails == [f"person{i}@example.org" for i in range(40)], "in the roster's order"


def test_revoke_disables_then_deletes_every_key_at_once(workshop: CliWorkshop) -> None:
    workshop.provisioned(40, "--quiet")
    everyone = all_hashes(workshop.sandbox)
    workshop.sandbox.faults = Faults(latency=LATENCY)

    done = workshop.keyprov("revoke", "ws.csv", "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("ws: 40 keys disabled")
    assert all(key["disabled"] for key in workshop.sandbox.keys())
    patches = per_key(workshop, "PATCH")
    assert hashes_of(patches) == everyone and most_at_once(patches) >= OVERLAP
    assert audit_hashes(workshop, "key_disabled") == set(everyone)
    assert workshop.keyprov("revoke", "ws.csv", "--yes").returncode == 0 and workshop.writes() == []

    done = workshop.keyprov("revoke", "ws.csv", "--delete", "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    assert workshop.sandbox.keys() == []
    deletes = per_key(workshop, "DELETE")
    assert hashes_of(deletes) == everyone and most_at_once(deletes) >= OVERLAP


def test_concurrency_caps_the_requests_in_flight(workshop: CliWorkshop) -> None:
    workshop.provisioned(12, "--quiet")
    workshop.sandbox.faults = Faults(latency=0.05)

    done = workshop.keyprov("revoke", "ws.csv", "--yes", "--concurrency", "3")

    assert done.returncode == 0, done.stdout + done.stderr
    patches = per_key(workshop, "PATCH")
    assert len(patches) == 12 and 2 <= most_at_once(patches) <= 3


def test_rotate_all_stores_every_successor_then_disables_the_old_keys_at_once(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(30, "--quiet")
    old = all_hashes(workshop.sandbox)
    workshop.sandbox.faults = Faults(latency=LATENCY)

    done = workshop.keyprov("rotate", "ws.csv", "--all", "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    enabled = [key for key in workshop.sandbox.keys() if not key["disabled"]]
    assert len(enabled) == 30 and not {key["hash"] for key in enabled} & set(old)
    assert sorted(key["hash"] for key in workshop.sandbox.keys() if key["disabled"]) == old
    creates, disables = workshop.calls("POST"), per_key(workshop, "PATCH")
    assert hashes_of(disables) == old, "each old key disabled once"
    assert most_at_once(creates) >= OVERLAP and most_at_once(disables) >= OVERLAP
    assert max(r.finished for r in creates) <= min(r.started for r in disables), "new first"
    workshop.sandbox.faults = Faults()
    assert workshop.keyprov("check", "ws.csv").returncode == 0


def test_rename_keys_renames_every_key_at_once(workshop: CliWorkshop) -> None:
    workshop.provisioned(30, "--quiet", "--key-names", "readable")
    workshop.sandbox.faults = Faults(latency=LATENCY)

    done = workshop.keyprov("rename-keys", "ws.csv")

    assert done.returncode == 0, done.stdout + done.stderr
    patches = per_key(workshop, "PATCH")
    assert hashes_of(patches) == all_hashes(workshop.sandbox), "each key renamed once"
    assert most_at_once(patches) >= OVERLAP
    assert not any("@" in str(key["name"]) for key in workshop.sandbox.keys())
    workshop.sandbox.faults = Faults()
    assert workshop.provision().returncode == 0 and workshop.writes() == []


def test_a_faulty_rate_limited_server_still_ends_with_every_key_changed_once(
    workshop: CliWorkshop,
) -> None:
    """With the real backoff: 5xx and 429s are retried (PATCH is absolute: a resend adds
    nothing), and nothing is given up on."""
    workshop.provisioned(40, "--quiet")
    workshop.sandbox.faults = Faults(error_rate=0.15, rate_limit=40, burst=8, seed=5)

    done = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "1")

    assert done.returncode == 0, done.stdout + done.stderr
    assert [key["limit"] for key in workshop.sandbox.keys()] == [2] * 40, "+1 each, once"
    statuses = {r.status for r in workshop.sandbox.request_log}
    assert 429 in statuses and statuses & {500, 502, 503}, statuses

    done = workshop.keyprov("revoke", "ws.csv", "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    assert all(key["disabled"] for key in workshop.sandbox.keys())
    workshop.sandbox.faults = Faults()
    done = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "1")
    assert done.returncode == 0 and [k["limit"] for k in workshop.sandbox.keys()] == [3] * 40


# More keys than requests in flight at once (64), each slow enough that the signal lands
# while some are still to be sent.
MANY = 150
SLOW = 0.2


def test_a_sigterm_mid_set_limit_journals_what_was_sent_and_the_rerun_adds_once(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(MANY, "--quiet")
    workshop.sandbox.faults = Faults(latency=SLOW)

    signalled_mid_way(workshop, signal.SIGTERM, "set-limit", "ws.csv", "--all", "--add", "2")

    server = {key["hash"]: key["limit"] for key in workshop.sandbox.keys()}
    assert set(server.values()) == {1, 3}, "stopped part-way"
    entries = Ledger.open(workshop.folder / "output" / "ws" / "state.jsonl").entries()
    # Every PATCH in flight was waited for and journaled; the rest are journaled as to send.
    for entry in entries:
        assert entry.limit == server[entry.hash], entry.identity
        assert entry.limit_target == (3 if server[entry.hash] == 1 else None), entry.identity
    left = sum(limit == 1 for limit in server.values())

    workshop.sandbox.faults = Faults()
    done = workshop.keyprov("set-limit", "ws.csv", "--all", "--add", "2")

    assert done.returncode == 0, done.stdout + done.stderr
    assert [key["limit"] for key in workshop.sandbox.keys()] == [3] * MANY, "+2 each, once"
    assert len(per_key(workshop, "PATCH")) == left, "only the limits still to send"


def test_a_sigint_mid_revoke_exits_130_and_the_rerun_disables_only_the_rest(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(MANY, "--quiet")
    workshop.sandbox.faults = Faults(latency=SLOW)

    signalled_mid_way(workshop, signal.SIGINT, "revoke", "ws.csv", "--yes")

    disabled = {str(key["hash"]) for key in workshop.sandbox.keys() if key["disabled"]}
    assert 0 < len(disabled) < MANY, "stopped part-way"
    assert audit_hashes(workshop, "key_disabled") == disabled, "each disable in flight audited"

    workshop.sandbox.faults = Faults()
    done = workshop.keyprov("revoke", "ws.csv", "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    assert all(key["disabled"] for key in workshop.sandbox.keys())
    assert not set(hashes_of(per_key(workshop, "PATCH"))) & disabled, "none disabled twice"


def test_fan_out_keeps_the_order_and_stops_starting_calls_after_an_error() -> None:
    started: list[int] = []
    lock = threading.Lock()
    in_flight = threading.Barrier(4)

    def call(item: int) -> int:
        with lock:
            started.append(item)
        if item < 4:
            in_flight.wait(timeout=10)  # the first four are in flight together
        if item == 3:
            raise ValueError("refused")
        time.sleep(0.05)
        return item * 10

    assert fan_out(list(range(20)), lambda item: item * 10, concurrency=4) == [
        item * 10 for item in range(20)
    ]
    stop = threading.Event()
    with pytest.raises(ValueError, match="refused"):
        fan_out(list(range(100)), call, concurrency=4, stop=stop)
    assert stop.is_set()
    settled = len(started)
    time.sleep(0.2)
    assert len(started) == settled < 100, "nothing starts after the error, nothing runs on"
