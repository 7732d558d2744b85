"""Agents marked `mcp: true` as tools of the official `mcp` client: listed with their inputs,
called as normal runs (output, usage, audit), a human step answered with the thread id;
space-limited keys and other organisations see nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.factories import (
    HITL_YAML,
    Tenant,
    create_agent,
    create_api_key,
    create_space,
    create_tenant,
    import_agent,
    personal_space_id,
)
from tests.mcp_server.conftest import mcp_client

INPUTS = {
    "type": "object",
    "properties": {"x": {"type": "string"}},
    "required": ["x"],
}


def echo(name: str, *, mcp: bool = True) -> dict[str, Any]:
    """A transform-only agent."""
    return {
        "name": name,
        "description": f"{name} echoes x",
        "mcp": mcp,
        "inputs": INPUTS,
        "nodes": [{"id": "say", "type": "transform", "value": {"echo": "{{ inputs.x }}"}}],
    }


LLM_AGENT = {
    "name": "summarise",
    "mcp": True,
    "inputs": {"type": "object", "properties": {"text": {"type": "string"}}},
    "nodes": [
        {"id": "sum", "type": "llm", "model": "default", "prompt": "Sum up: {{ inputs.text }}"}
    ],
    "output": "{{ steps.sum.output }}",
}


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        yield c


async def _names(base_url: str, key: str) -> list[str]:
    async with mcp_client(base_url, key) as mcp:
        return [t.name for t in (await mcp.list_tools()).tools]


async def test_lists_and_calls_a_transform_agent(base_url: str, http: httpx.AsyncClient) -> None:
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    agent = await create_agent(http, tenant.headers, space, echo("echo"))
    await create_agent(http, tenant.headers, space, echo("hidden", mcp=False))
    key = (await create_api_key(http, tenant, scopes=["run"]))["key"]
    async with mcp_client(base_url, key) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert set(tools) == {"echo", "search_knowledge"}
        assert tools["echo"].input_schema == INPUTS
        assert tools["echo"].description == "echo echoes x"
        result = await mcp.call_tool("echo", {"x": "hello"})
        assert not result.is_error, result.content
        assert result.content[0].text == '{"echo": "hello"}'  # type: ignore[union-attr]
        assert result.structured_content is not None
        assert result.structured_content["output"] == {"echo": "hello"}
        run_id = result.structured_content["run_id"]

        refused = await mcp.call_tool("echo", {})  # the agent's inputs need x
        assert refused.is_error
        assert "x" in refused.content[0].text  # type: ignore[union-attr]
        with pytest.raises(MCPError):
            await mcp.call_tool("hidden", {"x": "y"})
    run = (await http.get(f"/api/v1/runs/{run_id}", headers=tenant.headers)).json()
    assert run["status"] == "completed" and run["agent_id"] == agent["id"]
    audit = (await http.get("/api/v1/audit-logs", headers=tenant.headers)).json()["items"]
    assert any(e["action"] == "mcp.tool_called" for e in audit)


async def test_calls_an_llm_agent_through_the_gateway(
    base_url: str, http: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    await create_agent(http, tenant.headers, space, LLM_AGENT)
    key = (await create_api_key(http, tenant, scopes=["run"]))["key"]
    async with mcp_client(base_url, key) as mcp:
        result = await mcp.call_tool("summarise", {"text": "a long story"})
    assert not result.is_error, result.content
    assert result.content[0].text == "offline test reply"  # type: ignore[union-attr]
    assert result.structured_content is not None
    run_id = result.structured_content["run_id"]
    usage = (await http.get("/api/v1/usage/records", headers=tenant.headers)).json()["items"]
    assert [r["run_id"] for r in usage] == [run_id]


async def test_a_human_step_answers_with_the_thread_id(
    base_url: str, http: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    source = HITL_YAML.format(name="review-flow") + "mcp: true\n"
    await import_agent(http, tenant.headers, space, source)
    key = (await create_api_key(http, tenant, scopes=["run"]))["key"]
    async with mcp_client(base_url, key) as mcp:
        result = await mcp.call_tool("review-flow", {"ticket": "printer on fire"})
    assert not result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    thread_id = result.structured_content["thread_id"]
    assert "waiting at a human step" in text and thread_id in text
    assert "Approve printer on fire?" in text
    # The thread is a normal one: a person answers, and the run finishes.
    resumed = await http.post(
        f"/api/v1/threads/{thread_id}/runs/wait",
        json={"assistant_id": "review-flow", "command": {"resume": {"approved": True}}},
        headers=tenant.headers,
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["output"] == {"text": "printer on fire", "approved": True}


async def _two_spaces(http: httpx.AsyncClient) -> tuple[Tenant, str, str]:
    tenant = await create_tenant(http)
    personal = await personal_space_id(http, tenant)
    shared = (await create_space(http, tenant))["id"]
    await create_agent(http, tenant.headers, personal, echo("mine"))
    await create_agent(http, tenant.headers, shared, echo("team"))
    return tenant, personal, shared


async def test_a_space_limited_key_sees_only_its_spaces(
    base_url: str, http: httpx.AsyncClient
) -> None:
    tenant, _, shared = await _two_spaces(http)
    everything = (await create_api_key(http, tenant, scopes=["run"]))["key"]
    assert await _names(base_url, everything) == ["mine", "team", "search_knowledge"]
    limited = (await create_api_key(http, tenant, scopes=["run"], space_ids=[shared]))["key"]
    async with mcp_client(base_url, limited) as mcp:
        assert [t.name for t in (await mcp.list_tools()).tools] == ["team", "search_knowledge"]
        assert not (await mcp.call_tool("team", {"x": "1"})).is_error
        with pytest.raises(MCPError):
            await mcp.call_tool("mine", {"x": "1"})


async def test_names_used_in_several_spaces_are_qualified(
    base_url: str, http: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(http)
    personal = await personal_space_id(http, tenant)
    shared = (await create_space(http, tenant))["id"]
    for space in (personal, shared):
        await create_agent(http, tenant.headers, space, echo("echo"))
    key = (await create_api_key(http, tenant, scopes=["run"]))["key"]
    async with mcp_client(base_url, key) as mcp:
        names = [t.name for t in (await mcp.list_tools()).tools]
        assert sorted(names[:2]) == sorted(
            f"echo.{s.replace('-', '')[-8:]}" for s in (personal, shared)
        )
        result = await mcp.call_tool(names[0], {"x": "q"})
        assert not result.is_error
        with pytest.raises(MCPError):
            await mcp.call_tool("echo", {"x": "q"})


async def test_a_key_without_the_run_scope_lists_no_agents(
    base_url: str, http: httpx.AsyncClient
) -> None:
    tenant, _, _ = await _two_spaces(http)
    key = (await create_api_key(http, tenant, scopes=["read"]))["key"]
    assert await _names(base_url, key) == ["search_knowledge"]


async def test_another_orgs_agents_are_never_listed_or_callable(
    base_url: str, http: httpx.AsyncClient
) -> None:
    owner, _, shared = await _two_spaces(http)
    other = await create_tenant(http)
    key = (await create_api_key(http, other, scopes=["write"]))["key"]
    assert await _names(base_url, key) == ["search_knowledge"]
    async with mcp_client(base_url, key) as mcp:
        for name in ("mine", "team", f"team.{shared.replace('-', '')[-8:]}"):
            with pytest.raises(MCPError):
                await mcp.call_tool(name, {"x": "1"})
    runs = (await http.get("/api/v1/runs", headers=owner.headers)).json()["items"]
    assert runs == []
