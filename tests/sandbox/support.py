"""What the sandbox's test files share: the management key they use, the contract's field sets,
and one way to call a sandbox over HTTP. (It holds no tests; its name keeps it with them.)"""

from __future__ import annotations

import re

import requests

MGMT = "sk-or-v1-test-management-key"
WORKSPACE = "0df9e665-d932-5740-b2c7-b52af166bc11"
OTHER_WORKSPACE = "6a1c4b8e-2f0d-4e57-9a3b-1c2d3e4f5a6b"
SECRET_RE = re.compile(r"sk-or-v1-[0-9a-f]{64}")
TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00")
KEY_FIELDS = {
    "hash",
    "name",
    "label",
    "disabled",
    "limit",
    "limit_remaining",
    "limit_reset",
    "include_byok_in_limit",
    "usage",
    "usage_daily",
    "usage_weekly",
    "usage_monthly",
    "byok_usage",
    "byok_usage_daily",
    "byok_usage_weekly",
    "byok_usage_monthly",
    "created_at",
    "updated_at",
    "expires_at",
    "creator_user_id",
    "workspace_id",
}
CURRENT_KEY_FIELDS = {
    "label",
    "is_management_key",
    "is_provisioning_key",
    "limit",
    "limit_reset",
    "limit_remaining",
    "include_byok_in_limit",
    "usage",
    "usage_daily",
    "usage_weekly",
    "usage_monthly",
    "byok_usage",
    "byok_usage_daily",
    "byok_usage_weekly",
    "byok_usage_monthly",
    "is_free_tier",
    "expires_at",
    "creator_user_id",
    "rate_limit",
}


def call(sb, method, path, *, token=MGMT, timeout=5, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, sb.base_url + path, headers=headers, timeout=timeout, **kwargs)


def create(sb, name="alice", **fields):
    r = call(sb, "POST", "/keys", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def error_of(r):
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == r.status_code
    return body["error"]["message"]


def control(sb, method, sub, *, token=MGMT, **kwargs):
    """Call a /_sandbox control route, e.g. control(sb, "POST", "/force", json={...})."""
    root = sb.base_url.removesuffix("/api/v1") + "/_sandbox"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, root + sub, headers=headers, timeout=5, **kwargs)


GUARDRAIL_FIELDS = {
    "id",
    "name",
    "description",
    "limit_usd",
    "reset_interval",
    "include_byok_in_budgets",
    "allowed_models",
    "ignored_models",
    "allowed_providers",
    "ignored_providers",
    "enforce_zdr",
    "enforce_zdr_anthropic",
    "enforce_zdr_openai",
    "enforce_zdr_google",
    "enforce_zdr_xai",
    "enforce_zdr_other",
    "enable_free_model_publication",
    "enable_free_model_training",
    "enable_paid_model_training",
    "content_filter_builtins",
    "content_filters",
    "workspace_id",
    "created_at",
    "updated_at",
}
KEY_ASSIGNMENT_FIELDS = {
    "id",
    "key_hash",
    "guardrail_id",
    "key_name",
    "key_label",
    "assigned_by",
    "created_at",
}
MEMBER_ASSIGNMENT_FIELDS = {
    "id",
    "user_id",
    "organization_id",
    "guardrail_id",
    "assigned_by",
    "created_at",
}
MODEL_REQUIRED_FIELDS = {
    "id",
    "canonical_slug",
    "name",
    "created",
    "pricing",
    "context_length",
    "architecture",
    "top_provider",
    "per_request_limits",
    "supported_parameters",
    "default_parameters",
    "supported_voices",
    "links",
}
ISO_Z_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def create_guardrail(sb, name="keyprov:ws", **fields):
    r = call(sb, "POST", "/guardrails", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"data"}
    return r.json()["data"]


def assign(sb, guardrail_id, hashes, *, remove=False, kind="keys"):
    field = "key_hashes" if kind == "keys" else "member_user_ids"
    suffix = "/remove" if remove else ""
    path = f"/guardrails/{guardrail_id}/assignments/{kind}{suffix}"
    return call(sb, "POST", path, json={field: hashes})
