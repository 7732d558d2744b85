"""Usage rules: the gateway's sinks (the batched :class:`UsageLedger`, which also meters
the month's spend for budgets, and :class:`DbUsageSink`, a row per call at once), and who
may read which sums.

Org owners and admins see the whole organisation's usage; members see their own calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


_BATCH_ROWS = 500


@dataclass
class _Spend:
    base: float  # the database's sum for the key when it was read
    local: float  # this process's calls of the key since then (not in ``base``)
    read_at: float  # monotonic seconds


def _cost_keys(row: dict[str, Any]) -> list[tuple[uuid.UUID, uuid.UUID | None, str]]:
    period = period_of(row["created_at"])
    keys: list[tuple[uuid.UUID, uuid.UUID | None, str]] = [(row["org_id"], None, period)]
    if row["space_id"] is not None:
        keys.append((row["org_id"], row["space_id"], period))
    return keys


class UsageLedger:
    """The gateway's usage sink and spend meter for one process.

    :meth:`record` only queues the row: no I/O on the caller's path. A background task
    writes what is queued ``flush_after_s`` after the first queued row, in one transaction
    per batch (a batch the database refuses is written row by row, and a row it still
    refuses is logged as ``usage.write_failed`` and dropped, as :class:`DbUsageSink`
    does). :meth:`flush` writes everything queued now (reads of usage call it first);
    :meth:`aclose` flushes and stops, at shutdown. Rows still queued when the process is
    killed without a shutdown are lost: at most ``flush_after_s`` of calls.

    :meth:`spent` answers a month's spend of an org or a space from memory: the database's
    sum, read again after ``refresh_s``, plus this process's calls since it was read.
    Other processes' calls count from the next read, so with several processes a budget
    can be passed by what the others spent in the last ``refresh_s``.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        flush_after_s: float = 0.05,
        refresh_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._flush_after_s = flush_after_s
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._queue: list[dict[str, Any]] = []
        self._spend: dict[tuple[uuid.UUID, uuid.UUID | None, str], _Spend] = {}
        self._lock = asyncio.Lock()  # one writer at a time; a spend read waits for it
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def record(self, record: UsageRecord) -> None:
        """Queue ``record``'s row and count its cost. Never raises; waits only once
        :meth:`aclose` was called (the row is then written at once)."""
        org_id = _uuid(record.org_id)
        if org_id is None:
            log.warning("usage.unattributed", provider=record.provider, model=record.model)
            return
        row = row_values(record, org_id, self._clock())
        self._queue.append(row)
        if row["cost_usd"]:
            for key in _cost_keys(row):
                spend = self._spend.get(key)
                if spend is not None:
                    spend.local += row["cost_usd"]
        if self._closed:  # after shutdown began, nothing waits for a timer
            await self.flush()
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        try:
            await asyncio.sleep(self._flush_after_s)
            await self.flush()
        finally:
            self._task = None
        if self._queue and not self._closed:  # queued while the batch was written
            self._task = asyncio.get_running_loop().create_task(self._write_soon())

    async def flush(self) -> None:
        """Write every queued row (what the database refuses is logged and dropped)."""
        async with self._lock:
            await self._write_queued()

    async def aclose(self) -> None:
        """Write what is queued and stop the background task."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()

    async def _write_queued(self) -> None:
        while self._queue:
            batch = self._queue[:_BATCH_ROWS]
            del self._queue[:_BATCH_ROWS]
            try:
                await self._insert(batch)
            except asyncio.CancelledError:
                self._queue[:0] = batch
                raise
            except Exception:
                for row in batch:  # keep the good rows of a batch with a bad one
                    try:
                        await self._insert([row])
                    except Exception:
                        log.exception(
                            "usage.write_failed", org_id=str(row["org_id"]),
                            provider=row["provider"], model=row["model"], status=row["status"],
                        )  # fmt: skip

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        async with transaction(self._sessionmaker) as session:
            await repository.insert_records(session, rows)

    async def spent(self, org_id: uuid.UUID, space_id: uuid.UUID | None, now: dt.datetime) -> float:
        """What the org (or one space of it) spent in ``now``'s UTC month, this process's
        queued calls included. Storage errors propagate."""
        key = (org_id, space_id, period_of(now))
        spend = self._spend.get(key)
        if spend is not None and self._monotonic() - spend.read_at < self._refresh_s:
            return spend.base + spend.local
        async with self._lock:
            spend = self._spend.get(key)
            if spend is not None and self._monotonic() - spend.read_at < self._refresh_s:
                return spend.base + spend.local
            await self._write_queued()
            since, until = month_bounds(now)
            read_at = self._monotonic()
            async with self._sessionmaker() as session:
                base = await repository.spent_usd(
                    session, org_id, since=since, until=until, space_id=space_id
                )
            # Rows queued while the sum was read are not in it (writes wait for the lock).
            local = float(sum(r["cost_usd"] for r in self._queue if key in _cost_keys(r)))
            if len(self._spend) >= 10_000:
                self._spend.clear()
            self._spend[key] = _Spend(base, local, read_at)
            return base + local


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
