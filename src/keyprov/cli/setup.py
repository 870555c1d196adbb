"""`keyprov doctor` and `keyprov sandbox`: the set-up around the workshop."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyprov.cli.common import cli, echo
from keyprov.cli.options import out_option
from keyprov.lifecycle.doctor import run_doctor
from keyprov.render.setup import doctor_lines
from keyprov.sandbox.command import sandbox_command
from keyprov.status import ExitStatus


@cli.command("doctor", short_help="Check the set-up: the key, the credits, outputs and rosters.")
@click.argument("roster", required=False, type=click.Path(path_type=Path, dir_okay=False))
@out_option("The outputs folder to inspect.")
def doctor_command(roster: Path | None, out_dir: Path) -> None:
    """Check the set-up: the key, its kind, the credits, and how safely files are stored.

    Reports whether the provisioning key is present (never its value), whether the server
    accepts it as a management key, the credits left on the account, the permissions of the
    workshops' outputs and whether they are git-ignored, and whether git would add a roster
    (personal data) from roster/. With ROSTER, it is also read as provision would read it.
    Exits 0 when every check passes, 1 otherwise.

    \b
    Example:
        keyprov doctor
        keyprov doctor roster/bssdh.csv
        keyprov doctor --out /secure/keyprov-output
    """
    checks = run_doctor(out_dir or Path("output"), roster=roster)
    echo(doctor_lines(checks))
    sys.exit(ExitStatus.OK if all(check.ok for check in checks) else ExitStatus.INCOMPLETE)


cli.add_command(sandbox_command, "sandbox")
