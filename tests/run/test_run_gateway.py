"""A run's llm node goes through the org's gateway: usage rows carry the run, budgets apply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agentdeck.app import build_worker
from agentdeck.run import service
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime
from tests.run.conftest import Org

LLM_AGENT = {
    "name": "summarise",
    "inputs": {"type": "object", "properties": {"text": {"type": "string"}}},
    "nodes": [
        {"id": "sum", "type": "llm", "model": "default", "prompt": "Sum up: {{ inputs.text }}"}
    ],
    "output": "{{ steps.sum.output }}",
}


@pytest.fixture
async def gateway_worker(runtime: Runtime) -> AsyncIterator[Any]:
    """A worker whose runs use the org's real gateway (the suite's offline model behind it)."""
    services = services_for(runtime.engine)
    saved = services.llm_factory
    services.llm_factory = None
    attach(runtime.engine, settings=RunSettings(requeue_delay_s=0.1))
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await task
    services.llm_factory = saved


async def test_llm_node_writes_usage_with_the_run_id(
    runtime: Runtime, org: Org, gateway_worker: Any, client: httpx.AsyncClient
) -> None:
    agent = await org.agent(LLM_AGENT)
    run = await org.start(agent, inputs={"text": "a long story"})
    done = await service.wait_for_run(runtime, run.id, timeout_s=20)
    assert done.status == "completed", done.error
    assert done.output == "offline test reply"
    records = (await client.get("/api/v1/usage/records", headers=org.tenant.headers)).json()[
        "items"
    ]
    assert [(r["run_id"], r["provider"], r["status"]) for r in records] == [
        (str(run.id), "local", "ok")
    ]
    assert records[0]["space_id"] == org.space and records[0]["agent_id"] == str(agent)


async def test_budget_stops_a_run_llm_call(
    runtime: Runtime, org: Org, gateway_worker: Any, client: httpx.AsyncClient
) -> None:
    headers = org.tenant.headers
    await client.post("/api/v1/providers", headers=headers, json={
        "name": "paid", "kind": "openai", "api_key": "sk-test-0123456789abcdef",
        "base_url": "http://paid.test/v1", "models": ["gpt-4o"]})  # fmt: skip
    await client.put(
        "/api/v1/models/aliases/default", headers=headers, json={"models": ["paid/gpt-4o"]}
    )
    await client.put("/api/v1/budget", headers=headers, json={"monthly_usd": 0.0000001})
    agent = await org.agent(LLM_AGENT)
    run = await org.start(agent, inputs={"text": "x"})
    done = await service.wait_for_run(runtime, run.id, timeout_s=20)
    assert done.status == "failed"
    assert "budget" in str(done.error).lower()
