"""doctor's checks, and the lines the command's error boundary prints."""

from __future__ import annotations

from collections.abc import Sequence

from keyprov.lifecycle.doctor import Check
from keyprov.render.text import table


def doctor_lines(checks: Sequence[Check]) -> list[str]:
    return table([("ok" if check.ok else "FAIL", check.name, check.detail) for check in checks])


def usage_error_lines(usage: str | None, command_path: str | None, message: str) -> list[str]:
    """click's usage error as click shows it (usage, then where help is), with keyprov's prefix."""
    lines = []
    if usage is not None:
        lines.append(usage)
        if command_path is not None:
            lines.append(f"Try '{command_path} -h' for help.")
        lines.append("")
    lines.append(f"error: {message}")
    return lines
