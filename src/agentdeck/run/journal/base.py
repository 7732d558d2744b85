"""`SqlJournal`: the engine's Journal port on the `run_steps` and `run_events` tables.

On SQLite the writes go through the loop-friendly store in `sqlite` (raw
statements); step writes and events other than a step's or run's outcome are *deferred*
there, so a step costs one commit (its start, `step.started`, its finish and its outcome
event), and `when_durable` holds their live delivery until that commit. On PostgreSQL the
writes of all runs of the process go into group-committed batches, one statement each
(`postgres_writer`); a quick step is one round trip, and many runs in flight share one.

Per-run event sequence numbers: the journal remembers the last one it wrote for each run and
inserts the next with ``ON CONFLICT DO NOTHING``; the unique ``(run_id, seq)`` constraint is
the safety net. On SQLite, on a conflict (another writer appended) or for a run it has not
seen, the number is allocated inside the write transaction (``coalesce(max(seq), 0) + 1``,
``BEGIN IMMEDIATE`` serialises writers). On PostgreSQL a run it has not seen starts after its
last stored number, and a number taken by another writer is a `JournalConflict`: only the
worker holding the run's lease appends its events, so another writer means this one lost it.

Step rows store ``item_index = -1`` for the node itself (`StepRecord.index is None`). The
record returned by `finish_step` carries no `input` (the engine does not need it; `load` has it).
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentdeck.engine.journal import (
    NO_USAGE,
    EventRecord,
    JournalConflict,
    StepRecord,
    StepStatus,
    Usage,
)
from agentdeck.kit.ids import uuid7
from agentdeck.run.journal.codec import dumps, loads
from agentdeck.run.journal.postgres_writer import PgJournalBackend
from agentdeck.run.journal.sqlite import parse_stamp, stamp, store_for
from agentdeck.run.services import services_for

_STEP_COLUMNS = (
    "node_id, item_index, attempt, status, idempotency_key, input, output, error, "
    "started_at, ended_at, tokens_in, tokens_out, cost_usd"
)
_INSERT_STEP = (
    "INSERT INTO run_steps (id, org_id, run_id, node_id, item_index, attempt, status, "
    "idempotency_key, input, output, error, started_at, ended_at, tokens_in, tokens_out, "
    "cost_usd, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?) ON CONFLICT DO NOTHING RETURNING id"
)
_FINISH_STEP = (
    "UPDATE run_steps SET status = ?, output = ?, error = ?, ended_at = ?, tokens_in = ?, "
    "tokens_out = ?, cost_usd = ?, updated_at = ? WHERE run_id = ? AND node_id = ? "
    "AND item_index = ? AND attempt = ? RETURNING idempotency_key, started_at"
)
_APPEND_EVENT = (
    "INSERT INTO run_events (id, org_id, run_id, seq, type, data, created_at, updated_at) "
    "SELECT ?, ?, ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ? FROM run_events WHERE run_id = ? "
    "RETURNING seq"
)
_APPEND_EVENT_AT = (
    "INSERT INTO run_events (id, org_id, run_id, seq, type, data, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING seq"
)
_SEQ_CACHE_RUNS = 4096
_COMMIT_AT = frozenset(
    {"step.completed", "step.failed", "run.completed", "run.failed", "run.cancelled",
     "run.interrupted"}
)  # fmt: skip
"""Events committed before `append_event` returns: a step's outcome is durable before any
step that depends on it starts, and a run's end before its row says so."""
_RUN_END = frozenset({"run.completed", "run.failed", "run.cancelled", "run.interrupted"})


@functools.lru_cache(maxsize=4096)
def _run_hex(run_id: str) -> str:
    return uuid.UUID(run_id).hex


def run_uuid(run_id: str) -> uuid.UUID:
    """The run's UUID; raises ValueError for anything else (run ids are UUIDs here)."""
    return uuid.UUID(run_id)


