"""The PostgreSQL side of `SqlJournal`: SQLAlchemy Core statements on an AsyncEngine.

No ORM session and no explicit transaction: each write is one statement on an AUTOCOMMIT
connection, so it costs one round trip (plus the commit's WAL flush) instead of three
(BEGIN, statement, COMMIT). Statements are built from the tables' Core objects (types are
processed by SQLAlchemy). An event goes in with the sequence number the caller guessed
(``ON CONFLICT DO NOTHING``); without a guess, or when it was taken, the number is allocated
under a transaction-scoped advisory lock on the run, so concurrent appends never collide.

Commits: a step's start, its finish and its events other than the outcome go through
connections with ``synchronous_commit=off`` (no WAL flush wait); the outcome event
(`step.completed`, `run.failed`, ...) commits synchronously, and PostgreSQL's WAL is
sequential, so that flush makes every earlier write of the run durable too: one WAL flush
per step, like the SQLite journal's one commit. A worker that dies loses nothing committed
(the server has it); only a crash of the PostgreSQL server itself can lose the writes after
the last flushed outcome, at most ``3 x wal_writer_delay`` old, whose steps then run again
with the same idempotency key.
"""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from typing import Any

from sqlalchemy import Table, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agentdeck.engine.journal import EventRecord, StepRecord, StepStatus, Usage
from agentdeck.kit.ids import uuid7
from agentdeck.models import RunEvent, RunStep

_BYPASS = {"tenant_bypass": "journal"}
_STEPS: Table = RunStep.__table__  # type: ignore[assignment]
_EVENTS: Table = RunEvent.__table__  # type: ignore[assignment]
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_NO_FLUSH: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()


def _no_flush_engine(engine: AsyncEngine) -> AsyncEngine:
    """Autocommit connections to the same database with ``synchronous_commit=off``."""
    found = _NO_FLUSH.get(engine.sync_engine)
    if found is None:
        found = create_async_engine(
            engine.url,
            isolation_level="AUTOCOMMIT",
            connect_args={"server_settings": {"synchronous_commit": "off"}},
        )
        _NO_FLUSH[engine.sync_engine] = found
        weakref.finalize(engine.sync_engine, found.sync_engine.dispose, close=False)
    return found


class PgJournalBackend:
    """Journal statements for PostgreSQL (any SQLAlchemy async dialect, in fact)."""

    def __init__(self, engine: AsyncEngine, org_id: uuid.UUID) -> None:
        self.engine = engine
        self.auto = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.no_flush = _no_flush_engine(engine)
        self.org_id = org_id

    async def load(self, run_id: str, rid: uuid.UUID) -> list[StepRecord]:
        c = _STEPS.c
        stmt = (
            select(
                c.node_id, c.item_index, c.attempt, c.status, c.idempotency_key, c.input,
                c.output, c.error, c.started_at, c.ended_at, c.tokens_in, c.tokens_out,
                c.cost_usd,
            )
            .where(c.run_id == rid)
            .order_by(c.id)
            .execution_options(**_BYPASS)
        )  # fmt: skip
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            StepRecord(
                run_id=run_id, node_id=r[0], index=None if r[1] < 0 else r[1], attempt=r[2],
                status=StepStatus(r[3]), idempotency_key=r[4], input=r[5], output=r[6],
                error=r[7], started_at=r[8], ended_at=r[9], usage=Usage(r[10], r[11], r[12]),
            )
            for r in rows
        ]  # fmt: skip

    async def insert_step(self, record: StepRecord) -> bool:
        """Insert the record; False when this attempt already exists. A `running` start
        commits without waiting for the WAL flush (the step's outcome flushes it)."""
        now = dt.datetime.now(dt.UTC)
        usage = record.usage
        stmt = (
            pg_insert(_STEPS)
            .values(
                id=uuid7(), org_id=self.org_id, run_id=uuid.UUID(record.run_id),
                node_id=record.node_id, item_index=-1 if record.index is None else record.index,
                attempt=record.attempt, status=record.status.value,
                idempotency_key=record.idempotency_key, input=record.input,
                output=record.output, error=record.error, started_at=record.started_at,
                ended_at=record.ended_at, tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out, cost_usd=usage.cost_usd, created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(_STEPS.c.id)
            .execution_options(**_BYPASS)
        )  # fmt: skip
        engine = self.no_flush if record.status is StepStatus.RUNNING else self.auto
        async with engine.connect() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def finish_step(self, record: StepRecord) -> tuple[str, dt.datetime | None] | None:
        """Close the attempt; (idempotency_key, started_at), or None if never started.
        Commits without waiting for the WAL flush: the outcome event that follows does."""
        now = dt.datetime.now(dt.UTC)
        record.ended_at = now
        c = _STEPS.c
        usage = record.usage
        stmt = (
            update(_STEPS)
            .where(
                c.run_id == uuid.UUID(record.run_id), c.node_id == record.node_id,
                c.item_index == (-1 if record.index is None else record.index),
                c.attempt == record.attempt,
            )
            .values(
                status=record.status.value, output=record.output, error=record.error,
                ended_at=now, tokens_in=usage.tokens_in, tokens_out=usage.tokens_out,
                cost_usd=usage.cost_usd, updated_at=now,
            )
            .returning(c.idempotency_key, c.started_at)
            .execution_options(**_BYPASS)
        )  # fmt: skip
        async with self.no_flush.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else (row[0], row[1])

    async def append_event(
        self, rid: uuid.UUID, type: str, data: dict[str, Any], guess: int | None, *, flush: bool
    ) -> int:
        """Insert the event; its sequence number (``guess`` when that one was free). With
        ``flush`` the commit waits for the WAL flush, making the run's writes durable."""
        now = dt.datetime.now(dt.UTC)
        c = _EVENTS.c
        if guess is not None:
            at = (
                pg_insert(_EVENTS)
                .values(
                    id=uuid7(), org_id=self.org_id, run_id=rid, seq=guess, type=type, data=data,
                    created_at=now, updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(c.seq)
                .execution_options(**_BYPASS)
            )  # fmt: skip
            async with (self.auto if flush else self.no_flush).connect() as conn:
                if (await conn.execute(at)).first() is not None:
                    return guess
        next_seq = (
            select(
                literal(uuid7()), literal(self.org_id), literal(rid),
                func.coalesce(func.max(c.seq), 0) + 1, literal(type),
                literal(data, _EVENTS.c.data.type), literal(now, c.created_at.type),
                literal(now, c.updated_at.type),
            )
            .where(c.run_id == rid)
        )  # fmt: skip
        stmt = (
            insert(_EVENTS)
            .from_select(
                ["id", "org_id", "run_id", "seq", "type", "data", "created_at", "updated_at"],
                next_seq,
            )
            .returning(c.seq)
            .execution_options(**_BYPASS)
        )
        async with self.engine.begin() as conn:
            await conn.execute(_LOCK, {"key": str(rid)})
            seq: int = (await conn.execute(stmt)).scalar_one()
        return seq

    async def events(self, run_id: str, rid: uuid.UUID, after: int) -> list[EventRecord]:
        c = _EVENTS.c
        stmt = (
            select(c.seq, c.type, c.data, c.created_at)
            .where(c.run_id == rid, c.seq > after)
            .order_by(c.seq)
            .execution_options(**_BYPASS)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [EventRecord(run_id, r[0], r[1], r[2], r[3]) for r in rows]
