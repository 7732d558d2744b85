"""The run journal (`run/journal/`) passes the engine's journal conformance suite on the test
database's store (SQLite, or PostgreSQL when AGENTDECK_TEST_DATABASE_URL is set), and keeps
each store's commit and sequence-number promises."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from agentdeck.engine.journal import EventRecord, JournalConflict, StepRecord, StepStatus
from agentdeck.models import RunStep
from agentdeck.run.journal import PgJournal, SqliteJournal, SqlJournal, open_journal
from agentdeck.runtime import Runtime
from tests.engine.journal_conformance import JournalConformance
from tests.factories import create_agent_row, create_tenant, personal_space_id
from tests.run.conftest import insert_run, stored_events, stored_steps


class _RowBackedJournal:
    """Maps the suite's free-form run ids to real `runs` rows (the tables have foreign keys)."""

    def __init__(self, journal: SqlJournal, new_run: Callable[[], Awaitable[uuid.UUID]]) -> None:
        self.inner = journal
        self.new_run = new_run
        self.ids: dict[str, str] = {}
        self.lock = asyncio.Lock()

    async def _id(self, run: str) -> str:
        async with self.lock:
            if run not in self.ids:
                self.ids[run] = str(await self.new_run())
            return self.ids[run]

    def _back(self, record: StepRecord, run: str) -> StepRecord:
        record.run_id = run
        return record

    async def load(self, run_id: str) -> list[StepRecord]:
        return [self._back(r, run_id) for r in await self.inner.load(await self._id(run_id))]

    async def start_step(self, run_id: str, node_id: str, **kw: Any) -> StepRecord:
        record = await self.inner.start_step(await self._id(run_id), node_id, **kw)
        return self._back(record, run_id)

    async def finish_step(self, run_id: str, node_id: str, **kw: Any) -> StepRecord:
        record = await self.inner.finish_step(await self._id(run_id), node_id, **kw)
        return self._back(record, run_id)

    async def record_step(self, record: StepRecord) -> None:
        original = record.run_id
        record.run_id = await self._id(original)
        try:
            await self.inner.record_step(record)
        finally:
            record.run_id = original

    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        return await self.inner.append_event(await self._id(run_id), type, data)

    async def events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        return await self.inner.events(await self._id(run_id), after)


class TestSqlJournal(JournalConformance):
    @pytest.fixture
    async def journal(self, runtime: Runtime, agent: dict[str, Any]) -> _RowBackedJournal:
        inner = open_journal(runtime.sessionmaker, agent["org_id"])
        return _RowBackedJournal(inner, lambda: insert_run(runtime, agent))


async def test_the_journal_is_the_one_of_the_databases_dialect(runtime: Runtime) -> None:
    journal = open_journal(runtime.sessionmaker, uuid.uuid4())
    sqlite = runtime.engine.dialect.name == "sqlite"
    assert type(journal) is (SqliteJournal if sqlite else PgJournal)


async def test_rows_read_back_through_the_orm(runtime: Runtime, agent: dict[str, Any]) -> None:
    run_id = str(await insert_run(runtime, agent))
    journal = open_journal(runtime.sessionmaker, agent["org_id"])
    await journal.start_step(run_id, "a", attempt=1, input={"q": 1}, idempotency_key="k")
    await journal.finish_step(run_id, "a", attempt=1, status=StepStatus.COMPLETED, output=[1])
    async with runtime.sessionmaker() as session:
        row = (
            await session.execute(
                select(RunStep)
                .where(RunStep.run_id == uuid.UUID(run_id))
                .execution_options(tenant_bypass="test")
            )
        ).scalar_one()
    assert (row.item_index, row.status, row.input, row.output) == (-1, "completed", {"q": 1}, [1])
    assert row.started_at is not None and row.ended_at is not None
    assert row.started_at.tzinfo is not None and row.org_id == agent["org_id"]


