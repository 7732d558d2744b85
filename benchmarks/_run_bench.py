"""Benchmarks of the run feature (imported by `engine.py`): (b) the product's journal and
(d) start latency from `create_run` to the first event.

Both need a migrated database with a real org, space and agent (the journal tables have
foreign keys), so they sign up a user in a throw-away database first.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sqlalchemy import JSON, text

from agentdeck.app import build_runtime, build_worker
from agentdeck.auth.principal import Principal, scope_for_user
from agentdeck.auth.repository import AuthRepository
from agentdeck.auth.service import AuthService
from agentdeck.config import AuthSettings, DatabaseSettings, Settings
from agentdeck.engine import Engine
from agentdeck.kit.db import transaction
from agentdeck.migrations import upgrade_to_head_async
from agentdeck.models import Agent, AgentVersion, Run
from agentdeck.run import service
from agentdeck.run.journal import open_journal
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime


class StepCost(NamedTuple):
    """ms per step: wall time, and this process's CPU time (the rest of the wall time is
    the database's work and waiting for it)."""

    wall_ms: float
    cpu_ms: float


@dataclass
class BenchDb:
    runtime: Runtime
    principal: Principal
    agent_id: uuid.UUID
    space_id: uuid.UUID


@asynccontextmanager
async def bench_db(url: str, data_dir: Path, spec: dict[str, Any]) -> AsyncIterator[BenchDb]:
    """A migrated database (PostgreSQL: reset first) with one user, org and agent."""
    if url.startswith("postgresql"):
        from agentdeck.kit.db import create_engine

        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await upgrade_to_head_async(url)
    settings = Settings(
        env="test", data_dir=data_dir, db=DatabaseSettings(url=url),
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024),
    )  # fmt: skip
    runtime = build_runtime(settings)
    async with transaction(runtime.sessionmaker) as session:
        signup = await AuthService(session, runtime).signup(
            email="bench@example.org", password="correct horse battery", name="B",
            org_name="Bench", invite_token=None,
        )  # fmt: skip
        await session.flush()
        scope = await scope_for_user(AuthRepository(session), signup.org.id, signup.user.id)
        space = next(iter(scope.space_roles))
        agent = Agent(org_id=scope.org_id, space_id=space, name=spec["name"])
        session.add(agent)
        await session.flush()
        session.add(
            AgentVersion(
                org_id=scope.org_id, space_id=space, agent_id=agent.id, version=1, spec=spec
            )
        )
    principal = Principal(kind="user", user_id=signup.user.id, scope=scope)
    try:
        yield BenchDb(runtime, principal, agent.id, space)
    finally:
        await runtime.engine.dispose()


async def _run_rows(db: BenchDb, n: int) -> list[str]:
    runs = [
        Run(
            org_id=db.principal.org_id, space_id=db.space_id, agent_id=db.agent_id,
            agent_version=1, output=JSON.NULL,
        )
        for _ in range(n)
    ]  # fmt: skip
    async with transaction(db.runtime.sessionmaker) as session:
        session.add_all(runs)
    return [str(r.id) for r in runs]


async def bench_sql_journal(
    url: str,
    data_dir: Path,
    spec_obj: Any,
    runs: int,
    concurrency: int = 1,
    flush: Literal["step", "run"] = "step",
) -> StepCost:
    """ms per step of the 5-node graph through the product's journal: wall time over
    all steps, with ``concurrency`` runs in flight at once (1: one after another). Each run
    is fresh and the journal is told so, as the worker does (no read before the first step);
    ``flush`` is `RunSettings.journal_flush` (PostgreSQL only)."""
    spec = spec_obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
    async with bench_db(url, data_dir, spec) as db:
        attach(db.runtime.engine, settings=RunSettings(journal_flush=flush))
        ids = await _run_rows(db, runs + 20)
        journal = open_journal(db.runtime.sessionmaker, db.principal.org_id)
        engine = Engine(journal)
        for run_id in ids[:20]:
            journal.known_new(run_id)
            await engine.run(spec_obj, run_id)
        todo = iter(ids[20:])

        async def lane() -> None:
            for run_id in todo:
                journal.known_new(run_id)  # as the worker does for a run's first execution
                result = await engine.run(spec_obj, run_id)
                assert result.status == "completed", result.error

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        steps = runs * len(spec_obj.nodes)
        return StepCost(
            (time.perf_counter() - started) * 1000 / steps,
            (time.process_time() - cpu) * 1000 / steps,
        )


async def bench_start_latency(
    url: str, data_dir: Path, spec: dict[str, Any], n: int
) -> tuple[list[float], list[float]]:
    """Two latencies per run, in ms, to the run's first event through the in-process
    worker: from the `create_run()` call (its checks, insert and commit included), and
    from the moment its transaction has committed (the run exists)."""
    async with bench_db(url, data_dir, spec) as db:
        worker = build_worker(db.runtime)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        broker = services_for(db.runtime.engine).broker
        from_call: list[float] = []
        from_commit: list[float] = []
        try:
            for i in range(n + 5):
                t0 = time.perf_counter()
                async with transaction(db.runtime.sessionmaker) as session:
                    run = await service.create_run(session, db.principal, agent_id=db.agent_id)
                t1 = time.perf_counter()
                with broker.subscribe(str(run.id)) as queue:
                    await queue.get()
                    if i >= 5:
                        t2 = time.perf_counter()
                        from_call.append((t2 - t0) * 1000)
                        from_commit.append((t2 - t1) * 1000)
                await service.wait_for_run(db.runtime, run.id, timeout_s=10)
        finally:
            stop.set()
            await task
        return from_call, from_commit


async def bench_concurrent_runs(
    url: str, data_dir: Path, spec_obj: Any, runs: int, ports: Any
) -> list[float]:
    """Seconds per run of ``runs`` runs started at once through the product's journal
    (every step and event stored), as one worker process executes them."""
    spec = spec_obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
    async with bench_db(url, data_dir, spec) as db:
        ids = await _run_rows(db, runs)
        journal = open_journal(db.runtime.sessionmaker, db.principal.org_id)
        engine = Engine(journal, ports=ports)

        async def one(run_id: str) -> float:
            journal.known_new(run_id)
            started = time.perf_counter()
            result = await engine.run(spec_obj, run_id)
            assert result.status == "completed", result.error
            return time.perf_counter() - started

        return sorted(await asyncio.gather(*(one(run_id) for run_id in ids)))


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"p50 {statistics.median(ordered):.2f} ms  p90 {p90:.2f} ms  (n={len(ordered)})"
