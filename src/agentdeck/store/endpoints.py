"""/store: the LangGraph server's store routes, so `client.store` of langgraph-sdk works.

Every route takes an optional `space_id` query parameter (the SDK passes it with
`params=`); without it the namespaces live in the caller's default space.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Reader, Writer
from agentdeck.store import service
from agentdeck.store.schemas import (
    ItemDelete,
    ItemOut,
    ItemPut,
    ItemSearch,
    NamespaceSearch,
    NamespacesOut,
    SearchItemsOut,
)

router = new_router("/store", tags=["store"])

SpaceId = Annotated[
    uuid.UUID | None, Query(description="The space whose store this is (default: yours).")
]


@router.put("/items", status_code=204)
async def put_item(
    body: ItemPut,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
    space_id: SpaceId = None,
) -> Response:
    """Store or replace an item; `index` fields are embedded for `query`; `ttl` in minutes."""
    await service.put(runtime, session, principal, body, space_id)
    return Response(status_code=204)


@router.get("/items", response_model=ItemOut, responses={404: {"description": "No such item"}})
async def get_item(
    principal: Reader,
    session: SessionDep,
    namespace: Annotated[
        str, Query(min_length=1, max_length=4000, description="Labels joined by '.'")
    ],
    key: Annotated[str, Query(min_length=1, max_length=500)],
    refresh_ttl: bool = True,
    space_id: SpaceId = None,
) -> ItemOut:
    """One item (its TTL refreshed unless `refresh_ttl=false`)."""
    labels = namespace.split(".")
    return await service.get(session, principal, labels, key, space_id, refresh_ttl=refresh_ttl)


@router.delete("/items", status_code=204)
async def delete_item(
    body: ItemDelete, principal: Writer, session: SessionDep, space_id: SpaceId = None
) -> Response:
    """Delete an item."""
    await service.delete(session, principal, body, space_id)
    return Response(status_code=204)


@router.post("/items/search", response_model=SearchItemsOut)
async def search_items(
    body: ItemSearch,
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
    space_id: SpaceId = None,
) -> SearchItemsOut:
    """Items under `namespace_prefix` passing `filter`; `query` ranks indexed items by meaning."""
    return await service.search(runtime, session, principal, body, space_id)


@router.post("/namespaces", response_model=NamespacesOut)
async def list_namespaces(
    body: NamespaceSearch, principal: Reader, session: SessionDep, space_id: SpaceId = None
) -> NamespacesOut:
    """Namespaces with items, filtered by `prefix`/`suffix`, cut at `max_depth`."""
    return await service.namespaces(session, principal, body, space_id)
