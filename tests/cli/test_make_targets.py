"""`make handouts` and `make send` run keyprov as the README shows (`make -n`: nothing runs)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


@pytest.mark.parametrize("target", ["handouts", "send"])
def test_a_make_target_runs_keyprov_with_the_roster_and_args(target: str) -> None:
    shown = subprocess.run(
        ["make", "-n", target, "ROSTER=roster/example.csv", "ARGS=--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f'.venv/bin/keyprov {target} "roster/example.csv" --dry-run' in shown.stdout
