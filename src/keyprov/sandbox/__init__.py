"""A local emulator of OpenRouter's key-management API, for tests, demos and benchmarks.

`keyprov.sandbox.command.sandbox_command` is the `keyprov sandbox` CLI; it is not imported here
so that `python -m keyprov.sandbox.command` runs cleanly.
"""

from keyprov.sandbox.faults import Faults
from keyprov.sandbox.server import (
    DEMO_MANAGEMENT_KEY,
    RequestRecord,
    Sandbox,
    default_management_key,
)

__all__ = [
    "DEMO_MANAGEMENT_KEY",
    "Faults",
    "RequestRecord",
    "Sandbox",
    "default_management_key",
]