async def test_a_durable_start_is_stored_when_it_returns(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    """Before a node acts outside the run, its start is in the database: a worker killed
    mid-call leaves the attempt behind, so the next attempt is known to be a re-run."""
    run_id = str(await insert_run(runtime, agent))
    journal = open_journal(runtime.sessionmaker, agent["org_id"])
    await journal.start_step(run_id, "call", attempt=1, idempotency_key="k", durable=True)
    assert await stored_steps(runtime, run_id) == [("call", "running")]


async def test_a_quick_step_is_one_commit_and_its_outcome_is_committed_on_return(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("deferred step writes are the SQLite store's")
    run_id = str(await insert_run(runtime, agent))
    journal = SqliteJournal(runtime.sessionmaker, agent["org_id"])
    store = journal._store
    before = store.commits
    await journal.start_step(run_id, "a", attempt=1, idempotency_key="k")
    await journal.append_event(run_id, "step.started", {"node": "a"})
    await journal.finish_step(run_id, "a", attempt=1, status=StepStatus.COMPLETED, output=1)
    await journal.append_event(run_id, "step.completed", {"node": "a"})
    assert store.commits - before == 1
    assert store.open_for is None  # nothing pending: the outcome is durable
    assert [e.seq for e in await journal.events(run_id)] == [1, 2]


async def test_runs_finishing_steps_together_share_a_commit(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite store's group commit (PostgreSQL: test_postgres_writer)")
    runs = [str(await insert_run(runtime, agent)) for _ in range(8)]
    journal = SqliteJournal(runtime.sessionmaker, agent["org_id"])
    store = journal._store
    gate, done = asyncio.Event(), asyncio.Event()

    async def two_steps(run_id: str) -> int:
        await journal.start_step(run_id, "a", attempt=1, idempotency_key=f"{run_id}:a")
        await gate.wait()  # model calls that return in the same turn of the loop
        await journal.finish_step(run_id, "a", attempt=1, status=StepStatus.COMPLETED)
        seq = await journal.append_event(run_id, "step.completed", {"node": "a"})
        await journal.start_step(run_id, "b", attempt=1, idempotency_key=f"{run_id}:b")
        await done.wait()  # the next model call
        return seq

    tasks = [asyncio.create_task(two_steps(run_id)) for run_id in runs]
    await asyncio.sleep(0.01)
    before = store.commits
    gate.set()
    await asyncio.sleep(0.01)
    assert store.commits - before <= 3  # the steps of the 8 runs share commits
    done.set()
    assert await asyncio.gather(*tasks) == [1] * 8
    for run_id in runs:
        a, b = await journal.load(run_id)
        assert (a.status, b.status) == (StepStatus.COMPLETED, StepStatus.RUNNING)


async def test_events_are_delivered_only_once_committed(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    import sqlite3

    from agentdeck.run.journal.sqlite import sqlite_path

    run_id = str(await insert_run(runtime, agent))
    journal = open_journal(runtime.sessionmaker, agent["org_id"])
    delivered: list[str] = []
    await journal.start_step(run_id, "a", attempt=1, idempotency_key="k")
    await journal.append_event(run_id, "step.started", {"node": "a"})
    journal.when_durable(lambda: delivered.append("step.started"))
    assert delivered == []  # not committed yet: nobody may see it
    if runtime.engine.dialect.name != "sqlite":  # PostgreSQL: queued in the pending batch
        await journal.events(run_id)  # waits for the batch to commit
        assert delivered == ["step.started"]
        assert len(await stored_events(runtime, run_id)) == 1
        return
    other = sqlite3.connect(sqlite_path(runtime.settings.resolved_db_url))
    seen = "SELECT count(*) FROM run_events WHERE run_id = ?"
    assert other.execute(seen, (uuid.UUID(run_id).hex,)).fetchone() == (0,)
    await asyncio.sleep(0)  # the loop moves on: the transaction commits, then delivery
    assert delivered == ["step.started"]
    assert other.execute(seen, (uuid.UUID(run_id).hex,)).fetchone() == (1,)
    other.close()


async def test_a_step_write_alone_commits_before_the_loop_moves_on(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    run_id = str(await insert_run(runtime, agent))
    journal = open_journal(runtime.sessionmaker, agent["org_id"])
    await journal.start_step(run_id, "a", attempt=1, idempotency_key="k")
    await asyncio.sleep(0)
    assert await stored_steps(runtime, run_id) == [("a", "running")]


async def test_a_failing_write_keeps_the_step_written_before_it(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    run_id = str(await insert_run(runtime, agent))
    journal = open_journal(runtime.sessionmaker, agent["org_id"])
    await journal.start_step(run_id, "a", attempt=1, idempotency_key="k")
    with pytest.raises(Exception, match=r"(?i)foreign key"):  # no such run (an outcome waits)
        await journal.append_event(str(uuid.uuid4()), "run.completed", {})
    [record] = await open_journal(runtime.sessionmaker, agent["org_id"]).load(run_id)
    assert record.status is StepStatus.RUNNING


async def test_sequence_numbers_stay_unique_with_another_writer(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    run_id = str(await insert_run(runtime, agent))
    one = open_journal(runtime.sessionmaker, agent["org_id"])
    other = open_journal(runtime.sessionmaker, agent["org_id"])
    assert await one.append_event(run_id, "a", {}) == 1
    assert await other.append_event(run_id, "b", {}) == 2  # `one` still expects 2 next
    await other.events(run_id)  # committed
    if runtime.engine.dialect.name != "sqlite":
        # PostgreSQL: only the run's lease holder appends; another writer means this one
        # lost the run, so its next wait or read says so and its event is not stored.
        with pytest.raises(JournalConflict):
            await one.append_event(run_id, "c", {})
            await one.events(run_id)
        events = await other.events(run_id)
        assert [(e.seq, e.type) for e in events] == [(1, "a"), (2, "b")]
        return
    assert await one.append_event(run_id, "c", {}) == 3
    assert await one.append_event(run_id, "d", {}) == 4
    events = await other.events(run_id)
    assert [(e.seq, e.type) for e in events] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


async def test_the_flush_setting_picks_where_postgresql_waits_for_the_wal(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("journal_flush applies to PostgreSQL")
    from agentdeck.run.journal import postgres_writer
    from agentdeck.run.services import services_for
    from agentdeck.run.settings import RunSettings

    services = services_for(runtime.engine)
    before = services.settings
    synced: list[bool] = []
    execute = postgres_writer.Writer._execute

    async def recording(self: Any, batch: Any, sync: bool) -> Any:
        synced.append(sync)
        return await execute(self, batch, sync)

    try:
        for flush, waits_per_step in (("step", True), ("run", False)):
            services.settings = RunSettings(journal_flush=flush)
            journal = PgJournal(runtime.sessionmaker, agent["org_id"])
            assert ("step.completed" in journal._flush_at) is waits_per_step
            assert "run.completed" in journal._flush_at
            run_id = str(await insert_run(runtime, agent))
            journal.known_new(run_id)
            synced.clear()
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(postgres_writer.Writer, "_execute", recording)
                await journal.start_step(run_id, "a", attempt=1, idempotency_key="k")
                await journal.append_event(run_id, "step.started", {})
                await journal.finish_step(run_id, "a", attempt=1, status=StepStatus.COMPLETED)
                await journal.append_event(run_id, "step.completed", {})
            # one statement for the step, waiting for the WAL flush only with "step"
            assert synced == [waits_per_step]
            # committed on return either way: another connection sees it at once
            assert len(await stored_events(runtime, run_id)) == 2
            assert await stored_steps(runtime, run_id) == [("a", "completed")]
    finally:
        services.settings = before


async def test_deleting_an_organisation_deletes_its_journal_rows(
    runtime: Runtime, client: httpx.AsyncClient, app: Any
) -> None:
    """Journal rows hang off their run (no key to the organisation of their own): an
    organisation's deletion reaches them through its runs."""
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    spec = {"name": "j", "nodes": [{"id": "a", "type": "transform", "value": 1}]}
    agent = await create_agent_row(app, tenant.org_id, space, spec)
    run_id = str(await insert_run(runtime, agent))
    journal = open_journal(runtime.sessionmaker, agent["org_id"])
    await journal.start_step(run_id, "a", attempt=1, input={}, idempotency_key="k")
    await journal.finish_step(run_id, "a", attempt=1, status=StepStatus.COMPLETED, output=1)
    await journal.append_event(run_id, "run.completed", {})
    await journal.events(run_id)  # everything is committed
    assert await stored_steps(runtime, run_id) == [("a", "completed")]
    assert (
        await client.delete(f"/api/v1/orgs/{tenant.org_id}", headers=tenant.headers)
    ).status_code == 204
    assert await stored_steps(runtime, run_id) == []
    assert await stored_events(runtime, run_id) == []
