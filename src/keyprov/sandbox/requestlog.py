"""The request log: what each /api/v1 request carried and how it was answered."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class RequestRecord:
    """One /api/v1 request as the sandbox saw it, headers left out (the Authorization header
    above all: the log never holds a credential).

    `path` is as sent (not percent-decoded); `query` maps each parameter to its last value,
    `query_items` keeps every (name, value) pair in order, decoded, and `query_string` is the
    query as sent. `body` is the request body as text ("" when there was none). `status` is
    None for a dropped connection; `finished` is when the answer was ready to send (after any
    "slow" delay), both on the `time.monotonic()` clock.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    started: float
    finished: float
    fault: str | None
    query_string: str = ""
    query_items: tuple[tuple[str, str], ...] = ()
    body: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sent_text(self) -> str:
        """Everything this request carried but its headers, decoded, one part per line.

        For "was X ever sent" assertions: the decoded path and query, the body as sent, and the
        body's JSON again without escapes (a client sends "Zo\\u00eb" for "Zoë").
        """
        parts = [unquote(self.path), *(f"{name}={value}" for name, value in self.query_items)]
        parts.append(self.body)
        with contextlib.suppress(ValueError):
            parts.append(json.dumps(json.loads(self.body), ensure_ascii=False))
        return "\n".join(parts)
