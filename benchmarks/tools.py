"""Overhead of a tool call through the registry, against the raw call, in the same run.

  .venv/bin/python benchmarks/tools.py [--http 2000] [--mcp 500]

HTTP: the `http` builtin (`web.request`, through netguard, auth headers, Idempotency-Key,
deadline, capped body, result cap) against a raw `httpx2` POST to the same local no-op
server. MCP: the `mcp` toolset (`remote.noop`) against the raw `mcp` SDK `Client.call_tool`
on the same MCPServer. Servers run under uvicorn on 127.0.0.1 in this process; raw and
registry calls alternate, so drift hits both. Targets: <= 1 ms p50 added for HTTP tools,
<= 3 ms for MCP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import uvicorn
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer

from agentdeck.kit import netguard
from agentdeck.tools.base import ToolsetConfig
from agentdeck.tools.registry import ToolRegistry


async def noop_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    task = asyncio.create_task(server.main_loop())
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await server.shutdown()


async def auth() -> dict[str, str]:
    return {"Authorization": "Bearer bench"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def pair(
    n: int, raw: Callable[[int], Awaitable[Any]], tool: Callable[[int], Awaitable[Any]]
) -> tuple[list[float], list[float]]:
    for i in range(min(50, n)):  # warm up connections and caches
        await raw(i)
        await tool(i)
    raw_ms: list[float] = []
    tool_ms: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        await raw(i)
        t1 = time.perf_counter()
        await tool(i)
        t2 = time.perf_counter()
        raw_ms.append((t1 - t0) * 1000)
        tool_ms.append((t2 - t1) * 1000)
    return raw_ms, tool_ms


def report(label: str, raw_ms: list[float], tool_ms: list[float], target: float) -> None:
    added = statistics.median(tool_ms) - statistics.median(raw_ms)
    print(f"{label}: n={len(raw_ms)}")
    print(f"  raw       p50 {pct(raw_ms, 0.5):7.3f} ms   p99 {pct(raw_ms, 0.99):7.3f} ms")
    print(f"  registry  p50 {pct(tool_ms, 0.5):7.3f} ms   p99 {pct(tool_ms, 0.99):7.3f} ms")
    verdict = "ok" if added <= target else "OVER TARGET"
    print(f"  added     p50 {added:7.3f} ms   (target <= {target:g} ms: {verdict})")


async def bench_http(n: int) -> None:
    async with serving(noop_app) as url:
        registry = ToolRegistry.from_configs(
            [ToolsetConfig("web", "builtin", {"integration": "http"}, auth)]
        )
        async with httpx2.AsyncClient() as raw_client:

            async def raw(i: int) -> Any:
                r = await raw_client.post(
                    url + "/noop",
                    json={"i": i},
                    headers={"Authorization": "Bearer bench", "Idempotency-Key": f"r:{i}"},
                )
                return r.json()

            async def tool(i: int) -> Any:
                return await registry.call(
                    "web.request",
                    {"method": "POST", "url": url + "/noop", "body": {"i": i}},
                    idempotency_key=f"r:{i}",
                )

            raw_ms, tool_ms = await pair(n, raw, tool)
        await registry.aclose()
    report("HTTP tool (web.request) vs raw httpx2 POST", raw_ms, tool_ms, 1.0)


async def bench_mcp(n: int) -> None:
    server = MCPServer("bench", log_level="WARNING")

    @server.tool()
    def noop(i: int) -> int:
        """Nothing."""
        return i

    async with serving(server.streamable_http_app()) as base:
        url = base + "/mcp"
        registry = ToolRegistry.from_configs([ToolsetConfig("remote", "mcp", {"url": url}, auth)])
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer bench"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            await client.list_tools()

            async def raw(i: int) -> Any:
                return await client.call_tool("noop", {"i": i}, meta={"idempotency_key": f"r:{i}"})

            async def tool(i: int) -> Any:
                return await registry.call("remote.noop", {"i": i}, idempotency_key=f"r:{i}")

            raw_ms, tool_ms = await pair(n, raw, tool)
        await registry.aclose()
    report("MCP tool (remote.noop) vs raw mcp Client.call_tool", raw_ms, tool_ms, 3.0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, default=2000)
    parser.add_argument("--mcp", type=int, default=500)
    args = parser.parse_args()
    with netguard.using(netguard.NetworkPolicy.parse(["127.0.0.1"])):
        await bench_http(args.http)
        await bench_mcp(args.mcp)


if __name__ == "__main__":
    asyncio.run(main())
