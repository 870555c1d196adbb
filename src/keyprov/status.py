"""Every way a keyprov command can end, as a named exit code."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    """Every participant has a working key (or the command did all it was asked)."""
    INCOMPLETE = 1
    """Some participants were not provisioned; a rerun continues where this one stopped."""
    BAD_INPUT = 2
    """Bad roster, bad option or missing configuration: nothing was created."""
    INTERRUPTED = 130
    """Ctrl-C or SIGTERM; what was created is in the local state."""
