"""Assistant queries (each assistant with its agent's name, LangGraph's `graph_id`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, select

from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.statements import built
from agentdeck.kit.tenancy import scoped
from agentdeck.models import Agent, Assistant, AssistantVersion

_SORT = {
    "assistant_id": Assistant.id,
    "graph_id": Agent.name,
    "name": Assistant.name,
    "created_at": Assistant.created_at,
    "updated_at": Assistant.updated_at,
}


def _agents_named() -> Any:
    """Agents called ``:name`` in the scope (``:k_org``, ``:k_spaces``) with their default
    assistant (built once: `kit.statements`)."""
    default = and_(Assistant.agent_id == Agent.id, Assistant.is_default.is_(True))
    return (
        select(Agent, Assistant)
        .outerjoin(Assistant, default)
        .where(
            Agent.org_id == bindparam("k_org"),
            Agent.space_id.in_(bindparam("k_spaces", expanding=True)),
            Agent.name == bindparam("name"),
        )
        .limit(2)
    )


class AssistantRepository(ScopedRepository[Assistant]):
    model = Assistant

    def _with_agent(self) -> Select[Any]:
        stmt: Any = select(Assistant, Agent.name).join(Agent, Agent.id == Assistant.agent_id)
        return self._filtered(stmt)

    async def with_graph(self, assistant_id: uuid.UUID) -> tuple[Assistant, str] | None:
        row = (
            await self.session.execute(self._with_agent().where(Assistant.id == assistant_id))
        ).first()
        return (row[0], row[1]) if row else None

    async def agents_named(self, name: str) -> Sequence[tuple[Agent, Assistant | None]]:
        """Each visible agent called ``name`` with its default assistant (None when it went
        missing), at most two: one query for what takes two by agent then assistant."""
        stmt = built(("agents_named",), _agents_named)
        rows = await self.session.execute(
            stmt, self.scope_params(name=name), execution_options=scoped(self.scope)
        )
        return [(agent, assistant) for agent, assistant in rows]

    async def default_of(self, agent_id: uuid.UUID) -> Assistant | None:
        stmt = self.select().where(Assistant.agent_id == agent_id, Assistant.is_default.is_(True))
        return (await self.session.execute(stmt)).scalars().first()

    async def search(
        self,
        *,
        graph_id: str | None,
        name: str | None,
        sort_by: str | None,
        descending: bool,
    ) -> Sequence[tuple[Assistant, str]]:
        """Every matching assistant with its graph id, sorted (newest first by default)."""
        stmt = self._with_agent()
        if graph_id is not None:
            stmt = stmt.where(Agent.name == graph_id)
        if name is not None:
            stmt = stmt.where(func.lower(Assistant.name).contains(name.lower()))
        column = _SORT.get(sort_by or "created_at", Assistant.created_at)
        stmt = stmt.order_by(column.desc() if descending else column.asc(), Assistant.id.desc())
        return [(a, g) for a, g in (await self.session.execute(stmt)).all()]


class AssistantVersionRepository(ScopedRepository[AssistantVersion]):
    model = AssistantVersion

    async def of(self, assistant_id: uuid.UUID) -> Sequence[AssistantVersion]:
        stmt = self.select().where(AssistantVersion.assistant_id == assistant_id)
        return await self.all(stmt.order_by(AssistantVersion.version.desc()))
