"""A fixed catalogue of models from several providers, shaped like OpenRouter's `GET /models`.

The models, prices and context lengths are realistic for 2026 but frozen, so tests and demos
see the same catalogue every time. Which provider serves a model, and whether that endpoint
keeps no data (ZDR), trains on prompts or publishes them, is the sandbox's own invention: it
exists so guardrails have something to filter, and OpenRouter does not list it in `/models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from keyprov.sandbox.model_table import MODEL_TABLE

# Which `enforce_zdr_<group>` switch governs a model, by the author part of its id.
ZDR_GROUPS = ("anthropic", "openai", "google", "xai", "other")
_GROUP_OF_AUTHOR = {"anthropic": "anthropic", "openai": "openai", "google": "google", "x-ai": "xai"}
_TOKENIZERS = {
    "openai": "GPT",
    "anthropic": "Claude",
    "google": "Gemini",
    "meta-llama": "Llama3",
    "mistralai": "Mistral",
    "deepseek": "DeepSeek",
    "x-ai": "Grok",
    "qwen": "Qwen3",
}
_CHAT = ("max_tokens", "temperature", "top_p", "stop", "frequency_penalty", "presence_penalty")
_TOOLS = ("tools", "tool_choice", "response_format", "structured_outputs", "seed")
_REASONING = ("reasoning", "include_reasoning")
OUTPUT_MODALITIES = ("text", "image", "audio", "embeddings")
INPUT_MODALITIES = ("text", "image", "file", "audio", "video")


@dataclass(frozen=True)
class Endpoint:
    provider: str
    zdr: bool = False  # keeps no prompt data: eligible under enforce_zdr_*
    trains: bool = False  # may train on prompts
    publishes: bool = False  # may publish prompts (free endpoints)


@dataclass(frozen=True)
class CatalogueModel:
    model: dict[str, Any]  # the API's Model object
    endpoints: tuple[Endpoint, ...]
    zdr_group: str
    free: bool

    @property
    def id(self) -> str:
        return str(self.model["id"])

    @property
    def canonical_slug(self) -> str:
        return str(self.model["canonical_slug"])


@dataclass(frozen=True)
class _Row:
    id: str
    canonical: str  # "" = the id
    name: str
    created: int
    context: int
    price_in: str  # USD per million tokens
    price_out: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    endpoints: str
    reasoning: bool
    hf: str
    expires: str | None
    alias_of: str | None

    @classmethod
    def parse(cls, line: str) -> _Row:
        (mid, canonical, name, created, context, price_in, price_out, ins, outs, ends, extras) = (
            line.split("|")
        )
        flags = extras.split()

        def flag(prefix: str) -> str | None:
            return next((f[len(prefix) :] for f in flags if f.startswith(prefix)), None)

        return cls(
            mid,
            canonical,
            name,
            int(created),
            int(context),
            price_in,
            price_out,
            tuple(ins.split(",")),
            tuple(outs.split(",")),
            ends,
            reasoning="r" in flags,
            hf=flag("hf:") or "",
            expires=flag("x:"),
            alias_of=flag("~"),
        )


def _per_token(per_million: str) -> str:
    value = Decimal(per_million) / Decimal(1_000_000)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _endpoints(spec: str) -> tuple[Endpoint, ...]:
    out = []
    for token in spec.split():
        provider, _, flags = token.partition(":")
        out.append(
            Endpoint(provider, zdr="z" in flags, trains="t" in flags, publishes="p" in flags)
        )
    return tuple(out)


def _supported_parameters(outputs: tuple[str, ...], reasoning: bool) -> list[str]:
    if outputs == ("embeddings",):
        return []
    params = [*_CHAT, *_TOOLS] if "image" not in outputs else [*_CHAT[:3], "seed"]
    return params + list(_REASONING) if reasoning else params


def _build(row: _Row, names: dict[str, str]) -> CatalogueModel:
    author = row.id.lstrip("~").split("/")[0]
    model: dict[str, Any] = {
        "id": row.id,
        "canonical_slug": row.canonical or row.id,
        "hugging_face_id": row.hf,
        "name": row.name,
        "created": row.created,
        "description": f"{row.name.split(': ', 1)[-1]}, as listed in the sandbox's catalogue.",
        "context_length": row.context,
        "architecture": {
            "modality": f"{'+'.join(row.inputs)}->{'+'.join(row.outputs)}",
            "input_modalities": list(row.inputs),
            "output_modalities": list(row.outputs),
            "tokenizer": _TOKENIZERS.get(author, "Other"),
            "instruct_type": None,
        },
        "pricing": {
            "prompt": _per_token(row.price_in),
            "completion": _per_token(row.price_out),
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
        },
        "top_provider": {
            "context_length": row.context,
            "max_completion_tokens": None
            if row.outputs == ("embeddings",)
            else min(row.context, 65536),
            "is_moderated": author in ("openai", "anthropic"),
        },
        "per_request_limits": None,
        "supported_parameters": _supported_parameters(row.outputs, row.reasoning),
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
        "supported_voices": ["alloy", "echo", "shimmer"] if "audio" in row.outputs else None,
        "links": {"details": f"/api/v1/models/{row.id}/endpoints"},
        "expiration_date": row.expires,
    }
    if row.alias_of is not None:
        model["alias_target"] = {"slug": row.alias_of, "name": names[row.alias_of]}
    return CatalogueModel(
        model=model,
        endpoints=_endpoints(row.endpoints),
        zdr_group=_GROUP_OF_AUTHOR.get(author, "other"),
        free=row.price_in == row.price_out == "0",
    )


def _load() -> tuple[CatalogueModel, ...]:
    rows = [_Row.parse(line) for line in MODEL_TABLE.strip().splitlines()]
    names = {row.id: row.name for row in rows}
    return tuple(_build(row, names) for row in rows)


MODELS: tuple[CatalogueModel, ...] = _load()
_CANONICAL = {slug: m.canonical_slug for m in MODELS for slug in (m.id, m.canonical_slug)}
PROVIDERS = tuple(sorted({e.provider for m in MODELS for e in m.endpoints}))


def canonical_slug(slug: str) -> str | None:
    """The canonical slug for a model id or canonical slug; None for a model not listed."""
    return _CANONICAL.get(slug)
