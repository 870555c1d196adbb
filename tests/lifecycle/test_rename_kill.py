"""rename-keys SIGKILLed half-way through 100 keys: every command still finds every key, and
the rerun finishes the job, one pseudonymous key per participant."""

from __future__ import annotations

import subprocess
import sys
import time

from keyprov.sandbox import Faults, Sandbox
from keyprov.workshop.journal import Ledger
from keyprov.workshop.keynames import (
    NameMode,
    NamingPolicy,
    is_pseudonym,
    read_about,
    workshop_prefix,
)
from tests.helpers import CliWorkshop, keyprov_process_env, make_roster

PARTICIPANTS = 100
EMAILS = [f"person{i}@example.org" for i in range(PARTICIPANTS)]


def forms(workshop: CliWorkshop) -> dict[str, int]:
    """How many of the workshop's keys carry a readable name and how many a pseudonym."""
    prefix = workshop_prefix("ws")
    counts = {"readable": 0, "pseudonymous": 0}
    for key in workshop.sandbox.keys():
        assert key["name"].startswith(prefix)
        suffix = key["name"][len(prefix) :]
        counts["pseudonymous" if is_pseudonym(suffix) else "readable"] += 1
    return counts


def killed_after(workshop: CliWorkshop, patches: int, *options: str) -> None:
    """Start rename-keys in its own process; SIGKILL it once the server has answered
    `patches` renames."""
    workshop.sandbox.clear_log()
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "rename-keys", "ws.csv", *options],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            answered = [r for r in workshop.sandbox.request_log if r.method == "PATCH"]
            if len(answered) >= patches:
                break
            time.sleep(0.002)
        assert process.poll() is None, "the run ended before it could be killed"
        process.kill()
    finally:
        process.wait(timeout=30)
    settled(workshop.sandbox)


def settled(sandbox: Sandbox) -> None:
    """Until the sandbox has logged the request the killed run was sending (its connection
    closes half-way, and it is answered 400), so later commands' logs hold only their own."""
    deadline = time.monotonic() + 10
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(sandbox.request_log)
        if count != seen:
            seen, quiet_since = count, time.monotonic()
        elif time.monotonic() - quiet_since > 0.3:
            return
        time.sleep(0.01)


def test_rename_keys_killed_mid_way_and_rerun_leaves_one_pseudonymous_key_each(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, PARTICIPANTS)
    assert workshop.provision("--key-names", "readable").returncode == 0
    hashes = {key["hash"] for key in workshop.sandbox.keys()}
    state = workshop.folder / "output" / "ws" / "state.jsonl"
    workshop.sandbox.faults = Faults(latency=0.01)  # time to be killed half-way

    killed_after(workshop, 30)

    half = forms(workshop)
    assert half["pseudonymous"] >= 30 and half["readable"] > 0, half
    # Both files already hold the secret the pseudonyms are made with.
    naming = Ledger.open(state).replayed.naming
    assert naming is not None and naming[0] == "pseudonymous"
    assert read_about(state.parent / "keys.xlsx").naming == naming
    # Half-way, provision finds every key (by either name) and creates nothing: even from
    # keys.xlsx alone, the state lost along with the run.
    workshop.sandbox.faults = Faults()
    state.unlink()
    assert workshop.provision().returncode == 0 and workshop.calls("POST") == []
    assert workshop.provision().returncode == 0 and workshop.writes() == []

    rerun = workshop.keyprov("rename-keys", "ws.csv")

    assert rerun.returncode == 0, rerun.stderr
    assert len(workshop.calls("PATCH")) == half["readable"], "only what was left"
    assert forms(workshop) == {"readable": 0, "pseudonymous": PARTICIPANTS}
    assert {key["hash"] for key in workshop.sandbox.keys()} == hashes, "the same 100 keys"
    policy = NamingPolicy(NameMode.PSEUDONYMOUS, Ledger.open(state).replayed.naming[1])
    index = policy.index("ws", EMAILS)
    whose = sorted(index.identity_of(key["name"]) for key in workshop.sandbox.keys())
    assert whose == sorted(EMAILS), "one key per participant"
    assert workshop.provision().returncode == 0 and workshop.writes() == []
    assert workshop.keyprov("check", "ws.csv").returncode == 0

    # And back to readable, killed half-way too.
    workshop.sandbox.faults = Faults(latency=0.01)
    killed_after(workshop, 30, "--to", "readable")
    workshop.sandbox.faults = Faults()
    half = forms(workshop)
    assert half["readable"] >= 30 and half["pseudonymous"] > 0, half
    assert workshop.provision().returncode == 0 and workshop.writes() == []
    back = workshop.keyprov("rename-keys", "ws.csv", "--to", "readable")
    assert back.returncode == 0, back.stderr
    names = sorted(key["name"] for key in workshop.sandbox.keys())
    assert names == sorted(f"keyprov:ws:{email}" for email in EMAILS)
    assert workshop.keyprov("check", "ws.csv").returncode == 0
