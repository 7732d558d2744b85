"""`PgJournal`: the journal on PostgreSQL, through the group-commit `Writer` of this process.

The writes of all runs of the process go into batches, one statement each
(`postgres_writer`); a quick step is one round trip, and many runs in flight share one. A
step's outcome waits for its batch to commit, and for the WAL flush at the points
``settings.runs.journal_flush`` names (``step``: every outcome; ``run``: a run's end).

Sequence numbers: a run this journal has not seen starts after its last stored number, and a
number taken by another writer is a `JournalConflict`: only the worker holding the run's
lease appends its events, so another writer means this one lost it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentdeck.engine.journal import EventRecord, StepRecord, StepStatus
from agentdeck.kit.ids import uuid7
from agentdeck.run.journal.base import COMMIT_AT, RUN_END, SqlJournal, run_uuid
from agentdeck.run.journal.codec import STEP_COLUMNS, dumps, loads, step_from_row
from agentdeck.run.journal.postgres_writer import StepKey, Writer, step_key, where, writer_for
from agentdeck.run.services import services_for

_LOAD = f"SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 ORDER BY id"  # noqa: S608
_STARTED = (
    "SELECT idempotency_key, started_at FROM run_steps WHERE run_id = $1 AND node_id = $2 "
    "AND item_index = $3 AND attempt = $4"
)
_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = $1"
_EVENTS = (
    "SELECT seq, type, data, created_at FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq"
)


class PgJournal(SqlJournal):
    """The Journal port on PostgreSQL: writes are queued into this event loop's `Writer`,
    reads wait for what is queued to commit first."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID) -> None:
        super().__init__(org_id)
        engine: AsyncEngine = sessionmaker.kw["bind"]
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        flush = services_for(engine).settings.journal_flush
        self._flush_at = COMMIT_AT if flush == "step" else RUN_END
        self._started: dict[StepKey, tuple[str, dt.datetime]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: Writer

    @property
    def writer(self) -> Writer:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one journal may serve several loops (tests)
            self._loop, self._writer = loop, writer_for(self.dsn)
        return self._writer

    async def _load(self, run_id: str, rid: uuid.UUID) -> list[StepRecord]:
        writer = self.writer
        await writer.idle()
        writer.check(run_id)
        pool = await writer.pool(True)
        async with pool.acquire() as conn:
            rows = await conn.fetch(_LOAD, rid)
        return [step_from_row(run_id, row) for row in rows]

    async def _insert(self, record: StepRecord, *, finished: bool, durable: bool = False) -> None:
        """Queue the record's insert (a conflict surfaces at the run's next write or wait)."""
        moment = dt.datetime.now(dt.UTC)
        record.started_at = record.started_at or moment
        if finished:
            record.ended_at = record.ended_at or moment
        usage = record.usage
        key = step_key(record)
        self.writer.add_step(
            key,
            [
                uuid7(), self.org_id, uuid.UUID(record.run_id), record.node_id, key[2],
                record.attempt, record.status.value, record.idempotency_key,
                dumps(record.input), dumps(record.output), dumps(record.error),
                record.started_at, record.ended_at, usage.tokens_in, usage.tokens_out,
                usage.cost_usd,
            ],
        )  # fmt: skip
        if record.status is StepStatus.RUNNING:
            self._started[key] = (record.idempotency_key, record.started_at)
        if durable:  # committed, not flushed: a worker's crash is what it guards against
            await self.writer.commit(record.run_id, sync=False)

    async def _finish(self, record: StepRecord) -> None:
        """Queue the close of a started attempt. Its key and start time come from this
        journal's own start, else from the database (KeyError when it has no such row)."""
        key = step_key(record)
        started = self._started.pop(key, None)
        if started is None:
            started = await self._started_row(key)
        record.idempotency_key, record.started_at = started
        record.ended_at = dt.datetime.now(dt.UTC)
        usage = record.usage
        self.writer.close_step(
            key,
            [
                record.status.value, dumps(record.output), dumps(record.error),
                record.ended_at, usage.tokens_in, usage.tokens_out, usage.cost_usd,
            ],
        )  # fmt: skip

    async def _started_row(self, key: StepKey) -> tuple[str, dt.datetime]:
        writer = self.writer
        await writer.idle()
        pool = await writer.pool(True)
        async with pool.acquire() as conn:
            row = await conn.fetchrow(_STARTED, uuid.UUID(key[0]), key[1], key[2], key[3])
        if row is None:
            raise KeyError(where(key, "was never started"))
        return row[0], row[1]

    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        """Store a durable event; its per-run sequence number. A step's or run's outcome
        is committed on return (and flushed at the flush points); others go with the next
        batch. A number another writer took fails the run's next write, wait or read
        with `JournalConflict`."""
        if run_id not in self._seqs:
            last = await self._last_seq(run_uuid(run_id))
            self._seqs.setdefault(run_id, last)  # a concurrent append may have set it
        seq = self._seqs[run_id] + 1
        self._seqs[run_id] = seq  # taken before anything else can run
        now = dt.datetime.now(dt.UTC)
        row = [uuid7(), self.org_id, uuid.UUID(run_id), seq, type, dumps(data), now]
        self.writer.add_event(run_id, row)
        if type in COMMIT_AT:
            await self.writer.commit(run_id, sync=type in self._flush_at)
        return seq

    async def _last_seq(self, rid: uuid.UUID) -> int:
        writer = self.writer
        await writer.idle()
        pool = await writer.pool(True)
        async with pool.acquire() as conn:
            seq: int = await conn.fetchval(_LAST_SEQ, rid)
        return seq

    def when_durable(self, callback: Callable[[], None], run_id: str | None = None) -> None:
        """Call ``callback`` once the run's writes so far (all writes, without a run) are
        committed; dropped if the run's writes met a conflict (another worker runs it)."""
        self.writer.when_durable(callback, run_id)

    async def _events(self, run_id: str, rid: uuid.UUID, after: int) -> list[EventRecord]:
        writer = self.writer
        await writer.idle()
        writer.check(run_id)
        pool = await writer.pool(True)
        async with pool.acquire() as conn:
            rows = await conn.fetch(_EVENTS, rid, after)
        return [EventRecord(run_id, r[0], r[1], loads(r[2]), r[3]) for r in rows]
