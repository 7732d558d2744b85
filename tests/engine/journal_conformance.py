"""Conformance suite for `Journal` implementations.

Use it by subclassing with a `journal` fixture that yields a fresh, empty journal:

    from .journal_conformance import JournalConformance

    class TestSqlJournal(JournalConformance):
        @pytest.fixture
        async def journal(self, session_factory):
            yield SqlJournal(session_factory)

Run ids are unique per test so implementations may share one database.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agentdeck.engine.journal import (
    Journal,
    JournalConflict,
    StepRecord,
    StepStatus,
    Usage,
    idempotency_key,
)


def _run() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


async def _start(journal: Journal, run: str, node: str, attempt: int = 1, **kw: Any) -> StepRecord:
    index = kw.pop("index", None)
    return await journal.start_step(
        run, node, attempt=attempt, index=index, idempotency_key=idempotency_key(run, node, index),
        **kw,
    )  # fmt: skip


class JournalConformance:
    async def test_unknown_run_loads_empty(self, journal: Journal) -> None:
        assert await journal.load(_run()) == []
        assert await journal.events(_run()) == []

    async def test_start_then_load_shows_running(self, journal: Journal) -> None:
        run = _run()
        started = await _start(journal, run, "a", input={"q": "ü", "n": [1, 2.5, None]})
        assert started.status is StepStatus.RUNNING
        [loaded] = await journal.load(run)
        assert (loaded.node_id, loaded.attempt, loaded.index) == ("a", 1, None)
        assert loaded.status is StepStatus.RUNNING
        assert loaded.input == {"q": "ü", "n": [1, 2.5, None]}
        assert loaded.idempotency_key == f"{run}:a"
        assert loaded.started_at is not None
        assert loaded.ended_at is None

    async def test_finish_stores_output_error_and_usage(self, journal: Journal) -> None:
        run = _run()
        await _start(journal, run, "a")
        await journal.finish_step(
            run, "a", attempt=1, status=StepStatus.COMPLETED, output={"x": [True, {"y": "z"}]},
            usage=Usage(tokens_in=10, tokens_out=5, cost_usd=0.25),
        )  # fmt: skip
        await _start(journal, run, "b")
        error = {"kind": "timeout", "message": "slow"}
        await journal.finish_step(run, "b", attempt=1, status=StepStatus.FAILED, error=error)
        a, b = await journal.load(run)
        assert a.status is StepStatus.COMPLETED
        assert a.output == {"x": [True, {"y": "z"}]}
        assert a.usage == Usage(10, 5, 0.25)
        assert a.ended_at is not None and a.started_at is not None
        assert a.ended_at >= a.started_at
        assert b.status is StepStatus.FAILED
        assert b.error == error

    async def test_load_keeps_start_order_with_attempts_and_items(self, journal: Journal) -> None:
        run = _run()
        await _start(journal, run, "a", 1)
        await _start(journal, run, "a", 2)
        await _start(journal, run, "b", 1, index=0)
        await _start(journal, run, "b", 1, index=1)
        loaded = await journal.load(run)
        assert [(r.node_id, r.attempt, r.index) for r in loaded] == [
            ("a", 1, None), ("a", 2, None), ("b", 1, 0), ("b", 1, 1),
        ]  # fmt: skip
        assert loaded[3].idempotency_key == f"{run}:b:1"

    async def test_duplicate_attempt_conflicts(self, journal: Journal) -> None:
        run = _run()
        await _start(journal, run, "a")
        with pytest.raises(JournalConflict):
            await _start(journal, run, "a")
            await journal.load(run)  # a batching journal reports it by the run's next read
        await _start(journal, run, "a", index=0)  # an item is a different step
        assert len(await journal.load(run)) == 2

    async def test_finish_unknown_step_raises(self, journal: Journal) -> None:
        with pytest.raises(KeyError):
            await journal.finish_step(_run(), "a", attempt=1, status=StepStatus.COMPLETED)

    async def test_record_step_inserts_finished_record(self, journal: Journal) -> None:
        run = _run()
        record = StepRecord(
            run_id=run, node_id="s", attempt=1, status=StepStatus.SKIPPED,
            idempotency_key=f"{run}:s", error={"kind": "skipped", "message": "when is false"},
        )  # fmt: skip
        await journal.record_step(record)
        [loaded] = await journal.load(run)
        assert loaded.status is StepStatus.SKIPPED
        assert loaded.error == {"kind": "skipped", "message": "when is false"}
        assert loaded.ended_at is not None
        with pytest.raises(JournalConflict):
            await journal.record_step(record)
            await journal.load(run)

    async def test_runs_are_isolated(self, journal: Journal) -> None:
        one, two = _run(), _run()
        await _start(journal, one, "a")
        await journal.append_event(one, "run.started", {})
        assert await journal.load(two) == []
        assert await journal.events(two) == []

    async def test_event_seq_is_per_run_and_monotonic(self, journal: Journal) -> None:
        one, two = _run(), _run()
        seqs = [await journal.append_event(one, "step.started", {"i": i}) for i in range(3)]
        assert seqs == [1, 2, 3]
        assert await journal.append_event(two, "run.started", {}) == 1
        events = await journal.events(one)
        assert [(e.seq, e.type, e.data) for e in events] == [
            (1, "step.started", {"i": 0}), (2, "step.started", {"i": 1}),
            (3, "step.started", {"i": 2}),
        ]  # fmt: skip
        assert [e.seq for e in await journal.events(one, after=2)] == [3]

    async def test_concurrent_appends_get_unique_seqs(self, journal: Journal) -> None:
        run = _run()
        seqs = await asyncio.gather(*(journal.append_event(run, "e", {}) for _ in range(20)))
        assert sorted(seqs) == list(range(1, 21))

    async def test_values_are_not_shared_with_the_caller(self, journal: Journal) -> None:
        run = _run()
        value = {"list": [1]}
        await _start(journal, run, "a", input=value)
        value["list"].append(2)
        [loaded] = await journal.load(run)
        assert loaded.input == {"list": [1]}
