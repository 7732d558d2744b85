"""Issue 12's scenario through `langgraph-sdk` over real HTTP: a GitHub credential, a
`github` toolset on a local GitHub-shaped server, an agent that may call
`github.create_issue` only with approval. The run stops before the call with the tool and
its arguments; approving creates exactly one issue, editing creates it with the person's
arguments, rejecting tells the model and creates none."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from agentdeck.app import create_app
from agentdeck.config import Settings
from tests.factories import create_api_key, create_tenant, import_agent, personal_space_id
from tests.run.tool_support import ScriptedModel
from tests.tool.support import SECRET, GitHub, bearer_credential, github_toolset
from tests.tools.servers import loopback_allowed, serving

ISSUE = {"owner": "acme", "repo": "app", "title": "Printer on fire"}
AGENT = """\
name: filer
inputs: {type: object, properties: {bug: {type: string}}}
nodes:
  - id: ag
    type: agent
    prompt: "File this bug on acme/app: {{ inputs.bug }}"
    tools: [github.create_issue, github.list_issues]
    approve: [github.create_issue]
"""


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel([("github__create_issue", ISSUE)])


@pytest.fixture
async def served(
    settings: Settings, model: ScriptedModel
) -> AsyncIterator[tuple[str, GitHub, str]]:
    """agentdeck (API and worker, the scripted model) and the GitHub server, on loopback."""
    app = create_app(settings, start_worker=True, configure_logs=False)
    app.state.runtime.llm_model_factory = model.factory
    github = GitHub()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    with loopback_allowed():  # after create_app, which sets the process's policy
        async with serving(github.api) as github_url:
            task = asyncio.create_task(server.serve(sockets=[sock]))
            for _ in range(200):
                if server.started or task.done():
                    break
                await asyncio.sleep(0.05)
            assert server.started, "uvicorn did not start"
            try:
                yield f"http://127.0.0.1:{port}", github, github_url
            finally:
                server.should_exit = True
                await asyncio.wait_for(task, 30)
                sock.close()
                await app.state.runtime.engine.dispose()


Setup = tuple[LangGraphClient, GitHub, httpx.AsyncClient, Any]


@pytest.fixture
async def setup(served: tuple[str, GitHub, str]) -> AsyncIterator[Setup]:
    base_url, github, github_url = served
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tenant = await create_tenant(http)
        space = await personal_space_id(http, tenant)
        cred = await bearer_credential(http, tenant)
        await github_toolset(http, tenant, space, github_url, cred["id"])
        await import_agent(http, tenant.headers, space, AGENT)
        key = (await create_api_key(http, tenant, scopes=["write"]))["key"]
        client = get_client(url=f"{base_url}/api/v1", api_key=key)
        try:
            yield client, github, http, tenant
        finally:
            await client.aclose()


def _events(parts: list[Any], name: str) -> list[Any]:
    return [p.data for p in parts if p.event == name]


async def _interrupted(client: LangGraphClient, bug: str) -> tuple[str, dict[str, Any]]:
    """A thread whose run stopped before the call; its interrupt's value."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    parts = [
        part
        async for part in client.runs.stream(
            tid, "filer", input={"bug": bug}, stream_mode="updates"
        )
    ]
    assert parts[-1].event == "end", parts
    (interrupt,) = _events(parts, "updates")[-1]["__interrupt__"]
    return tid, interrupt["value"]


async def test_approve_creates_exactly_one_issue(setup: Setup, model: ScriptedModel) -> None:
    client, github, _http, _tenant = setup
    tid, value = await _interrupted(client, "printer on fire")
    assert value["type"] == "tool_approval" and value["node"] == "ag"
    assert value["tool"] == "github.create_issue" and value["arguments"] == ISSUE
    assert "checkpoint" not in value
    assert github.issues == []  # paused before the call
    state = await client.threads.get_state(tid)
    assert state["next"] == ["ag"] and state["interrupts"][0]["value"]["tool"] == value["tool"]
    assert "checkpoint" not in json.dumps(state["interrupts"])

    with pytest.raises(Exception) as bad:  # a decision outside the schema: 422
        await client.runs.wait(tid, "filer", command={"resume": {"action": "maybe"}})
    assert "422" in str(bad.value) or "action" in str(bad.value)

    done = await client.runs.wait(tid, "filer", command={"resume": {"action": "approve"}})
    assert isinstance(done, dict)
    [issue] = github.issues
    assert issue["title"] == "Printer on fire"
    [post] = [r for r in github.requests if r.method == "POST"]
    assert post.headers["authorization"] == f"Bearer {SECRET}"
    final = await client.threads.get_state(tid)
    assert final["next"] == [] and final["interrupts"] == []
    answer = json.loads(final["values"]["steps"]["ag"])
    assert json.loads(answer[0])["number"] == 1
    assert len(model.offered) == 2  # one model turn before the pause, one after
    history = json.dumps(await client.threads.get_history(tid))
    runs = json.dumps(await client.runs.list(tid))
    assert SECRET not in history + runs + json.dumps(final)


async def test_edit_and_reject(setup: Setup) -> None:
    client, github, _http, _tenant = setup
    tid, _ = await _interrupted(client, "edit me")
    edited = {**ISSUE, "title": "Printer on fire (edited)"}
    decision = {"action": "edit", "arguments": edited}
    await client.runs.wait(tid, "filer", command={"resume": decision})
    assert [i["title"] for i in github.issues] == ["Printer on fire (edited)"]

    tid, _ = await _interrupted(client, "reject me")
    decision = {"action": "reject", "reason": "duplicate"}
    await client.runs.wait(tid, "filer", command={"resume": decision})
    assert len(github.issues) == 1  # nothing new
    final = await client.threads.get_state(tid)
    [told] = json.loads(final["values"]["steps"]["ag"])
    assert "rejected" in json.loads(told)["error"] and "duplicate" in told
