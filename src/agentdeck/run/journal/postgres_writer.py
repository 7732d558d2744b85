"""The writer of `PgJournal`: raw asyncpg, and group commit across runs.

Why not SQLAlchemy here: building a Core statement costs ~0.2 ms of CPU per write and each
pooled checkout of the main engine pings the server first. A round trip to the server costs
~0.2 ms here and a WAL flush ~0.2 ms more, so the journal's cost is the number of round trips
and flushes per step, and everything here is about making that number small.

Group commit: every journal write of this process and event loop (all runs, all orgs) goes
into the pending *batch* of one `Writer`. A batch is sent as **one** prepared statement
(``unnest`` arrays into the three writes: insert steps, close steps, insert events), so it is
one round trip and one transaction however many runs it carries. While a batch is in flight
the next one fills up; it is sent the moment the previous one returns. A batch that reaches
`_BATCH_WRITES` writes goes at once when a connection is free: when a commit wakes many runs,
the server starts on the first of their steps while this process prepares the rest, instead
of the two taking turns (measured: +25-30% steps/s with 64 runs in flight). Writes that nobody
waits for (a step's start, ``step.started``, a progress event) join the batch; a step's
outcome waits for its batch to commit, so it is durable before any step that depends on it
starts. A quick step is therefore one round trip: its start and finish merge into one row
insert, its two events go with it. With many runs in flight, one round trip and one WAL flush
serve all their steps.

Commits: a batch that carries an outcome that must be flushed (`PgJournal`'s flush points)
commits synchronously; other batches go through connections with ``synchronous_commit=off``.
PostgreSQL's WAL is sequential, so a flush makes every earlier batch durable too.

Failures stay with their run: when a batch statement fails (a step attempt or an event
sequence number that already exists, which means another worker runs this run too because
this one lost its lease; or a run deleted meanwhile), the batch is sent again as one
statement per run, so the other runs commit and none of the failing run's writes in it do.
That run gets the error (`JournalConflict` for a duplicate) from its next write, wait or
read, and the live delivery of its pending events is dropped (`when_durable`), so nobody
sees an event that was not stored. Nothing is published before its batch commits.

Rows match what the ORM writes (native uuid, jsonb, timestamptz), so the ORM reads them
unchanged; ``item_index`` is -1 for the node itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from agentdeck.engine.journal import JournalConflict, StepRecord

_BATCH = """
WITH s AS (
  INSERT INTO run_steps (id, org_id, run_id, node_id, item_index, attempt, status,
    idempotency_key, input, output, error, started_at, ended_at, tokens_in, tokens_out,
    cost_usd, created_at, updated_at)
  SELECT i.*, i.started_at, coalesce(i.ended_at, i.started_at)
  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::int[],
    $7::text[], $8::text[], $9::jsonb[], $10::jsonb[], $11::jsonb[], $12::timestamptz[],
    $13::timestamptz[], $14::int[], $15::int[], $16::float8[])
    AS i(id, org_id, run_id, node_id, item_index, attempt, status, idempotency_key, input,
      output, error, started_at, ended_at, tokens_in, tokens_out, cost_usd)
), u AS (
  UPDATE run_steps r SET status = f.status, output = f.output, error = f.error,
    ended_at = f.ended_at, tokens_in = f.tokens_in, tokens_out = f.tokens_out,
    cost_usd = f.cost_usd, updated_at = f.ended_at
  FROM unnest($17::int[], $18::uuid[], $19::text[], $20::int[], $21::int[], $22::text[],
    $23::jsonb[], $24::jsonb[], $25::timestamptz[], $26::int[], $27::int[], $28::float8[])
    AS f(ord, run_id, node_id, item_index, attempt, status, output, error, ended_at,
      tokens_in, tokens_out, cost_usd)
  WHERE r.run_id = f.run_id AND r.node_id = f.node_id AND r.item_index = f.item_index
    AND r.attempt = f.attempt
  RETURNING f.ord
), e AS (
  INSERT INTO run_events (id, org_id, run_id, seq, type, data, created_at, updated_at)
  SELECT v.*, v.created_at
  FROM unnest($29::uuid[], $30::uuid[], $31::uuid[], $32::int[], $33::text[], $34::jsonb[],
    $35::timestamptz[]) AS v(id, org_id, run_id, seq, type, data, created_at)
)
SELECT ord FROM u
"""
_POOL_MAX = 10
_GATHER_ROUNDS = 16
_IN_FLIGHT = 2
_FAILED_MAX = 4096
_BATCH_WRITES = 128
_WRITERS: dict[tuple[str, int], Writer] = {}

StepKey = tuple[str, str, int, int]
"""(run id, node id, item index or -1, attempt)."""


def _index(record: StepRecord) -> int:
    return -1 if record.index is None else record.index


def step_key(record: StepRecord) -> StepKey:
    return (record.run_id, record.node_id, _index(record), record.attempt)


async def _keep(_conn: asyncpg.Connection) -> None:
    """No reset round trip when a connection goes back to the pool: journal connections set
    no session state and never LISTEN."""


@dataclass(slots=True)
class _Batch:
    """Writes sent together as one statement (one transaction)."""

    steps: dict[StepKey, list[Any]] = field(default_factory=dict)
    closes: list[tuple[StepKey, list[Any]]] = field(default_factory=list)
    events: list[tuple[str, list[Any]]] = field(default_factory=list)
    runs: set[str] = field(default_factory=set)
    writes: int = 0  # writes queued into it (a close merged into its insert counts too)
    sync: bool = False
    done: asyncio.Future[None] | None = None
    callbacks: list[tuple[str | None, Callable[[], None]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps or self.closes or self.events)

    def params(self) -> list[Any]:
        """The statement's parameters: the rows of each write, transposed into arrays."""
        closes = [
            (ordinal, uuid.UUID(key[0]), key[1], key[2], key[3], *values)
            for ordinal, (key, values) in enumerate(self.closes)
        ]
        return [
            *_columns(self.steps.values(), 16),
            *_columns(closes, 12),
            *_columns((row for _run, row in self.events), 7),
        ]


