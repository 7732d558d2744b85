"""agentdeck's /mcp `tools/call` of a trivial agent through the official `mcp` client.

    .venv/bin/python benchmarks/mcp_server.py [--calls 200] [--database-url URL]

Starts `agentdeck serve` (API and in-process worker) on a free loopback port with a new data
directory (SQLite, or the given PostgreSQL database, which is reset), signs up, makes an API
key with the `run` scope, creates a transform-only agent marked `mcp: true`, then times, one
after another: `tools/list`, `tools/call` of the agent (each call is a run on a new thread),
and for comparison the same agent through `POST /api/v1/runs/wait` (a stateless run, no
thread), interleaved so that each kind meets the same machine load. Prints p50, p90, p99 and
the mean in ms. Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

START_TIMEOUT_S = 120.0
WARMUP = 10
AGENT: dict[str, Any] = {
    "name": "echo",
    "description": "Echo x back.",
    "mcp": True,
    "inputs": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
    "nodes": [{"id": "say", "type": "transform", "value": {"echo": "{{ inputs.x }}"}}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from agentdeck.kit.db import create_engine
    from agentdeck.migrations import upgrade_to_head_async

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await upgrade_to_head_async(url)


async def _healthy(client: httpx.AsyncClient, server: asyncio.subprocess.Process) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < START_TIMEOUT_S:
        if server.returncode is not None:
            raise SystemExit(f"agentdeck serve exited with {server.returncode}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("agentdeck serve did not answer /healthz in time")


async def _setup(client: httpx.AsyncClient) -> str:
    """Sign up, create the agent in the personal space; an API key with the `run` scope."""
    signup = await client.post(
        "/api/v1/auth/signup",
        json={"email": "bench@example.org", "password": "correct horse battery",
              "name": "Bench", "org_name": "Bench"},
    )  # fmt: skip
    signup.raise_for_status()
    headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    spaces = (await client.get("/api/v1/spaces", headers=headers)).json()["items"]
    space = next(s["id"] for s in spaces if s["is_personal"])
    agent = await client.post(
        "/api/v1/agents", json={"space_id": space, "definition": AGENT}, headers=headers
    )
    agent.raise_for_status()
    key = await client.post(
        "/api/v1/api-keys", json={"name": "bench", "scopes": ["run"]}, headers=headers
    )
    key.raise_for_status()
    value: str = key.json()["key"]
    return value


async def _timed(calls: int, kinds: dict[str, Callable[[int], Awaitable[None]]]) -> None:
    """Time each kind ``calls`` times, interleaved round-robin so that every kind meets the
    same load of the (shared) machine; report each."""
    for i in range(WARMUP):
        for once in kinds.values():
            await once(i)
    times: dict[str, list[float]] = {what: [] for what in kinds}
    for i in range(calls):
        for what, once in kinds.items():
            started = time.perf_counter()
            await once(i)
            times[what].append((time.perf_counter() - started) * 1000)
    for what, measured in times.items():
        _report(what, measured)


def _report(what: str, times: list[float]) -> None:
    ordered = sorted(times)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    print(
        f"{what:<34} n={len(times):<4} p50 {pct(50):6.1f} ms  p90 {pct(90):6.1f} ms  "
        f"p99 {pct(99):6.1f} ms  mean {statistics.fmean(times):6.1f} ms"
    )


async def _measure(base_url: str, key: str, calls: int) -> None:
    bearer = {"Authorization": f"Bearer {key}"}
    http = httpx2.AsyncClient(headers=bearer, timeout=60)
    rest = httpx.AsyncClient(base_url=base_url, headers=bearer, timeout=60)
    async with (
        http,
        rest,
        Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as mcp,
    ):
        print(f"MCP protocol {mcp.protocol_version}")

        async def list_tools(_i: int) -> None:
            await mcp.list_tools(cache_mode="refresh")

        async def call(i: int) -> None:
            result = await mcp.call_tool("echo", {"x": f"hello {i}"})
            if result.is_error or result.structured_content is None:
                raise SystemExit(f"tools/call failed: {result.content}")

        async def wait(i: int) -> None:
            resp = await rest.post(
                "/api/v1/runs/wait", json={"assistant_id": "echo", "input": {"x": f"hi {i}"}}
            )
            resp.raise_for_status()

        await _timed(
            calls,
            {
                "/mcp tools/list": list_tools,
                "/mcp tools/call (trivial agent)": call,
                "REST /api/v1/runs/wait (same agent)": wait,
            },
        )


async def main(calls: int, database_url: str | None) -> None:
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="agentdeck-bench-mcp-"))
    env = {
        **os.environ,
        "AGENTDECK_DATA_DIR": str(data_dir),
        "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false",  # no model load competing for the CPU
        "AGENTDECK_LOG_LEVEL": "WARNING",
    }
    if database_url:
        await _reset_postgres(database_url)
        env["AGENTDECK_DATABASE_URL"] = database_url
    print(f"database: {'PostgreSQL' if database_url else 'SQLite'}; {calls} calls after {WARMUP}")
    log = (data_dir / "serve.log").open("wb")
    agentdeck = Path(sys.executable).with_name("agentdeck")
    command = [str(agentdeck), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            await _healthy(client, server)
            key = await _setup(client)
        await _measure(base_url, key, calls)
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 30)
        except TimeoutError:
            server.kill()
            await server.wait()
        log.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls of each kind")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (it is reset)")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.database_url))
