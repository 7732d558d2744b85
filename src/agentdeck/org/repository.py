"""Organisation queries: the org row, its memberships and its invitations.

Every statement is limited to the scope's organisation and tagged with the scope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import OrgRole, scoped
from agentdeck.models import Invitation, Organization, OrgMembership, User


class OrgRepository(ScopedRepository[OrgMembership]):
    """The scope's organisation and its memberships."""

    model = OrgMembership

    async def org(self) -> Organization | None:
        """The scope's organisation row (``None`` once it has been deleted)."""
        stmt = (
            select(Organization)
            .where(Organization.id == self.scope.org_id)
            .execution_options(**scoped(self.scope))
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def delete_org(self, org: Organization) -> None:
        """Delete the organisation; the database cascades to every row that belongs to it."""
        if org.id != self.scope.org_id:
            raise ValueError("can only delete the scope's own organisation")
        await self.session.delete(org)

    async def membership(self, user_id: uuid.UUID) -> OrgMembership | None:
        """The membership of ``user_id`` in the scope's organisation."""
        stmt = self.select().where(OrgMembership.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def members(self, *, limit: int, cursor: str | None) -> Page[OrgMembership]:
        """Memberships of the organisation, newest first."""
        return await self.page(self.select(), limit=limit, cursor=cursor)

    async def owners_for_update(self) -> Sequence[OrgMembership]:
        """Owner memberships, row-locked on PostgreSQL so two demotions cannot race.

        SQLite serialises writers already (``BEGIN IMMEDIATE``) and ignores the lock.
        """
        stmt = self.select().where(OrgMembership.role == OrgRole.OWNER.value).with_for_update()
        return await self.all(stmt)

    async def member_with_email(self, email: str) -> OrgMembership | None:
        """The membership of the user with this e-mail address, if any."""
        stmt = (
            self.select()
            .join(User, User.id == OrgMembership.user_id)
            .where(User.email == email.lower())
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def users(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        """Users by id (users are global rows; callers pass ids of this org's members)."""
        if not user_ids:
            return {}
        stmt = (
            select(User).where(User.id.in_(list(user_ids))).execution_options(**scoped(self.scope))
        )
        return {u.id: u for u in (await self.session.execute(stmt)).scalars()}


class InvitationRepository(ScopedRepository[Invitation]):
    """Invitations to the scope's organisation."""

    model = Invitation

    def _pending(self, now: dt.datetime) -> Select[Invitation]:
        return self.select().where(
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )

    async def pending(
        self, now: dt.datetime, *, limit: int, cursor: str | None
    ) -> Page[Invitation]:
        """Invitations neither accepted, revoked nor expired, newest first."""
        return await self.page(self._pending(now), limit=limit, cursor=cursor)

    async def pending_for_email(self, email: str, now: dt.datetime) -> Invitation | None:
        """A pending invitation for this e-mail address, if any."""
        stmt = self._pending(now).where(Invitation.email == email.lower()).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()
