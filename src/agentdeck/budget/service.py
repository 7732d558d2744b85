"""Budget rules: org owners and admins set monthly limits; the guard enforces them.

A limit covers one UTC calendar month of ``usage_records.cost_usd``, for the organisation
(``scope_key='org'``) or for one space (``scope_key=str(space_id)``). Before a call the
gateway asks :class:`DbBudgetGuard`, which refuses it when the spend so far plus the call's
estimate would pass a limit, and records one ``budget.warning`` per limit and month once
the warning threshold is reached.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.budget import repository
from agentdeck.budget.repository import ORG_KEY, BudgetRepository
from agentdeck.budget.schemas import BudgetOut, BudgetSet, SpaceBudgetOut
from agentdeck.errors import NotFound
from agentdeck.kit.authz import require_org_role, require_space
from agentdeck.kit.db import transaction, utcnow
from agentdeck.kit.org_cache import OrgCache
from agentdeck.kit.tenancy import OrgRole
from agentdeck.llm.errors import BudgetExceeded
from agentdeck.llm.types import CallContext
from agentdeck.models import Budget
from agentdeck.usage import service as usage

log = structlog.get_logger(__name__)
_SYSTEM = audit.Actor(type="system", id=None, user_id=None)


def _money(value: float) -> float:
    return round(value, 8)


def _remaining(budget: Budget | None, spent: float) -> float | None:
    return _money(max(0.0, budget.monthly_usd - spent)) if budget is not None else None


_ADMINS_ONLY = "only organisation owners and admins manage budgets"


def _space_out(
    space_id: uuid.UUID, budget: Budget | None, spent: float, period: str
) -> SpaceBudgetOut:
    return SpaceBudgetOut(
        space_id=space_id,
        monthly_usd=budget.monthly_usd if budget else None,
        warn_at=budget.warn_at if budget else None,
        spent_usd=_money(spent),
        remaining_usd=_remaining(budget, spent),
        period=period,
    )


async def get_org(session: AsyncSession, principal: Principal) -> BudgetOut:
    """The org's limit (``monthly_usd: null`` when unset), this month's spend, and the
    limits of the spaces the caller can see. Any member may read it."""
    now = utcnow()
    since, until = usage.month_bounds(now)
    period = usage.period_of(now)
    repo = BudgetRepository(session, principal.scope)
    budget = await repo.by_key(ORG_KEY)
    spent = await usage.spent_usd(session, principal.org_id, since=since, until=until)
    by_space = await usage.spent_by_space(session, principal.org_id, since=since, until=until)
    spaces = [
        _space_out(b.space_id, b, by_space.get(b.space_id, 0.0), period)
        for b in await repo.of_spaces()
        if b.space_id is not None and principal.scope.can_see_space(b.space_id)
    ]
    return BudgetOut(
        monthly_usd=budget.monthly_usd if budget else None,
        warn_at=budget.warn_at if budget else None,
        spent_usd=_money(spent),
        remaining_usd=_remaining(budget, spent),
        period=period,
        spaces=spaces,
    )


async def _put(
    session: AsyncSession,
    principal: Principal,
    body: BudgetSet,
    scope_key: str,
    space_id: uuid.UUID | None,
) -> None:
    repo = BudgetRepository(session, principal.scope)
    budget = await repo.by_key(scope_key)
    before = {"monthly_usd": budget.monthly_usd, "warn_at": budget.warn_at} if budget else {}
    if budget is None:
        budget = repo.add(
            Budget(org_id=principal.org_id, scope_key=scope_key, space_id=space_id, **before)
        )
    after = body.model_dump()
    changes = audit.changed_fields(before, after)
    if not changes:
        return
    for name, value in after.items():
        setattr(budget, name, value)
    # A new limit or threshold deserves its own warning this month.
    budget.warned_period = None
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="budget.updated",
        target_type="budget",
        target_id=budget.id,
        changes={"scope": "space" if space_id else "org", "space_id": space_id, **changes},
    )


async def _delete(
    session: AsyncSession, principal: Principal, scope_key: str, space_id: uuid.UUID | None
) -> None:
    repo = BudgetRepository(session, principal.scope)
    budget = await repo.by_key(scope_key)
    if budget is None:
        raise NotFound("no budget is set")
    await repo.delete(budget)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="budget.deleted",
        target_type="budget",
        target_id=budget.id,
        changes={
            "scope": "space" if space_id else "org",
            "space_id": space_id,
            "monthly_usd": budget.monthly_usd,
        },
    )


async def set_org(session: AsyncSession, principal: Principal, body: BudgetSet) -> BudgetOut:
    """Create or replace the org's limit. Raises :class:`Forbidden` below org admin."""
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    await _put(session, principal, body, ORG_KEY, None)
    return await get_org(session, principal)


