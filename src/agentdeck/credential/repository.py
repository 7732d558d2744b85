"""Credential queries: the org's credentials that are org-wide or in a space the scope sees."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import UNSCOPED_REASON
from agentdeck.models import Credential


class CredentialRepository(ScopedRepository[Credential]):
    model = Credential

    def _filtered(self, stmt: Select[Any]) -> Select[Any]:
        # Org-wide rows (no space) are visible to the whole org; the others only in the
        # spaces of the scope.
        return (
            super()
            ._filtered(stmt)
            .where(
                or_(
                    Credential.space_id.is_(None),
                    Credential.space_id.in_(list(self.scope.space_ids)),
                )
            )
        )

    async def by_name(self, name: str, space_id: uuid.UUID | None) -> Credential | None:
        stmt = self.select().where(Credential.name == name)
        stmt = stmt.where(
            Credential.space_id.is_(None) if space_id is None else Credential.space_id == space_id
        )
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    async def list(
        self, *, space_id: uuid.UUID | None, limit: int, cursor: str | None
    ) -> Page[Credential]:
        stmt = self.select()
        if space_id is not None:
            stmt = stmt.where(or_(Credential.space_id.is_(None), Credential.space_id == space_id))
        return await self.page(stmt, limit=limit, cursor=cursor)

    async def for_update(self, credential_id: uuid.UUID) -> Credential | None:
        """The row, locked until the transaction ends (PostgreSQL; on SQLite every
        transaction already holds the database's one write lock)."""
        stmt = self.select().where(Credential.id == credential_id).with_for_update()
        stmt = stmt.execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()


async def all_credentials(session: AsyncSession) -> Sequence[Credential]:
    """Every credential of every org (for master-key rotation only)."""
    stmt = select(Credential).execution_options(**{UNSCOPED_REASON: "key rotation"})
    return (await session.execute(stmt)).scalars().all()
