"""Usage rules: the database sink for the gateway, and who may read which sums.

Org owners and admins see the whole organisation's usage; members see their own calls.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.errors import InvalidInput
from agentdeck.kit.db import as_utc, transaction, utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import OrgRole, TenantScope, org_role_at_least
from agentdeck.llm.ports import UsageRecord
from agentdeck.models import UsageRecord as UsageRow
from agentdeck.usage import repository
from agentdeck.usage.repository import UsageRepository
from agentdeck.usage.schemas import GroupBy, UsageGroup, UsageSummary, UsageSums

log = structlog.get_logger(__name__)

_GROUP_FIELD: dict[str, str] = {
    "model": "model",
    "day": "day",
    "space": "space_id",
    "agent": "agent_id",
}


def month_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``[first instant of now's UTC month, first instant of the next month)``."""
    now = as_utc(now)
    start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    end = (
        dt.datetime(now.year + 1, 1, 1, tzinfo=dt.UTC)
        if now.month == 12
        else dt.datetime(now.year, now.month + 1, 1, tzinfo=dt.UTC)
    )
    return start, end


def period_of(now: dt.datetime) -> str:
    """The budget period (UTC calendar month) of ``now`` as ``YYYY-MM``."""
    return as_utc(now).strftime("%Y-%m")


def _uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


def row_values(record: UsageRecord, org_id: uuid.UUID, at: dt.datetime) -> dict[str, Any]:
    """The columns of the ``usage_records`` row for ``record``; strings cut to their columns."""
    return {
        "org_id": org_id,
        "created_at": at,
        "updated_at": at,
        "space_id": _uuid(record.space_id),
        "user_id": _uuid(record.user_id),
        "api_key_id": _uuid(record.api_key_id),
        "run_id": _clip(record.run_id, 64),
        "step_id": _clip(record.step_id, 200),
        "agent_id": _clip(record.agent_id, 64),
        "kind": record.kind,
        "provider": record.provider[:64],
        "model": record.model[:300],
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cached_tokens": record.cached_tokens,
        "cost_usd": record.cost_usd,
        "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms,
        "status": record.status,
        "error": record.error,
        "cache_hit": record.cache_hit,
        "attempts": [a.model_dump(mode="json") for a in record.attempts],
    }


class DbUsageSink:
    """A :class:`~agentdeck.llm.ports.UsageSink` that writes one row per call.

    Each record is written in its own short transaction, so a call's usage is stored even
    when the caller's own work rolls back. Storage errors are logged and swallowed.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    async def record(self, record: UsageRecord) -> None:
        """Store ``record``. Never raises: a failed write is logged as ``usage.write_failed``."""
        org_id = _uuid(record.org_id)
        if org_id is None:
            log.warning("usage.unattributed", provider=record.provider, model=record.model)
            return
        try:
            async with transaction(self._sessionmaker) as session:
                await repository.insert_record(session, row_values(record, org_id, self._clock()))
        except Exception:
            log.exception(
                "usage.write_failed",
                org_id=str(org_id),
                provider=record.provider,
                model=record.model,
                status=record.status,
            )


def _own_user(scope: TenantScope) -> uuid.UUID | None:
    """``None`` for org owners and admins (whole org); the member's own id otherwise."""
    if org_role_at_least(scope.org_role, OrgRole.ADMIN):
        return None
    # A scope always carries the user for members; a missing one must see nothing.
    return scope.user_id or uuid.UUID(int=0)


def resolve_range(
    since: dt.datetime | None, until: dt.datetime | None, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """``[from, to)`` in UTC; defaults to now's calendar month. Naive values are UTC.

    Raises :class:`InvalidInput` when ``from`` is not before ``to`` or a bound is out of
    the representable range.
    """
    try:
        start, end = month_bounds(now)
        until = as_utc(until) if until is not None else None
        since = as_utc(since) if since is not None else None
        if since is None and until is not None:
            since = month_bounds(until - dt.timedelta(microseconds=1))[0]
        since = since or start
        until = until or max(end, since + dt.timedelta(microseconds=1))
    except (OverflowError, ValueError) as exc:
        raise InvalidInput("the date range is out of bounds", field="from") from exc
    if since >= until:
        raise InvalidInput("'from' must be before 'to'", field="from")
    return since, until


def _sums(row: Any) -> dict[str, Any]:
    calls = int(row.calls)
    return {
        "calls": calls,
        "errors": int(row.errors),
        "cache_hits": int(row.cache_hits),
        "input_tokens": int(row.input_tokens),
        "output_tokens": int(row.output_tokens),
        "cached_tokens": int(row.cached_tokens),
        "cost_usd": round(float(row.cost_usd), 8),
        "avg_latency_ms": round(float(row.latency_ms) / calls, 2) if calls else 0.0,
        "_latency": float(row.latency_ms),
    }


def _total(groups: Sequence[dict[str, Any]]) -> UsageSums:
    keys = ("calls", "errors", "cache_hits", "input_tokens", "output_tokens", "cached_tokens")
    total: dict[str, Any] = {k: sum(g[k] for g in groups) for k in keys}
    total["cost_usd"] = round(sum(g["cost_usd"] for g in groups), 8)
    latency = sum(g["_latency"] for g in groups)
    total["avg_latency_ms"] = round(latency / total["calls"], 2) if total["calls"] else 0.0
    return UsageSums(**total)


async def summary(
    session: AsyncSession,
    scope: TenantScope,
    group_by: GroupBy,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> UsageSummary:
    """Sums per group in ``[from, to)`` and the grand total, as the caller may see them.

    Raises :class:`InvalidInput` for an empty range.
    """
    since, until = resolve_range(since, until, utcnow())
    rows = await UsageRepository(session, scope).aggregate(
        group_by, since=since, until=until, user_id=_own_user(scope)
    )
    groups = [{"key": str(row.key) if row.key is not None else None, **_sums(row)} for row in rows]
    field = _GROUP_FIELD[group_by]
    items = [
        UsageGroup(**{k: v for k, v in g.items() if k != "_latency"}, **{field: g["key"]})
        for g in groups
    ]
    return UsageSummary(items=items, total=_total(groups), from_=since, to=until)


async def list_records(
    session: AsyncSession,
    scope: TenantScope,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[UsageRow]:
    """The records the caller may see, newest first, optionally in ``[from, to)``."""
    try:
        since = as_utc(since) if since else None
        until = as_utc(until) if until else None
    except (OverflowError, ValueError) as exc:
        raise InvalidInput("the date range is out of bounds", field="from") from exc
    return await UsageRepository(session, scope).list(
        since=since,
        until=until,
        user_id=_own_user(scope),
        limit=limit,
        cursor=cursor,
    )


async def spent_usd(
    session: AsyncSession,
    org_id: uuid.UUID,
    *,
    since: dt.datetime,
    until: dt.datetime,
    space_id: uuid.UUID | None = None,
) -> float:
    """What the org (or one space of it) spent in ``[since, until)``, for budgets."""
    return await repository.spent_usd(session, org_id, since=since, until=until, space_id=space_id)


async def spent_by_space(
    session: AsyncSession, org_id: uuid.UUID, *, since: dt.datetime, until: dt.datetime
) -> dict[uuid.UUID, float]:
    """What each space of the org spent in ``[since, until)``, for budgets."""
    return await repository.spent_by_space(session, org_id, since=since, until=until)
