"""Thread queries, and the caller's personal space (where threads go by default)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import scoped
from agentdeck.models import Space, Thread

_SORT = {
    "thread_id": Thread.id,
    "status": Thread.status,
    "created_at": Thread.created_at,
    "updated_at": Thread.updated_at,
}


class ThreadRepository(ScopedRepository[Thread]):
    model = Thread

    async def search(
        self,
        *,
        ids: list[uuid.UUID] | None,
        status: str | None,
        sort_by: str | None,
        descending: bool,
    ) -> Sequence[Thread]:
        stmt = self.select()
        if ids is not None:
            stmt = stmt.where(Thread.id.in_(ids))
        if status is not None:
            stmt = stmt.where(Thread.status == status)
        column = _SORT.get(sort_by or "created_at", Thread.created_at)
        stmt = stmt.order_by(column.desc() if descending else column.asc(), Thread.id.desc())
        return await self.all(stmt)

    async def personal_space(self, user_id: uuid.UUID) -> uuid.UUID | None:
        """The id of the user's personal space in this org, if the scope can see it."""
        stmt = select(Space.id).where(
            Space.org_id == self.scope.org_id,
            Space.is_personal.is_(True),
            Space.personal_owner_id == user_id,
            Space.id.in_(list(self.scope.space_ids)),
        )
        result = await self.session.execute(stmt.execution_options(**scoped(self.scope)))
        return result.scalar_one_or_none()
