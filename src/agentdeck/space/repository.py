"""Space and space-membership queries, limited to the spaces the scope can see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import SpaceRole, scoped
from agentdeck.models import OrgMembership, Space, SpaceMember, User


class SpaceRepository(ScopedRepository[Space]):
    """Spaces visible to the scope (``select()`` filters by the scope's space ids)."""

    model = Space

    async def visible(self, *, limit: int, cursor: str | None) -> Page[Space]:
        """Every space the scope can see, newest first."""
        return await self.page(self.select(), limit=limit, cursor=cursor)

    async def delete_personal_of(self, user_id: uuid.UUID) -> None:
        """Delete the user's personal space in the scope's org (and, by cascade, its content).

        Org-wide on purpose: used when the user leaves the organisation, and the caller
        never sees other people's personal spaces.
        """
        stmt = (
            delete(Space)
            .where(
                Space.org_id == self.scope.org_id,
                Space.is_personal.is_(True),
                Space.personal_owner_id == user_id,
            )
            .execution_options(**scoped(self.scope))
        )
        await self.session.execute(stmt)


class SpaceMemberRepository(ScopedRepository[SpaceMember]):
    """Memberships of the spaces the scope can see."""

    model = SpaceMember

    async def members(
        self, space_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> Page[SpaceMember]:
        """Members of one space, newest first."""
        stmt = self.select().where(SpaceMember.space_id == space_id)
        return await self.page(stmt, limit=limit, cursor=cursor)

    async def membership(self, space_id: uuid.UUID, user_id: uuid.UUID) -> SpaceMember | None:
        """The user's membership of the space, if any."""
        stmt = self.select().where(SpaceMember.space_id == space_id, SpaceMember.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def owners_for_update(self, space_id: uuid.UUID) -> Sequence[SpaceMember]:
        """Owner memberships of a space, row-locked on PostgreSQL so demotions cannot race."""
        stmt = (
            self.select()
            .where(SpaceMember.space_id == space_id, SpaceMember.role == SpaceRole.OWNER.value)
            .with_for_update()
        )
        return await self.all(stmt)

    async def delete_all_of(self, user_id: uuid.UUID) -> None:
        """Remove the user from every space of the scope's org (org-wide on purpose: the
        user is leaving the organisation)."""
        stmt = (
            delete(SpaceMember)
            .where(SpaceMember.org_id == self.scope.org_id, SpaceMember.user_id == user_id)
            .execution_options(**scoped(self.scope))
        )
        await self.session.execute(stmt)

    async def in_org(self, user_id: uuid.UUID) -> bool:
        """True when ``user_id`` is a member of the scope's organisation (only members can
        join its spaces)."""
        stmt = (
            select(OrgMembership.user_id)
            .where(OrgMembership.org_id == self.scope.org_id, OrgMembership.user_id == user_id)
            .execution_options(**scoped(self.scope))
        )
        return (await self.session.execute(stmt)).first() is not None

    async def users(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        """Users by id (global rows; callers pass ids of members they can see)."""
        if not user_ids:
            return {}
        stmt = (
            select(User).where(User.id.in_(list(user_ids))).execution_options(**scoped(self.scope))
        )
        return {u.id: u for u in (await self.session.execute(stmt)).scalars()}
