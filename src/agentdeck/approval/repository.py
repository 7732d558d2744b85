"""Inbox queries: the runs of the caller's spaces that wait for an answer.

The run and agent tables are read here directly (this feature's own query), never through
the run feature's repository.
"""

from __future__ import annotations

from sqlalchemy import exists
from sqlalchemy.orm import aliased

from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import Agent, Run


class ApprovalRepository(ScopedRepository[Run]):
    model = Run

    async def waiting(self, limit: int) -> list[tuple[Run, str]]:
        """Runs waiting for an answer, newest first, each with its agent's name: interrupted,
        on a thread, and the thread's latest run (an answer starts a newer run on it)."""
        newer = aliased(Run)
        stmt = (
            self.select()
            .add_columns(Agent.name)
            .join(Agent, Agent.id == Run.agent_id)
            .where(
                Run.status == "interrupted",
                Run.thread_id.is_not(None),
                ~exists().where(newer.thread_id == Run.thread_id, newer.id > Run.id),
            )
            .order_by(Run.id.desc())
            .limit(limit)
        )
        return [(run, name) for run, name in await self.session.execute(stmt)]
