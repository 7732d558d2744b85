"""Runs that call tools of their space: a `tool` node and an agent's tools, durable calls
with the run's idempotency key, validation of references at import.

The model is a pydantic-ai FunctionModel behind the org's real gateway; the tools are a
GitHub-shaped server on 127.0.0.1 reached through a real `github` toolset and credential.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from agentdeck.models import ToolCallRecord
from agentdeck.run import service
from agentdeck.run.journal import open_journal
from agentdeck.runtime import Runtime
from tests.run.conftest import Org
from tests.run.tool_support import ScriptedModel, run_worker
from tests.tool.support import SECRET, GitHub, bearer_credential, github_toolset
from tests.tools.servers import loopback_allowed, serving

ISSUE = {"owner": "acme", "repo": "app", "title": "Login is broken"}


@pytest.fixture
async def github() -> AsyncIterator[tuple[GitHub, str]]:
    server = GitHub()
    with loopback_allowed():
        async with serving(server.api) as url:
            yield server, url


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel([("github__create_issue", ISSUE)])


@pytest.fixture
async def worker(runtime: Runtime, model: ScriptedModel) -> AsyncIterator[Any]:
    async for w in run_worker(runtime, model):
        yield w


async def _agent(client: httpx.AsyncClient, org: Org, definition: dict[str, Any]) -> uuid.UUID:
    body = {"space_id": org.space, "definition": definition}
    resp = await client.post("/api/v1/agents", json=body, headers=org.tenant.headers)
    assert resp.status_code == 201, resp.text
    return uuid.UUID(resp.json()["id"])


async def test_agent_and_tool_node_call_github_once_each(
    client: httpx.AsyncClient,
    org: Org,
    runtime: Runtime,
    github: tuple[GitHub, str],
    model: ScriptedModel,
    worker: Any,
) -> None:
    server, url = github
    cred = await bearer_credential(client, org.tenant)
    await github_toolset(client, org.tenant, org.space, url, cred["id"])
    agent = await _agent(client, org, {
        "name": "triage",
        "nodes": [
            {"id": "ag", "type": "agent", "prompt": "File the bug",
             "tools": ["github.create_issue"]},
            {"id": "ls", "type": "tool", "needs": ["ag"], "tool": "github.list_issues",
             "args": {"owner": "acme", "repo": "{{ 'app' }}"}},
        ],
        "output": {"agent": "{{ steps.ag.output }}", "issues": "{{ steps.ls.output }}"},
    })  # fmt: skip
    run = await org.start(agent)
    done = await service.wait_for_run(runtime, run.id, timeout_s=30)
    assert done.status == "completed", done.error

    assert model.offered[0] == ["github__create_issue"]
    [created] = server.issues
    assert created["title"] == "Login is broken"
    posts = [r for r in server.requests if r.method == "POST"]
    assert [r.headers["idempotency-key"] for r in posts] == [f"{run.id}:ag:0"]
    gets = [r for r in server.requests if r.method == "GET"]
    assert [r.headers["idempotency-key"] for r in gets] == [f"{run.id}:ls"]
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    assert [i["number"] for i in done.output["issues"]] == [1]
    [shown] = json.loads(done.output["agent"])
    assert json.loads(shown)["number"] == 1

    events = await open_journal(runtime.sessionmaker, run.org_id).events(str(run.id))
    tool = [(e.type, e.data) for e in events if e.type.startswith("tool.")]
    assert [t for t, _ in tool] == ["tool.called", "tool.result"] * 2
    assert tool[0][1]["arguments"] == ISSUE and tool[1][1]["result"]["number"] == 1
    assert SECRET not in json.dumps([e.data for e in events])
    h = org.tenant.headers
    exported = await client.get(f"/api/v1/agents/{agent}/export", headers=h)
    steps = await client.get(f"/api/v1/runs/{run.id}/steps", headers=h)
    audit = await client.get("/api/v1/audit-logs", headers=h)
    assert exported.status_code == steps.status_code == audit.status_code == 200
    assert SECRET not in exported.text + steps.text + audit.text
    async with runtime.sessionmaker() as session:
        records = (
            (
                await session.execute(
                    select(ToolCallRecord)
                    .where(ToolCallRecord.run_id == run.id)
                    .execution_options(tenant_bypass="test")
                )
            )
            .scalars()
            .all()
        )
    assert sorted((r.idempotency_key, r.status) for r in records) == sorted(
        [(f"{run.id}:ag:0", "completed"), (f"{run.id}:ls", "completed")]
    )


async def test_references_are_checked_at_import_and_version(
    client: httpx.AsyncClient, org: Org, github: tuple[GitHub, str]
) -> None:
    _, url = github
    await github_toolset(client, org.tenant, org.space, url, None)
    h = org.tenant.headers
    cases = [
        ({"id": "a", "type": "agent", "prompt": "p", "tools": ["crm"]},
         "nodes[0].tools[0]", "unknown toolset 'crm'"),
        ({"id": "a", "type": "agent", "prompt": "p", "tools": ["github.delete_repo"]},
         "nodes[0].tools[0]", "the toolset 'github' has no tool 'delete_repo'"),
        ({"id": "a", "type": "agent", "prompt": "p", "tools": ["github.list_issues"],
          "approve": ["github.create_issue"]},
         "nodes[0].approve[0]", "'github.create_issue' is not among the node's tools"),
        ({"id": "t", "type": "tool", "tool": "github"},
         "nodes[0].tool", "name one tool as <toolset>.<tool>"),
        ({"id": "t", "type": "tool", "tool": "gitlab.create_issue"},
         "nodes[0].tool", "unknown toolset 'gitlab'"),
    ]  # fmt: skip
    for node, field, message in cases:
        definition = {"name": "refs", "nodes": [node]}
        resp = await client.post(
            "/api/v1/agents", json={"space_id": org.space, "definition": definition}, headers=h
        )
        assert resp.status_code == 422, resp.text
        [error] = resp.json()["errors"]
        assert (error["field"], error["node"]) == (field, node["id"])
        assert message in error["message"]

    good = {"name": "refs", "nodes": [{"id": "a", "type": "agent", "prompt": "p",
            "tools": ["github"], "approve": ["github.create_issue"]}]}  # fmt: skip
    resp = await client.post(
        "/api/v1/agents", json={"space_id": org.space, "definition": good}, headers=h
    )
    assert resp.status_code == 201, resp.text
    bad = {"name": "refs", "nodes": [{"id": "x", "type": "tool", "tool": "github.nope"}]}
    resp = await client.post(
        f"/api/v1/agents/{resp.json()['id']}/versions", json={"definition": bad}, headers=h
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["node"] == "x"
    yaml_source = "name: refs2\nnodes:\n  - {id: y, type: tool, tool: nope.x}\n"
    resp = await client.post(
        "/api/v1/agents/import", params={"space_id": org.space}, content=yaml_source.encode(),
        headers={**h, "Content-Type": "application/yaml"},
    )  # fmt: skip
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "nodes[0].tool"
