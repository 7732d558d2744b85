"""/api/v1/providers: org-level, so a key limited to some spaces is refused (403)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response, status

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import OrgAdmin, OrgReader
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.provider import service
from agentdeck.provider.schemas import (
    ProviderCreate,
    ProviderOut,
    ProviderPage,
    ProviderTestResult,
    ProviderUpdate,
)

router = new_router("/providers", tags=["providers"])


def _out(row: object) -> ProviderOut:
    return ProviderOut.model_validate(
        {
            **{k: getattr(row, k) for k in ProviderOut.model_fields if hasattr(row, k)},
            "has_api_key": getattr(row, "api_key_enc", None) is not None,
        }
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProviderOut)
async def create_provider(
    body: ProviderCreate, principal: OrgAdmin, session: SessionDep, runtime: RuntimeDep
) -> ProviderOut:
    """Add an LLM provider. The API key is encrypted at rest and never returned."""
    return _out(await service.create(session, principal, runtime.cipher, body))


@router.get("", response_model=ProviderPage)
async def list_providers(
    principal: OrgReader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ProviderPage:
    """The organisation's providers (keys masked)."""
    page = await service.list_providers(session, principal, limit=limit, cursor=cursor)
    return ProviderPage(items=[_out(p) for p in page.items], next_cursor=page.next_cursor)


@router.get("/{provider_id}", response_model=ProviderOut)
async def get_provider(
    provider_id: uuid.UUID, principal: OrgReader, session: SessionDep
) -> ProviderOut:
    """One provider (key masked)."""
    return _out(await service.get(session, principal, provider_id))


@router.patch("/{provider_id}", response_model=ProviderOut)
async def update_provider(
    provider_id: uuid.UUID,
    body: ProviderUpdate,
    principal: OrgAdmin,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ProviderOut:
    """Change a provider; send `api_key` to replace the key (empty string removes it)."""
    return _out(await service.update(session, principal, runtime.cipher, provider_id, body))


@router.delete("/{provider_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_provider(
    provider_id: uuid.UUID, principal: OrgAdmin, session: SessionDep
) -> Response:
    """Remove a provider and its stored key."""
    await service.delete(session, principal, provider_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{provider_id}/test", response_model=ProviderTestResult)
async def test_provider(
    provider_id: uuid.UUID, principal: OrgAdmin, session: SessionDep, runtime: RuntimeDep
) -> ProviderTestResult:
    """Check connectivity and credentials; lists the models the provider reports."""
    return await service.check_connection(
        session, principal, runtime.cipher, provider_id, runtime.http()
    )
