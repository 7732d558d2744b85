"""Agent queries: agents, their immutable versions, default assistants, known model names."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import scoped
from agentdeck.models import Agent, AgentVersion, Assistant, ModelAlias, Provider


class AgentRepository(ScopedRepository[Agent]):
    model = Agent

    async def by_name(self, space_id: uuid.UUID, name: str) -> Agent | None:
        stmt = self.select().where(Agent.space_id == space_id, Agent.name == name)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def named(self, name: str, space_ids: Collection[uuid.UUID] | None) -> Sequence[Agent]:
        """Agents called ``name`` in the visible spaces (or only in ``space_ids``)."""
        stmt = self.select().where(Agent.name == name)
        if space_ids is not None:
            stmt = stmt.where(Agent.space_id.in_(list(space_ids)))
        return await self.all(stmt.order_by(Agent.id))

    async def claim_next_version(self, agent: Agent, expected: int) -> bool:
        """Make ``expected + 1`` the agent's current version if ``expected`` still is (one
        statement, so two saves from the same version cannot both win); False otherwise."""
        stmt = (
            update(Agent)
            .where(
                Agent.org_id == self.scope.org_id,
                Agent.id == agent.id,
                Agent.current_version == expected,
            )
            .values(current_version=expected + 1)
            .execution_options(**scoped(self.scope), synchronize_session=False)
        )
        result = cast("CursorResult[Any]", await self.session.execute(stmt))
        won = result.rowcount == 1
        if won:
            agent.current_version = expected + 1
        return won

    async def names_in_space(self, space_id: uuid.UUID) -> set[str]:
        stmt = self._filtered(select(Agent.name).where(Agent.space_id == space_id))
        return set((await self.session.execute(stmt)).scalars())

    async def list(
        self, *, space_id: uuid.UUID | None, limit: int, cursor: str | None
    ) -> Page[Agent]:
        stmt = self.select()
        if space_id is not None:
            stmt = stmt.where(Agent.space_id == space_id)
        return await self.page(stmt, limit=limit, cursor=cursor)


class AgentVersionRepository(ScopedRepository[AgentVersion]):
    model = AgentVersion

    async def one(self, agent_id: uuid.UUID, version: int) -> AgentVersion | None:
        stmt = self.select().where(
            AgentVersion.agent_id == agent_id, AgentVersion.version == version
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, agent_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> Page[AgentVersion]:
        stmt = self.select().where(AgentVersion.agent_id == agent_id)
        return await self.page(stmt, limit=limit, cursor=cursor)


class DefaultAssistantRepository(ScopedRepository[Assistant]):
    """The default assistant is part of the agent aggregate: made and renamed with it."""

    model = Assistant

    async def of(self, agent_id: uuid.UUID) -> Assistant | None:
        stmt = self.select().where(Assistant.agent_id == agent_id, Assistant.is_default.is_(True))
        return (await self.session.execute(stmt)).scalars().first()


class ModelNameRepository:
    """The model names an org can use: its aliases and its providers' `provider/model`."""

    def __init__(self, repo: AgentRepository) -> None:
        self.session = repo.session
        self.scope = repo.scope

    async def known(self) -> set[str]:
        opts = scoped(self.scope)
        aliases = await self.session.execute(
            select(ModelAlias.name)
            .where(ModelAlias.org_id == self.scope.org_id)
            .execution_options(**opts)
        )
        names = set(aliases.scalars())
        providers = await self.session.execute(
            select(Provider.name, Provider.models)
            .where(Provider.org_id == self.scope.org_id)
            .execution_options(**opts)
        )
        for provider, models in providers.all():
            names.update(f"{provider}/{model}" for model in models or [])
        return names
