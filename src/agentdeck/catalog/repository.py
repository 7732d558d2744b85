"""Alias and override queries."""

from __future__ import annotations

from collections.abc import Sequence

from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import ModelAlias, ModelOverride


class AliasRepository(ScopedRepository[ModelAlias]):
    model = ModelAlias

    async def by_name(self, name: str) -> ModelAlias | None:
        stmt = self.select().where(ModelAlias.name == name)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def everything(self) -> Sequence[ModelAlias]:
        return await self.all(self.select().order_by(ModelAlias.name))


class OverrideRepository(ScopedRepository[ModelOverride]):
    model = ModelOverride

    async def by_model(self, ref: str) -> ModelOverride | None:
        stmt = self.select().where(ModelOverride.model == ref)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def everything(self) -> Sequence[ModelOverride]:
        return await self.all(self.select().order_by(ModelOverride.model))
