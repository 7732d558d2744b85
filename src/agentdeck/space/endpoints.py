"""/api/v1/spaces: spaces and their members.

Reading needs an API key's ``read`` scope; changes need ``write``, and managing members
needs ``admin``. The space role is
checked by the service. A space the caller cannot see answers 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response, status

from agentdeck.api import SessionDep, new_router
from agentdeck.auth.principal import Admin, Reader, Writer
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.space import service
from agentdeck.space.schemas import (
    SpaceCreate,
    SpaceMemberAdd,
    SpaceMemberOut,
    SpaceMemberPage,
    SpaceMemberRoleUpdate,
    SpaceOut,
    SpacePage,
    SpaceUpdate,
)

router = new_router("/spaces", tags=["spaces"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SpaceOut)
async def create_space(body: SpaceCreate, principal: Writer, session: SessionDep) -> SpaceOut:
    """Create a shared space; you become its owner."""
    return await service.create(session, principal, body)


@router.get("", response_model=SpacePage)
async def list_spaces(
    principal: Reader, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> SpacePage:
    """The spaces you can see (your personal one included) with your role, newest first."""
    page = await service.list_spaces(session, principal, limit=limit, cursor=cursor)
    return SpacePage(items=page.items, next_cursor=page.next_cursor)


@router.get("/{space_id}", response_model=SpaceOut)
async def get_space(space_id: uuid.UUID, principal: Reader, session: SessionDep) -> SpaceOut:
    """One space."""
    return await service.get(session, principal, space_id)


@router.patch("/{space_id}", response_model=SpaceOut)
async def update_space(
    space_id: uuid.UUID, body: SpaceUpdate, principal: Writer, session: SessionDep
) -> SpaceOut:
    """Rename a space or change its description (editors and owners)."""
    return await service.update(session, principal, space_id, body)


@router.delete("/{space_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_space(space_id: uuid.UUID, principal: Writer, session: SessionDep) -> Response:
    """Delete a shared space and everything in it (owners). Personal spaces stay (409)."""
    await service.delete(session, principal, space_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{space_id}/members", response_model=SpaceMemberPage)
async def list_space_members(
    space_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SpaceMemberPage:
    """Members of the space with their role, newest first."""
    page = await service.list_members(session, principal, space_id, limit=limit, cursor=cursor)
    return SpaceMemberPage(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/{space_id}/members", status_code=status.HTTP_201_CREATED, response_model=SpaceMemberOut
)
async def add_space_member(
    space_id: uuid.UUID, body: SpaceMemberAdd, principal: Admin, session: SessionDep
) -> SpaceMemberOut:
    """Add a member of the organisation to the space (owners)."""
    return await service.add_member(session, principal, space_id, body.user_id, body.role)


@router.patch("/{space_id}/members/{user_id}", response_model=SpaceMemberOut)
async def change_space_member_role(
    space_id: uuid.UUID,
    user_id: uuid.UUID,
    body: SpaceMemberRoleUpdate,
    principal: Admin,
    session: SessionDep,
) -> SpaceMemberOut:
    """Change a member's role (owners). The last owner cannot be demoted (409)."""
    return await service.change_member_role(session, principal, space_id, user_id, body.role)


@router.delete("/{space_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_space_member(
    space_id: uuid.UUID, user_id: uuid.UUID, principal: Admin, session: SessionDep
) -> Response:
    """Remove a member (owners) or leave (your own id). The last owner stays (409)."""
    await service.remove_member(session, principal, space_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
