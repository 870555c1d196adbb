"""Every text keyprov shows a person, as pure functions of a result.

Nothing here prints, calls the server or reads a file: the CLI echoes what these return, and
tests compare it exactly. One module per kind of text: `plan` (the dry run), `run` (the end
of a provisioning run), `progress` (while it runs), `lifecycle` (check, report and the key
changes), `distribute` (handouts, send), `setup` (doctor, usage errors), `text` (the pieces
they share).

Each name is imported from its module when first used (PEP 562), so a command pays only
for the texts it shows.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ACTION_TITLES": "plan",
    "Lines": "text",
    "attention_lines": "run",
    "bar_line": "progress",
    "change_lines": "lifecycle",
    "check_lines": "lifecycle",
    "check_verdict": "lifecycle",
    "doctor_lines": "setup",
    "dry_run_lines": "plan",
    "eta_seconds": "progress",
    "handouts_lines": "distribute",
    "history_lines": "run",
    "listing_line": "progress",
    "plan_lines": "plan",
    "progress_line": "progress",
    "provision_lines": "run",
    "report_lines": "lifecycle",
    "result_table": "run",
    "revoke_lines": "lifecycle",
    "send_dry_run_lines": "distribute",
    "send_lines": "distribute",
    "send_progress_line": "distribute",
    "send_start_line": "distribute",
    "send_warnings": "distribute",
    "stopping_line": "progress",
    "summary_line": "run",
    "usage_error_lines": "setup",
}
"""Each public name and the module of this package that defines it."""

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
