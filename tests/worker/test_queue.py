from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import select

from agentdeck.auth import tasks as auth_tasks
from agentdeck.kit.db import transaction, utcnow
from agentdeck.models import Job, LoginThrottle, RefreshToken
from agentdeck.runtime import Runtime
from agentdeck.worker import queue
from agentdeck.worker.loop import JobContext, Worker, WorkerOptions
from tests.worker.conftest import job_row


async def test_enqueue_dedupes_and_claims_once(runtime: Runtime) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    async with transaction(runtime.sessionmaker) as session:
        await queue.enqueue(session, kind, {"n": 1}, dedupe_key=f"{kind}:1")
        await queue.enqueue(session, kind, {"n": 2}, dedupe_key=f"{kind}:1")
    claims = []
    for worker_id in ("w1", "w2"):
        async with transaction(runtime.sessionmaker) as session:
            claims.append(await queue.claim(session, worker_id, [kind], lease_s=30))
    assert claims[0] is not None and claims[0].payload == {"n": 1}
    assert claims[0].lease_owner == "w1" and claims[0].attempts == 1
    assert claims[1] is None  # the only job is leased to w1


async def test_concurrent_claims_get_distinct_jobs(runtime: Runtime) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    async with transaction(runtime.sessionmaker) as session:
        for n in range(6):
            await queue.enqueue(session, kind, {"n": n})

    async def claim(worker_id: str) -> uuid.UUID | None:
        async with transaction(runtime.sessionmaker) as session:
            job = await queue.claim(session, worker_id, [kind], lease_s=30)
            return job.id if job else None

    ids = await asyncio.gather(*(claim(f"w{i}") for i in range(6)))
    assert None not in ids
    assert len(set(ids)) == 6


async def test_expired_lease_is_taken_over_and_failures_back_off(runtime: Runtime) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    async with transaction(runtime.sessionmaker) as session:
        await queue.enqueue(session, kind)
        job = await queue.claim(session, "dead-worker", [kind], lease_s=-1)
    assert job is not None
    async with transaction(runtime.sessionmaker) as session:
        again = await queue.claim(session, "w2", [kind], lease_s=30)
    assert again is not None and again.id == job.id and again.attempts == 2
    async with transaction(runtime.sessionmaker) as session:
        assert not await queue.heartbeat(session, job.id, "dead-worker", 30)
        await queue.finish(session, again, "w2", "boom")
    row = await job_row(runtime, job.id)
    assert row.status == "queued" and row.last_error == "boom" and row.run_at > utcnow()


async def test_worker_runs_handlers_and_retries_until_failed(runtime: Runtime) -> None:
    ok_kind, bad_kind = f"test.ok.{uuid.uuid4().hex[:6]}", f"test.bad.{uuid.uuid4().hex[:6]}"
    seen: list[dict[str, object]] = []

    async def ok(ctx: JobContext) -> None:
        seen.append(ctx.job.payload)

    async def bad(ctx: JobContext) -> None:
        raise RuntimeError("always fails")

    async with transaction(runtime.sessionmaker) as session:
        await queue.enqueue(session, ok_kind, {"hello": "world"})
        await queue.enqueue(session, bad_kind, max_attempts=1)
    worker = Worker(
        runtime.sessionmaker, {ok_kind: ok, bad_kind: bad}, WorkerOptions(poll_s=0.05, lease_s=5)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(100):
        async with runtime.sessionmaker() as session:
            rows = (
                (await session.execute(select(Job).where(Job.kind.in_([ok_kind, bad_kind]))))
                .scalars()
                .all()
            )
        if all(r.status in ("done", "failed") for r in rows):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert seen == [{"hello": "world"}]
    assert {r.kind: r.status for r in rows} == {ok_kind: "done", bad_kind: "failed"}
    assert next(r for r in rows if r.kind == bad_kind).last_error == "RuntimeError: always fails"


async def test_shutdown_releases_running_jobs(runtime: Runtime) -> None:
    kind = f"test.slow.{uuid.uuid4().hex[:6]}"
    started = asyncio.Event()

    async def slow(ctx: JobContext) -> None:
        started.set()
        await asyncio.sleep(60)

    async with transaction(runtime.sessionmaker) as session:
        await queue.enqueue(session, kind)
    worker = Worker(runtime.sessionmaker, {kind: slow}, WorkerOptions(poll_s=0.05, grace_s=0.1))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    async with runtime.sessionmaker() as session:
        row = (await session.execute(select(Job).where(Job.kind == kind))).scalar_one()
    assert row.status == "queued" and row.lease_owner is None and row.attempts == 0


async def test_auth_cleanup_deletes_stale_state(runtime: Runtime, client: object) -> None:
    from tests.factories import create_tenant

    tenant = await create_tenant(client)  # type: ignore[arg-type]
    old = utcnow() - dt.timedelta(days=40)
    key = f"email:stale-{uuid.uuid4().hex}@example.org"
    async with transaction(runtime.sessionmaker) as session:
        session.add(
            RefreshToken(
                user_id=uuid.UUID(tenant.user_id),
                org_id=uuid.UUID(tenant.org_id),
                family_id=uuid.uuid4(),
                token_hash=uuid.uuid4().hex,
                expires_at=old,
            )
        )
        session.add(LoginThrottle(key=key, failures=3, window_started_at=old, last_failure_at=old))
    await auth_tasks.cleanup(
        JobContext(job=Job(kind=auth_tasks.CLEANUP), sessionmaker=runtime.sessionmaker)
    )
    async with runtime.sessionmaker() as session:
        assert (
            await session.execute(select(LoginThrottle).where(LoginThrottle.key == key))
        ).first() is None
        tokens = (
            (
                await session.execute(
                    select(RefreshToken).where(RefreshToken.user_id == uuid.UUID(tenant.user_id))
                )
            )
            .scalars()
            .all()
        )
    assert all(t.expires_at > old for t in tokens) and tokens  # the live one from signup stays