async def delete_org(session: AsyncSession, principal: Principal) -> None:
    """Remove the org's limit. Raises :class:`Forbidden`, or :class:`NotFound` if unset."""
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    await _delete(session, principal, ORG_KEY, None)


async def get_space(
    session: AsyncSession, principal: Principal, space_id: uuid.UUID
) -> SpaceBudgetOut:
    """A visible space's limit (``null`` when unset) and spend. Raises :class:`NotFound`."""
    require_space(principal.scope, space_id, field=None)  # invisible: 404
    now = utcnow()
    since, until = usage.month_bounds(now)
    budget = await BudgetRepository(session, principal.scope).by_key(str(space_id))
    spent = await usage.spent_usd(
        session, principal.org_id, since=since, until=until, space_id=space_id
    )
    return _space_out(space_id, budget, spent, usage.period_of(now))


async def set_space(
    session: AsyncSession, principal: Principal, space_id: uuid.UUID, body: BudgetSet
) -> SpaceBudgetOut:
    """Create or replace a space's limit. Raises :class:`NotFound` for a space the caller
    cannot see, then :class:`Forbidden` below org admin."""
    require_space(principal.scope, space_id, field=None)  # invisible: 404
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    await _put(session, principal, body, str(space_id), space_id)
    return await get_space(session, principal, space_id)


async def delete_space(session: AsyncSession, principal: Principal, space_id: uuid.UUID) -> None:
    """Remove a space's limit. Raises :class:`NotFound` (space invisible or no limit set)
    or :class:`Forbidden` below org admin."""
    require_space(principal.scope, space_id, field=None)  # invisible: 404
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    await _delete(session, principal, str(space_id), space_id)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@dataclass
class _Limit:
    """A budget as the guard keeps it between checks (a snapshot, not the row)."""

    id: uuid.UUID
    org_id: uuid.UUID
    scope_key: str
    space_id: uuid.UUID | None
    monthly_usd: float
    warn_at: float
    warned_period: str | None


# Every check reads the org's limits from here; a budget set or removed in this process
# drops them at once, in another process within the TTL.
LIMITS_TTL_S = 5.0
_limits: OrgCache[list[_Limit]] = OrgCache(Budget, ttl_s=LIMITS_TTL_S)


class SpendMeter(Protocol):
    """Where the guard learns what was spent (see :class:`~agentdeck.usage.service.UsageLedger`)."""

    async def spent(self, org_id: uuid.UUID, space_id: uuid.UUID | None, now: dt.datetime) -> float:
        """The org's (or the space's) spend in ``now``'s UTC month."""
        ...


