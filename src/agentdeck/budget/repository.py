"""Budget queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import UNSCOPED_REASON
from agentdeck.models import Budget

ORG_KEY = "org"
_GUARD = {UNSCOPED_REASON: "budget guard"}


class BudgetRepository(ScopedRepository[Budget]):
    model = Budget

    async def by_key(self, scope_key: str) -> Budget | None:
        stmt = self.select().where(Budget.scope_key == scope_key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def of_spaces(self) -> Sequence[Budget]:
        stmt = self.select().where(Budget.scope_key != ORG_KEY).order_by(Budget.id)
        return await self.all(stmt)


async def for_check(session: AsyncSession, org_id: uuid.UUID) -> Sequence[Budget]:
    """Every budget of the org, for the guard (which acts for no caller)."""
    stmt = select(Budget).where(Budget.org_id == org_id)
    return (await session.execute(stmt.execution_options(**_GUARD))).scalars().all()


async def mark_warned(session: AsyncSession, budget_id: uuid.UUID, period: str) -> bool:
    """Record that ``period``'s warning was given; ``False`` if someone already did.

    The conditional update makes concurrent checks agree on one winner.
    """
    stmt = (
        update(Budget)
        .where(
            Budget.id == budget_id,
            or_(Budget.warned_period.is_(None), Budget.warned_period != period),
        )
        .values(warned_period=period)
        .execution_options(synchronize_session=False, **_GUARD)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)
