"""An agent uses tools from a remote MCP server: an `mcp` toolset created through the API
points at an MCPServer (mcp SDK v2) served on loopback; the agent's model calls its tool, the
call carries the run's idempotency key in `_meta` and the credential's header, and the answer
goes back to the model."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from starlette.types import Receive, Scope, Send

from agentdeck.run import service
from agentdeck.run.journal import open_journal
from agentdeck.runtime import Runtime
from tests.run.conftest import Org
from tests.run.tool_support import ScriptedModel, run_worker
from tests.tool.support import SECRET, bearer_credential
from tests.tools.servers import loopback_allowed, serving


class Remote:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.url = ""


@pytest.fixture
async def remote() -> AsyncIterator[Remote]:
    seen = Remote()
    server = MCPServer("crm", log_level="WARNING")

    @server.tool()
    async def lookup_customer(email: str, ctx: Context) -> dict[str, Any]:
        """Find a customer by email."""
        meta = ctx.request_context.meta or {}
        seen.calls.append({"email": email, "key": meta.get("idempotency_key")})
        return {"email": email, "plan": "enterprise"}

    inner = server.streamable_http_app()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            seen.authorizations.append(headers.get(b"authorization", b"").decode())
        await inner(scope, receive, send)

    with loopback_allowed():
        async with serving(app) as base:
            seen.url = base + "/mcp"
            yield seen


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel([("crm__lookup_customer", {"email": "ada@example.org"})])


@pytest.fixture
async def worker(runtime: Runtime, model: ScriptedModel) -> AsyncIterator[Any]:
    async for w in run_worker(runtime, model):
        yield w


async def test_an_agent_calls_a_tool_of_a_remote_mcp_server(
    client: httpx.AsyncClient,
    org: Org,
    runtime: Runtime,
    remote: Remote,
    model: ScriptedModel,
    worker: Any,
) -> None:
    h = org.tenant.headers
    cred = await bearer_credential(client, org.tenant)
    body = {
        "space_id": org.space, "name": "crm", "kind": "mcp",
        "config": {"url": remote.url}, "credential_id": cred["id"],
    }  # fmt: skip
    created = await client.post("/api/v1/toolsets", json=body, headers=h)
    assert created.status_code == 201, created.text
    tools = await client.get(f"/api/v1/toolsets/{created.json()['id']}/tools", headers=h)
    assert [t["name"] for t in tools.json()["items"]] == ["lookup_customer"]
    toolset_url = f"/api/v1/toolsets/{created.json()['id']}"
    refreshed = await client.post(f"{toolset_url}/refresh", headers=h)  # reads the credential
    assert refreshed.status_code == 200, refreshed.text
    changed = await client.patch(toolset_url, json={"config": {"url": remote.url}}, headers=h)
    assert changed.status_code == 200, changed.text

    definition = {
        "name": "account-helper",
        "nodes": [{"id": "ag", "type": "agent", "prompt": "Who is ada?", "tools": ["crm"]}],
    }
    resp = await client.post(
        "/api/v1/agents", json={"space_id": org.space, "definition": definition}, headers=h
    )
    assert resp.status_code == 201, resp.text
    run = await org.start(uuid.UUID(resp.json()["id"]))
    done = await service.wait_for_run(runtime, run.id, timeout_s=30)
    assert done.status == "completed", done.error

    assert model.offered[0] == ["crm__lookup_customer"]
    assert remote.calls == [{"email": "ada@example.org", "key": f"{run.id}:ag:0"}]
    assert f"Bearer {SECRET}" in remote.authorizations
    events = await open_journal(runtime.sessionmaker, run.org_id).events(str(run.id))
    results = [e.data for e in events if e.type == "tool.result"]
    assert len(results) == 1 and "enterprise" in str(results[0]["result"])

    other = await client.get(f"/api/v1/toolsets/{created.json()['id']}", headers={})
    assert other.status_code == 401