class DbSpend:
    """A :class:`SpendMeter` that sums ``usage_records`` at every check."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def spent(self, org_id: uuid.UUID, space_id: uuid.UUID | None, now: dt.datetime) -> float:
        since, until = usage.month_bounds(now)
        async with self._sessionmaker() as session:
            return await usage.spent_usd(
                session, org_id, since=since, until=until, space_id=space_id
            )


class DbBudgetGuard:
    """A :class:`~agentdeck.llm.ports.BudgetGuard` over the ``budgets`` table.

    The org's limits come from a per-process cache (dropped when a budget changes) and the
    spend from ``spend`` (the process's :class:`~agentdeck.usage.service.UsageLedger`
    answers from memory; by default the database is summed at every check), so a check
    in the steady state touches no database. Storage errors propagate: without the spend
    it cannot tell whether a call fits.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        spend: SpendMeter | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._spend = spend or DbSpend(sessionmaker)

    async def _load(self, org_id: uuid.UUID) -> list[_Limit]:
        async with self._sessionmaker() as session:
            rows = await repository.for_check(session, org_id)
        return [
            _Limit(b.id, b.org_id, b.scope_key, b.space_id, b.monthly_usd, b.warn_at,
                   b.warned_period)
            for b in rows
        ]  # fmt: skip

    async def check(self, ctx: CallContext, estimated_cost: float) -> None:
        """Return when the call fits the org's and the space's monthly limits.

        Raises :class:`BudgetExceeded` (402) when this month's spend plus
        ``estimated_cost`` would pass a limit. Reaching a limit's ``warn_at`` share writes
        one ``budget.warning`` audit entry and log event per limit and month.
        """
        org_id = _uuid(ctx.org_id)
        if org_id is None:
            return
        space_id = _uuid(ctx.space_id)
        keys = (ORG_KEY, str(space_id) if space_id else ORG_KEY)
        limits = [b for b in await _limits.get(org_id, lambda: self._load(org_id))
                  if b.scope_key in keys]  # fmt: skip
        if not limits:
            return
        now = self._clock()
        refusal: BudgetExceeded | None = None
        for limit in sorted(limits, key=lambda b: b.scope_key != ORG_KEY):
            failed = await self._check_one(limit, space_id, estimated_cost, now)
            refusal = refusal or failed
        if refusal is not None:
            raise refusal

    async def _check_one(
        self, limit: _Limit, space_id: uuid.UUID | None, estimated: float, now: dt.datetime
    ) -> BudgetExceeded | None:
        scope = "org" if limit.scope_key == ORG_KEY else "space"
        spent = await self._spend.spent(limit.org_id, space_id if scope == "space" else None, now)
        projected = spent + max(estimated, 0.0)
        period = usage.period_of(now)
        if projected >= limit.warn_at * limit.monthly_usd and limit.warned_period != period:
            await self._warn(limit, scope, spent, estimated, period)
        if projected <= limit.monthly_usd:
            return None
        where = "the organisation's" if scope == "org" else "this space's"
        return BudgetExceeded(
            f"{where} monthly budget of ${limit.monthly_usd:.2f} would be exceeded: "
            f"${spent:.4f} spent in {period} plus an estimated ${estimated:.4f} for this call",
            budget_usd=limit.monthly_usd,
            spent_usd=_money(spent),
            estimated_usd=_money(estimated),
            scope=scope,
            space_id=str(space_id) if scope == "space" else None,
        )

    async def _warn(
        self, limit: _Limit, scope: str, spent: float, estimated: float, period: str
    ) -> None:
        # Marked first, so this process's concurrent checks do not all try; the database's
        # conditional update decides between processes.
        before, limit.warned_period = limit.warned_period, period
        try:
            async with transaction(self._sessionmaker) as session:
                if not await repository.mark_warned(session, limit.id, period):
                    return  # a concurrent check already warned for this period
                facts = {
                    "scope": scope,
                    "space_id": limit.space_id,
                    "period": period,
                    "budget_usd": limit.monthly_usd,
                    "warn_at": limit.warn_at,
                    "spent_usd": _money(spent),
                    "estimated_usd": _money(estimated),
                }
                audit.record(
                    session,
                    org_id=limit.org_id,
                    actor=_SYSTEM,
                    action="budget.warning",
                    target_type="budget",
                    target_id=limit.id,
                    changes=facts,
                )
        except BaseException:
            limit.warned_period = before
            raise
        log.warning(
            "budget.warning",
            org_id=str(limit.org_id),
            budget_id=str(limit.id),
            **{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in facts.items()},
        )
