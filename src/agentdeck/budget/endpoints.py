"""/api/v1/budget: monthly spending limits of the organisation and of its spaces."""

from __future__ import annotations

import uuid

from fastapi import Depends, Response, status

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Admin, Reader
from agentdeck.budget import service
from agentdeck.budget.schemas import BudgetOut, BudgetSet, SpaceBudgetOut
from agentdeck.gateway.service import flush_usage


async def _written(runtime: RuntimeDep) -> None:
    # The spend these routes answer counts this process's usage rows still queued.
    await flush_usage(runtime)


router = new_router("/budget", tags=["budget"], dependencies=[Depends(_written)])


@router.get("", response_model=BudgetOut)
async def get_budget(principal: Reader, session: SessionDep) -> BudgetOut:
    """The org's monthly limit (``null`` when none is set), this month's spend, and the
    limits of the spaces the caller can see."""
    return await service.get_org(session, principal)


@router.put("", response_model=BudgetOut)
async def set_budget(body: BudgetSet, principal: Admin, session: SessionDep) -> BudgetOut:
    """Set the org's monthly limit (org owners and admins; API keys need `admin`)."""
    return await service.set_org(session, principal, body)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_budget(principal: Admin, session: SessionDep) -> Response:
    """Remove the org's monthly limit."""
    await service.delete_org(session, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/spaces/{space_id}", response_model=SpaceBudgetOut)
async def get_space_budget(
    space_id: uuid.UUID, principal: Reader, session: SessionDep
) -> SpaceBudgetOut:
    """A space's monthly limit (``null`` when none is set) and its spend this month."""
    return await service.get_space(session, principal, space_id)


@router.put("/spaces/{space_id}", response_model=SpaceBudgetOut)
async def set_space_budget(
    space_id: uuid.UUID, body: BudgetSet, principal: Admin, session: SessionDep
) -> SpaceBudgetOut:
    """Set a space's monthly limit (org owners and admins; API keys need `admin`)."""
    return await service.set_space(session, principal, space_id, body)


@router.delete("/spaces/{space_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_space_budget(
    space_id: uuid.UUID, principal: Admin, session: SessionDep
) -> Response:
    """Remove a space's monthly limit."""
    await service.delete_space(session, principal, space_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
