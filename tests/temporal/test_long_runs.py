"""Long runs continue as new: past `max_history_events` the workflow starts afresh from the
journal at a quiet moment, and the run (one run row, one event stream) completes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from agentdeck.config import Settings
from tests.factories import create_tenant, personal_space_id
from tests.temporal.conftest import Org, Served, serve, temporal_settings
from tests.temporal.test_engine import chain


@pytest.fixture(scope="module")
async def short_history(settings: Settings, temporal_address: str) -> AsyncIterator[Served]:
    async with serve(temporal_settings(settings, temporal_address, max_history_events=100)) as s:
        yield s


async def test_a_long_chain_continues_as_new(short_history: Served, temporal_address: str) -> None:
    async with httpx.AsyncClient(base_url=short_history.url, timeout=60) as http:
        tenant = await create_tenant(http)
        org = Org(http, tenant, await personal_space_id(http, tenant))
        agent = await org.agent({"name": "long", "nodes": chain(130)})
        run = await org.run(agent, {"x": "a"})
        assert run["status"] == "completed", run
        assert run["output"] == "a" + "".join(f"-{i}" for i in range(2, 131))
        steps = await org.steps(run["id"])
        assert len(steps) == 130 and {s["attempt"] for s in steps} == {1}
        types = [e["type"] for e in await org.events(run["id"])]
        assert types.count("run.started") == 1 and types.count("step.completed") == 130
    client = await Client.connect(temporal_address)
    executions = [e async for e in client.list_workflows(f"WorkflowId = '{run['id']}'")]
    assert len(executions) > 1  # continued as new at least once
