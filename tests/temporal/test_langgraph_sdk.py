"""The official `langgraph-sdk` cannot tell the engines apart: the embedded suite's own
tests (tests/langgraph/test_sdk.py) run unchanged against agentdeck on Temporal, and the
interrupted run's workflow hands over to the resuming run through the `resume` update."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from agentdeck.temporal._types import RunOutcome
from tests.factories import HITL_YAML, create_api_key, create_tenant, import_agent
from tests.factories import personal_space_id as space_of
from tests.langgraph import test_sdk as embedded
from tests.temporal.conftest import Served


@pytest.fixture
async def sdk(
    http: httpx.AsyncClient, served: Served
) -> AsyncIterator[tuple[LangGraphClient, str]]:
    tenant = await create_tenant(http)
    space = await space_of(http, tenant)
    agent = await import_agent(http, tenant.headers, space, HITL_YAML.format(name="review-flow"))
    key = (await create_api_key(http, tenant, scopes=["write"]))["key"]
    client = get_client(url=f"{served.url}/api/v1", api_key=key)
    try:
        yield client, agent["name"]
    finally:
        await client.aclose()


async def test_stream_interrupt_resume_and_state(sdk: tuple[LangGraphClient, str]) -> None:
    await embedded.test_stream_interrupt_resume_and_state(sdk)


async def test_wait_background_and_stateless(sdk: tuple[LangGraphClient, str]) -> None:
    await embedded.test_wait_background_and_stateless(sdk)


async def test_errors_reach_the_client(sdk: tuple[LangGraphClient, str]) -> None:
    await embedded.test_errors_reach_the_client(sdk)


async def test_the_interrupted_workflow_hands_over_to_the_resuming_run(
    sdk: tuple[LangGraphClient, str], temporal_address: str
) -> None:
    client, graph = sdk
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.wait(tid, graph, input={"ticket": "x"})
    assert isinstance(first, dict) and "__interrupt__" in first
    (interrupted,) = await client.runs.list(tid)
    temporal = await Client.connect(temporal_address, data_converter=pydantic_data_converter)
    waiting = temporal.get_workflow_handle(interrupted["run_id"], result_type=RunOutcome)
    assert (await waiting.describe()).status == WorkflowExecutionStatus.RUNNING  # it waits

    await client.runs.wait(tid, graph, command={"resume": {"approved": True}})
    resumed = (await client.runs.list(tid))[0]
    assert resumed["status"] == "success"
    outcome = await waiting.result()
    assert (outcome.status, outcome.resumed_by) == ("interrupted", resumed["run_id"])
    done = temporal.get_workflow_handle(resumed["run_id"], result_type=RunOutcome)
    assert (await done.result()).status == "completed"
