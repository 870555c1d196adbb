"""The two contracts' answer shapes as JSON Schema, with a small checker and generator.

Written from /work/shared/openrouter-keys-api.md and openrouter-guardrails-api.md, for the
fuzz test (test_sandbox_fuzz.py); the sandbox must not be the source of its own truth. Only
the JSON Schema the contracts need: type, const, enum, anyOf, minimum, pattern, items,
properties, required, additionalProperties, minItems, minLength, maxLength, and an
`x-strategy` to generate a field from a given hypothesis strategy. (It holds no tests.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import strategies as st

HEX64 = r"^[0-9a-f]{64}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

# -- a small JSON Schema: what the contracts need, checked and generated -----------------------


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with exactly these fields: the sandbox may not add any (a secret, a `seq`)."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


def violations(schema: dict[str, Any], value: Any, where: str = "$") -> Iterator[str]:
    if "anyOf" in schema:
        if all(list(violations(s, value, where)) for s in schema["anyOf"]):
            yield f"{where}: {value!r} matches none of {schema['anyOf']}"
        return
    if "const" in schema and value != schema["const"]:
        yield f"{where}: {value!r} is not {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        yield f"{where}: {value!r} is not one of {schema['enum']}"
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind is not None and not checks[kind](value):
        yield f"{where}: {value!r} is not of type {kind}"
        return
    if "minimum" in schema and value < schema["minimum"]:
        yield f"{where}: {value!r} < {schema['minimum']}"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{where}: {value!r} does not match {schema['pattern']}"
    if kind == "array":
        for i, item in enumerate(value):
            yield from violations(schema.get("items", {}), item, f"{where}[{i}]")
    if kind == "object":
        for name in schema.get("required", []):
            if name not in value:
                yield f"{where}: {name!r} is missing"
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                yield from violations(properties[name], item, f"{where}.{name}")
            elif schema.get("additionalProperties", True) is False:
                yield f"{where}: unexpected field {name!r}"


def texts(max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=max_size)


def json_values() -> st.SearchStrategy[Any]:
    numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    scalars = st.none() | st.booleans() | numbers | texts()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts(6), inner, max_size=3),
        max_leaves=6,
    )


def values_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema accepts (drawn for request bodies, so biased to realistic ones)."""
    if "anyOf" in schema:
        return st.one_of([values_of(s) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "x-strategy" in schema:
        return schema["x-strategy"]
    kind = schema["type"]
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        ints = st.integers(min_value=low, max_value=10**6)
        if kind == "integer":
            return ints
        return ints | st.floats(min_value=low or -1e6, max_value=1e6, allow_nan=False)
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 20))
    if kind == "array":
        return st.lists(values_of(schema["items"]), min_size=schema.get("minItems", 0), max_size=4)
    properties = schema["properties"]
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {n: values_of(s) for n, s in properties.items() if n in required},
        optional={n: values_of(s) for n, s in properties.items() if n not in required},
    )


