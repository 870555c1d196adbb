"""`make demo`: provision the example roster against a sandbox on a free loopback port, then
write the handouts (printable slips and a mail-merge file).

The sandbox runs in this process; `keyprov provision` and `keyprov handouts` run as separate
processes over real HTTP, exactly as an instructor would run them against OpenRouter. The
sandbox's state is kept in the output folder, so running the demo again shows a safe rerun:
nothing is duplicated.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from keyprov.api.config import BASE_URL_VARIABLE, KEY_VARIABLE
from keyprov.files import ensure_private_dir
from keyprov.sandbox import Sandbox, default_management_key
from keyprov.workshop.registry import HOME_VARIABLE


def run_demo(roster: Path, out_dir: Path, limit: float) -> int:
    ensure_private_dir(out_dir)
    state = out_dir / ".sandbox-state.json"
    management_key = default_management_key()  # yours if set, else the sandbox's demo key
    with Sandbox(management_key, state_path=state) as sandbox:
        print(f"sandbox: {sandbox.base_url} (state in {state})")
        env = {
            **os.environ,
            KEY_VARIABLE: management_key,
            BASE_URL_VARIABLE: sandbox.base_url,
            # The demo's workshop lives and dies with its sandbox: its own list of workshops,
            # so that a clone's demo never meets another clone's.
            HOME_VARIABLE: str((out_dir / ".demo-home").absolute()),
        }
        status = _keyprov(
            ["provision", str(roster), "--out", str(out_dir), "--limit", str(limit)], env
        )
        if status == 0:
            status = _keyprov(["handouts", str(roster), "--out", str(out_dir)], env)
        print(f"sandbox now holds {len(sandbox.keys())} keys; it stops with the demo.")
    return status


def _keyprov(arguments: list[str], env: dict[str, str]) -> int:
    print("$ keyprov", " ".join(arguments), flush=True)
    command = [sys.executable, "-m", "keyprov", *arguments]
    return subprocess.run(command, env=env, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--roster", type=Path, default=Path("roster/example.csv"))
    # Its own folder: the README's walk-through against `make sandbox` uses output/example,
    # and the two must never share a state (their keys are on different sandboxes).
    parser.add_argument("--out", type=Path, default=Path("output") / "demo")
    parser.add_argument("--limit", type=float, default=1.0)
    args = parser.parse_args()
    sys.exit(run_demo(args.roster, args.out, args.limit))


if __name__ == "__main__":
    main()