def step_from_row(run_id: str, row: tuple[Any, ...]) -> StepRecord:
    """A StepRecord from a SELECT of `_STEP_COLUMNS` (SQLite text values)."""
    return StepRecord(
        run_id=run_id,
        node_id=row[0],
        index=None if row[1] < 0 else row[1],
        attempt=row[2],
        status=StepStatus(row[3]),
        idempotency_key=row[4],
        input=loads(row[5]),
        output=loads(row[6]),
        error=loads(row[7]),
        started_at=parse_stamp(row[8]),
        ended_at=parse_stamp(row[9]),
        usage=Usage(row[10], row[11], row[12]),
    )


class SqlJournal:
    """The Journal port for one organisation's runs (its rows carry ``org_id``).

    Run ids are the string form of `Run.id`. Queries are tagged
    ``tenant_bypass="journal"``: the worker acts on ids it was handed, not for a caller.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID) -> None:
        engine: AsyncEngine = sessionmaker.kw["bind"]
        self.org_id = org_id
        self._org_hex = org_id.hex
        self._seqs: dict[str, int] = {}
        self._new: set[str] = set()
        self._sqlite = engine.dialect.name == "sqlite"
        if self._sqlite:
            self._store = store_for(engine.url.render_as_string(hide_password=False))
        else:
            self._pg = PgJournalBackend(engine.url, org_id)
            flush = services_for(engine).settings.journal_flush
            self._pg_flush_at = _COMMIT_AT if flush == "step" else _RUN_END

    def known_new(self, run_id: str, last_seq: int = 0) -> None:
        """The caller knows the run has never started (no step can exist) and that its
        events so far end at ``last_seq``: the next `load` of it answers without a query,
        and so does its first event's number. Saves round trips at the start of each run."""
        self._new.add(run_id)
        self._seqs[run_id] = last_seq

    async def load(self, run_id: str) -> list[StepRecord]:
        """All step records of the run, in the order they were started."""
        if run_id in self._new:
            self._new.discard(run_id)
            return []
        rid = run_uuid(run_id)
        if not self._sqlite:
            return await self._pg.load(run_id, rid)

        def read(conn: sqlite3.Connection) -> list[StepRecord]:
            rows = conn.execute(
                f"SELECT {_STEP_COLUMNS} FROM run_steps WHERE run_id = ? ORDER BY id",  # noqa: S608
                (rid.hex,),
            ).fetchall()
            return [step_from_row(run_id, row) for row in rows]

        return await self._store.read(read)

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
        """Insert a `running` record; raises JournalConflict if this attempt exists.
        With ``durable``, it is committed on return (see the `Journal` port)."""
        record = StepRecord(
            run_id=run_id,
            node_id=node_id,
            attempt=attempt,
            status=StepStatus.RUNNING,
            idempotency_key=idempotency_key,
            index=index,
            input=input,
        )
        await self._insert(record, finished=False, durable=durable)
        return record

    async def record_step(self, record: StepRecord) -> None:
        """Insert an already finished record; raises JournalConflict if this attempt exists."""
        await self._insert(record, finished=True)

    async def _insert(self, record: StepRecord, *, finished: bool, durable: bool = False) -> None:
        if not self._sqlite:
            moment = dt.datetime.now(dt.UTC)
            record.started_at = record.started_at or moment
            if finished:
                record.ended_at = record.ended_at or moment
            self._pg.insert_step(record)
            if durable:  # committed, not flushed: a worker's crash is what it guards against
                await self._pg.commit(record.run_id, sync=False)
            return
        now = stamp()
        started = stamp(record.started_at) if record.started_at else now
        record.started_at = parse_stamp(started)
        ended = (stamp(record.ended_at) if record.ended_at else now) if finished else None
        if ended is not None:
            record.ended_at = parse_stamp(ended)
        usage = record.usage
        params = (
            uuid7().hex, self._org_hex, _run_hex(record.run_id), record.node_id,
            -1 if record.index is None else record.index, record.attempt, record.status.value,
            record.idempotency_key, dumps(record.input), dumps(record.output),
            dumps(record.error), started, ended, usage.tokens_in, usage.tokens_out,
            usage.cost_usd, now, now,
        )  # fmt: skip

        def write(conn: sqlite3.Connection) -> bool:
            return conn.execute(_INSERT_STEP, params).fetchone() is not None

        if not await self._store.write(write, defer=not durable):
            raise JournalConflict(self._where(record))

    @staticmethod
    def _where(record: StepRecord) -> str:
        return f"{record.run_id}:{record.node_id}[{record.index}] attempt {record.attempt} exists"

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
        """Close a started attempt; raises KeyError if it was never started."""
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
        if not self._sqlite:
            await self._pg.finish_step(record)
            return record
        now = stamp()
        record.ended_at = parse_stamp(now)
        params = (
            status.value, dumps(output), dumps(error), now, usage.tokens_in,
            usage.tokens_out, usage.cost_usd, now, _run_hex(run_id), node_id,
            -1 if index is None else index, attempt,
        )  # fmt: skip

        def write(conn: sqlite3.Connection) -> tuple[str, str | None] | None:
            row = conn.execute(_FINISH_STEP, params).fetchone()
            return None if row is None else (row[0], row[1])

        raw = await self._store.write(write, defer=True)
        found = None if raw is None else (raw[0], parse_stamp(raw[1]))
        if found is None:
            raise KeyError(f"{run_id}:{node_id}[{index}] attempt {attempt} was never started")
        record.idempotency_key, record.started_at = found
        return record

    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        """Store a durable event; its per-run sequence number. A step's or run's outcome
        is committed on return; others may commit a moment later (see `when_durable`)."""
        if not self._sqlite:
            if run_id not in self._seqs:
                last = await self._pg.last_seq(run_uuid(run_id))
                self._seqs.setdefault(run_id, last)  # a concurrent append may have set it
            seq = self._seqs[run_id] + 1
            self._seqs[run_id] = seq  # taken before anything else can run
            self._pg.append_event(run_id, seq, type, data)
            if type in _COMMIT_AT:
                await self._pg.commit(run_id, sync=type in self._pg_flush_at)
            return seq
        else:
            rid_hex = _run_hex(run_id)
            guess = self._next_seq(run_id)
            now = stamp()
            row = (uuid7().hex, self._org_hex, rid_hex, type, dumps(data), now, now)

            def write(conn: sqlite3.Connection) -> int:
                if guess is not None:
                    at = (*row[:3], guess, *row[3:])
                    if conn.execute(_APPEND_EVENT_AT, at).fetchone() is not None:
                        return guess
                found: int = conn.execute(_APPEND_EVENT, (*row, rid_hex)).fetchone()[0]
                return found

            seq = await self._store.write(write, defer=type not in _COMMIT_AT)
        if len(self._seqs) >= _SEQ_CACHE_RUNS:
            self._seqs.clear()
        self._seqs[run_id] = seq
        return seq

    def when_durable(self, callback: Callable[[], None], run_id: str | None = None) -> None:
        """Call ``callback`` once every write made so far is committed. On PostgreSQL it
        is dropped if ``run_id``'s writes met a conflict (another worker runs it)."""
        if self._sqlite:
            self._store.after_commit(callback)
        else:
            self._pg.when_durable(callback, run_id)

    def _next_seq(self, run_id: str) -> int | None:
        """The sequence number to try first; None when this journal has not seen the run."""
        last = self._seqs.get(run_id)
        return None if last is None else last + 1

    async def events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        """Durable events with ``seq > after``, in order."""
        rid = run_uuid(run_id)
        if not self._sqlite:
            return await self._pg.events(run_id, rid, after)

        def read(conn: sqlite3.Connection) -> list[EventRecord]:
            rows = conn.execute(
                "SELECT seq, type, data, created_at FROM run_events WHERE run_id = ? "
                "AND seq > ? ORDER BY seq",
                (_run_hex(run_id), after),
            ).fetchall()
            return [EventRecord(run_id, r[0], r[1], loads(r[2]), parse_stamp(r[3])) for r in rows]  # type: ignore[arg-type]

        return await self._store.read(read)
