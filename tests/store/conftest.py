"""The app on a loopback port for langgraph-sdk, embedding with the hashing test embedder."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from agentdeck.app import create_app
from agentdeck.config import Settings
from agentdeck.knowledge.registry import registry_for
from tests.knowledge.support import hashing_factory
from tests.offline_model import use_offline_models


@pytest.fixture
def hashing(app: Any) -> None:
    """The ASGI app's store embeds by feature hashing (no model is loaded)."""
    registry_for(app.state.runtime).embedder_factory = hashing_factory


@pytest.fixture(scope="module")
async def served(settings: Settings) -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>` of a running agentdeck whose embedder is the hashing one."""
    app = use_offline_models(create_app(settings, configure_logs=False))
    registry_for(app.state.runtime).embedder_factory = hashing_factory
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
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