def fuzzed(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly valid bodies, some with one field broken, some not the right shape at all."""
    valid = values_of(schema)
    broken = st.tuples(valid, texts(8), json_values()).map(
        lambda t: {**t[0], t[1] or "name": t[2]} if isinstance(t[0], dict) else t[2]
    )
    return st.one_of(valid, valid, broken, json_values())


# -- the contracts' shapes ----------------------------------------------------------------------

STRING = {"type": "string"}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer", "minimum": 0}
BOOLEAN = {"type": "boolean"}
RESET = nullable({"enum": ["daily", "weekly", "monthly"]})
ERROR = obj(
    {"error": obj({"code": {"type": "integer"}, "message": STRING}, {"metadata": {}})},
    {"user_id": {}, "openrouter_metadata": {}},
)
KEY = obj(
    {
        "hash": {"type": "string", "pattern": HEX64},
        "name": STRING,
        "label": {"type": "string", "pattern": r"^sk-or-v1-.{3}\.\.\..{3}$"},
        "disabled": BOOLEAN,
        "limit": nullable(NUMBER),
        "limit_remaining": nullable(NUMBER),
        "limit_reset": RESET,
        "include_byok_in_limit": BOOLEAN,
        **{
            f"{kind}{window}": NUMBER
            for kind in ("usage", "byok_usage")
            for window in ("", "_daily", "_weekly", "_monthly")
        },
        "created_at": STRING,
        "updated_at": nullable(STRING),
        "creator_user_id": nullable(STRING),
        "workspace_id": {"type": "string", "pattern": UUID},
    },
    {"expires_at": nullable(STRING), "external_user": nullable(STRING)},
)
CREATED_KEY = obj({"data": KEY, "key": {"type": "string", "pattern": r"^sk-or-v1-[0-9a-f]{64}$"}})
CURRENT_KEY = obj(
    {
        "data": obj(
            {
                **{
                    name: KEY["properties"][name]
                    for name in KEY["required"]
                    if name.startswith(("limit", "usage", "byok_usage", "include_byok"))
                },
                "label": STRING,
                "is_free_tier": BOOLEAN,
                "is_management_key": BOOLEAN,
                "is_provisioning_key": BOOLEAN,
                "rate_limit": {"type": "object"},
                "creator_user_id": nullable(STRING),
            },
            {"expires_at": nullable(STRING)},
        )
    }
)
DELETED = obj({"deleted": {"const": True}})
STRINGS = nullable({"type": "array", "items": STRING})
GUARDRAIL = obj(
    {
        "id": {"type": "string", "pattern": UUID},
        "name": STRING,
        "include_byok_in_budgets": BOOLEAN,
        "workspace_id": nullable(STRING),
        "created_at": STRING,
    },
    {
        "description": nullable(STRING),
        "limit_usd": nullable(NUMBER),
        "reset_interval": RESET,
        "allowed_models": STRINGS,
        "ignored_models": STRINGS,
        "allowed_providers": STRINGS,
        "ignored_providers": STRINGS,
        **{
            f"enforce_zdr{group}": nullable(BOOLEAN)
            for group in ("", "_anthropic", "_openai", "_google", "_xai", "_other")
        },
        "enable_free_model_publication": nullable(BOOLEAN),
        "enable_free_model_training": nullable(BOOLEAN),
        "enable_paid_model_training": nullable(BOOLEAN),
        "content_filter_builtins": nullable(
            {
                "type": "array",
                "items": obj(
                    {"slug": STRING, "action": {"enum": ["redact", "block", "flag"]}},
                    {"label": STRING, "scan_scope": {"enum": ["user_only", "all_messages"]}},
                ),
            }
        ),
        "content_filters": nullable(
            {
                "type": "array",
                "items": obj(
                    {"pattern": STRING, "action": {"enum": ["redact", "block", "flag"]}},
                    {"label": nullable(STRING)},
                ),
            }
        ),
        "updated_at": nullable(STRING),
    },
)
KEY_ASSIGNMENT = obj(
    {
        "id": STRING,
        "key_hash": STRING,
        "guardrail_id": STRING,
        "key_name": STRING,
        "key_label": STRING,
        "assigned_by": nullable(STRING),
        "created_at": STRING,
    }
)
MODEL = obj(
    {
        "id": STRING,
        "canonical_slug": STRING,
        "name": STRING,
        "created": NUMBER,
        "pricing": {"type": "object", "additionalProperties": STRING},
        "context_length": nullable(NUMBER),
        "architecture": {
            "type": "object",
            "required": ["modality", "input_modalities", "output_modalities"],
            "properties": {
                "input_modalities": {"type": "array", "items": STRING},
                "output_modalities": {"type": "array", "items": STRING},
            },
        },
        "top_provider": {"type": "object"},
        "per_request_limits": {},
        "supported_parameters": {"type": "array", "items": STRING},
        "default_parameters": nullable({"type": "object"}),
        "supported_voices": nullable({"type": "array", "items": STRING}),
        "links": obj({"details": STRING}),
    },
    {
        "hugging_face_id": nullable(STRING),
        "description": STRING,
        "expiration_date": nullable(STRING),
        "alias_target": obj({"slug": STRING, "name": STRING}),
        "knowledge_cutoff": nullable(STRING),
    },
)
MODEL_LIST = obj(
    {
        "data": {"type": "array", "items": MODEL},
        "total_count": INTEGER,
        "links": obj({"next": nullable(STRING)}),
    }
)


def listing(item: dict[str, Any], *, total: bool = True) -> dict[str, Any]:
    extra = {"total_count": INTEGER} if total else {}
    return obj({"data": {"type": "array", "items": item}, **extra})


def data(item: dict[str, Any]) -> dict[str, Any]:
    return obj({"data": item})
