"""The PostgreSQL side of `SqlJournal`: raw asyncpg on pools of its own.

Why not SQLAlchemy here: building a Core statement costs ~0.2 ms of CPU per write and each
pooled checkout of the main engine pings the server first, which made a journal write cost
three round trips and more CPU than the database. Here each write is one prepared statement
on an autocommitted connection: one round trip.

Commits: a step's start, its finish and its events other than the outcome go through a pool
whose connections have ``synchronous_commit=off`` (no wait for the WAL flush); the outcome
event (`step.completed`, `run.failed`, ...) commits synchronously, and PostgreSQL's WAL is
sequential, so that flush makes every earlier write of the run durable too: one WAL flush
per step, like the SQLite journal's one commit. A worker that dies loses nothing committed
(the server has it); only a crash of the PostgreSQL server itself can lose the writes after
the last flushed outcome (at most ``3 x wal_writer_delay`` old), whose steps then run again
with the same idempotency key.

An event goes in with the sequence number the caller guessed (``ON CONFLICT DO NOTHING``);
without a guess, or when it was taken, the number is allocated under a transaction-scoped
advisory lock on the run, so concurrent appends never collide. Rows match what the ORM writes
(native uuid, jsonb, timestamptz), so the ORM reads them unchanged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.engine.journal import EventRecord, StepRecord, StepStatus, Usage
from agentdeck.kit.ids import uuid7

_STEP_COLUMNS = (
    "node_id, item_index, attempt, status, idempotency_key, input, output, error, "
    "started_at, ended_at, tokens_in, tokens_out, cost_usd"
)
_LOAD = f"SELECT {_STEP_COLUMNS} FROM run_steps WHERE run_id = $1 ORDER BY id"  # noqa: S608
_INSERT_STEP = (
    "INSERT INTO run_steps (id, org_id, run_id, node_id, item_index, attempt, status, "
    "idempotency_key, input, output, error, started_at, ended_at, tokens_in, tokens_out, "
    "cost_usd, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
    "$12, $13, $14, $15, $16, $17, $17) ON CONFLICT DO NOTHING RETURNING id"
)
_FINISH_STEP = (
    "UPDATE run_steps SET status = $1, output = $2, error = $3, ended_at = $4, tokens_in = $5, "
    "tokens_out = $6, cost_usd = $7, updated_at = $4 WHERE run_id = $8 AND node_id = $9 "
    "AND item_index = $10 AND attempt = $11 RETURNING idempotency_key, started_at"
)
_APPEND_AT = (
    "INSERT INTO run_events (id, org_id, run_id, seq, type, data, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING seq"
)
_APPEND_NEXT = (
    "INSERT INTO run_events (id, org_id, run_id, seq, type, data, created_at, updated_at) "
    "SELECT $1, $2, $3, coalesce(max(seq), 0) + 1, $4, $5, $6, $6 FROM run_events "
    "WHERE run_id = $3 RETURNING seq"
)
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_EVENTS = (
    "SELECT seq, type, data, created_at FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq"
)
_POOL_MAX = 10
_POOLS: dict[tuple[str, bool, int], asyncio.Task[asyncpg.Pool]] = {}


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _json(value: Any) -> str:
    """JSON text for a jsonb parameter (None is JSON null, as the ORM writes it)."""
    return json.dumps(value, separators=(",", ":"))


def _unjson(value: str | None) -> Any:
    return None if value is None else json.loads(value)


async def _pool(url: URL, flush: bool) -> asyncpg.Pool:
    """This event loop's pool for the database (asyncpg pools belong to one loop); the
    first caller starts it, concurrent ones wait for the same start."""
    key = (_dsn(url), flush, id(asyncio.get_running_loop()))
    starting = _POOLS.get(key)
    if starting is None or (starting.done() and _unusable(starting)):
        settings = {} if flush else {"synchronous_commit": "off"}
        starting = asyncio.ensure_future(
            asyncpg.create_pool(
                key[0], min_size=0, max_size=_POOL_MAX, server_settings=settings, reset=_keep
            )
        )
        _POOLS[key] = starting
    pool: asyncpg.Pool = await asyncio.shield(starting)
    return pool


async def _keep(_conn: asyncpg.Connection) -> None:
    """No reset round trip when a connection goes back to the pool: journal connections set
    no session state (their advisory locks are transaction-scoped, they never LISTEN)."""


def _unusable(task: asyncio.Task[asyncpg.Pool]) -> bool:
    return task.cancelled() or task.exception() is not None or task.result().is_closing()


def _index(record: StepRecord) -> int:
    return -1 if record.index is None else record.index


class PgJournalBackend:
    """Journal statements for PostgreSQL."""

    def __init__(self, engine: AsyncEngine, org_id: uuid.UUID) -> None:
        self.url = engine.url
        self.org_id = org_id

    async def _fetchrow(self, flush: bool, sql: str, *args: Any) -> asyncpg.Record | None:
        pool = await _pool(self.url, flush)
        async with pool.acquire() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def load(self, run_id: str, rid: uuid.UUID) -> list[StepRecord]:
        pool = await _pool(self.url, True)
        async with pool.acquire() as conn:
            rows = await conn.fetch(_LOAD, rid)
        return [
            StepRecord(
                run_id=run_id, node_id=r[0], index=None if r[1] < 0 else r[1], attempt=r[2],
                status=StepStatus(r[3]), idempotency_key=r[4], input=_unjson(r[5]),
                output=_unjson(r[6]), error=_unjson(r[7]), started_at=r[8], ended_at=r[9],
                usage=Usage(r[10], r[11], r[12]),
            )
            for r in rows
        ]  # fmt: skip

    async def insert_step(self, record: StepRecord) -> bool:
        """Insert the record; False when this attempt already exists. A `running` start
        commits without waiting for the WAL flush (the step's outcome flushes it)."""
        usage = record.usage
        row = await self._fetchrow(
            record.status is not StepStatus.RUNNING, _INSERT_STEP,
            uuid7(), self.org_id, uuid.UUID(record.run_id), record.node_id, _index(record),
            record.attempt, record.status.value, record.idempotency_key, _json(record.input),
            _json(record.output), _json(record.error), record.started_at, record.ended_at,
            usage.tokens_in,
            usage.tokens_out, usage.cost_usd, dt.datetime.now(dt.UTC),
        )  # fmt: skip
        return row is not None

    async def finish_step(self, record: StepRecord) -> tuple[str, dt.datetime | None] | None:
        """Close the attempt; (idempotency_key, started_at), or None if never started.
        Commits without waiting for the WAL flush: the outcome event that follows does."""
        now = dt.datetime.now(dt.UTC)
        record.ended_at = now
        usage = record.usage
        row = await self._fetchrow(
            False, _FINISH_STEP,
            record.status.value, _json(record.output), _json(record.error), now, usage.tokens_in,
            usage.tokens_out, usage.cost_usd, uuid.UUID(record.run_id), record.node_id,
            _index(record), record.attempt,
        )  # fmt: skip
        return None if row is None else (row[0], row[1])

    async def append_event(
        self, rid: uuid.UUID, type: str, data: dict[str, Any], guess: int | None, *, flush: bool
    ) -> int:
        """Insert the event; its sequence number (``guess`` when that one was free). With
        ``flush`` the commit waits for the WAL flush, making the run's writes durable."""
        now = dt.datetime.now(dt.UTC)
        if guess is not None:
            row = await self._fetchrow(
                flush, _APPEND_AT, uuid7(), self.org_id, rid, guess, type, _json(data), now
            )
            if row is not None:
                return guess
        pool = await _pool(self.url, flush)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, str(rid))
            seq: int = await conn.fetchval(
                _APPEND_NEXT, uuid7(), self.org_id, rid, type, _json(data), now
            )
        return seq

    async def events(self, run_id: str, rid: uuid.UUID, after: int) -> list[EventRecord]:
        pool = await _pool(self.url, True)
        async with pool.acquire() as conn:
            rows = await conn.fetch(_EVENTS, rid, after)
        return [EventRecord(run_id, r[0], r[1], _unjson(r[2]), r[3]) for r in rows]
