"""Output that cannot fail for a character: names from any roster, on any console or pipe.

A Windows console shows every character, but output redirected to a file or a pipe is encoded
in the machine's code page (cp1252, say), which has no 山田 or Ŗ. Python then raises
UnicodeEncodeError for stdout, in the middle of a summary, after the work was done. Such a
character is written as an escape (`\\u5c71`) instead: the line stays readable and the command
ends with its own exit code.
"""

from __future__ import annotations

import contextlib
import io
import sys


def never_fail_on_characters() -> None:
    """Make stdout and stderr write what their encoding lacks as escapes, not raise."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            with contextlib.suppress(ValueError, OSError):  # a closed or detached stream
                stream.reconfigure(errors="backslashreplace")
