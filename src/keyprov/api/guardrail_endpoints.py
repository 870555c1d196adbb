"""The guardrail and model endpoints of the client: one method each, answers checked.

Follows /work/shared/openrouter-guardrails-api.md. Reads, PATCHes, DELETEs and the bulk
(un)assigns are idempotent (an assignment is declarative, §4.7), so the transport resends them
on 429, 5xx, lost and malformed answers. A create has no idempotency key: any failure after it
may have been sent is an `OutcomeUnknownError`, and the caller must list by name before
creating again (`guardrails.apply_guardrail` does).

Listings are read in pages of 100 and believed only if no item appears twice and they hold as
many items as the server counts (`total_count`); otherwise the whole listing is read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from keyprov.api import answers, guardrail_answers
from keyprov.api.transport import HttpTransport
from keyprov.errors import (
    CredentialError,
    InconsistentListingError,
    KeyRejectedError,
    NotFoundError,
)
from keyprov.models import Guardrail, KeyAssignment, Model

GUARDRAIL_PAGE_SIZE = 100
"""The largest page the guardrail listings give (§7); the default would be 50."""

Item = TypeVar("Item")
PageReader = Callable[[Any, str, int], tuple[list[Item], int]]


class GuardrailEndpoints:
    """Guardrails, their key assignments, and the model listings, sent through `transport`
    (the client's: one key, one base URL, one pacer, one retry layer)."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    # -- guardrails --------------------------------------------------------------------------

    def list_guardrails(self, *, workspace_id: str | None = None) -> list[Guardrail]:
        """Every guardrail of the workspace (the default one when None), all pages."""
        params = {} if workspace_id is None else {"workspace_id": workspace_id}
        return self._read_pages(
            "list guardrails",
            "/guardrails",
            guardrail_answers.guardrail_page,
            lambda guardrail: guardrail.id,
            required_route=True,
            params=params,
        )

    def get_guardrail(self, guardrail_id: str) -> Guardrail:
        """The guardrail; NotFoundError when OpenRouter says there is none with that id."""
        return self.transport.idempotent(
            "get guardrail",
            "GET",
            _guardrail_path(guardrail_id),
            lambda body, where, status: guardrail_answers.one_guardrail(
                body, where, status, guardrail_id
            ),
        )

    def create_guardrail(self, name: str, **fields: Any) -> Guardrail:
        """Create a guardrail. Raises OutcomeUnknownError when it may or may not exist now."""
        payload = {"name": name, **fields}
        return self.transport.create(
            "create guardrail",
            f"creating guardrail {name!r}",
            "/guardrails",
            guardrail_answers.one_guardrail,
            payload,
        )

    def update_guardrail(self, guardrail_id: str, **fields: Any) -> Guardrail:
        """PATCH: every array sent replaces the whole value, so resending is harmless."""
        return self.transport.idempotent(
            "update guardrail",
            "PATCH",
            _guardrail_path(guardrail_id),
            lambda body, where, status: guardrail_answers.one_guardrail(
                body, where, status, guardrail_id
            ),
            json=fields,
        )

    def delete_guardrail(self, guardrail_id: str) -> bool:
        """Delete a guardrail; False when it was already gone."""
        try:
            self.transport.idempotent(
                "delete guardrail", "DELETE", _guardrail_path(guardrail_id), answers.deleted
            )
        except NotFoundError:
            return False
        return True

    # -- key assignments ---------------------------------------------------------------------

    def list_guardrail_assignments(self, guardrail_id: str) -> list[KeyAssignment]:
        """The keys on this guardrail, all pages; NotFoundError for an unknown guardrail."""
        return self._read_pages(
            "list guardrail assignments",
            f"{_guardrail_path(guardrail_id)}/assignments/keys",
            guardrail_answers.assignment_page,
            lambda assignment: assignment.key_hash,
        )

    def list_key_assignments(self) -> list[KeyAssignment]:
        """Every key assignment of the account, on any guardrail, all pages."""
        return self._read_pages(
            "list key assignments",
            "/guardrails/assignments/keys",
            guardrail_answers.assignment_page,
            lambda assignment: assignment.key_hash,
            required_route=True,
        )

    def assign_keys(self, guardrail_id: str, key_hashes: Iterable[str]) -> int:
        """Put these keys on the guardrail (moving each off any other); the server's count.

        The count leaves out keys already on it and, by default, unknown hashes (§4.7), so a
        count below the number sent proves nothing by itself: read the assignments.
        """
        return self._bulk("assign keys", guardrail_id, "", "assigned_count", key_hashes)

    def unassign_keys(self, guardrail_id: str, key_hashes: Iterable[str]) -> int:
        """Take these keys off the guardrail; keys not on it are skipped. The server's count."""
        return self._bulk("unassign keys", guardrail_id, "/remove", "unassigned_count", key_hashes)

    def _bulk(
        self, operation: str, guardrail_id: str, suffix: str, field: str, hashes: Iterable[str]
    ) -> int:
        key_hashes = list(dict.fromkeys(hashes))
        if not key_hashes:
            return 0  # the body needs one hash at least (minItems: 1): nothing to send
        return self.transport.idempotent(
            operation,
            "POST",
            f"{_guardrail_path(guardrail_id)}/assignments/keys{suffix}",
            guardrail_answers.count(field),
            json={"key_hashes": key_hashes},
        )

    # -- models ------------------------------------------------------------------------------

    def list_models(self) -> list[Model]:
        """The whole catalogue, every modality, in one answer (no paging parameters: §4.10)."""
        return self.transport.idempotent(
            "list models",
            "GET",
            "/models",
            guardrail_answers.model_list,
            required_route=True,
            params={"output_modalities": "all"},
        )

    def models_for_key(self, secret: str) -> list[Model]:
        """What a participant's key may use (`GET /models/user` called with that key).

        The secret goes in this one request's Authorization header, to the same base URL as
        every other request, and nowhere else. Raises KeyRejectedError when the server refuses
        the key (disabled, deleted, not a key), ValueError for a value that is not a key.
        """
        if not isinstance(secret, str) or not secret or not secret.isprintable() or " " in secret:
            raise ValueError("models_for_key needs a participant's API key (one printable token)")
        try:
            return self.transport.idempotent(
                "list a key's models",
                "GET",
                "/models/user",
                guardrail_answers.model_list,
                headers={"Authorization": f"Bearer {secret}"},
            )
        except CredentialError as error:
            raise KeyRejectedError(
                f"GET /models/user answered {error.status} for the participant's key: the "
                "server does not accept it (disabled, deleted, or not an API key)",
                status=error.status,
            ) from None

    # -- paging ------------------------------------------------------------------------------

    def _read_pages(
        self,
        operation: str,
        path: str,
        read_page: PageReader[Item],
        ident: Callable[[Item], str],
        *,
        required_route: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> list[Item]:
        def read_once() -> list[Item]:
            items: list[Item] = []
            listed_at: dict[str, int] = {}
            offset = 0
            while True:
                page_params = {
                    **(params or {}),
                    "offset": str(offset),
                    "limit": str(GUARDRAIL_PAGE_SIZE),
                }
                page, total = self.transport.idempotent(
                    operation,
                    "GET",
                    path,
                    read_page,
                    required_route=required_route,
                    params=page_params,
                )
                for item in page:
                    seen = ident(item)
                    if seen in listed_at:
                        raise _repeated(path, offset, listed_at[seen], seen)
                    listed_at[seen] = offset
                    items.append(item)
                offset += len(page)
                # A page may be short because the server pages by fewer than asked, or because
                # it lies: only the count it gives tells the last page from a short one.
                if not page or (len(page) < GUARDRAIL_PAGE_SIZE and len(items) >= total):
                    if len(items) < total:
                        raise InconsistentListingError(
                            f"GET {path} listed {len(items)} items but counts {total}: the "
                            "listing changed while it was read, or a page was cut short",
                            status=200,
                        )
                    return items

        return self.transport.reread(operation, read_once)


def _repeated(path: str, offset: int, earlier: int, ident: str) -> InconsistentListingError:
    return InconsistentListingError(
        f"GET {path}?offset={offset} listed {ident[:16]!r}, which offset={earlier} listed too: "
        "the listing shifted while it was read or the server repeated a page, so an item may "
        "have been skipped",
        status=200,
    )


def _guardrail_path(guardrail_id: str) -> str:
    # Quoted: an id is the server's (or the state file's) word and must not change the path.
    return f"/guardrails/{quote(guardrail_id, safe='')}"
