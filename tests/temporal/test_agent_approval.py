"""Tool approval inside an agent loop that the workflow drives: the embedded suite's tests
(tests/run/test_tool_calls_approval.py: a GitHub toolset on a local server, a model that
calls `github.create_issue`, approve / edit / reject through langgraph-sdk) pass unchanged
on Temporal. The interrupt is raised by the loop in the workflow, before the tool call's
activity; resuming starts the loop from its checkpoint, so the one model turn before the
pause is not made again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from agentdeck.config import Settings
from tests.run import test_tool_calls_approval as embedded
from tests.run.test_tool_calls_approval import Setup, model, setup  # noqa: F401 - fixtures
from tests.run.tool_support import ScriptedModel
from tests.temporal.conftest import serve, temporal_settings
from tests.temporal.test_agent_loop import scheduled
from tests.tool.support import GitHub
from tests.tools.servers import loopback_allowed, serving


@pytest.fixture
async def served(
    settings: Settings,
    temporal_address: str,
    model: ScriptedModel,  # noqa: F811
) -> AsyncIterator[tuple[str, GitHub, str]]:
    """agentdeck on Temporal (API and in-process worker, the scripted model) and the GitHub
    server, on loopback: what the embedded suite's `setup` fixture builds on."""

    def scripted(app: object) -> None:
        app.state.runtime.llm_model_factory = model.factory  # type: ignore[attr-defined]

    github = GitHub()
    async with serve(temporal_settings(settings, temporal_address), prepare=scripted) as s:
        with loopback_allowed():  # after create_app, which sets the process's policy
            async with serving(github.api) as github_url:
                yield s.url, github, github_url


async def test_approve_creates_exactly_one_issue(
    setup: Setup,  # noqa: F811 - the embedded suite's fixture
    model: ScriptedModel,  # noqa: F811
    temporal_address: str,
) -> None:
    await embedded.test_approve_creates_exactly_one_issue(setup, model)
    _client, _github, http, tenant = setup
    listed = (await http.get("/api/v1/runs", headers=tenant.headers)).json()["items"]
    by_status = {r["status"]: r["id"] for r in listed}  # this test's tenant: these two runs
    assert len(listed) == 2, listed
    interrupted, resumed = by_status["interrupted"], by_status["completed"]
    temporal = await Client.connect(temporal_address, data_converter=pydantic_data_converter)
    before = scheduled(await temporal.get_workflow_handle(interrupted).fetch_history())
    assert before == [
        ("agentdeck.agent.setup", "ag#1/setup"),
        ("agentdeck.agent.model", "ag#1/model0"),
    ]  # stopped in the workflow, before the call's activity
    after = scheduled(await temporal.get_workflow_handle(resumed).fetch_history())
    assert [name for name, _ in after] == [
        "agentdeck.agent.setup", "agentdeck.agent.tool", "agentdeck.agent.model",
    ]  # fmt: skip


async def test_edit_and_reject(setup: Setup) -> None:  # noqa: F811
    await embedded.test_edit_and_reject(setup)
