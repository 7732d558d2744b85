"""The `mcp` toolset against an MCPServer (mcp SDK v2) that the test serves on loopback
over streamable HTTP under uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError as ServerToolError
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged

from agentdeck.tools.base import ToolDefinition, ToolError, ToolsetConfig, ToolsetConfigError
from agentdeck.tools.mcp import McpToolset, ToolSnapshot, build_mcp, snapshot_hash
from agentdeck.tools.registry import RegistryOptions, ToolRegistry, build_toolset
from tests.tools.servers import Receive, Scope, Send, loopback_allowed, serving


@dataclass
class Server:
    mcp: MCPServer
    bus: InMemorySubscriptionBus
    url: str
    headers: list[dict[str, str]] = field(default_factory=list)


def _server() -> tuple[MCPServer, InMemorySubscriptionBus]:
    bus = InMemorySubscriptionBus()
    server = MCPServer("test-tools", subscriptions=bus, log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    async def whoami(ctx: Context) -> dict[str, Any]:
        """The request's meta."""
        meta = ctx.request_context.meta or {}
        return {"idempotency_key": meta.get("idempotency_key")}

    @server.tool()
    async def hang() -> str:
        """Never answers."""
        await anyio.Event().wait()
        return "never"

    @server.tool()
    def explode() -> str:
        """Fails."""
        raise ServerToolError("the database is on fire")

    @server.tool()
    def big() -> str:
        """Ten megabytes."""
        return "y" * 10_000_000

    return server, bus


