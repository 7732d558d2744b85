"""API key queries."""

from __future__ import annotations

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import ApiKey


class ApiKeyRepository(ScopedRepository[ApiKey]):
    model = ApiKey

    async def list(self, *, only_mine: bool, limit: int, cursor: str | None) -> Page[ApiKey]:
        stmt = self.select()
        if only_mine:
            stmt = stmt.where(ApiKey.created_by == self.scope.user_id)
        return await self.page(stmt, limit=limit, cursor=cursor)
