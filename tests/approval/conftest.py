"""An API process (uvicorn on a loopback port, no worker) and a worker process (its own
runtime, so its own event bus) on one database: the worker's interrupts reach the API's
approvals feed through the relay (PostgreSQL) or the API's watcher (SQLite)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from agentdeck.app import build_runtime, build_worker, create_app
from agentdeck.config import Settings
from agentdeck.run.services import services_for
from agentdeck.runtime import Runtime

ASKER = """\
name: {name}
nodes:
  - id: review
    type: human
    message: "Ship {name}?"
  - id: done
    type: transform
    needs: [review]
    value: "{{{{ steps.review.output }}}}"
"""


class Api:
    def __init__(self, url: str, app: Any) -> None:
        self.url, self.app = url, app


@pytest.fixture
async def api(server_db: Settings) -> AsyncIterator[Api]:
    """The API alone on 127.0.0.1:<port> (its relay on PostgreSQL; none on SQLite)."""
    app = create_app(server_db, configure_logs=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)  # start-up of the server, not a test's synchronisation
    assert server.started, "uvicorn did not start"
    try:
        yield Api(f"http://127.0.0.1:{sock.getsockname()[1]}", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture
async def worker_runtime(server_db: Settings, api: Api) -> AsyncIterator[Runtime]:
    """A worker on its own runtime: another process as far as the event bus is concerned."""
    runtime = build_runtime(server_db)
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield runtime
    stop.set()
    await asyncio.wait_for(task, 30)
    await services_for(runtime.engine).aclose()
    await runtime.engine.dispose()


@pytest.fixture
def worker(worker_runtime: Runtime) -> None:
    """The worker of `worker_runtime`, for tests that only need it running."""


@pytest.fixture
async def http(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


class Feed:
    """An open `GET /approvals/stream`: its events one at a time, each awaited (bounded)."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self, timeout_s: float = 30) -> tuple[str, Any]:
        """The next event as (name, parsed data); ("", None) when the stream ended."""
        return await asyncio.wait_for(self._next(), timeout_s)

    async def _next(self) -> tuple[str, Any]:
        name, data = "", []
        async for line in self._lines:
            if line == "":
                if data or name:
                    return name or "message", json.loads("\n".join(data))
                continue
            if line.startswith(":"):
                continue  # a ping
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        return "", None


@asynccontextmanager
async def feed(http: httpx.AsyncClient, headers: dict[str, str]) -> AsyncIterator[Feed]:
    """Follow the approvals of whoever ``headers`` authenticate."""
    async with http.stream(
        "GET", "/api/v1/approvals/stream", headers={**headers, "Accept": "text/event-stream"}
    ) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        yield Feed(resp.aiter_lines())
