"""Prompt queries, always inside the scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import Prompt, PromptVersion


class PromptRepository(ScopedRepository[Prompt]):
    model = Prompt

    async def named(self, space_id: uuid.UUID, name: str) -> Prompt | None:
        stmt = self.select().where(Prompt.space_id == space_id, Prompt.name == name)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def locked(self, prompt_id: uuid.UUID) -> Prompt | None:
        """The prompt, row-locked on PostgreSQL (a new version number is taken from it)."""
        stmt = self.select().where(Prompt.id == prompt_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, space_id: uuid.UUID | None, *, limit: int, cursor: str | None
    ) -> Page[Prompt]:
        stmt = self.select()
        if space_id is not None:
            stmt = stmt.where(Prompt.space_id == space_id)
        return await self.page(stmt, limit=limit, cursor=cursor)


class PromptVersionRepository(ScopedRepository[PromptVersion]):
    model = PromptVersion

    async def one(self, prompt_id: uuid.UUID, version: int) -> PromptVersion | None:
        stmt = self.select().where(
            PromptVersion.prompt_id == prompt_id, PromptVersion.version == version
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def of(self, prompt_id: uuid.UUID) -> Sequence[PromptVersion]:
        stmt = (
            self.select()
            .where(PromptVersion.prompt_id == prompt_id)
            .order_by(PromptVersion.version.desc())
        )
        return await self.all(stmt)
