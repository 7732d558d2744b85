"""Audit log queries."""

from __future__ import annotations

import datetime as dt
import uuid

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import AuditLog


class AuditRepository(ScopedRepository[AuditLog]):
    model = AuditLog

    async def list(
        self,
        *,
        actor_id: uuid.UUID | None,
        action: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[AuditLog]:
        stmt = self.select()
        if actor_id is not None:
            stmt = stmt.where(
                (AuditLog.actor_id == actor_id) | (AuditLog.actor_user_id == actor_id)
            )
        if action:
            stmt = (
                stmt.where(AuditLog.action.startswith(action.rstrip("*")))
                if action.endswith("*")
                else stmt.where(AuditLog.action == action)
            )
        if since is not None:
            stmt = stmt.where(AuditLog.created_at >= since)
        if until is not None:
            stmt = stmt.where(AuditLog.created_at < until)
        return await self.page(stmt, limit=limit, cursor=cursor)
