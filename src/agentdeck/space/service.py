"""Space rules: viewers read, editors change, owners manage members and delete.

Visibility comes from the scope (``space_roles``): a space outside it, whether in another
organisation or one the caller does not belong to, is answered with 404, never 403. Org
owners and admins hold the owner role in every shared space. Personal spaces have exactly
one member and cannot be deleted. A shared space keeps at least one owner.

The org feature depends on this one (a member who leaves the org leaves its spaces:
`remove_org_member`), never the other way round.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.apikey import service as apikey_service
from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.errors import Conflict, Forbidden, NotFound
from agentdeck.kit.authz import require_space_role
from agentdeck.kit.db import utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import SpaceRole
from agentdeck.models import Space, SpaceMember, User
from agentdeck.space.repository import SpaceMemberRepository, SpaceRepository
from agentdeck.space.schemas import (
    SpaceCreate,
    SpaceMemberOut,
    SpaceOut,
    SpaceUpdate,
)

_VERB = {SpaceRole.VIEWER: "read", SpaceRole.EDITOR: "change", SpaceRole.OWNER: "manage"}


def space_out(space: Space, role: SpaceRole) -> SpaceOut:
    """The space as a caller with ``role`` sees it."""
    return SpaceOut(
        id=space.id,
        name=space.name,
        description=space.description,
        is_personal=space.is_personal,
        role=role,
        created_at=space.created_at,
        updated_at=space.updated_at,
    )


async def _visible(
    session: AsyncSession, principal: Principal, space_id: uuid.UUID, minimum: SpaceRole
) -> tuple[Space, SpaceRole]:
    """The space and the caller's role in it; 404 when invisible, 403 below ``minimum``."""
    space = await SpaceRepository(session, principal.scope).get(space_id)
    if space is None:
        raise NotFound("space not found")
    denied = f"you need the {minimum.value} role to {_VERB[minimum]} this space"
    role = require_space_role(principal.scope, space_id, minimum, denied, field=None)
    return space, role


async def _key_is_space_limited(session: AsyncSession, principal: Principal) -> bool:
    if principal.api_key_id is None:
        return False
    key = await apikey_service.get(session, principal, principal.api_key_id)
    return key.space_ids is not None


async def create(session: AsyncSession, principal: Principal, body: SpaceCreate) -> SpaceOut:
    """Create a shared space; the caller becomes its owner (any org member may do this).

    Raises :class:`Forbidden` for an API key limited to some spaces (it could not see the
    new one).
    """
    if await _key_is_space_limited(session, principal):
        raise Forbidden("an API key limited to some spaces cannot create spaces")
    space = Space(org_id=principal.org_id, name=body.name, description=body.description)
    SpaceRepository(session, principal.scope).add(space)
    await session.flush()
    SpaceMemberRepository(session, principal.scope).add(
        SpaceMember(
            org_id=principal.org_id,
            space_id=space.id,
            user_id=principal.user_id,
            role=SpaceRole.OWNER.value,
        )
    )
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="space.created",
        target_type="space",
        target_id=space.id,
        changes={"name": space.name, "description": space.description},
    )
    await session.flush()
    return space_out(space, SpaceRole.OWNER)


async def list_spaces(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[SpaceOut]:
    """The spaces the caller can see with their role, newest first."""
    page = await SpaceRepository(session, principal.scope).visible(limit=limit, cursor=cursor)
    roles = principal.scope.space_roles
    return Page[SpaceOut](
        items=[space_out(s, roles[s.id]) for s in page.items], next_cursor=page.next_cursor
    )


async def get(session: AsyncSession, principal: Principal, space_id: uuid.UUID) -> SpaceOut:
    """One space the caller can see. Raises :class:`NotFound`."""
    space, role = await _visible(session, principal, space_id, SpaceRole.VIEWER)
    return space_out(space, role)


async def update(
    session: AsyncSession, principal: Principal, space_id: uuid.UUID, body: SpaceUpdate
) -> SpaceOut:
    """Change name and/or description (editors and owners).

    Raises :class:`NotFound`, :class:`Forbidden`, and :class:`InvalidInput` for a null name.
    """
    space, role = await _visible(session, principal, space_id, SpaceRole.EDITOR)
    changes = audit.apply_and_record(
        session,
        space,
        body.model_dump(exclude_unset=True),
        org_id=principal.org_id,
        actor=principal.actor,
        action="space.updated",
        target_type="space",
    )
    if changes:
        await session.flush()
    return space_out(space, role)


async def delete(session: AsyncSession, principal: Principal, space_id: uuid.UUID) -> None:
    """Delete a shared space and everything in it (owners).

    Raises :class:`NotFound`, :class:`Forbidden`, and :class:`Conflict` for a personal space.
    """
    space, _ = await _visible(session, principal, space_id, SpaceRole.OWNER)
    if space.is_personal:
        raise Conflict("a personal space cannot be deleted", field="space_id")
    await SpaceRepository(session, principal.scope).delete(space)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="space.deleted",
        target_type="space",
        target_id=space.id,
        changes={"name": space.name},
    )
    await session.flush()


