"""/api/v1/api-keys: org-level, so a key limited to some spaces is refused (403)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response, status

from agentdeck.api import SessionDep, new_router
from agentdeck.apikey import service
from agentdeck.apikey.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from agentdeck.auth.principal import OrgAdmin, OrgReader
from agentdeck.kit.pagination import MAX_LIMIT

router = new_router("/api-keys", tags=["api-keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    body: ApiKeyCreate, principal: OrgAdmin, session: SessionDep
) -> ApiKeyCreated:
    """Create an API key. The full key is in this response and never again."""
    row, key = await service.create(session, principal, body)
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": key})


@router.get("", response_model=ApiKeyPage)
async def list_api_keys(
    principal: OrgReader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ApiKeyPage:
    """API keys: all of the org's for admins, your own otherwise. Keys are never shown."""
    page = await service.list_keys(session, principal, limit=limit, cursor=cursor)
    return ApiKeyPage(
        items=[ApiKeyOut.model_validate(k) for k in page.items], next_cursor=page.next_cursor
    )


@router.get("/{key_id}", response_model=ApiKeyOut)
async def get_api_key(key_id: uuid.UUID, principal: OrgReader, session: SessionDep) -> ApiKeyOut:
    """One API key (without the key)."""
    return ApiKeyOut.model_validate(await service.get(session, principal, key_id))


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: uuid.UUID, principal: OrgAdmin, session: SessionDep) -> Response:
    """Revoke an API key; it stops working at once."""
    await service.revoke(session, principal, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
