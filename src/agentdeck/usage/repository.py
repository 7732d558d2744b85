"""Usage queries: sums over the org's records, pages of records, spend for budgets."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import UNSCOPED_REASON
from agentdeck.models import UsageRecord
from agentdeck.usage.schemas import GroupBy

# Groups are bounded by the org's models, spaces, agents or days; this is a backstop.
MAX_GROUPS = 1000


def _day(dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of ``created_at`` as ``YYYY-MM-DD``, in this dialect's SQL."""
    if dialect == "postgresql":
        # timezone('UTC', timestamptz) gives the UTC wall time whatever the session zone is.
        return func.to_char(func.timezone("UTC", UsageRecord.created_at), "YYYY-MM-DD")
    # SQLite stores UTCDateTime as naive UTC text, so date() is already the UTC day.
    return func.date(UsageRecord.created_at)


def _sums() -> list[Any]:
    return [
        func.count(UsageRecord.id).label("calls"),
        func.coalesce(func.sum(case((UsageRecord.status == "error", 1), else_=0)), 0).label(
            "errors"
        ),
        func.coalesce(func.sum(case((UsageRecord.cache_hit.is_(True), 1), else_=0)), 0).label(
            "cache_hits"
        ),
        func.coalesce(func.sum(UsageRecord.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(UsageRecord.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(UsageRecord.cached_tokens), 0).label("cached_tokens"),
        func.coalesce(func.sum(UsageRecord.cost_usd), 0.0).label("cost_usd"),
        func.coalesce(func.sum(UsageRecord.latency_ms), 0.0).label("latency_ms"),
    ]


class UsageRepository(ScopedRepository[UsageRecord]):
    model = UsageRecord

    def _key(self, group_by: GroupBy) -> ColumnElement[Any] | InstrumentedAttribute[Any]:
        if group_by == "model":
            return UsageRecord.model
        if group_by == "space":
            return UsageRecord.space_id
        if group_by == "agent":
            return UsageRecord.agent_id
        return _day(self.session.get_bind().dialect.name)

    async def aggregate(
        self,
        group_by: GroupBy,
        *,
        since: dt.datetime,
        until: dt.datetime,
        user_id: uuid.UUID | None,
    ) -> Sequence[Row[Any]]:
        """One row per group in ``[since, until)``: ``key`` then the sums of :func:`_sums`.

        ``user_id`` limits the sums to that user's calls.
        """
        key = self._key(group_by).label("key")
        stmt = select(key, *_sums()).where(
            UsageRecord.created_at >= since, UsageRecord.created_at < until
        )
        if user_id is not None:
            stmt = stmt.where(UsageRecord.user_id == user_id)
        stmt = self._filtered(stmt.group_by(key).order_by(key).limit(MAX_GROUPS))
        return (await self.session.execute(stmt)).all()

    async def list(
        self,
        *,
        since: dt.datetime | None,
        until: dt.datetime | None,
        user_id: uuid.UUID | None,
        limit: int,
        cursor: str | None,
    ) -> Page[UsageRecord]:
        """Records newest first, optionally in ``[since, until)`` and of one user."""
        stmt = self.select()
        if since is not None:
            stmt = stmt.where(UsageRecord.created_at >= since)
        if until is not None:
            stmt = stmt.where(UsageRecord.created_at < until)
        if user_id is not None:
            stmt = stmt.where(UsageRecord.user_id == user_id)
        return await self.page(stmt, limit=limit, cursor=cursor)


async def insert_record(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert one usage row. The sink writes for the gateway, outside any request scope."""
    stmt = insert(UsageRecord).values(**values)
    await session.execute(stmt.execution_options(**{UNSCOPED_REASON: "usage sink"}))


async def insert_records(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert usage rows in one statement (executemany); for the batched sink."""
    stmt = insert(UsageRecord).execution_options(**{UNSCOPED_REASON: "usage sink"})
    await session.execute(stmt, rows)


async def spent_usd(
    session: AsyncSession,
    org_id: uuid.UUID,
    *,
    since: dt.datetime,
    until: dt.datetime,
    space_id: uuid.UUID | None = None,
) -> float:
    """The org's (or one of its spaces') cost in ``[since, until)``; for budget checks."""
    stmt = select(func.coalesce(func.sum(UsageRecord.cost_usd), 0.0)).where(
        UsageRecord.org_id == org_id,
        UsageRecord.created_at >= since,
        UsageRecord.created_at < until,
    )
    if space_id is not None:
        stmt = stmt.where(UsageRecord.space_id == space_id)
    result = await session.execute(stmt.execution_options(**{UNSCOPED_REASON: "budget spend"}))
    return float(result.scalar_one())


async def spent_by_space(
    session: AsyncSession, org_id: uuid.UUID, *, since: dt.datetime, until: dt.datetime
) -> dict[uuid.UUID, float]:
    """Cost per space of the org in ``[since, until)`` (spaces without calls are absent)."""
    stmt = (
        select(UsageRecord.space_id, func.sum(UsageRecord.cost_usd))
        .where(
            UsageRecord.org_id == org_id,
            UsageRecord.space_id.is_not(None),
            UsageRecord.created_at >= since,
            UsageRecord.created_at < until,
        )
        .group_by(UsageRecord.space_id)
    )
    rows = await session.execute(stmt.execution_options(**{UNSCOPED_REASON: "budget spend"}))
    return {sid: float(cost or 0.0) for sid, cost in rows.all() if sid is not None}
