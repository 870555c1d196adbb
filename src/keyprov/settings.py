"""Where the provisioning key and the API address come from: the environment, nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from keyprov.client import DEFAULT_BASE_URL
from keyprov.errors import ConfigurationError

KEY_VARIABLE = "OPENROUTER_PROVISIONING_KEY"
BASE_URL_VARIABLE = "OPENROUTER_BASE_URL"


@dataclass(frozen=True)
class ApiSettings:
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL

    def __repr__(self) -> str:
        return f"ApiSettings(base_url={self.base_url!r}, api_key=<hidden>)"


def api_settings_from_env(environ: Mapping[str, str] | None = None) -> ApiSettings:
    env = os.environ if environ is None else environ
    api_key = env.get(KEY_VARIABLE, "").strip()
    if not api_key:
        raise ConfigurationError(
            f"{KEY_VARIABLE} is not set. keyprov reads the OpenRouter management "
            "(provisioning) key only from the environment, never from the command line: "
            f"run `export {KEY_VARIABLE}=...` with the key from "
            "https://openrouter.ai/settings/management-keys (paste it from your password "
            "manager), then run again. To try keyprov without a key, run `make demo`."
        )
    base_url = env.get(BASE_URL_VARIABLE, "").strip() or DEFAULT_BASE_URL
    return ApiSettings(api_key=api_key, base_url=base_url)
