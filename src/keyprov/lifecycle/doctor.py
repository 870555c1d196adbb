"""`keyprov doctor`: is this machine set up to provision safely? Reports, never prints a secret."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.api.config import api_settings_from_env
from keyprov.errors import ApiError, ConfigurationError, CredentialError, ServerUnreachableError
from keyprov.files import ON_WINDOWS, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, is_ignored
from keyprov.lifecycle.doctor_roster import ROSTER_FOLDER, Check, roster_checks
from keyprov.workshop.audit import AUDIT_FILE_NAME
from keyprov.workshop.journal import STATE_FILE_NAME
from keyprov.workshop.keys_sheet import KEYS_FILE_NAME

SECRET_FILES = (KEYS_FILE_NAME, STATE_FILE_NAME)
WINDOWS_PERMISSIONS = (
    "Windows: protected by the folder's access list, as inherited (keep outputs inside your "
    "user profile, not in a shared folder)"
)


def run_doctor(
    out_dir: Path,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    roster: Path | None = None,
) -> list[Check]:
    """Every check, in order: the key, the server, the credits, the outputs, the rosters
    (`roster` read too, when given). Never prints a secret."""
    checks: list[Check] = []
    try:
        api = api_settings_from_env(environ, cwd)
    except ConfigurationError as error:
        checks.append(Check("provisioning key", False, str(error)))
    else:
        checks.append(Check("provisioning key", True, f"found in {api.key_source}"))
        for warning in api.warnings:
            checks.append(Check("key format", False, warning))
        checks.append(Check("transport", True, api.base_url))
        checks.extend(_management_checks(api.api_key, api.base_url))
    checks.extend(_output_checks(out_dir))
    checks.extend(roster_checks(roster, (cwd or Path.cwd()) / ROSTER_FOLDER))
    return checks


def _management_checks(api_key: str, base_url: str) -> list[Check]:
    """The key's kind, then the account's credits left (what every budget is paid from)."""
    try:
        with OpenRouterClient(api_key, base_url) as client:
            data = client.current_key()
            if not (data.get("is_management_key") or data.get("is_provisioning_key")):
                return [
                    Check(
                        "management key",
                        False,
                        "the key works but is not a management key: it cannot create keys. "
                        "Create one at https://openrouter.ai/settings/management-keys.",
                    )
                ]
            accepted = Check(
                "management key", True, f"accepted by {base_url} ({data.get('label')})"
            )
            try:
                credits = client.credits()
            except ApiError as error:
                return [accepted, Check("credits", False, f"could not be read: {error}")]
    except (ApiError, CredentialError, ServerUnreachableError) as error:
        return [Check("management key", False, str(error))]
    left = credits.remaining
    return [
        accepted,
        Check(
            "credits",
            left > 0,
            f"{left:.2f} USD left on the account ({credits.total_credits:.2f} bought, "
            f"{credits.total_usage:.2f} used)"
            + ("" if left > 0 else ": no key can spend anything; add credits first"),
        ),
    ]


def _output_checks(out_dir: Path) -> list[Check]:
    checks = []
    probe = out_dir / "any-workshop" / KEYS_FILE_NAME
    if is_ignored(probe):
        checks.append(Check("outputs git-ignored", True, f"{out_dir}/ is ignored or not in git"))
    else:
        checks.append(
            Check(
                "outputs git-ignored",
                False,
                f"{out_dir}/ is in a git work tree and not ignored: add it to .gitignore",
            )
        )
    # Workshops only: the sandbox's own folder (output/.sandbox, `make sandbox`) holds no real key.
    folders = (
        sorted(
            path for path in out_dir.glob("*") if path.is_dir() and not path.name.startswith(".")
        )
        if out_dir.is_dir()
        else []
    )
    for folder in folders:
        if ON_WINDOWS:
            # No modes there: the access list of the user's profile protects the files.
            checks.append(Check(f"permissions {folder.name}", True, WINDOWS_PERMISSIONS))
            continue
        loose = []
        if stat.S_IMODE(folder.stat().st_mode) & ~PRIVATE_DIR_MODE:
            loose.append(f"{folder.name}/ is {stat.filemode(folder.stat().st_mode)}")
        for name in (*SECRET_FILES, AUDIT_FILE_NAME):
            path = folder / name
            if path.exists() and stat.S_IMODE(path.stat().st_mode) & ~PRIVATE_FILE_MODE:
                loose.append(f"{name} is {stat.filemode(path.stat().st_mode)}")
        checks.append(
            Check(
                f"permissions {folder.name}",
                not loose,
                "; ".join(loose) + f" (fix: chmod 700 {folder}; chmod 600 {folder}/*)"
                if loose
                else "owner-only",
            )
        )
    return checks
