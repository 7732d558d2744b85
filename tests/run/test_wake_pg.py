"""Workers on PostgreSQL wake on `LISTEN agentdeck_jobs`, not on their poll interval.

The worker here has its own engine (as if in another process), so the creating process's
in-memory wake-up cannot reach it: only the NOTIFY sent in `create_run`'s transaction can.
Its poll interval is 30 s, yet it claims the run within 200 ms, also after its LISTEN
connection was killed and re-established.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text

from agentdeck.app import build_runtime
from agentdeck.config import Settings
from agentdeck.run.events.postgres import JOBS_CHANNEL, PgChannels, job_wakeups
from agentdeck.run.service import EXECUTE
from agentdeck.runtime import Runtime
from agentdeck.worker.loop import JobContext, Worker, WorkerOptions
from tests.run.conftest import Org

pytestmark = pytest.mark.skipif(
    not (os.environ.get("AGENTDECK_TEST_DATABASE_URL") or "").startswith("postgresql"),
    reason="LISTEN/NOTIFY needs PostgreSQL",
)
_WITHIN_S = 0.2


class Claims:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def handle(self, ctx: JobContext) -> None:
        self.at[ctx.job.payload["run_id"]] = time.monotonic()

    async def until(self, run_id: uuid.UUID, limit_s: float) -> float:
        await _eventually(lambda: str(run_id) in self.at, limit_s)
        return self.at[str(run_id)]


async def _eventually(check: Callable[[], bool], limit_s: float) -> None:
    for _ in range(int(limit_s / 0.005)):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


@contextlib.asynccontextmanager
async def sleepy_worker(settings: Settings) -> AsyncIterator[tuple[Claims, PgChannels]]:
    other: Runtime = build_runtime(settings)
    claims = Claims()
    options = WorkerOptions(concurrency=50, poll_s=30.0, lease_s=10.0, grace_s=1.0)
    worker = Worker(other.sessionmaker, {EXECUTE: claims.handle}, options)
    listener = job_wakeups(settings.resolved_db_url, worker.wake)
    assert listener is not None
    worker.companions.append(listener)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await _listening(listener)
        await asyncio.sleep(0.5)  # past its first claim pass: now it waits on its 30 s poll
        yield claims, listener
    finally:
        stop.set()
        await task
        await other.engine.dispose()
    assert not listener.connected  # closed on shutdown


async def _listening(listener: PgChannels, limit_s: float = 15) -> None:
    await _eventually(lambda: listener.is_listening(JOBS_CHANNEL), limit_s)


async def _claimed_after_create(org: Org, claims: Claims, agent: uuid.UUID) -> float:
    run = await org.start(agent)
    created = time.monotonic()
    return await claims.until(run.id, 5) - created


async def test_a_sleeping_worker_elsewhere_claims_a_new_run_at_once(
    org: Org, settings: Settings, runtime: Runtime
) -> None:
    agent = await org.agent({"name": "w", "nodes": [{"id": "a", "type": "transform", "value": 1}]})
    async with sleepy_worker(settings) as (claims, listener):
        assert await _claimed_after_create(org, claims, agent) < _WITHIN_S
        # Kill the LISTEN connection: the worker reconnects (with backoff) and listens again.
        pid = listener._conn.get_server_pid()
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.commit()
        await _eventually(lambda: not listener.is_listening(JOBS_CHANNEL), 5)
        await _listening(listener)
        assert listener._conn.get_server_pid() != pid
        assert await _claimed_after_create(org, claims, agent) < _WITHIN_S
