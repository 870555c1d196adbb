"""Every text keyprov shows a person, as pure functions of a result.

Nothing here prints, calls the server or reads a file: the CLI echoes what these return, and
tests compare it exactly. One module per kind of text: `plan` (the dry run), `run` (the end
of a provisioning run), `progress` (while it runs), `lifecycle` (check, report and the key
changes), `distribute` (handouts, send), `setup` (doctor, usage errors), `text` (the pieces
they share).
"""

from keyprov.render.distribute import (
    handouts_lines,
    send_dry_run_lines,
    send_lines,
    send_progress_line,
    send_start_line,
)
from keyprov.render.lifecycle import (
    change_lines,
    check_lines,
    check_verdict,
    report_lines,
    revoke_lines,
)
from keyprov.render.plan import ACTION_TITLES, dry_run_lines, plan_lines
from keyprov.render.progress import (
    bar_line,
    eta_seconds,
    listing_line,
    progress_line,
    stopping_line,
)
from keyprov.render.run import (
    attention_lines,
    history_lines,
    provision_lines,
    result_table,
    summary_line,
)
from keyprov.render.setup import doctor_lines, usage_error_lines
from keyprov.render.text import Lines

__all__ = [
    "ACTION_TITLES",
    "Lines",
    "attention_lines",
    "bar_line",
    "change_lines",
    "check_lines",
    "check_verdict",
    "doctor_lines",
    "dry_run_lines",
    "eta_seconds",
    "handouts_lines",
    "history_lines",
    "listing_line",
    "plan_lines",
    "progress_line",
    "provision_lines",
    "report_lines",
    "result_table",
    "revoke_lines",
    "send_dry_run_lines",
    "send_lines",
    "send_progress_line",
    "send_start_line",
    "stopping_line",
    "summary_line",
    "usage_error_lines",
]
