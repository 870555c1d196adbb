"""Every command resumes: stopped at any point, its next run finishes the job, and an
incomplete listing cannot make a command skip a key it knows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from keyprov.models import ApiKey, CreatedKey
from keyprov.sandbox import Faults, Sandbox
from keyprov.workshop.journal import Ledger
from tests.helpers import (
    CliWorkshop,
    invoke,
    keyprov_process_env,
    make_roster,
    sandbox_env,
    signalled_mid_way,
)


def enabled_keys(sandbox: Sandbox) -> list[dict[str, object]]:
    return [key for key in sandbox.keys() if not key["disabled"]]


def successor_stored_then_killed(workshop: CliWorkshop, email: str) -> None:
    """A rotate that stored its new key and died before disabling the old one."""
    old = workshop.key_of(email)
    secret, new = workshop.sandbox.create_key_directly(workshop.key_name(email), limit=1)
    state = workshop.folder / "output" / "ws" / "state.jsonl"
    with Ledger.open(state) as ledger:
        ledger.record_created(
            email,
            CreatedKey(ApiKey.from_json(new), secret),
            name="Person",
            email=email,
            participant_id=None,
            retired=(str(old["hash"]),),
        )


def test_a_rotate_killed_before_disabling_the_old_key_is_finished_by_the_next(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(2)
    successor_stored_then_killed(workshop, "person0@example.org")
    assert len(enabled_keys(workshop.sandbox)) == 3

    check = workshop.keyprov("check", "ws.csv", "--limit", "1")
    assert check.returncode == 1, check.stdout
    assert "the key it replaced is still enabled" in check.stdout

    # Rotating someone else finishes the rotation left behind, too.
    done = workshop.keyprov("rotate", "ws.csv", "--participant", "person1@example.org")
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(str(key["name"]) for key in enabled_keys(workshop.sandbox))
    assert names == sorted(workshop.key_name(f"person{i}@example.org") for i in range(2))
    assert workshop.keyprov("check", "ws.csv", "--limit", "1").returncode == 0


def test_an_interrupted_set_limit_add_is_completed_not_added_twice(
    workshop: CliWorkshop,
) -> None:
    # More keys than PATCHes in flight at once (64), each slow enough that the signal lands
    # while some are still to be sent: stopped part-way, not after the last.
    participants = 150
    workshop.provisioned(participants, "--quiet")
    workshop.sandbox.faults = Faults(latency=0.2)
    command = ["set-limit", "ws.csv", "--all", "--add", "2"]
    signalled_mid_way(workshop, signal.SIGINT, *command)
    limits = [key["limit"] for key in workshop.sandbox.keys()]
    assert 3 in limits and 1 in limits, "stopped part-way"

    workshop.sandbox.faults = Faults()
    done = workshop.keyprov(*command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [key["limit"] for key in workshop.sandbox.keys()] == [3] * participants, (
        "each got +2, once"
    )
    # And a later, new top-up adds again.
    assert workshop.keyprov(*command).returncode == 0
    assert [key["limit"] for key in workshop.sandbox.keys()] == [5] * participants


def test_revoke_disables_every_known_key_though_the_listing_is_short(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(150, "--quiet")
    workshop.sandbox.force("list_short_page", method="GET", path_prefix="/keys")
    done = workshop.keyprov("revoke", "ws.csv", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert enabled_keys(workshop.sandbox) == []


def test_deleting_one_workshop_while_another_provisions_makes_no_duplicate(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    """Offset pages shift when keys are deleted between them: B's listing misses keys."""
    env = sandbox_env(sandbox, management_key)
    make_roster(tmp_path / "b.csv", 150)
    assert invoke(["provision", "b.csv", "--quiet"], env=env, cwd=tmp_path).returncode == 0
    sandbox.faults = Faults(latency=0.004)
    for round_ in range(3):
        sandbox.clear_log()
        make_roster(tmp_path / "a.csv", 150, start=1000 * (round_ + 1))
        assert invoke(["provision", "a.csv", "--quiet"], env=env, cwd=tmp_path).returncode == 0
        # One delete at a time, so that A's keys keep going while B runs twice (at full
        # concurrency they are gone before B's first listing).
        revoke = ["revoke", "a.csv", "--delete", "--yes", "--concurrency", "1"]
        deleting = subprocess.Popen(
            [sys.executable, "-m", "keyprov", *revoke],
            cwd=tmp_path,
            env=keyprov_process_env(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not any(r.method == "DELETE" for r in sandbox.request_log):
            assert time.monotonic() < deadline and deleting.poll() is None
            time.sleep(0.005)
        # Twice, while A's keys go: B's pages shift under its listing.
        reruns = [invoke(["provision", "b.csv", "--quiet"], env=env, cwd=tmp_path) for _ in "ab"]
        still_deleting = deleting.poll() is None
        assert deleting.wait(timeout=120) == 0
        assert still_deleting, "the reruns overlapped the deletes"
        for rerun in reruns:
            assert rerun.returncode in (0, 1), rerun.stderr
            assert " created" not in rerun.stdout, rerun.stdout
        names = [str(k["name"]) for k in sandbox.keys() if str(k["name"]).startswith("keyprov:b:")]
        assert len(names) == 150 == len(set(names)), f"round {round_}: one key each"
