"""A run whose workflow start was lost (the API process died between the run's commit and
the start) is started by a worker's sweeper, idempotently: workflow id = run id, an id
never reused, so a second start changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from agentdeck.config import Settings
from agentdeck.run.services import services_for
from agentdeck.temporal.client import TemporalExecutor
from agentdeck.temporal.sweeper import Sweeper
from tests.factories import create_tenant, personal_space_id
from tests.temporal.conftest import API, Org, Served, serve, temporal_settings
from tests.temporal.test_engine import chain


class LostStarts(TemporalExecutor):
    """The API's executor, dying after every run's commit and before its workflow start."""

    lost: list[uuid.UUID]

    def start_after_commit(self, session: AsyncSession, run_id: uuid.UUID) -> None:
        self.lost.append(run_id)


def lose_starts(app: Any) -> None:
    runtime = app.state.runtime
    executor = LostStarts(runtime.sessionmaker, runtime.settings.temporal)
    executor.lost = []
    services_for(runtime.engine).executor = executor


@pytest.fixture(scope="module")
async def crashing_api(settings: Settings, temporal_address: str) -> AsyncIterator[Served]:
    swept = temporal_settings(settings, temporal_address, sweep_interval_s=0.2, sweep_after_s=1.0)
    async with serve(swept, prepare=lose_starts) as s:
        yield s


@pytest.fixture
async def crash_org(crashing_api: Served) -> AsyncIterator[Org]:
    async with httpx.AsyncClient(base_url=crashing_api.url, timeout=60) as http:
        tenant = await create_tenant(http)
        yield Org(http, tenant, await personal_space_id(http, tenant))


async def test_a_lost_start_is_made_by_the_sweeper_once(
    crash_org: Org, crashing_api: Served, temporal_address: str
) -> None:
    org = crash_org
    executor = services_for(crashing_api.app.state.runtime.engine).executor
    assert isinstance(executor, LostStarts)
    agent = await org.agent({"name": "swept", "nodes": chain(3)})
    thread_id, run_id = await org.start(agent, {"x": "a"})
    assert uuid.UUID(run_id) in executor.lost  # the API never started its workflow

    run = await org.join(thread_id, run_id)  # the sweeper did
    assert run["status"] == "completed", run
    assert run["output"] == "a-2-3"
    types = [e["type"] for e in await org.events(run_id)]
    assert types.count("run.started") == 1 and types.count("step.completed") == 3

    # a start made again (another worker's sweep, a late API) changes nothing
    assert await executor.start(uuid.UUID(run_id)) is False
    sweeper = Sweeper(executor, crashing_api.app.state.runtime.sessionmaker)
    assert uuid.UUID(run_id) not in await sweeper.sweep()
    client = await Client.connect(temporal_address)
    executions = [e async for e in client.list_workflows(f"WorkflowId = '{run_id}'")]
    assert len(executions) == 1
    assert [s["attempt"] for s in await org.steps(run_id)] == [1, 1, 1]

    other = await create_tenant(org.http)
    resp = await org.http.get(f"{API}/runs/{run_id}", headers=other.headers)
    assert resp.status_code == 404, resp.text


async def test_a_temporal_worker_takes_no_run_jobs(
    settings: Settings, temporal_address: str
) -> None:
    """On Temporal, runs are workflows: a `run.execute` job the embedded engine left in the
    queue is not taken by the job worker (the sweeper starts its pending run on Temporal)."""
    from agentdeck.app import JOB_HANDLERS, build_runtime, build_worker
    from agentdeck.run.tasks import EXECUTE

    runtime = build_runtime(temporal_settings(settings, temporal_address))
    try:
        worker = build_worker(runtime)
        assert EXECUTE not in worker.handlers
        assert set(worker.handlers) == set(JOB_HANDLERS) - {EXECUTE}
    finally:
        await services_for(runtime.engine).aclose()
        await runtime.engine.dispose()
