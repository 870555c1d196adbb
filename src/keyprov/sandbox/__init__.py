"""A local emulator of OpenRouter's management API (keys, guardrails, models), for tests,
demos and benchmarks.

`keyprov.sandbox.command.sandbox_command` is the `keyprov sandbox` CLI; it is not imported here
so that `python -m keyprov.sandbox.command` runs cleanly.
"""

from keyprov.sandbox.faults import Faults
from keyprov.sandbox.options import Behaviour
from keyprov.sandbox.requestlog import RequestRecord
from keyprov.sandbox.server import DEMO_MANAGEMENT_KEY, Sandbox, default_management_key

__all__ = [
    "DEMO_MANAGEMENT_KEY",
    "Behaviour",
    "Faults",
    "RequestRecord",
    "Sandbox",
    "default_management_key",
]
