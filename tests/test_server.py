"""SIGTERM stops `agentdeck serve` whatever its clients and runs are doing.

A real server process (API and embedded worker) has a run in flight (an http node whose
target accepts the connection and never answers), a LangGraph SSE stream, a raw event
stream, a WebSocket subscription and a `join` request on that run. After SIGTERM every one of
them ends with a final word (an `error` event, a WebSocket error message, a 503), the worker
releases the run's lease, and the process exits by itself within its grace period plus a
few seconds (the bound below only keeps a regression from hanging the suite).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import websockets
from sqlalchemy import select

from agentdeck.app import build_runtime
from agentdeck.config import Settings
from agentdeck.models import Job
from tests.factories import create_api_key, create_tenant, import_agent, personal_space_id

_Sent = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_GRACE_S = 1
_EXIT_BOUND_S = 30  # far above grace + a few seconds: only a hang fails here
_AGENT = """\
name: hangs
nodes:
  - id: call
    type: http
    method: GET
    url: {url}
"""


@pytest.fixture
def silent_target() -> Iterator[str]:
    """A URL whose server accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/slow"
    finally:
        sock.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(args: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    agentdeck = Path(sys.executable).with_name("agentdeck")
    return subprocess.Popen([str(agentdeck), *args], env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
async def server(server_db: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    port = _free_port()
    env = {
        **os.environ,
        "AGENTDECK_DB__URL": server_db.resolved_db_url,
        "AGENTDECK_DATA_DIR": str(server_db.data_dir),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_AUTH__ARGON2_TIME_COST": "1",
        "AGENTDECK_AUTH__ARGON2_MEMORY_KIB": "1024",
        "AGENTDECK_WORKER__GRACE_S": str(_GRACE_S),
        "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false",
        "AGENTDECK_RUNS__ALLOW_PRIVATE_NETWORK": "true",
    }
    log = (tmp_path / "serve.log").open("ab")
    proc = _spawn(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            for _ in range(600):  # readiness: the process imports and migrates first
                if proc.poll() is not None:
                    break
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


async def _first(stream: AsyncIterator[Any], predicate: Any) -> Any:
    async for item in stream:
        if predicate(item):
            return item
    raise AssertionError("the stream ended first")


async def _sent(base: str, path: str, headers: dict[str, str]) -> _Sent:
    """Send ``GET path`` on a connection of its own and return once the server holds it.

    A request still being sent when SIGTERM arrives is refused (the server stops accepting),
    so the request is written first, and a second request on a new connection answers after
    the server has read the first one: it accepts and reads connections in order."""
    url = httpx.URL(base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = [f"GET {path} HTTP/1.1", f"Host: {url.host}:{url.port}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    await writer.drain()
    async with httpx.AsyncClient(base_url=base) as probe:
        assert (await probe.get("/healthz")).status_code == 200
    return reader, writer  # the writer too: a collected writer closes the connection


async def _response(sent: _Sent) -> tuple[int, bytes]:
    """The status and body of the one response on ``sent``'s connection."""
    reader, writer = sent
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))  # its state
    conn.send(h11.EndOfMessage())
    conn.receive_data(await reader.read())
    conn.receive_data(b"")
    status, body = 0, b""
    while (event := conn.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    writer.close()
    return status, body


async def _sse_events(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> Any:
    """(events so far, a task that appends each SSE event until the stream ends)."""
    events: list[tuple[str, str]] = []
    started = asyncio.Event()

    async def read() -> None:
        async with http.stream(method, url, **kw) as resp:
            assert resp.status_code == 200, await resp.aread()
            started.set()
            name = ""
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    events.append((name, line.removeprefix("data:").strip()))

    task = asyncio.create_task(read())
    await started.wait()
    return events, task


async def test_sigterm_ends_streams_waits_and_runs_then_exits(
    server: tuple[str, subprocess.Popen[bytes]], silent_target: str, server_db: Settings
) -> None:
    base, proc = server
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        tenant = await create_tenant(http)
        space = await personal_space_id(http, tenant)
        await import_agent(http, tenant.headers, space, _AGENT.format(url=silent_target))
        key = (await create_api_key(http, tenant, scopes=["write"]))["key"]
        headers = {"X-Api-Key": key}
        thread = (await http.post("/api/v1/threads", json={}, headers=headers)).json()
        tid = thread["thread_id"]
        run = (
            await http.post(
                f"/api/v1/threads/{tid}/runs", json={"assistant_id": "hangs"}, headers=headers
            )
        ).json()
        rid = run["run_id"]
        langgraph, lg_task = await _sse_events(
            http, "GET", f"/api/v1/threads/{tid}/runs/{rid}/stream", headers=headers
        )
        raw, raw_task = await _sse_events(
            http, "GET", f"/api/v1/runs/{rid}/events", headers=headers
        )
        ws_url = base.replace("http", "ws", 1) + f"/api/v1/ws?token={key}"
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"action": "subscribe", "run_id": rid}))
            messages = (json.loads(m) async for m in ws)
            await _first(messages, lambda m: m.get("type") == "subscribed")
            await _first(messages, lambda m: m.get("type") == "step.started")
            join = await _sent(base, f"/api/v1/threads/{tid}/runs/{rid}/join", headers)
            proc.send_signal(signal.SIGTERM)
            final = await _first(messages, lambda m: m.get("type") == "error")
        assert final["status"] == 503
        status, body = await _response(join)
        assert status == 503
        assert json.loads(body)["type"].endswith("shutting-down")
        await asyncio.gather(lg_task, raw_task)
    assert langgraph[-1][0] == "error" and "shutting-down" in langgraph[-1][1]
    assert raw[-1][0] == "error" and "shutting-down" in raw[-1][1]
    # uvicorn re-raises the signal once it has shut down gracefully
    assert await asyncio.to_thread(proc.wait, _EXIT_BOUND_S) in (0, -signal.SIGTERM)

    runtime = build_runtime(server_db)
    try:
        async with runtime.sessionmaker() as session:
            job = await session.scalar(select(Job).where(Job.dedupe_key == f"run:{rid}:1"))
        assert job is not None  # released: queued again, so another worker takes it at once
        assert (job.status, job.lease_owner) == ("queued", None)
    finally:
        await runtime.engine.dispose()
