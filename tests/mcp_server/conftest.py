"""agentdeck served by uvicorn on a loopback port (API and worker), and the official `mcp`
client against its /mcp with an API key."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agentdeck.app import create_app
from agentdeck.config import Settings
from tests.knowledge.support import use_hashing
from tests.offline_model import use_offline_models


@pytest.fixture(scope="module")
async def served(settings: Settings) -> AsyncIterator[tuple[str, Any]]:
    """`(http://127.0.0.1:<port>, app)` of a running agentdeck with its worker; models are
    the suite's offline fake and local embeddings hash features."""
    app = use_offline_models(create_app(settings, start_worker=True, configure_logs=False))
    use_hashing(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture(scope="module")
def base_url(served: tuple[str, Any]) -> str:
    return served[0]


@contextlib.asynccontextmanager
async def mcp_client(base_url: str, key: str) -> AsyncIterator[Client]:
    """The official client on `<base_url>/mcp`, sending ``key`` as a Bearer token."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    async with http, Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as c:
        yield c
