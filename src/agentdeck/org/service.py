"""Organisation rules: who may change the org, its members and its invitations.

Roles: members read; admins manage members (up to admin) and invitations; only owners
grant, revoke or invite the owner role, and delete the organisation. An organisation
always keeps at least one owner. Another organisation is answered with 404, never 403.
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.apikey import service as apikey_service
from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.auth.service import AuthService
from agentdeck.auth.tokens import new_invite_token
from agentdeck.errors import Conflict, NotFound
from agentdeck.kit.authz import require_org_role
from agentdeck.kit.db import utcnow
from agentdeck.kit.pagination import MAX_LIMIT, Page
from agentdeck.kit.tenancy import OrgRole
from agentdeck.models import Invitation, Organization, OrgMembership, User
from agentdeck.org.repository import InvitationRepository, OrgRepository
from agentdeck.org.schemas import (
    InvitationCreate,
    MemberOut,
    OrgOut,
    OrgSummary,
    OrgUpdate,
)
from agentdeck.runtime import Runtime
from agentdeck.space import service as space_service

log = structlog.get_logger(__name__)


def _require_admin(principal: Principal, action: str) -> None:
    denied = f"only organisation owners and admins can {action}"
    require_org_role(principal.scope, OrgRole.ADMIN, denied)


def _require_owner(principal: Principal, action: str) -> None:
    require_org_role(principal.scope, OrgRole.OWNER, f"only organisation owners can {action}")


async def get_org(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> Organization:
    """The caller's current organisation. Any other id raises :class:`NotFound`."""
    org = None
    if org_id == principal.org_id:
        org = await OrgRepository(session, principal.scope).org()
    if org is None:
        raise NotFound("organisation not found")
    return org


def org_out(org: Organization, principal: Principal) -> OrgOut:
    """The organisation as the caller sees it (with their role)."""
    return OrgOut(
        id=org.id,
        name=org.name,
        description=org.description,
        role=principal.scope.org_role,
        created_at=org.created_at,
        max_runs_in_flight=org.max_runs_in_flight,
        max_runs_per_minute=org.max_runs_per_minute,
    )


async def list_orgs(
    session: AsyncSession, runtime: Runtime, principal: Principal
) -> list[OrgSummary]:
    """The caller's organisations with their role (an API key: only its own org)."""
    me = await AuthService(session, runtime).me(principal)
    return [OrgSummary(id=o.id, name=o.name, role=o.role) for o in me.orgs]


async def update_org(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, body: OrgUpdate
) -> Organization:
    """Change name and/or description (org admins and owners).

    Raises :class:`NotFound`, :class:`Forbidden`, and :class:`InvalidInput` for a null name.
    """
    org = await get_org(session, principal, org_id)
    _require_admin(principal, "change the organisation")
    audit.apply_and_record(
        session,
        org,
        body.model_dump(exclude_unset=True),
        org_id=org.id,
        actor=principal.actor,
        action="org.updated",
        target_type="org",
    )
    await session.flush()
    return org


