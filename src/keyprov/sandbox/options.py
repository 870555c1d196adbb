"""Where the contract is unknown ([U]), what the sandbox does, switchable per sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

UNKNOWN_SUBJECT_POLICIES = ("skip", "404", "400")
MANAGEMENT_KEY_ON_MODELS_USER = ("all", "403")


@dataclass
class Behaviour:
    """Mutable, like `Faults`: a running sandbox reads it on every request.

    - `unknown_assignment`: a bulk (un)assign naming a key hash (or member) that does not
      exist: "skip" it and leave it out of the count (the contract's sandbox default), or
      refuse the whole call with "404" or "400", changing nothing.
    - `normal_key_status`: what a normal (non-management) key gets on /guardrails*: 403
      (documented for POST /guardrails) or 401.
    - `models_user_management_key`: what GET /models/user answers the management key, which
      has no guardrail of its own: "all" (the account's unfiltered view) or "403".
    - `models_user_text_only`: whether /models/user, like /models, lists only text-output
      models (it takes no `output_modalities` to ask for others).
    """

    unknown_assignment: str = "skip"
    normal_key_status: int = 403
    models_user_management_key: str = "all"
    models_user_text_only: bool = True

    def __post_init__(self) -> None:
        if self.unknown_assignment not in UNKNOWN_SUBJECT_POLICIES:
            raise ValueError(f"unknown_assignment must be one of {UNKNOWN_SUBJECT_POLICIES}")
        if self.normal_key_status not in (401, 403) or isinstance(self.normal_key_status, bool):
            raise ValueError("normal_key_status must be 401 or 403")
        if self.models_user_management_key not in MANAGEMENT_KEY_ON_MODELS_USER:
            raise ValueError(
                f"models_user_management_key must be one of {MANAGEMENT_KEY_ON_MODELS_USER}"
            )
        if not isinstance(self.models_user_text_only, bool):
            raise ValueError("models_user_text_only must be true or false")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Behaviour:
        known = {f.name for f in fields(cls)}
        for name in data:
            if name not in known:
                raise ValueError(f"unknown behaviour {name!r}; expected one of {sorted(known)}")
        return cls(**data)
