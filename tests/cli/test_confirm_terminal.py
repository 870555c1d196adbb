"""On a real terminal, revoke and rotate --all ask for the workshop's name before any change."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.helpers import CliWorkshop, keyprov_process_env, make_roster

pty = pytest.importorskip("pty", reason="a pseudo-terminal needs POSIX")


def on_a_terminal(workshop: CliWorkshop, answer: str, *command: str) -> tuple[int, str]:
    """Run `keyprov command` with a pseudo-terminal as stdin, stdout and stderr; type
    `answer` once the question is on the screen. Returns the exit code and the screen."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", *command],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    screen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the process ended and closed the terminal
            break
        if not chunk:
            break
        screen += chunk
        if not answered and b"to go on, anything else to stop" in screen:
            os.write(controller, answer.encode() + b"\r")
            answered = True
    code = process.wait(timeout=60)
    os.close(controller)
    return code, screen.decode(errors="replace").replace("\r\n", "\n")


def test_revoke_on_a_terminal_goes_on_only_when_the_workshop_is_named(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision().returncode == 0

    code, screen = on_a_terminal(workshop, "wrong", "revoke", "ws.csv")
    assert code == 2, screen
    assert "revoke: 3 keys of workshop ws stop working now." in screen
    assert "Type the workshop's name (ws) to go on, anything else to stop" in screen
    assert "Nothing was changed." in screen
    assert not any(key["disabled"] for key in workshop.sandbox.keys())

    code, screen = on_a_terminal(workshop, "ws", "revoke", "ws.csv")
    assert code == 0, screen
    assert all(key["disabled"] for key in workshop.sandbox.keys())
    assert "revoking ws  [" in screen, "the bar, as provision draws it"
    assert "ws: 3 keys disabled" in screen


def test_rotate_all_on_a_terminal_says_what_follows_before_asking(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision().returncode == 0
    before = {key["hash"] for key in workshop.sandbox.keys()}

    code, screen = on_a_terminal(workshop, "ws", "rotate", "ws.csv", "--all")

    assert code == 0, screen
    assert "rotate: 2 keys of workshop ws stop working now, each replaced by a new key." in screen
    assert "Afterwards every new key must be handed out again." in screen
    enabled = {key["hash"] for key in workshop.sandbox.keys() if not key["disabled"]}
    assert len(enabled) == 2 and not enabled & before