async def delete_org(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> None:
    """Delete the organisation and, by cascade, everything in it (owners only).

    No audit entry is written: the org's audit log is deleted with it.
    """
    org = await get_org(session, principal, org_id)
    _require_owner(principal, "delete the organisation")
    await OrgRepository(session, principal.scope).delete_org(org)
    await session.flush()
    log.info("org.deleted", org_id=str(org.id), user_id=str(principal.user_id))


# --- members -------------------------------------------------------------------------------


def _member_out(membership: OrgMembership, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=OrgRole(membership.role),
        joined_at=membership.created_at,
    )


async def list_members(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[MemberOut]:
    """Members of the organisation with their role, newest first (any member may read)."""
    await get_org(session, principal, org_id)
    repo = OrgRepository(session, principal.scope)
    page = await repo.members(limit=limit, cursor=cursor)
    users = await repo.users([m.user_id for m in page.items])
    items = [_member_out(m, users[m.user_id]) for m in page.items if m.user_id in users]
    return Page[MemberOut](items=items, next_cursor=page.next_cursor)


async def _target(repo: OrgRepository, user_id: uuid.UUID) -> OrgMembership:
    membership = await repo.membership(user_id)
    if membership is None:
        raise NotFound("member not found", field="user_id")
    return membership


async def _ensure_other_owner(repo: OrgRepository, target: OrgMembership, field: str) -> None:
    owners = await repo.owners_for_update()
    if not any(o.user_id != target.user_id for o in owners):
        raise Conflict("an organisation must keep at least one owner", field=field)


async def change_member_role(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    role: OrgRole,
) -> MemberOut:
    """Give a member another role.

    Admins change members and admins; only owners grant or take away the owner role.
    Raises :class:`NotFound` (field ``user_id``), :class:`Forbidden`, and
    :class:`Conflict` (field ``role``) when it would leave the org without an owner.
    """
    await get_org(session, principal, org_id)
    _require_admin(principal, "change member roles")
    repo = OrgRepository(session, principal.scope)
    target = await _target(repo, user_id)
    old = OrgRole(target.role)
    if OrgRole.OWNER in (old, role):
        _require_owner(principal, "grant or take away the owner role")
    if old is OrgRole.OWNER and role is not OrgRole.OWNER:
        await _ensure_other_owner(repo, target, "role")
    if old is not role:
        target.role = role.value
        target.updated_at = utcnow()
        audit.record(
            session,
            org_id=principal.org_id,
            actor=principal.actor,
            action="org.member_role_changed",
            target_type="user",
            target_id=user_id,
            changes={"role": {"from": old.value, "to": role.value}},
        )
        await session.flush()
    users = await repo.users([user_id])
    return _member_out(target, users[user_id])


async def _revoke_keys_of(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    # Keys stop working with the membership, but would come back if the user rejoined.
    cursor: str | None = None
    while True:
        page = await apikey_service.list_keys(session, principal, limit=MAX_LIMIT, cursor=cursor)
        for key in page.items:
            if key.created_by == user_id and key.revoked_at is None:
                await apikey_service.revoke(session, principal, key.id)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def remove_member(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a member (admins and owners), or leave (anyone, for themselves).

    Their space memberships in this org and their personal space here go with them, and
    their API keys for this org are revoked.
    Raises :class:`NotFound` (field ``user_id``), :class:`Forbidden`, and :class:`Conflict`
    (field ``user_id``) for the last owner.
    """
    await get_org(session, principal, org_id)
    leaving = user_id == principal.user_id
    if not leaving:
        _require_admin(principal, "remove members")
    repo = OrgRepository(session, principal.scope)
    target = await _target(repo, user_id)
    if OrgRole(target.role) is OrgRole.OWNER:
        if not leaving:
            _require_owner(principal, "remove an owner")
        await _ensure_other_owner(repo, target, "user_id")
    await space_service.remove_org_member(session, principal, user_id)
    await _revoke_keys_of(session, principal, user_id)
    await repo.delete(target)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="org.member_removed",
        target_type="user",
        target_id=user_id,
        changes={"role": target.role, "left": leaving},
    )
    await session.flush()


# --- invitations ---------------------------------------------------------------------------


async def create_invitation(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    body: InvitationCreate,
    *,
    ttl_s: int,
) -> tuple[Invitation, str]:
    """Invite an e-mail address; returns the row and the token (shown once, stored hashed).

    Admins invite members and admins; only owners invite owners. Raises :class:`NotFound`,
    :class:`Forbidden`, and :class:`Conflict` (field ``email``) when the address already
    belongs to a member or has a pending invitation.
    """
    await get_org(session, principal, org_id)
    _require_admin(principal, "invite members")
    if body.role is OrgRole.OWNER:
        _require_owner(principal, "invite owners")
    email = body.email.lower()
    now = utcnow()
    if await OrgRepository(session, principal.scope).member_with_email(email) is not None:
        raise Conflict("this e-mail address already belongs to a member", field="email")
    repo = InvitationRepository(session, principal.scope)
    if await repo.pending_for_email(email, now) is not None:
        raise Conflict(
            "a pending invitation for this e-mail address exists; revoke it first", field="email"
        )
    token, token_hash = new_invite_token()
    row = Invitation(
        org_id=principal.org_id,
        email=email,
        role=body.role.value,
        token_hash=token_hash,
        invited_by=principal.user_id,
        expires_at=now + dt.timedelta(seconds=ttl_s),
    )
    repo.add(row)
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="invitation.created",
        target_type="invitation",
        target_id=row.id,
        changes={"email": email, "role": row.role, "expires_at": row.expires_at},
    )
    return row, token


async def list_invitations(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Invitation]:
    """Pending invitations, newest first (admins and owners)."""
    await get_org(session, principal, org_id)
    _require_admin(principal, "see invitations")
    return await InvitationRepository(session, principal.scope).pending(
        utcnow(), limit=limit, cursor=cursor
    )


async def revoke_invitation(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, invitation_id: uuid.UUID
) -> None:
    """Revoke an invitation so its token stops working. Revoking twice is a no-op.

    Raises :class:`NotFound` (field ``invitation_id``), :class:`Forbidden` (owner
    invitations need an owner), and :class:`Conflict` when it was already accepted.
    """
    await get_org(session, principal, org_id)
    _require_admin(principal, "revoke invitations")
    row = await InvitationRepository(session, principal.scope).get(invitation_id)
    if row is None:
        raise NotFound("invitation not found", field="invitation_id")
    if OrgRole(row.role) is OrgRole.OWNER:
        _require_owner(principal, "revoke an owner invitation")
    if row.accepted_at is not None:
        raise Conflict("invitation was already accepted", field="invitation_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            org_id=principal.org_id,
            actor=principal.actor,
            action="invitation.revoked",
            target_type="invitation",
            target_id=row.id,
            changes={"email": row.email, "role": row.role},
        )
        await session.flush()
