"""/api/v1/orgs: the organisation, its members and its invitations.

Reading needs an API key's ``read`` scope; every change needs ``admin``. Members,
invitations and changes to the org need a key for the whole organisation: a key limited
to some spaces gets 403 there (it may still read the org itself, with the role
``member``). The org role is checked by the service. ``{org_id}`` must be the caller's
current organisation (else 404).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response, status

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import OrgAdmin, OrgReader, Reader
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.org import service
from agentdeck.org.schemas import (
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    InvitationPage,
    MemberOut,
    MemberPage,
    MemberRoleUpdate,
    OrgList,
    OrgOut,
    OrgUpdate,
)

router = new_router("/orgs", tags=["orgs"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("", response_model=OrgList)
async def list_orgs(principal: Reader, session: SessionDep, runtime: RuntimeDep) -> OrgList:
    """Your organisations with your role in each (an API key sees only its own)."""
    return OrgList(items=await service.list_orgs(session, runtime, principal))


@router.get("/{org_id}", response_model=OrgOut)
async def get_org(org_id: uuid.UUID, principal: Reader, session: SessionDep) -> OrgOut:
    """The current organisation. Any other organisation answers 404."""
    return service.org_out(await service.get_org(session, principal, org_id), principal)


@router.patch("/{org_id}", response_model=OrgOut)
async def update_org(
    org_id: uuid.UUID, body: OrgUpdate, principal: OrgAdmin, session: SessionDep
) -> OrgOut:
    """Rename the organisation or change its description (org admins and owners)."""
    org = await service.update_org(session, principal, org_id, body)
    return service.org_out(org, principal)


@router.delete("/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_org(org_id: uuid.UUID, principal: OrgAdmin, session: SessionDep) -> Response:
    """Delete the organisation and everything in it (owners only). This cannot be undone."""
    await service.delete_org(session, principal, org_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{org_id}/members", response_model=MemberPage)
async def list_members(
    org_id: uuid.UUID,
    principal: OrgReader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MemberPage:
    """Members with their role and when they joined, newest first."""
    page = await service.list_members(session, principal, org_id, limit=limit, cursor=cursor)
    return MemberPage(items=page.items, next_cursor=page.next_cursor)


@router.patch("/{org_id}/members/{user_id}", response_model=MemberOut)
async def change_member_role(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberRoleUpdate,
    principal: OrgAdmin,
    session: SessionDep,
) -> MemberOut:
    """Change a member's role. Only owners grant or remove the owner role; the last owner
    cannot be demoted (409)."""
    return await service.change_member_role(session, principal, org_id, user_id, body.role)


@router.delete("/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    org_id: uuid.UUID, user_id: uuid.UUID, principal: OrgAdmin, session: SessionDep
) -> Response:
    """Remove a member (admins and owners) or leave (your own id). The last owner stays."""
    await service.remove_member(session, principal, org_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{org_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationCreated,
)
async def create_invitation(
    org_id: uuid.UUID,
    body: InvitationCreate,
    principal: OrgAdmin,
    session: SessionDep,
    runtime: RuntimeDep,
) -> InvitationCreated:
    """Invite someone by e-mail. The token is in this response and never again; no e-mail
    is sent."""
    row, token = await service.create_invitation(
        session, principal, org_id, body, ttl_s=runtime.settings.auth.invitation_ttl_s
    )
    return InvitationCreated.model_validate(
        {**InvitationOut.model_validate(row).model_dump(), "token": token}
    )


@router.get("/{org_id}/invitations", response_model=InvitationPage)
async def list_invitations(
    org_id: uuid.UUID,
    principal: OrgReader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> InvitationPage:
    """Pending invitations (org admins and owners)."""
    page = await service.list_invitations(session, principal, org_id, limit=limit, cursor=cursor)
    return InvitationPage(
        items=[InvitationOut.model_validate(i) for i in page.items], next_cursor=page.next_cursor
    )


@router.delete("/{org_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invitation(
    org_id: uuid.UUID, invitation_id: uuid.UUID, principal: OrgAdmin, session: SessionDep
) -> Response:
    """Revoke a pending invitation; its token stops working at once."""
    await service.revoke_invitation(session, principal, org_id, invitation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
