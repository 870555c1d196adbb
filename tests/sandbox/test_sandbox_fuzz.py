"""Schema-driven fuzzing of the sandbox's routes against the two contracts.

For each route: generated bodies and query parameters (valid ones, from the request schema,
and broken ones: wrong types, garbage values, arbitrary JSON), sent over HTTP; each answer's
status must be one the contract documents for that route, and its body must match the
contract's shape for that status (the shapes are in test_sandbox_schemas.py). No secret may
appear in any answer but the create that made it.

Two deliberate narrowings, both where the contract lists no 400 for a route: the assignment
lists and GET /models/user get only well-formed paging parameters (the sandbox answers bad
ones 400, as GET /guardrails documents for the same parameters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyprov.sandbox import Sandbox
from tests.sandbox.support import MGMT
from tests.sandbox.test_sandbox_schemas import (
    BOOLEAN,
    CREATED_KEY,
    CURRENT_KEY,
    DELETED,
    ERROR,
    GUARDRAIL,
    INTEGER,
    KEY,
    KEY_ASSIGNMENT,
    MODEL_LIST,
    NUMBER,
    RESET,
    STRING,
    data,
    fuzzed,
    json_values,
    listing,
    nullable,
    obj,
    texts,
    violations,
)

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SECRET = re.compile(r"sk-or-v1-[0-9a-f]{64}")


# -- request shapes: what a client may send ------------------------------------------------------

MODEL_SLUGS = st.sampled_from(
    ["openai/gpt-4o-mini", "openai/gpt-4o-mini-2024-07-18", "anthropic/claude-haiku-4.5"]
) | texts(20)
TIMESTAMPS = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()) | texts()
UUIDS = {"type": "string", "x-strategy": st.uuids().map(str) | texts()}
KEY_BODY = obj(
    {"name": {"type": "string", "minLength": 1}},
    {
        "limit": nullable({"type": "number", "minimum": 0}),
        "limit_reset": RESET,
        "include_byok_in_limit": BOOLEAN,
        "expires_at": nullable({"type": "string", "x-strategy": TIMESTAMPS}),
        "creator_user_id": nullable(STRING),
        "workspace_id": UUIDS,
    },
)
KEY_PATCH = obj({}, {name: KEY_BODY["properties"][name] for name in ("name", "limit")})
KEY_PATCH["properties"].update(disabled=BOOLEAN, limit_reset=RESET, include_byok_in_limit=BOOLEAN)
SLUG_LIST = nullable(
    {"type": "array", "minItems": 1, "items": {"type": "string", "x-strategy": MODEL_SLUGS}}
)
FILTER_ACTION = {"enum": ["redact", "block", "flag"]}
GUARDRAIL_PATCH = obj(
    {},
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": nullable(STRING),
        "limit_usd": nullable({"type": "number", "minimum": 0}),
        "reset_interval": RESET,
        "include_byok_in_budgets": BOOLEAN,
        "allowed_models": SLUG_LIST,
        "ignored_models": SLUG_LIST,
        "allowed_providers": nullable({"type": "array", "minItems": 1, "items": STRING}),
        "enforce_zdr": nullable(BOOLEAN),
        "enforce_zdr_xai": nullable(BOOLEAN),
        "enable_paid_model_training": nullable(BOOLEAN),
        "content_filter_builtins": nullable(
            {
                "type": "array",
                "items": obj({"slug": {"enum": ["email", "ssn", "dna"]}, "action": FILTER_ACTION}),
            }
        ),
        "content_filters": nullable(
            {
                "type": "array",
                "items": obj(
                    {
                        "pattern": {
                            "type": "string",
                            "x-strategy": st.from_regex(r"[a-z(+)?\\1]{1,8}", fullmatch=True),
                        },
                        "action": FILTER_ACTION,
                    }
                ),
            }
        ),
    },
)
GUARDRAIL_BODY = {
    **GUARDRAIL_PATCH,
    "properties": {**GUARDRAIL_PATCH["properties"], "workspace_id": UUIDS},
    "required": ["name"],
}
PAGE = {
    "offset": st.integers(min_value=0, max_value=10).map(str),
    "limit": st.integers(min_value=1, max_value=100).map(str),
}
BAD_NUMBERS = st.integers(min_value=-5, max_value=2000).map(str) | texts(4)
OFFSETS = st.integers(min_value=0, max_value=300).map(str)


@dataclass
class Spec:
    method: str
    path: str  # may hold {hash} (a key) or {id} (a guardrail)
    answers: dict[int, dict[str, Any]]  # status -> the body's schema
    body: st.SearchStrategy[Any] | None = None
    query: dict[str, st.SearchStrategy[str]] = field(default_factory=dict)
    token: str = "management"  # or "participant" (a normal key on a guardrail)


SPECS = [
    Spec(
        "GET",
        "/keys",
        {200: listing(KEY, total=False), 400: ERROR},
        query={
            "include_disabled": st.sampled_from(["true", "false"]) | texts(5),
            "offset": OFFSETS | OFFSETS | BAD_NUMBERS,
            "workspace_id": UUIDS["x-strategy"],
        },
    ),
    Spec("POST", "/keys", {201: CREATED_KEY, 400: ERROR, 403: ERROR}, body=fuzzed(KEY_BODY)),
    Spec("GET", "/keys/{hash}", {200: data(KEY), 404: ERROR}),
    Spec("PATCH", "/keys/{hash}", {200: data(KEY), 400: ERROR, 404: ERROR}, fuzzed(KEY_PATCH)),
    Spec("DELETE", "/keys/{hash}", {200: DELETED, 404: ERROR}),
    Spec("GET", "/key", {200: CURRENT_KEY}),
    Spec("GET", "/credits", {200: data(obj({"total_credits": NUMBER, "total_usage": NUMBER}))}),
    Spec(
        "GET",
        "/guardrails",
        {200: listing(GUARDRAIL), 400: ERROR},
        query={
            "offset": OFFSETS | BAD_NUMBERS,
            "limit": PAGE["limit"] | PAGE["limit"] | BAD_NUMBERS,
            "workspace_id": st.just("0df9e665-d932-5740-b2c7-b52af166bc11") | UUIDS["x-strategy"],
        },
    ),
    Spec("POST", "/guardrails", {201: data(GUARDRAIL), 400: ERROR}, body=fuzzed(GUARDRAIL_BODY)),
    Spec("GET", "/guardrails/{id}", {200: data(GUARDRAIL), 404: ERROR}),
    Spec(
        "PATCH",
        "/guardrails/{id}",
        {200: data(GUARDRAIL), 400: ERROR, 404: ERROR},
        body=fuzzed(GUARDRAIL_PATCH),
    ),
    Spec("DELETE", "/guardrails/{id}", {200: DELETED, 404: ERROR}),
    Spec(
        "GET",
        "/guardrails/{id}/assignments/keys",
        {200: listing(KEY_ASSIGNMENT), 404: ERROR},
        query=PAGE,
    ),
    Spec(
        "POST",
        "/guardrails/{id}/assignments/keys",
        {200: obj({"assigned_count": INTEGER}), 400: ERROR, 404: ERROR},
        body=st.just("hashes"),
    ),
    Spec(
        "POST",
        "/guardrails/{id}/assignments/keys/remove",
        {200: obj({"unassigned_count": INTEGER}), 400: ERROR, 404: ERROR},
        body=st.just("hashes"),
    ),
    Spec("GET", "/guardrails/assignments/keys", {200: listing(KEY_ASSIGNMENT)}, query=PAGE),
    Spec(
        "GET",
        "/models",
        {200: MODEL_LIST, 400: ERROR},
        query={
            "output_modalities": st.sampled_from(["text", "all", "image", "text,embeddings"])
            | texts(6),
            "input_modalities": st.sampled_from(["text", "image,file", "audio"]) | texts(6),
            "supported_parameters": st.sampled_from(["tools", "reasoning"]) | texts(6),
            "q": texts(6),
            "offset": st.integers(min_value=0, max_value=60).map(str) | BAD_NUMBERS,
            "limit": st.integers(min_value=1, max_value=1000).map(str) | BAD_NUMBERS,
        },
        token="none",
    ),
    Spec(
        "GET",
        "/models/user",
        {200: MODEL_LIST},
        query={"offset": PAGE["offset"], "limit": st.integers(1, 1000).map(str)},
        token="participant",
    ),
]


@pytest.fixture(scope="module")
def sandbox():
    """One sandbox for every example: state piles up as it would on a real account."""
    with Sandbox(MGMT) as sb:
        yield sb


def participant(sb: Sandbox) -> str:
    """A fresh key on a guardrail (earlier examples may have deleted or disabled any other)."""
    secret, key = sb.create_key_directly("keyprov:ws:participant", limit=5)
    guardrail = sb.create_guardrail_directly("keyprov:ws", allowed_models=["openai/gpt-4o"])
    sb.assign_keys_directly(guardrail["id"], [key["hash"]])
    return secret


@dataclass(frozen=True)
class Pick:
    """An existing id, a made-up one, or garbage, drawn without looking at the sandbox: what
    exists changes between examples, and hypothesis needs the same draws to replay one."""

    choice: int
    index: int
    made_up: str
    garbage: str

    def of(self, existing: list[str]) -> str:
        if self.choice == 0 and existing:
            return existing[self.index % len(existing)]
        return self.made_up if self.choice < 2 else quote(self.garbage, safe="") or "x"


def picks(*, hex64: bool) -> st.SearchStrategy[Pick]:
    made_up = st.text("0123456789abcdef", min_size=64, max_size=64) if hex64 else st.uuids()
    return st.builds(Pick, st.integers(0, 2), st.integers(0, 10**6), made_up.map(str), texts(10))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.method} {s.path}")
@SETTINGS
@given(draw=st.data())
def test_every_answer_is_documented_and_shaped_like_the_contract(sandbox, spec, draw):
    sb = sandbox
    # Earlier examples delete what they find: keep a few keys and guardrails to find.
    while len(sb.keys()) < 3:
        sb.create_key_directly("keyprov:ws:someone", limit=1)
    if not sb.guardrails():
        guardrail = sb.create_guardrail_directly("keyprov:ws")
        sb.assign_keys_directly(guardrail["id"], [sb.keys()[0]["hash"]])
    hashes = [k["hash"] for k in sb.keys()]
    path = spec.path
    if "{hash}" in path:
        path = path.replace("{hash}", draw.draw(picks(hex64=True), label="hash").of(hashes))
    if "{id}" in path:
        guardrail_ids = [g["id"] for g in sb.guardrails()]
        path = path.replace("{id}", draw.draw(picks(hex64=False), label="id").of(guardrail_ids))
    query = draw.draw(st.fixed_dictionaries({}, optional=spec.query), label="query")
    body = None if spec.body is None else draw.draw(spec.body, label="body")
    if body == "hashes":
        some = st.lists(picks(hex64=True), min_size=1, max_size=4)
        body = draw.draw(st.one_of(some, json_values()), label="body")
        if isinstance(body, list) and all(isinstance(p, Pick) for p in body):
            body = {"key_hashes": [p.of(hashes) for p in body]}
    token = {
        "management": lambda: MGMT,
        "none": lambda: None,
        "participant": lambda: participant(sb),
    }[spec.token]()
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    r = requests.request(
        spec.method,
        sb.base_url + path,
        params=query,
        json=body,
        headers=headers,
        timeout=10,
    )

    assert r.status_code in spec.answers, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    answer = r.json()
    problems = list(violations(spec.answers[r.status_code], answer))
    assert not problems, problems
    if r.status_code >= 400:
        assert answer["error"]["code"] == r.status_code
    if r.status_code != 201 or spec.path != "/keys":
        assert not SECRET.search(r.text), "a secret outside the create that made it"
