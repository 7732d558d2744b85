"""Queries auth needs before a tenant scope exists. They bypass the tenant guard on purpose."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.tenancy import UNSCOPED_REASON, OrgRole, SpaceRole
from agentdeck.models import (
    ApiKey,
    Invitation,
    LoginThrottle,
    Organization,
    OrgMembership,
    RefreshToken,
    Space,
    SpaceMember,
    User,
)

_BYPASS = {UNSCOPED_REASON: "auth"}
T = TypeVar("T")


class AuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _one(self, stmt: Select[T]) -> T | None:
        return (await self.session.execute(stmt.execution_options(**_BYPASS))).scalar_one_or_none()

    async def user_by_email(self, email: str) -> User | None:
        return await self._one(select(User).where(User.email == email.lower()))

    async def user_by_id(self, user_id: uuid.UUID) -> User | None:
        return await self._one(select(User).where(User.id == user_id))

    async def membership(self, org_id: uuid.UUID, user_id: uuid.UUID) -> OrgMembership | None:
        return await self._one(
            select(OrgMembership).where(
                OrgMembership.org_id == org_id, OrgMembership.user_id == user_id
            )
        )

    async def memberships_of(
        self, user_id: uuid.UUID
    ) -> Sequence[tuple[OrgMembership, Organization]]:
        stmt = (
            select(OrgMembership, Organization)
            .join(Organization, Organization.id == OrgMembership.org_id)
            .where(OrgMembership.user_id == user_id)
            .order_by(OrgMembership.created_at)
        )
        rows = await self.session.execute(stmt.execution_options(**_BYPASS))
        return [(m, o) for m, o in rows.all()]

    async def org(self, org_id: uuid.UUID) -> Organization | None:
        return await self._one(select(Organization).where(Organization.id == org_id))

    async def space_roles(
        self, org_id: uuid.UUID, user_id: uuid.UUID, org_role: OrgRole
    ) -> dict[uuid.UUID, SpaceRole]:
        """Every space of the org the user can see, with their role in it.

        Members see the spaces they belong to; org owners and admins also manage every
        shared space. Personal spaces are visible only to their owner.
        """
        roles: dict[uuid.UUID, SpaceRole] = {}
        member_rows = await self.session.execute(
            select(SpaceMember.space_id, SpaceMember.role)
            .where(SpaceMember.org_id == org_id, SpaceMember.user_id == user_id)
            .execution_options(**_BYPASS)
        )
        for space_id, role in member_rows.all():
            roles[space_id] = SpaceRole(role)
        if org_role in (OrgRole.OWNER, OrgRole.ADMIN):
            shared = await self.session.execute(
                select(Space.id)
                .where(Space.org_id == org_id, Space.is_personal.is_(False))
                .execution_options(**_BYPASS)
            )
            for (space_id,) in shared.all():
                roles[space_id] = SpaceRole.OWNER
        return roles

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        return await self._one(select(ApiKey).where(ApiKey.key_hash == key_hash))

    async def touch_api_key(self, key_id: uuid.UUID, when: dt.datetime) -> None:
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(last_used_at=when)
            .execution_options(**_BYPASS)
        )

    async def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self._one(select(RefreshToken).where(RefreshToken.token_hash == token_hash))

    async def refresh_family_revoked(self, family_id: uuid.UUID) -> bool:
        """True when the login session (refresh-token family) was revoked."""
        stmt = (
            select(RefreshToken.id)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None))
            .limit(1)
        )
        return await self._one(stmt) is not None

    async def revoke_refresh_family(self, family_id: uuid.UUID, when: dt.datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    async def throttles(self, keys: list[str]) -> list[LoginThrottle]:
        rows = await self.session.execute(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
        return list(rows.scalars())

    async def delete_throttle(self, key: str) -> None:
        throttle = await self._one(select(LoginThrottle).where(LoginThrottle.key == key))
        if throttle is not None:
            await self.session.delete(throttle)

    async def pending_invitation(self, token_hash: str, now: dt.datetime) -> Invitation | None:
        return await self._one(
            select(Invitation).where(
                Invitation.token_hash == token_hash,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                or_(Invitation.expires_at > now),
            )
        )

    async def personal_space(self, org_id: uuid.UUID, user_id: uuid.UUID) -> Space | None:
        return await self._one(
            select(Space).where(
                Space.org_id == org_id,
                Space.is_personal.is_(True),
                Space.personal_owner_id == user_id,
            )
        )

    def add(self, *rows: object) -> None:
        self.session.add_all(rows)

    async def flush(self) -> None:
        await self.session.flush()
