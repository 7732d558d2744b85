"""Toolset and tool-call queries, always inside the caller's scope (its spaces)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import ToolCallRecord, Toolset


class ToolsetRepository(ScopedRepository[Toolset]):
    model = Toolset

    async def by_name(self, space_id: uuid.UUID, name: str) -> Toolset | None:
        stmt = self.select().where(Toolset.space_id == space_id, Toolset.name == name)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def in_space(self, space_id: uuid.UUID) -> Sequence[Toolset]:
        return await self.all(self.select().where(Toolset.space_id == space_id))

    async def list(
        self, *, space_id: uuid.UUID | None, limit: int, cursor: str | None
    ) -> Page[Toolset]:
        stmt = self.select()
        if space_id is not None:
            stmt = stmt.where(Toolset.space_id == space_id)
        return await self.page(stmt, limit=limit, cursor=cursor)


class ToolCallRepository(ScopedRepository[ToolCallRecord]):
    model = ToolCallRecord

    async def by_key(self, idempotency_key: str) -> ToolCallRecord | None:
        stmt = self.select().where(ToolCallRecord.idempotency_key == idempotency_key)
        return (await self.session.execute(stmt)).scalar_one_or_none()
