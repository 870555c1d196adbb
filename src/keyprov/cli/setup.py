"""`keyprov doctor` and `keyprov sandbox`: the set-up around the workshop."""

from __future__ import annotations

import sys
from pathlib import Path

from keyprov.cli.common import cli, echo
from keyprov.cli.options import out_option
from keyprov.lifecycle.doctor import run_doctor
from keyprov.render.setup import doctor_lines
from keyprov.sandbox.command import sandbox_command
from keyprov.status import ExitStatus


@cli.command("doctor", short_help="Check the set-up: the key, its kind, the outputs' safety.")
@out_option("The outputs folder to inspect.")
def doctor_command(out_dir: Path) -> None:
    """Check the set-up: the key, its kind, and how safely the outputs are stored.

    Reports whether the provisioning key is present (never its value), whether the server
    accepts it as a management key, the permissions of the outputs, and whether they are
    git-ignored. Exits 0 when every check passes, 1 otherwise.

    \b
    Example:
        keyprov doctor
        keyprov doctor --out /secure/keyprov-output
    """
    checks = run_doctor(out_dir or Path("output"))
    echo(doctor_lines(checks))
    sys.exit(ExitStatus.OK if all(check.ok for check in checks) else ExitStatus.INCOMPLETE)


cli.add_command(sandbox_command, "sandbox")