@pytest.fixture
async def mcp_server() -> AsyncIterator[Server]:
    server, bus = _server()
    inner = server.streamable_http_app()
    seen: list[dict[str, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        await inner(scope, receive, send)

    async with serving(app) as base:
        yield Server(server, bus, base + "/mcp", seen)


async def _token() -> dict[str, str]:
    return {"Authorization": "Bearer mcp-token"}


def _toolset(srv: Server, **config: Any) -> McpToolset:
    stored = ToolsetConfig(
        "remote", "mcp", {"url": srv.url, "headers": {"X-Tenant-Hint": "t1"}, **config}, _token
    )
    toolset = build_toolset(stored)
    assert isinstance(toolset, McpToolset)
    return toolset


async def test_lists_and_calls_tools_with_auth_and_idempotency_key(mcp_server: Server) -> None:
    registry = ToolRegistry([_toolset(mcp_server)])
    with loopback_allowed():
        specs = await registry.list_tools(["remote.add", "remote.whoami"])
        added = await registry.call("remote__add", {"a": 2, "b": 3}, idempotency_key="r:n:0")
        meta = await registry.call("remote.whoami", {}, idempotency_key="r:n:1")
    await registry.aclose()
    assert [s.name for s in specs] == ["remote__add", "remote__whoami"]
    assert specs[0].description == "Add two integers."
    assert specs[0].parameters["required"] == ["a", "b"]
    assert added == {"result": 5}
    assert meta == {"idempotency_key": "r:n:1"}
    assert mcp_server.headers
    assert all(h["authorization"] == "Bearer mcp-token" for h in mcp_server.headers)
    assert all(h["x-tenant-hint"] == "t1" for h in mcp_server.headers)


def test_the_snapshot_hash_is_stable() -> None:
    a = ToolDefinition("a", "A", {"type": "object", "properties": {"x": {}, "y": {}}})
    b = ToolDefinition("b", "B", {"type": "object"})
    reordered = ToolDefinition("a", "A", {"properties": {"y": {}, "x": {}}, "type": "object"})
    assert ToolSnapshot.of([a, b]).hash == ToolSnapshot.of([b, reordered]).hash
    assert snapshot_hash([a]) != snapshot_hash([a, b])
    assert len(snapshot_hash([])) == 64
    stored = ToolSnapshot.of([a, b]).as_dicts()
    assert ToolSnapshot.from_dicts(stored) == ToolSnapshot.of([a, b])


async def test_list_changed_refreshes_the_snapshot(mcp_server: Server) -> None:
    changes: asyncio.Queue[ToolSnapshot] = asyncio.Queue()

    async def on_change(snapshot: ToolSnapshot) -> None:
        await changes.put(snapshot)

    toolset = _toolset(mcp_server)
    toolset.on_change = on_change
    with loopback_allowed():
        await toolset.list_tools()
        first = await changes.get()
        assert toolset.snapshot is not None
        assert "sub" not in [t.name for t in first.tools]

        def sub(a: int, b: int) -> int:
            """Subtract."""
            return a - b

        await toolset.subscribed.wait()  # the server acknowledged the subscription
        mcp_server.mcp.add_tool(sub)
        await mcp_server.bus.publish(ToolsListChanged())
        second = await changes.get()
        assert "sub" in [t.name for t in second.tools]
        assert second.hash != first.hash
        assert await toolset.call("sub", {"a": 5, "b": 3}) == {"result": 2}

        mcp_server.mcp.remove_tool("sub")  # no notification: refreshed on demand
        assert toolset.snapshot == second
        refreshed = await toolset.refresh()
        assert "sub" not in [t.name for t in refreshed]
        assert toolset.snapshot.hash == first.hash
    await toolset.aclose()


async def test_a_stored_snapshot_lists_without_connecting(mcp_server: Server) -> None:
    stored = [{"name": "add", "description": "Add", "input_schema": {"type": "object"}}]
    toolset = _toolset(mcp_server, snapshot=stored)
    assert [t.name for t in await toolset.list_tools()] == ["add"]
    assert mcp_server.headers == []


async def test_failures_are_tool_errors_and_the_toolset_recovers(mcp_server: Server) -> None:
    # Only the hanging call meets the short deadline; the others get time to spare even on a
    # loaded machine.
    impatient = _toolset(mcp_server, timeout=0.5)
    toolset = _toolset(mcp_server, timeout=30, max_result_bytes=10_000)
    with loopback_allowed():
        with pytest.raises(ToolError) as hung:
            await impatient.call("hang", {}, idempotency_key="k1")
        await impatient.aclose()
        with pytest.raises(ToolError) as exploded:
            await toolset.call("explode", {}, idempotency_key="k2")
        with pytest.raises(ToolError) as unknown:
            await toolset.call("nope", {}, idempotency_key="k3")
        with pytest.raises(ToolError) as bad_args:
            await toolset.call("add", {"a": "x"}, idempotency_key="k4")
        big = await toolset.call("big", {}, idempotency_key="k5")
        assert await toolset.call("add", {"a": 1, "b": 1}) == {"result": 2}
    await toolset.aclose()
    assert hung.value.kind == "timeout"
    assert exploded.value.kind == "tool"
    assert "the database is on fire" in exploded.value.message
    assert unknown.value.kind == "tool"
    assert "has no tool 'nope'" in unknown.value.message
    assert bad_args.value.kind == "tool"
    assert big["truncated"] is True
    assert "truncated" in big["note"]


async def test_loopback_is_refused_without_the_policy(mcp_server: Server) -> None:
    toolset = _toolset(mcp_server)
    with pytest.raises(ToolError) as caught:
        await toolset.list_tools()
    await toolset.aclose()
    assert caught.value.kind == "forbidden"
    assert mcp_server.headers == []


async def test_a_server_that_is_gone_is_a_network_error() -> None:
    async with serving(_server()[0].streamable_http_app()) as base:
        pass
    toolset = build_mcp(ToolsetConfig("gone", "mcp", {"url": base + "/mcp", "connect_timeout": 2}))
    with loopback_allowed(), pytest.raises(ToolError) as caught:
        await toolset.list_tools()
    await toolset.aclose()
    assert caught.value.kind in ("network", "timeout")


def test_stdio_servers_need_the_operators_permission() -> None:
    stored = ToolsetConfig("local", "mcp", {"transport": "stdio", "command": "mcp-server-x"})
    with pytest.raises(ToolsetConfigError) as caught:
        build_toolset(stored)
    assert caught.value.field == "transport"
    assert "disabled" in caught.value.message
    assert isinstance(build_toolset(stored, RegistryOptions(allow_stdio=True)), McpToolset)
