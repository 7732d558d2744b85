"""The run journal as Temporal activities write it: steps and events in agentdeck's tables.

Under Temporal several activities of one run write at once, on several workers, and any of
them may run again after a lost worker. So, unlike `run.journal` (one writer per run, the
lease holder), every write here is its own short transaction that allocates the next event
number inside it (BEGIN IMMEDIATE on SQLite, an advisory lock per run on PostgreSQL) and is
idempotent by (run, node, item, attempt): a step row that exists is never written again, nor
are the events written with it. Each event reaches the run broker (and through its relay
the other processes) after its commit, so every reader of the journal works unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import structlog
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.engine.journal import NO_USAGE, EventRecord, StepRecord, StepStatus, Usage
from agentdeck.kit.db import utcnow
from agentdeck.models import RunEvent, RunStep
from agentdeck.run.events.bus import Broker, StreamItem

log = structlog.get_logger(__name__)
T = TypeVar("T")
_BYPASS = {"tenant_bypass": "temporal-journal"}
_RETRIES = 20
Published = list[tuple[int, str, dict[str, Any]]]


def _step(row: RunStep) -> StepRecord:
    return StepRecord(
        run_id=str(row.run_id),
        node_id=row.node_id,
        attempt=row.attempt,
        status=StepStatus(row.status),
        idempotency_key=row.idempotency_key,
        index=None if row.item_index < 0 else row.item_index,
        input=row.input,
        output=row.output,
        error=row.error,
        started_at=row.started_at,
        ended_at=row.ended_at,
        usage=Usage(row.tokens_in, row.tokens_out, row.cost_usd),
    )


class TemporalJournal:
    """The Journal port for one organisation's runs, safe with many writers per run."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        org_id: uuid.UUID,
        broker: Broker | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.org_id = org_id
        self.broker = broker
        self._pg = sessionmaker.kw["bind"].dialect.name == "postgresql"

    # -- reads -----------------------------------------------------------------------------

    async def load(self, run_id: str) -> list[StepRecord]:
        """All step records of the run, in the order they were started."""
        stmt = select(RunStep).where(RunStep.run_id == uuid.UUID(run_id)).order_by(RunStep.id)
        async with self.sessionmaker() as session:
            rows = (await session.execute(stmt.execution_options(**_BYPASS))).scalars().all()
        return [_step(r) for r in rows]

    async def node_steps(self, run_id: str, node_id: str, index: int | None) -> list[StepRecord]:
        """The records of one node (or one of its items), in attempt order."""
        stmt = (
            select(RunStep)
            .where(
                RunStep.run_id == uuid.UUID(run_id),
                RunStep.node_id == node_id,
                RunStep.item_index == (-1 if index is None else index),
            )
            .order_by(RunStep.attempt)
        )
        async with self.sessionmaker() as session:
            rows = (await session.execute(stmt.execution_options(**_BYPASS))).scalars().all()
        return [_step(r) for r in rows]

    async def events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        """Durable events with ``seq > after``, in order."""
        stmt = (
            select(RunEvent)
            .where(RunEvent.run_id == uuid.UUID(run_id), RunEvent.seq > after)
            .order_by(RunEvent.seq)
        )
        async with self.sessionmaker() as session:
            rows = (await session.execute(stmt.execution_options(**_BYPASS))).scalars().all()
        return [EventRecord(run_id, r.seq, r.type, r.data, r.created_at) for r in rows]

    # -- the Journal port ------------------------------------------------------------------

    async def start_step(
        self,
        run_id: str,
        node_id: str,
        *,
        attempt: int,
        index: int | None = None,
        input: Any = None,
        idempotency_key: str,
        durable: bool = False,
    ) -> StepRecord:
        """Insert a `running` record (an existing attempt is left as it is)."""
        record = StepRecord(
            run_id=run_id,
            node_id=node_id,
            attempt=attempt,
            status=StepStatus.RUNNING,
            idempotency_key=idempotency_key,
            index=index,
            input=input,
            started_at=utcnow(),
        )
        await self.write(run_id, [record], [], finished=False)
        return record

    async def finish_step(
        self,
        run_id: str,
        node_id: str,
        *,
        attempt: int,
        index: int | None = None,
        status: StepStatus,
        output: Any = None,
        error: dict[str, Any] | None = None,
        usage: Usage = NO_USAGE,
    ) -> StepRecord:
        """Close a started attempt."""
        record = StepRecord(
            run_id=run_id,
            node_id=node_id,
            attempt=attempt,
            status=status,
            idempotency_key="",
            index=index,
            output=output,
            error=error,
            usage=usage,
        )
        await self.close(record, [])
        return record

    async def record_step(self, record: StepRecord) -> None:
        """Insert an already finished record (once)."""
        await self.write(record.run_id, [record], [])

    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        """Store a durable event and publish it; its sequence number."""
        published = await self._transact(run_id, lambda s: self._events(s, run_id, [(type, data)]))
        return published[0][0]

    # -- combined writes -------------------------------------------------------------------

    async def write(
        self,
        run_id: str,
        steps: Sequence[StepRecord],
        events: Sequence[tuple[str, dict[str, Any]]],
        *,
        finished: bool = True,
    ) -> bool:
        """Insert ``steps`` and append ``events`` in one transaction, unless the first step
        exists already (then nothing is written: False)."""

        async def work(session: AsyncSession) -> Published | None:
            for n, record in enumerate(steps):
                if not await self._insert(session, record, finished=finished) and n == 0:
                    return None
            return await self._events(session, run_id, events)

        published = await self._transact(run_id, work)
        return published is not None

    async def close(self, record: StepRecord, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Finish a started attempt and append ``events`` in one transaction (a finished
        attempt is not finished again, nor its events appended)."""

        async def work(session: AsyncSession) -> Published | None:
            usage = record.usage
            stmt = (
                update(RunStep)
                .where(
                    RunStep.run_id == uuid.UUID(record.run_id),
                    RunStep.node_id == record.node_id,
                    RunStep.item_index == (-1 if record.index is None else record.index),
                    RunStep.attempt == record.attempt,
                    RunStep.status == StepStatus.RUNNING.value,
                )
                .values(
                    status=record.status.value,
                    output=record.output,
                    error=record.error,
                    ended_at=utcnow(),
                    tokens_in=usage.tokens_in,
                    tokens_out=usage.tokens_out,
                    cost_usd=usage.cost_usd,
                    updated_at=utcnow(),
                )
                .execution_options(**_BYPASS)
            )
            if (await session.execute(stmt)).rowcount == 0:  # type: ignore[attr-defined]
                return None
            return await self._events(session, record.run_id, events)

        await self._transact(record.run_id, work)

    # -- internals -------------------------------------------------------------------------

    async def _transact(self, run_id: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction, again when another writer took an event number
        first; publish what it appended after the commit."""
        for attempt in range(_RETRIES):
            try:
                async with self.sessionmaker() as session:
                    await lock_events(session, run_id)
                    result = await work(session)
                    await session.commit()
            except (IntegrityError, OperationalError) as exc:
                if attempt + 1 >= _RETRIES:
                    raise
                log.debug("temporal.journal_retry", run_id=run_id, error=type(exc).__name__)
                continue
            if isinstance(result, list) and self.broker is not None:
                for seq, type_, data in result:
                    self.broker.publish(StreamItem(run_id, type_, data, seq))
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _insert(self, session: AsyncSession, record: StepRecord, *, finished: bool) -> bool:
        now = utcnow()
        usage = record.usage
        values = {  # `id`: the model's default, a UUIDv7, so rows sort in start order
            "org_id": self.org_id,
            "run_id": uuid.UUID(record.run_id),
            "node_id": record.node_id,
            "item_index": -1 if record.index is None else record.index,
            "attempt": record.attempt,
            "status": record.status.value,
            "idempotency_key": record.idempotency_key,
            "input": record.input,
            "output": record.output,
            "error": record.error,
            "started_at": record.started_at or now,
            "ended_at": (record.ended_at or now) if finished else None,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost_usd": usage.cost_usd,
            "created_at": now,
            "updated_at": now,
        }
        make = pg_insert if self._pg else sqlite_insert
        stmt = (
            make(RunStep)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["run_id", "node_id", "item_index", "attempt"])
            .returning(RunStep.id)
            .execution_options(**_BYPASS)
        )
        return (await session.execute(stmt)).first() is not None

    async def _events(
        self, session: AsyncSession, run_id: str, events: Sequence[tuple[str, dict[str, Any]]]
    ) -> Published:
        if not events:
            return []
        rid = uuid.UUID(run_id)
        last = select(func.coalesce(func.max(RunEvent.seq), 0)).where(RunEvent.run_id == rid)
        seq = int((await session.execute(last.execution_options(**_BYPASS))).scalar_one())
        out: Published = []
        for type_, data in events:
            seq += 1
            now = utcnow()
            await session.execute(
                insert(RunEvent)
                .values(
                    org_id=self.org_id,
                    run_id=rid,
                    seq=seq,
                    type=type_,
                    data=data,
                    created_at=now,
                    updated_at=now,
                )
                .execution_options(**_BYPASS)
            )
            out.append((seq, type_, data))
        return out


async def lock_events(session: AsyncSession, run_id: str) -> None:
    """Serialise the writers of a run's events until the transaction ends (PostgreSQL; on
    SQLite every write transaction begins IMMEDIATE, which already does)."""
    if session.get_bind().dialect.name == "postgresql":
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")
        await session.execute(lock, {"k": f"run-events:{run_id}"})


def latest(steps: Sequence[StepRecord]) -> dict[tuple[str, int | None], StepRecord]:
    """The latest attempt of each node and item."""
    out: dict[tuple[str, int | None], StepRecord] = {}
    for record in steps:
        key = (record.node_id, record.index)
        old = out.get(key)
        if old is None or old.attempt <= record.attempt:
            out[key] = record
    return out


__all__ = ["TemporalJournal", "latest", "lock_events"]
