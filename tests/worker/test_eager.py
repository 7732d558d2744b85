"""Eager dispatch: a job enqueued in this process goes to a local worker at commit, leased."""

from __future__ import annotations

import asyncio
import uuid

from agentdeck.kit.db import transaction
from agentdeck.runtime import Runtime
from agentdeck.worker import queue
from agentdeck.worker.loop import JobContext, Worker, WorkerOptions
from tests.worker.conftest import job_row


async def test_leased_job_runs_on_its_worker_without_a_claim(runtime: Runtime) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    ran: list[uuid.UUID] = []
    done = asyncio.Event()

    async def handler(ctx: JobContext) -> None:
        ran.append(ctx.job.id)
        done.set()

    # poll_s is long: only eager dispatch can start the job within the test's timeout
    worker = Worker(runtime.sessionmaker, {kind: handler}, WorkerOptions(poll_s=60, lease_s=30))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(100):
            if worker.reserve():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the worker never accepted jobs")
        async with transaction(runtime.sessionmaker) as session:
            job = await queue.enqueue(session, kind, {"n": 1}, lease_owner=worker.id, lease_s=30)
        assert job is not None
        stored = await job_row(runtime, job.id)
        assert (stored.status, stored.lease_owner, stored.attempts) == ("running", worker.id, 1)
        worker.start_eager(job)
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        stop.set()
        await task
    assert ran == [job.id]
    assert (await job_row(runtime, job.id)).status == "done"


async def test_reservations_count_against_concurrency(runtime: Runtime) -> None:
    worker = Worker(runtime.sessionmaker, {}, WorkerOptions(concurrency=2, poll_s=60))
    assert not worker.reserve()  # not running: no eager jobs
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(100):
            if worker.reserve():
                break
            await asyncio.sleep(0.01)
        assert worker.reserve()
        assert not worker.reserve()  # both slots are held
        worker.unreserve()
        assert worker.reserve()
        worker.unreserve()
        worker.unreserve()
    finally:
        stop.set()
        await task
    assert not worker.reserve()  # stopped


async def test_a_deduplicated_job_is_not_returned(runtime: Runtime) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    async with transaction(runtime.sessionmaker) as session:
        first = await queue.enqueue(session, kind, dedupe_key=f"{kind}:1")
        second = await queue.enqueue(session, kind, dedupe_key=f"{kind}:1")
    assert first is not None and second is None
