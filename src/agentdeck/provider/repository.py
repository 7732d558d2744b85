"""Provider queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import UNSCOPED_REASON
from agentdeck.models import Provider


class ProviderRepository(ScopedRepository[Provider]):
    model = Provider

    async def by_name(self, name: str) -> Provider | None:
        stmt = self.select().where(Provider.name == name)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self, *, limit: int, cursor: str | None) -> Page[Provider]:
        return await self.page(self.select(), limit=limit, cursor=cursor)

    async def enabled(self) -> Sequence[Provider]:
        return await self.all(self.select().where(Provider.enabled.is_(True)))


async def all_with_credentials(session: AsyncSession) -> Sequence[Provider]:
    """Every provider of every org (for master-key rotation only)."""
    stmt = select(Provider).where(Provider.api_key_enc.is_not(None))
    rows = await session.execute(stmt.execution_options(**{UNSCOPED_REASON: "key rotation"}))
    return rows.scalars().all()
