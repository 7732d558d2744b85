"""Sharing a worker's slots: organisations take turns, CPU-heavy kinds keep to their limit,
and one heartbeat renews every lease a worker holds."""

from __future__ import annotations

import asyncio
import uuid

from agentdeck.kit.db import transaction
from agentdeck.runtime import Runtime
from agentdeck.worker import queue
from agentdeck.worker.loop import JobContext, Worker, WorkerOptions
from tests.worker.conftest import job_row


async def test_an_org_with_one_job_waiting_goes_before_another_orgs_backlog(
    runtime: Runtime,
) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    async with transaction(runtime.sessionmaker) as session:
        for n in range(50):  # the busy org queued first: oldest-first would serve it first
            await queue.enqueue(session, kind, {"n": n}, org_id=busy)
        await queue.enqueue(session, kind, {"n": "quiet"}, org_id=quiet)
    async with transaction(runtime.sessionmaker) as session:
        first = await queue.claim(session, "w", [kind], lease_s=30, busy_orgs={busy: 3})
    assert first is not None and first.org_id == quiet
    async with transaction(runtime.sessionmaker) as session:  # then the busy org again
        second = await queue.claim(session, "w", [kind], 30, busy_orgs={busy: 3, quiet: 1})
    assert second is not None and second.org_id == busy and second.payload == {"n": 0}


async def test_worker_serves_orgs_in_turns_when_slots_are_full(runtime: Runtime) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    order: list[uuid.UUID | None] = []
    gate = asyncio.Event()
    started = asyncio.Condition()

    async def handler(ctx: JobContext) -> None:
        async with started:
            order.append(ctx.job.org_id)
            started.notify_all()
        await gate.wait()

    async with transaction(runtime.sessionmaker) as session:
        for n in range(6):
            await queue.enqueue(session, kind, {"n": n}, org_id=busy)
        await queue.enqueue(session, kind, {"n": "q"}, org_id=quiet)
    worker = Worker(runtime.sessionmaker, {kind: handler}, WorkerOptions(concurrency=3, poll_s=60))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with started:
            await asyncio.wait_for(started.wait_for(lambda: len(order) == 3), 10)
        # The first claim found nobody running; from then on the quiet org had none running
        # and went ahead of the busy org's older jobs.
        assert order.count(quiet) == 1 and order.index(quiet) <= 1
    finally:
        gate.set()
        stop.set()
        await task


async def test_a_cpu_kind_never_takes_more_than_its_slots(runtime: Runtime) -> None:
    heavy, light = f"test.heavy.{uuid.uuid4().hex[:6]}", f"test.light.{uuid.uuid4().hex[:6]}"
    gate = asyncio.Event()
    running: dict[str, int] = {heavy: 0, light: 0}
    peak: dict[str, int] = {heavy: 0, light: 0}
    changed = asyncio.Condition()

    async def handler(ctx: JobContext) -> None:
        async with changed:
            running[ctx.job.kind] += 1
            peak[ctx.job.kind] = max(peak[ctx.job.kind], running[ctx.job.kind])
            changed.notify_all()
        await gate.wait()
        running[ctx.job.kind] -= 1

    async with transaction(runtime.sessionmaker) as session:
        for _ in range(5):
            await queue.enqueue(session, heavy)
        for _ in range(3):
            await queue.enqueue(session, light)
    options = WorkerOptions(concurrency=20, poll_s=60, kind_limits={heavy: 2})
    worker = Worker(runtime.sessionmaker, {heavy: handler, light: handler}, options)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with changed:
            await asyncio.wait_for(
                changed.wait_for(lambda: running[heavy] == 2 and running[light] == 3), 10
            )
        assert peak[heavy] == 2  # the light jobs were not held back by the queued heavy ones
    finally:
        gate.set()
        stop.set()
        await task


async def test_one_statement_renews_every_lease_and_reports_the_lost(runtime: Runtime) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    async with transaction(runtime.sessionmaker) as session:
        for _ in range(3):
            await queue.enqueue(session, kind)
    claimed = []
    async with transaction(runtime.sessionmaker) as session:
        for _ in range(3):
            job = await queue.claim(session, "w1", [kind], lease_s=5)
            assert job is not None
            claimed.append(job)
    async with transaction(runtime.sessionmaker) as session:
        stolen = claimed[2]
        await queue.finish(session, stolen, "w1", None)  # no longer running: not renewed
        alive = await queue.heartbeat_many(session, [j.id for j in claimed], "w1", 600)
    assert alive == {claimed[0].id, claimed[1].id}
    row = await job_row(runtime, claimed[0].id)
    before = claimed[0].lease_expires_at
    assert row.lease_expires_at is not None and before is not None
    assert row.lease_expires_at > before  # renewed for 600 s past the 5 s lease