# --- members -------------------------------------------------------------------------------


def _member_out(member: SpaceMember, user: User) -> SpaceMemberOut:
    return SpaceMemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=SpaceRole(member.role),
        joined_at=member.created_at,
    )


async def _member_out_of(repo: SpaceMemberRepository, member: SpaceMember) -> SpaceMemberOut:
    users = await repo.users([member.user_id])
    return _member_out(member, users[member.user_id])


async def list_members(
    session: AsyncSession,
    principal: Principal,
    space_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[SpaceMemberOut]:
    """Members of a space the caller can see, newest first."""
    await _visible(session, principal, space_id, SpaceRole.VIEWER)
    repo = SpaceMemberRepository(session, principal.scope)
    page = await repo.members(space_id, limit=limit, cursor=cursor)
    users = await repo.users([m.user_id for m in page.items])
    items = [_member_out(m, users[m.user_id]) for m in page.items if m.user_id in users]
    return Page[SpaceMemberOut](items=items, next_cursor=page.next_cursor)


async def add_member(
    session: AsyncSession,
    principal: Principal,
    space_id: uuid.UUID,
    user_id: uuid.UUID,
    role: SpaceRole,
) -> SpaceMemberOut:
    """Add a member of the organisation to a shared space (owners).

    Raises :class:`NotFound` (the space, or field ``user_id`` when the user is not in the
    org), :class:`Forbidden`, and :class:`Conflict` for a personal space or an existing
    member.
    """
    space, _ = await _visible(session, principal, space_id, SpaceRole.OWNER)
    if space.is_personal:
        raise Conflict("a personal space cannot have other members", field="space_id")
    repo = SpaceMemberRepository(session, principal.scope)
    if not await repo.in_org(user_id):
        raise NotFound("no such member of the organisation", field="user_id")
    if await repo.membership(space_id, user_id) is not None:
        raise Conflict("the user is already a member of this space", field="user_id")
    member = repo.add(
        SpaceMember(org_id=principal.org_id, space_id=space_id, user_id=user_id, role=role.value)
    )
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="space.member_added",
        target_type="space",
        target_id=space_id,
        changes={"user_id": user_id, "role": role.value},
    )
    return await _member_out_of(repo, member)


async def _target(
    repo: SpaceMemberRepository, space_id: uuid.UUID, user_id: uuid.UUID
) -> SpaceMember:
    member = await repo.membership(space_id, user_id)
    if member is None:
        raise NotFound("not a member of this space", field="user_id")
    return member


async def _ensure_other_owner(repo: SpaceMemberRepository, target: SpaceMember, field: str) -> None:
    owners = await repo.owners_for_update(target.space_id)
    if not any(o.user_id != target.user_id for o in owners):
        raise Conflict("a space must keep at least one owner", field=field)


async def change_member_role(
    session: AsyncSession,
    principal: Principal,
    space_id: uuid.UUID,
    user_id: uuid.UUID,
    role: SpaceRole,
) -> SpaceMemberOut:
    """Change a member's role (owners). Raises :class:`NotFound` (field ``user_id``),
    :class:`Forbidden`, and :class:`Conflict` (field ``role``) for the last owner."""
    await _visible(session, principal, space_id, SpaceRole.OWNER)
    repo = SpaceMemberRepository(session, principal.scope)
    member = await _target(repo, space_id, user_id)
    old = SpaceRole(member.role)
    if old is SpaceRole.OWNER and role is not SpaceRole.OWNER:
        await _ensure_other_owner(repo, member, "role")
    if old is not role:
        member.role = role.value
        member.updated_at = utcnow()
        audit.record(
            session,
            org_id=principal.org_id,
            actor=principal.actor,
            action="space.member_role_changed",
            target_type="space",
            target_id=space_id,
            changes={"user_id": user_id, "role": {"from": old.value, "to": role.value}},
        )
        await session.flush()
    return await _member_out_of(repo, member)


async def remove_member(
    session: AsyncSession, principal: Principal, space_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a member (owners), or leave (anyone, for themselves).

    Raises :class:`NotFound` (field ``user_id``), :class:`Forbidden`, and :class:`Conflict`
    (field ``user_id``) for the last owner.
    """
    leaving = user_id == principal.user_id
    await _visible(session, principal, space_id, SpaceRole.VIEWER if leaving else SpaceRole.OWNER)
    repo = SpaceMemberRepository(session, principal.scope)
    member = await _target(repo, space_id, user_id)
    if SpaceRole(member.role) is SpaceRole.OWNER:
        await _ensure_other_owner(repo, member, "user_id")
    await repo.delete(member)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="space.member_removed",
        target_type="space",
        target_id=space_id,
        changes={"user_id": user_id, "role": member.role, "left": leaving},
    )
    await session.flush()


async def remove_org_member(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> None:
    """Take a user who leaves the organisation out of all its spaces and delete their
    personal space there. The org feature calls this; it checks the rights."""
    await SpaceRepository(session, principal.scope).delete_personal_of(user_id)
    await SpaceMemberRepository(session, principal.scope).delete_all_of(user_id)
