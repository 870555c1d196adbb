"""Keys a workshop left on the server when every local file of it is gone.

Without its folder (and with no backup) nobody can say whose each pseudonym-named key is:
provision refuses, and the way out is to revoke them and provision again. So revoke, and only
revoke, works on a workshop that exists only as keys on the server.
"""

from __future__ import annotations

from keyprov.api.client import OpenRouterClient
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.folder_identity import with_legacy_name
from keyprov.workshop.keynames import workshop_prefix
from keyprov.workshop.locate import UnknownWorkshopError, account_label, locate
from keyprov.workshop.registry import Registry


def keys_left_behind(ref: WorkshopRef, client: OpenRouterClient) -> bool:
    """Whether revoke must start the workshop's folder again: no state of it is anywhere,
    and enabled keys in its name are on the server. Raises UnknownWorkshopError when neither
    a state nor such a key exists (nothing to revoke)."""
    registry = Registry.default()
    account = account_label(client)
    try:
        locate(ref, account, registry, creating=False, probe=True)
        return False
    except UnknownWorkshopError:
        prefix = workshop_prefix(with_legacy_name(ref, registry, account).name)
        keys = client.list_all_keys(include_disabled=False)
        if any(key.name.startswith(prefix) for key in keys):
            return True
        raise
