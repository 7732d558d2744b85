"""/api/v1/models: the catalog, aliases and overrides.

Any key may list the models; aliases and overrides are org settings, so a key limited to
some spaces is refused there (403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response, status

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import OrgAdmin, OrgReader, Reader
from agentdeck.catalog import service
from agentdeck.catalog.schemas import (
    AliasList,
    AliasOut,
    AliasPut,
    ModelList,
    OverrideList,
    OverrideOut,
    OverridePut,
)

router = new_router("/models", tags=["models"])
AliasName = Annotated[str, Path(max_length=64)]


@router.get("", response_model=ModelList)
async def list_models(principal: Reader, session: SessionDep, runtime: RuntimeDep) -> ModelList:
    """Models the organisation can use, with context window, capabilities and prices."""
    return ModelList(items=await service.list_models(session, principal, runtime.cipher))


@router.get("/aliases", response_model=AliasList)
async def list_aliases(principal: OrgReader, session: SessionDep) -> AliasList:
    """Aliases (`default`, `fast`, ...) and their fallback chains."""
    rows = await service.list_aliases(session, principal)
    return AliasList(items=[AliasOut.model_validate(a) for a in rows])


@router.get("/aliases/{alias}", response_model=AliasOut)
async def get_alias(alias: AliasName, principal: OrgReader, session: SessionDep) -> AliasOut:
    """One alias."""
    return AliasOut.model_validate(await service.get_alias(session, principal, alias))


@router.put("/aliases/{alias}", response_model=AliasOut)
async def put_alias(
    alias: AliasName, body: AliasPut, principal: OrgAdmin, session: SessionDep
) -> AliasOut:
    """Create or replace an alias: an ordered fallback chain of `provider/model`."""
    return AliasOut.model_validate(await service.put_alias(session, principal, alias, body))


@router.delete("/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alias(alias: AliasName, principal: OrgAdmin, session: SessionDep) -> Response:
    """Remove an alias."""
    await service.delete_alias(session, principal, alias)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/overrides", response_model=OverrideList)
async def list_overrides(principal: OrgReader, session: SessionDep) -> OverrideList:
    """Per-org catalog corrections (e.g. prices of self-hosted models)."""
    rows = await service.list_overrides(session, principal)
    return OverrideList(items=[OverrideOut.model_validate(r) for r in rows])


@router.put("/overrides", response_model=OverrideOut)
async def put_override(body: OverridePut, principal: OrgAdmin, session: SessionDep) -> OverrideOut:
    """Set prices, context window or capabilities for one `provider/model`."""
    return OverrideOut.model_validate(await service.put_override(session, principal, body))


@router.delete("/overrides", status_code=status.HTTP_204_NO_CONTENT)
async def delete_override(
    principal: OrgAdmin, session: SessionDep, model: Annotated[str, Query(max_length=300)]
) -> Response:
    """Remove the override of `model`."""
    await service.delete_override(session, principal, model)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
