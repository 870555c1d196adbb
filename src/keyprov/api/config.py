"""Where the provisioning key and the API address come from, and the rules they must meet.

The key comes from the environment (OPENROUTER_PROVISIONING_KEY), from a file named by
OPENROUTER_PROVISIONING_KEY_FILE, or from a git-ignored `.env`, in that order; never from the
command line, where it would land in shell history and `ps`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from keyprov.api.baseurl import BASE_URL_VARIABLE, checked_base_url
from keyprov.api.client import DEFAULT_BASE_URL
from keyprov.errors import ConfigurationError
from keyprov.files import ON_WINDOWS, is_ignored
from keyprov.redaction import HIDDEN, SECRET_PATTERN, register_secret

KEY_VARIABLE = "OPENROUTER_PROVISIONING_KEY"
KEY_FILE_VARIABLE = "OPENROUTER_PROVISIONING_KEY_FILE"
DOTENV_NAME = ".env"
KEY_PREFIX = "sk-or-v1-"


@dataclass(frozen=True)
class ApiSettings:
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    key_source: str = KEY_VARIABLE
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"ApiSettings(base_url={self.base_url!r}, api_key=<hidden>, from={self.key_source})"


def api_settings_from_env(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ApiSettings:
    env = os.environ if environ is None else environ
    folder = Path.cwd() if cwd is None else cwd
    api_key, source, dotenv = _find_key(env, folder)
    register_secret(api_key)
    base_url = (env.get(BASE_URL_VARIABLE) or dotenv.get(BASE_URL_VARIABLE) or "").strip()
    base_url = base_url or DEFAULT_BASE_URL
    check_transport(base_url)
    warnings: tuple[str, ...] = ()
    if not api_key.startswith(KEY_PREFIX):
        warnings = (
            f"the provisioning key from {source} does not look like an OpenRouter key "
            f"({KEY_PREFIX}...); if requests are refused, check that it is the management key.",
        )
    return ApiSettings(api_key, base_url, source, warnings)


def _find_key(env: Mapping[str, str], folder: Path) -> tuple[str, str, dict[str, str]]:
    """The key, where it came from, and the `.env` values when that is where it came from."""
    value = env.get(KEY_VARIABLE, "").strip()
    if value:
        return value, KEY_VARIABLE, {}
    key_file = env.get(KEY_FILE_VARIABLE, "").strip()
    if key_file:
        path = Path(key_file).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigurationError(
                f"{KEY_FILE_VARIABLE} names {path}, which cannot be read ({error.strerror})."
            ) from error
        if not value:
            raise ConfigurationError(f"{KEY_FILE_VARIABLE} names {path}, which is empty.")
        return value, f"{KEY_FILE_VARIABLE} ({path})", {}
    dotenv = _read_dotenv(folder / DOTENV_NAME)
    value = dotenv.get(KEY_VARIABLE, "").strip()
    if value:
        return value, str(folder / DOTENV_NAME), dotenv
    setting = (
        f'$env:{KEY_VARIABLE} = Read-Host "Key"   (PowerShell)'
        if ON_WINDOWS
        else f"export {KEY_VARIABLE}=..."
    )
    raise ConfigurationError(
        f"{KEY_VARIABLE} is not set.\n"
        "keyprov reads the OpenRouter management (provisioning) key from the environment,\n"
        "never from the command line. Get one at https://openrouter.ai/settings/management-keys,\n"
        "then either:\n"
        f"  {setting}      (paste it from your password manager)\n"
        f"  name a file holding it in {KEY_FILE_VARIABLE}\n"
        "  or put it in a git-ignored .env\n"
        "and run again. To try keyprov without a key: "
        + ("python -m keyprov.cli.demo" if ON_WINDOWS else "make demo")
    )


def _read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a `.env`, read only when git would never commit it."""
    if not path.is_file():
        return {}
    if not is_ignored(path):
        raise ConfigurationError(
            f"refusing to read {path}: it is in a git work tree and not git-ignored, so the "
            "key in it could be committed. Add `.env` to .gitignore first."
        )
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def check_transport(base_url: str) -> None:
    """The key travels only over https, or over http to this machine (the sandbox), and only
    to the host the HTTP library will really connect to (see `keyprov.api.baseurl`)."""
    checked_base_url(base_url)


SHORTEST_SHOWN_PART = 16
"""A run this long of the management key's secret part (hex: 64 bits) is the key typed."""


def refuse_secrets_in_argv(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> None:
    """A key typed on the command line is already in shell history: say so, never echo it.

    Any value holding a key's form (`sk-or-...`), or the management key's secret part with or
    without its `sk-or-v1-` prefix (wherever the key comes from), or a long run of it."""
    env = os.environ if environ is None else environ
    part = _management_secret_part(env)
    for position, argument in enumerate(argv, start=1):
        if SECRET_PATTERN.search(argument) or (part and _holds_part_of(argument, part)):
            raise ConfigurationError(
                f"argument {position} looks like an API key (it is not shown: {HIDDEN}). "
                "keyprov never takes keys on the "
                f"command line (they end up in shell history and `ps`); set {KEY_VARIABLE} "
                "in the environment instead. If that was the real management key, consider "
                "it exposed: remove it from your shell history and rotate it at "
                "https://openrouter.ai/settings/management-keys."
            )


def _management_secret_part(env: Mapping[str, str]) -> str:
    """The management key without its prefix, from wherever a command would read it; empty
    when there is none (the command itself then says so)."""
    try:
        key, _source, _dotenv = _find_key(env, Path.cwd())
    except (ConfigurationError, OSError, UnicodeDecodeError):
        return ""
    return key.removeprefix(KEY_PREFIX)


def _holds_part_of(argument: str, part: str) -> bool:
    if len(part) < 8:
        return False
    if len(part) <= SHORTEST_SHOWN_PART:
        return part in argument
    return any(
        argument[start : start + SHORTEST_SHOWN_PART] in part
        for start in range(len(argument) - SHORTEST_SHOWN_PART + 1)
    )