def _columns(rows: Iterable[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    columns = list(zip(*rows, strict=True))
    return columns if columns else [() for _ in range(width)]


class Writer:
    """The group-commit writer of one database for one event loop (asyncpg connections
    belong to one loop). Up to `_IN_FLIGHT` batches are in flight at once, each on its own
    connection, as long as no run has writes in two of them (a run's writes commit in
    order); reads go through pools."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.loop = weakref.ref(asyncio.get_running_loop())
        self._pools: dict[bool, asyncio.Task[asyncpg.Pool]] = {}
        self._pending = _Batch()
        self._in_flight: list[_Batch] = []
        self._scheduled = False
        self._writes = 0  # writes queued so far (a batch goes once they stop arriving)
        self._seen = 0
        self._rounds = 0
        self._failed: dict[str, BaseException] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._conns: dict[bool, list[asyncpg.Connection]] = {True: [], False: []}

    async def pool(self, sync: bool) -> asyncpg.Pool:
        starting = self._pools.get(sync)
        if starting is None or (starting.done() and _unusable(starting)):
            settings = _settings(sync)
            starting = asyncio.ensure_future(
                asyncpg.create_pool(
                    self.dsn, min_size=0, max_size=_POOL_MAX, server_settings=settings, reset=_keep
                )
            )
            self._pools[sync] = starting
        pool: asyncpg.Pool = await asyncio.shield(starting)
        return pool

    def abandon(self) -> None:
        """Close the connections of a writer whose event loop has gone (without it)."""
        for idle in self._conns.values():
            for conn in idle:
                with contextlib.suppress(Exception):
                    conn.terminate()
        for task in self._pools.values():
            if task.done() and not task.cancelled() and task.exception() is None:
                with contextlib.suppress(Exception):
                    task.result().terminate()

    # ---- queueing -------------------------------------------------------------------

    def check(self, run_id: str) -> None:
        """Raise the conflict an earlier batch met for this run, once."""
        failure = self._failed.pop(run_id, None)
        if failure is not None:
            raise failure

    def add_step(self, key: StepKey, row: list[Any]) -> None:
        self.check(key[0])
        if key in self._pending.steps:
            raise JournalConflict(where(key, "exists"))
        self._pending.steps[key] = row
        self._pending.runs.add(key[0])
        self._schedule()

    def close_step(self, key: StepKey, values: list[Any]) -> None:
        """Close a started attempt: merged into its insert when that is still pending."""
        self.check(key[0])
        row = self._pending.steps.get(key)
        if row is not None:
            row[6] = values[0]  # status, output, error, ended_at, tokens_in/out, cost
            row[9], row[10], row[12], row[13], row[14], row[15] = values[1:]
        else:
            self._pending.closes.append((key, values))
            self._pending.runs.add(key[0])
        self._schedule()

    def add_event(self, run_id: str, row: list[Any]) -> None:
        self.check(run_id)
        self._pending.events.append((run_id, row))
        self._pending.runs.add(run_id)
        self._schedule()

    def _latest(self, run_id: str) -> _Batch | None:
        """The batch holding the run's newest writes (None: all committed)."""
        if run_id in self._pending.runs:
            return self._pending
        for batch in self._in_flight:
            if run_id in batch.runs:
                return batch
        return None

    async def commit(self, run_id: str, *, sync: bool) -> None:
        """Wait until the run's writes so far are committed (``sync``: and flushed)."""
        batch = self._latest(run_id)
        if batch is not None:
            if batch is self._pending:
                batch.sync = batch.sync or sync
            await self._wait(batch)
        self.check(run_id)

    def when_durable(self, callback: Callable[[], None], run_id: str | None) -> None:
        """Call ``callback`` once the run's writes so far (all writes, without a run) are
        committed; never when the run met a conflict (its event was not stored)."""
        if run_id is not None:
            batch = self._latest(run_id)
        else:
            batch = self._pending if self._pending else None
            if batch is None and self._in_flight:
                batch = self._in_flight[-1]
        if batch is None:
            callback()
        else:
            batch.callbacks.append((run_id, callback))

    async def idle(self) -> None:
        """Wait until what is queued or in flight now is committed (later writes are not
        waited for)."""
        batches = [*self._in_flight, self._pending] if self._pending else [*self._in_flight]
        for batch in batches:
            await self._wait(batch)

    async def _wait(self, batch: _Batch) -> None:
        if batch.done is None:
            batch.done = asyncio.get_running_loop().create_future()
        if batch is self._pending:
            self._schedule()
        await asyncio.shield(batch.done)

    # ---- sending --------------------------------------------------------------------

    def _schedule(self) -> None:
        self._writes += 1
        self._pending.writes += 1
        if self._pending.writes >= _BATCH_WRITES and len(self._in_flight) < _IN_FLIGHT:
            self._send_pending()  # full: the server starts on it while the rest queue up
        if not self._scheduled and len(self._in_flight) < _IN_FLIGHT:
            self._scheduled = True
            self._seen, self._rounds = self._writes, 0
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        """Send the pending batch once a turn of the event loop added nothing to it: the
        runs that the last commit woke up get to queue their next steps first, so they
        share this round trip (at most `_GATHER_ROUNDS` turns of the loop)."""
        if self._writes != self._seen and self._rounds < _GATHER_ROUNDS:
            self._seen = self._writes
            self._rounds += 1
            asyncio.get_running_loop().call_soon(self._start)
            return
        self._scheduled = False
        self._send_pending()

    def _send_pending(self) -> None:
        batch = self._pending
        if not batch or len(self._in_flight) >= _IN_FLIGHT:
            return
        if any(batch.runs & other.runs for other in self._in_flight):
            return  # a run's writes commit in order: wait for its batch in flight
        self._pending = _Batch()
        self._in_flight.append(batch)
        if batch.done is None:
            batch.done = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: _Batch) -> None:
        assert batch.done is not None
        try:
            try:
                rows = await self._execute(batch, batch.sync)
            except asyncpg.PostgresError as exc:  # a bad row (a deleted run, ...)
                if len(batch.runs) > 1:  # it fails only its own run: send each apart
                    lost = await self._send_apart(batch)
                else:
                    self._fail(batch, exc)
                    lost = batch.runs
            else:
                lost = self._conflicts(batch, rows)
        except BaseException as exc:  # the connection broke: every run of the batch lost it
            self._fail(batch, exc if isinstance(exc, Exception) else ConnectionError(repr(exc)))
            self._sent(batch)
            if not isinstance(exc, Exception):
                raise
            return
        self._sent(batch)
        for owner, callback in batch.callbacks:
            if owner is None or owner not in lost:
                callback()

    def _sent(self, batch: _Batch) -> None:
        assert batch.done is not None
        batch.done.set_result(None)
        self._in_flight.remove(batch)
        if self._pending:
            self._schedule()

    async def _send_apart(self, batch: _Batch) -> set[str]:
        lost: set[str] = set()
        for part in _split(batch):
            try:
                rows = await self._execute(part, batch.sync)
            except asyncpg.PostgresError as exc:
                self._fail(part, exc)
                lost |= part.runs
            else:
                lost |= self._conflicts(part, rows)
        return lost

    async def _execute(self, batch: _Batch, sync: bool) -> list[asyncpg.Record]:
        """Run the batch statement on one of this writer's own connections for ``sync``
        (at most `_IN_FLIGHT` each: no pool checkout, no reset)."""
        idle = self._conns[sync]
        conn = idle.pop() if idle else None
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(self.dsn, server_settings=_settings(sync))
        try:
            rows: list[asyncpg.Record] = await conn.fetch(_BATCH, *batch.params())
        except asyncpg.PostgresError:  # the statement failed; the connection is fine
            idle.append(conn)
            raise
        except BaseException:
            conn.terminate()
            raise
        idle.append(conn)
        return rows

    def _fail(self, batch: _Batch, exc: Exception) -> None:
        for run_id in batch.runs:
            failure: Exception = exc
            if isinstance(exc, asyncpg.UniqueViolationError):  # another worker wrote it
                failure = JournalConflict(f"{run_id}: {exc.detail or exc}")
            self._remember(run_id, failure)

    def _remember(self, run_id: str, failure: BaseException) -> None:
        """Keep the run's first failure for its next call (a bounded number of runs: a run
        whose worker gave up never asks)."""
        if len(self._failed) >= _FAILED_MAX:
            del self._failed[next(iter(self._failed))]
        self._failed.setdefault(run_id, failure)

    def _conflicts(self, batch: _Batch, rows: list[asyncpg.Record]) -> set[str]:
        """Runs whose close of a step found no started row (the batch itself committed)."""
        closed = {r[0] for r in rows}
        lost: set[str] = set()
        for ordinal, (key, _values) in enumerate(batch.closes):
            if ordinal not in closed:
                lost.add(key[0])
                self._remember(key[0], KeyError(where(key, "was never started")))
        return lost


def _split(batch: _Batch) -> list[_Batch]:
    """The batch as one batch per run (so a bad row fails only its own run)."""
    parts = {run_id: _Batch(runs={run_id}) for run_id in batch.runs}
    for key, row in batch.steps.items():
        parts[key[0]].steps[key] = row
    for key, values in batch.closes:
        parts[key[0]].closes.append((key, values))
    for run_id, row in batch.events:
        parts[run_id].events.append((run_id, row))
    return list(parts.values())


def where(key: StepKey, what: str) -> str:
    index = None if key[2] < 0 else key[2]
    return f"{key[0]}:{key[1]}[{index}] attempt {key[3]} {what}"


def _settings(sync: bool) -> dict[str, str]:
    """Session settings of journal connections.

    A generic plan: the batch statement is planned once per connection, not per call (a
    custom plan of it costs ~0.35 ms, as much as running it). That plan is kept for the
    connection's life, so it must not depend on statistics: planned while the journal
    tables are new (empty, never analysed), PostgreSQL closes steps with a hash join over a
    sequential scan of ``run_steps``, a full scan per batch until autovacuum analyses the
    table. Journal connections only ever look rows up by their unique keys, so sequential
    scans and hash/merge joins are off for them: every plan is an index lookup per row.
    """
    settings = {
        "plan_cache_mode": "force_generic_plan",
        "enable_seqscan": "off",
        "enable_hashjoin": "off",
        "enable_mergejoin": "off",
    }
    if not sync:
        settings["synchronous_commit"] = "off"
    return settings


def _unusable(task: asyncio.Task[asyncpg.Pool]) -> bool:
    return task.cancelled() or task.exception() is not None or task.result().is_closing()


def writer_for(dsn: str) -> Writer:
    """This event loop's writer for the database (created on first use; the writers of
    loops that have since closed are dropped and their connections closed)."""
    loop = asyncio.get_running_loop()
    key = (dsn, id(loop))
    writer = _WRITERS.get(key)
    if writer is None or writer.loop() is not loop:
        for old_key, old in list(_WRITERS.items()):
            old_loop = old.loop()
            if old_key == key or old_loop is None or old_loop.is_closed():
                old.abandon()
                del _WRITERS[old_key]
        writer = _WRITERS[key] = Writer(dsn)
    return writer
