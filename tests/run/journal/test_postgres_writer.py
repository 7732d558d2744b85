"""The PostgreSQL journal's group commit (`run/journal/postgres_writer.py`): runs in flight
share round trips, a run's writes stay in order, one bad run does not fail the others, and a
run that met a conflict has its pending live events dropped. PostgreSQL only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import delete

from agentdeck.engine import AgentSpec, Engine
from agentdeck.engine.journal import JournalConflict, StepStatus
from agentdeck.models import Run
from agentdeck.run.journal import PgJournal, postgres_writer
from agentdeck.runtime import Runtime
from tests.run.conftest import insert_run, stored_events, stored_steps

pytestmark = pytest.mark.usefixtures("_postgres_only")


@pytest.fixture
def _postgres_only(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the group-commit writer is the PostgreSQL journal")


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[str]]]:
    """The runs of each batch statement sent, in order."""
    sent: list[set[str]] = []
    execute = postgres_writer.Writer._execute

    async def counting(self: Any, batch: Any, sync: bool) -> Any:
        sent.append(set(batch.runs))
        return await execute(self, batch, sync)

    monkeypatch.setattr(postgres_writer.Writer, "_execute", counting)
    yield sent


def _chain(n: int, node: dict[str, Any]) -> AgentSpec:
    nodes = [{**node, "id": f"n{i}", **({"needs": [f"n{i - 1}"]} if i else {})} for i in range(n)]
    return AgentSpec.model_validate({"name": "chain", "nodes": nodes})


async def _run_fresh(
    runtime: Runtime,
    agent: dict[str, Any],
    journal: PgJournal,
    engine: Engine,
    spec: AgentSpec,
    n: int,
) -> list[str]:
    """``n`` new runs of ``spec`` at once, each told fresh as the worker does; all complete."""
    runs = [str(await insert_run(runtime, agent)) for _ in range(n)]
    for run_id in runs:
        journal.known_new(run_id)
    results = await asyncio.gather(*(engine.run(spec, run_id) for run_id in runs))
    assert {r.status for r in results} == {"completed"}
    return runs


async def _assert_chains_stored(runtime: Runtime, journal: PgJournal, runs: list[str]) -> None:
    """Every run of a 3-step chain has its steps completed and events numbered 1.. to its end."""
    for run_id in runs:
        assert await stored_steps(runtime, run_id) == [(f"n{i}", "completed") for i in range(3)]
        events = await journal.events(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[-1].type == "run.completed"


async def test_a_quick_step_is_one_round_trip_and_runs_in_flight_share_them(
    runtime: Runtime, agent: dict[str, Any], batches: list[set[str]]
) -> None:
    spec = _chain(3, {"type": "transform", "value": 1})
    journal = PgJournal(runtime.sessionmaker, agent["org_id"])
    engine = Engine(journal)
    alone = str(await insert_run(runtime, agent))
    journal.known_new(alone)
    assert (await engine.run(spec, alone)).status == "completed"
    # 3 steps and the run's end: one statement each (start, finish and events merged)
    assert len(batches) == 4
    batches.clear()
    runs = await _run_fresh(runtime, agent, journal, engine, spec, 12)
    assert len(batches) < 12 * 4 / 2  # shared: far fewer statements than steps
    assert any(len(runs_of) > 1 for runs_of in batches)
    await _assert_chains_stored(runtime, journal, runs)


async def test_a_full_batch_goes_before_the_rest_of_a_wave_has_queued(
    runtime: Runtime,
    agent: dict[str, Any],
    batches: list[set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs woken together queue their writes in one turn of the loop; once the pending batch
    holds `_BATCH_WRITES` writes it is sent, so the server works while the rest queue up."""
    monkeypatch.setattr(postgres_writer, "_BATCH_WRITES", 8)
    spec = _chain(3, {"type": "transform", "value": 1})
    journal = PgJournal(runtime.sessionmaker, agent["org_id"])
    engine = Engine(journal)
    runs = await _run_fresh(runtime, agent, journal, engine, spec, 12)
    # all 12 runs queue their first step in the same turn (4 writes each): the first batch
    # went once it held 8 writes, with only the first runs in it
    assert 0 < len(batches[0]) < 12
    await _assert_chains_stored(runtime, journal, runs)


