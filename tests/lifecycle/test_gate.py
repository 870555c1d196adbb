"""Keys that work only while the workshop is open: provision --closed, open, close, check."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from keyprov.sandbox import Sandbox
from tests.helpers import CliWorkshop, keyprov_process_env, make_roster


def enabled(sandbox: Sandbox) -> list[dict]:
    return [key for key in sandbox.keys() if not key["disabled"]]


def test_provision_closed_makes_every_key_disabled_and_check_is_ready(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 4)
    done = workshop.provision("--closed")
    assert done.returncode == 0, done.stderr
    assert len(workshop.sandbox.keys()) == 4 and enabled(workshop.sandbox) == []
    # Created, then disabled: one PATCH each, nothing else.
    patches = workshop.calls("PATCH")
    assert len(patches) == 4 and all(json.loads(r.body) == {"disabled": True} for r in patches)
    assert "the workshop is closed" in done.stderr
    check = workshop.keyprov("check", "ws.csv")
    assert check.returncode == 0, check.stdout
    assert "gate:        closed" in check.stdout
    # A rerun keeps it as it is, and a late registration is created closed too.
    make_roster(workshop.roster, 5)
    rerun = workshop.provision()
    assert rerun.returncode == 0, rerun.stderr
    assert len(workshop.sandbox.keys()) == 5 and enabled(workshop.sandbox) == []
    assert len(workshop.calls("POST")) == 1 and len(workshop.calls("PATCH")) == 1


def test_open_then_close_switch_every_key_and_a_second_run_changes_nothing(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--closed").returncode == 0
    opened = workshop.keyprov("open", "ws.csv")
    assert opened.returncode == 0, opened.stderr
    assert len(enabled(workshop.sandbox)) == 3
    assert "ws: open; 3 keys enabled" in opened.stdout
    assert workshop.keyprov("check", "ws.csv").returncode == 0
    assert workshop.keyprov("open", "ws.csv").returncode == 0
    assert workshop.writes() == [], "a second open changes nothing"

    # No terminal to ask (tests have none): close refuses without --yes, and changes nothing.
    refused = workshop.keyprov("close", "ws.csv")
    assert refused.returncode == 2
    assert "add --yes" in refused.stderr and "3 keys" in refused.stderr
    assert workshop.writes() == [] and len(enabled(workshop.sandbox)) == 3

    closed = workshop.keyprov("close", "ws.csv", "--yes")
    assert closed.returncode == 0, closed.stderr
    assert enabled(workshop.sandbox) == []
    assert "ws: closed; 3 keys disabled" in closed.stdout
    assert workshop.keyprov("close", "ws.csv", "--yes").returncode == 0
    assert workshop.writes() == [], "a second close changes nothing"
    check = workshop.keyprov("check", "ws.csv")
    assert check.returncode == 0, check.stdout
    events = workshop.audit_events()
    assert events.count("gate") >= 3  # provision --closed, open, close


def test_an_open_workshop_with_a_disabled_key_is_not_ready(workshop: CliWorkshop, client) -> None:
    workshop.provisioned(2)
    client.update_key(workshop.key_of("person0@example.org")["hash"], disabled=True)
    check = workshop.keyprov("check", "ws.csv")
    assert check.returncode == 1
    assert "its key is disabled" in check.stdout and "gate:        open" in check.stdout


def test_closed_refuses_a_workshop_with_working_keys_and_reenable_a_closed_one(
    workshop: CliWorkshop,
) -> None:
    workshop.provisioned(2)
    refused = workshop.provision("--closed")
    assert refused.returncode == 2
    assert "keyprov close" in refused.stderr and workshop.writes() == []
    assert workshop.keyprov("close", "ws.csv", "--yes").returncode == 0
    reenable = workshop.provision("--reenable")
    assert reenable.returncode == 2 and "keyprov open" in reenable.stderr
    assert enabled(workshop.sandbox) == []


def test_a_closed_provision_stopped_before_disabling_is_finished_by_its_rerun(
    workshop: CliWorkshop,
) -> None:
    """Killed after the creates were answered and before any disable reached the server:
    the keys are enabled on the server; the rerun disables them and creates nothing."""
    make_roster(workshop.roster, 6)
    workshop.sandbox.force(503, 100, method="PATCH")  # every disable is refused, then retried
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "provision", "ws.csv", "--closed", "--quiet"],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any(r.method == "PATCH" for r in workshop.sandbox.request_log):
            break
        time.sleep(0.005)
    process.kill()
    process.wait(timeout=30)
    assert len(workshop.sandbox.keys()) == 6 and len(enabled(workshop.sandbox)) == 6
    state = (workshop.folder / "output" / "ws" / "state.jsonl").read_text().splitlines()
    gates = [json.loads(line) for line in state if '"gate"' in line]
    assert [record["closed"] for record in gates] == [True], "journaled before the creates"

    workshop.sandbox.clear_forced()
    rerun = workshop.provision()
    assert rerun.returncode == 0, rerun.stderr
    assert len(workshop.sandbox.keys()) == 6 and enabled(workshop.sandbox) == []
    assert workshop.calls("POST") == []


def test_open_leaves_replaced_and_pruned_keys_disabled(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0
    rotated = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert rotated.returncode == 0, rotated.stderr
    make_roster(workshop.roster, 2)  # person2 cancelled
    assert workshop.provision("--prune").returncode == 0
    assert workshop.keyprov("close", "ws.csv", "--yes").returncode == 0
    assert enabled(workshop.sandbox) == []
    assert workshop.keyprov("open", "ws.csv").returncode == 0
    names = {key["name"] for key in enabled(workshop.sandbox)}
    assert len(enabled(workshop.sandbox)) == 2, "the two current keys, nothing else"
    assert names == {workshop.key_name(f"person{i}@example.org") for i in (0, 1)}


def test_watch_shows_a_closed_workshop_as_waiting_not_as_broken(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--closed").returncode == 0

    closed = workshop.keyprov("watch", "ws.csv", "--once")

    assert closed.returncode == 0, closed.stdout + closed.stderr  # nothing for cron to report
    (poll,) = [json.loads(text) for text in closed.stdout.splitlines()]
    assert poll["closed"] is True and poll["keys_waiting"] == 3 and poll["keys_enabled"] == 0

    assert workshop.keyprov("open", "ws.csv").returncode == 0
    opened = workshop.keyprov("watch", "ws.csv", "--once")
    (poll,) = [json.loads(text) for text in opened.stdout.splitlines()]
    assert poll["closed"] is False and poll["keys_waiting"] == 0 and poll["keys_enabled"] == 3


def test_the_watch_view_of_a_closed_workshop_says_closed_and_lists_the_keys_as_waiting(
    workshop: CliWorkshop, client
) -> None:
    from keyprov.render import watch as view
    from tests.lifecycle.watching import start_watch

    make_roster(workshop.roster, 3)
    assert workshop.provision("--closed").returncode == 0
    watch = start_watch(client, workshop.sandbox)
    try:
        lines = [
            text for text, _style in view.watch_view(watch.poll(), width=120, height=30, every=30)
        ]
    finally:
        watch.__exit__(None, None, None)
    assert any(text.startswith("CLOSED: 3 keys disabled until `keyprov open`") for text in lines)
    assert any(text.startswith("WAITING (3)") for text in lines)
    assert not any(text.startswith("NOT WORKING") for text in lines)
