"""Thread memory queries: always inside the scope."""

from __future__ import annotations

import uuid

from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import ThreadMemory


class ThreadMemoryRepository(ScopedRepository[ThreadMemory]):
    model = ThreadMemory

    async def of_thread(self, thread_id: uuid.UUID) -> ThreadMemory | None:
        stmt = self.select().where(ThreadMemory.thread_id == thread_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()