async def test_a_run_never_has_writes_in_two_batches_in_flight(
    runtime: Runtime, agent: dict[str, Any], batches: list[set[str]]
) -> None:
    """Steps that yield to the loop get their start sent before their finish, so a finish
    is an UPDATE of a row a previous batch inserted: that batch must have committed."""

    class Yielding:
        async def chat(self, request: Any) -> Any:
            from agentdeck.engine.ports import ChatResult

            await asyncio.sleep(0.001)
            return ChatResult(text="ok")

        async def stream(self, request: Any, on_delta: Any) -> Any:
            return await self.chat(request)

    from agentdeck.engine import Ports

    in_flight: list[set[str]] = []
    overlaps: list[set[str]] = []
    execute = postgres_writer.Writer._execute

    async def watching(self: Any, batch: Any, sync: bool) -> Any:
        for other in in_flight:
            if other & batch.runs:
                overlaps.append(other & batch.runs)
        in_flight.append(batch.runs)
        try:
            return await execute(self, batch, sync)
        finally:
            in_flight.remove(batch.runs)

    spec = _chain(3, {"type": "llm", "prompt": "hi", "stream": False})
    journal = PgJournal(runtime.sessionmaker, agent["org_id"])
    engine = Engine(journal, ports=Ports(llm=Yielding()))  # type: ignore[arg-type]
    runs = [str(await insert_run(runtime, agent)) for _ in range(10)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(postgres_writer.Writer, "_execute", watching)
        results = await asyncio.gather(*(engine.run(spec, run_id) for run_id in runs))
    assert {r.status for r in results} == {"completed"}
    assert overlaps == []
    for run_id in runs:
        assert await stored_steps(runtime, run_id) == [(f"n{i}", "completed") for i in range(3)]


async def test_a_bad_row_fails_only_its_own_run(runtime: Runtime, agent: dict[str, Any]) -> None:
    good, gone = str(await insert_run(runtime, agent)), str(await insert_run(runtime, agent))
    journal = PgJournal(runtime.sessionmaker, agent["org_id"])
    journal.known_new(good)
    journal.known_new(gone)
    async with runtime.sessionmaker() as session:  # deleted while it runs
        await session.execute(
            delete(Run).where(Run.id == uuid.UUID(gone)).execution_options(tenant_bypass="test")
        )
        await session.commit()
    for run_id in (good, gone):  # both in the same pending batch
        await journal.start_step(run_id, "a", attempt=1, idempotency_key=f"{run_id}:a")
        await journal.append_event(run_id, "step.started", {"node": "a"})
    outcomes = await asyncio.gather(
        journal.append_event(good, "run.completed", {}),
        journal.append_event(gone, "run.completed", {}),
        return_exceptions=True,
    )
    assert outcomes[0] == 2
    assert "foreign key" in str(outcomes[1]).lower()
    assert await stored_steps(runtime, good) == [("a", "running")]
    events = await journal.events(good)
    assert [(e.seq, e.type) for e in events] == [(1, "step.started"), (2, "run.completed")]


async def test_a_conflict_drops_the_runs_pending_live_events(
    runtime: Runtime, agent: dict[str, Any]
) -> None:
    run_id = str(await insert_run(runtime, agent))
    mine, other = (PgJournal(runtime.sessionmaker, agent["org_id"]) for _ in range(2))
    assert await mine.append_event(run_id, "run.started", {}) == 1
    assert await other.append_event(run_id, "step.started", {}) == 2  # another worker
    await other.events(run_id)  # committed (another worker's batch)
    delivered: list[str] = []
    await mine.start_step(run_id, "a", attempt=1, idempotency_key=f"{run_id}:a")
    assert await mine.append_event(run_id, "step.started", {}) == 2  # taken: a conflict
    mine.when_durable(lambda: delivered.append("step.started"), run_id)
    with pytest.raises(JournalConflict):
        await mine.finish_step(run_id, "a", attempt=1, status=StepStatus.COMPLETED)
        await mine.append_event(run_id, "step.completed", {})
    assert delivered == []
    assert await stored_events(runtime, run_id) == [(1, "run.started"), (2, "step.started")]


async def test_journal_plans_are_index_lookups_even_on_new_tables(runtime: Runtime) -> None:
    """A journal connection keeps its generic plans for life; planned on new, never
    analysed tables they must still find the step a close updates by its unique key, not
    by a sequential scan of every step."""
    dsn = runtime.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, server_settings=postgres_writer._settings(True))
    try:
        # temporary tables shadow the real ones: new, empty, without statistics
        await conn.execute(
            "CREATE TEMP TABLE run_steps (LIKE public.run_steps INCLUDING ALL); "
            "CREATE TEMP TABLE run_events (LIKE public.run_events INCLUDING ALL)"
        )
        await conn.execute("PREPARE batch AS " + postgres_writer._BATCH)
        rows = await conn.fetch(f"EXPLAIN EXECUTE batch({', '.join(['NULL'] * 35)})")
    finally:
        await conn.close()
    plan = "\n".join(r[0] for r in rows)
    assert "Seq Scan" not in plan and "Hash Join" not in plan, plan
    assert "Index Scan using" in plan and "on run_steps r" in plan, plan
