"""Provision a roster: one capped key per participant, rerun-safe (see `provision`).

`settings` holds what a run is asked and what it did; `run` the run itself, with its dry
run; `credits` the credits preflight; `guarded` the workshop's guardrail during a run.
"""

from keyprov.engine.creator import DEFAULT_CONCURRENCY
from keyprov.engine.outcomes import Outcome, ParticipantResult
from keyprov.provision.result import ProvisionResult
from keyprov.provision.run import provision
from keyprov.provision.settings import ProvisionSettings, load_roster

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Outcome",
    "ParticipantResult",
    "ProvisionResult",
    "ProvisionSettings",
    "load_roster",
    "provision",
]
