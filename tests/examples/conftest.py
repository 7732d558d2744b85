"""agentdeck served over real HTTP (API and in-process worker) with the examples' model.

The model is faked at the wire: `examples/scripted_model.py` (an OpenAI-compatible server)
on a loopback port, registered by each tenant as an `openai_compatible` provider behind
the `default` alias, exactly as examples/README.md tells a new user to do.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from pydantic_ai import models

from agentdeck.app import create_app
from agentdeck.config import Settings
from examples import scripted_model
from tests.factories import Tenant, create_api_key, create_tenant, key_headers, personal_space_id
from tests.offline_model import use_offline_models
from tests.tools.servers import loopback_allowed, serving

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Gate:
    """The scripted model's ASGI app, able to hold back the answers to matching requests
    until `count` of them are waiting at once: a test proves calls run side by side (run
    one after the other, they would never all arrive, and the test would time out)."""

    def __init__(self) -> None:
        self.marker: str | None = None
        self.count = 0
        self._waiting = 0
        self._all_in = asyncio.Event()

    def hold(self, marker: str, count: int) -> None:
        """Hold requests whose body contains `marker` until `count` of them arrived."""
        self.marker, self.count, self._waiting = marker, count, 0
        self._all_in = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.marker is None:
            await scripted_model.app(scope, receive, send)
            return
        body = await _read(receive)
        if self.marker in body.decode():
            self._waiting += 1
            if self._waiting >= self.count:
                self._all_in.set()
            await asyncio.wait_for(self._all_in.wait(), 60)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await scripted_model.app(scope, replay, send)


async def _read(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


@pytest.fixture(scope="module")
def _gate() -> Gate:
    return Gate()


@pytest.fixture
def gate(_gate: Gate) -> Iterator[Gate]:
    """The scripted model's gate; open again after the test."""
    yield _gate
    _gate.marker = None


@pytest.fixture(scope="module")
async def model_url(_gate: Gate) -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>/v1` of the scripted model (behind its gate)."""
    async with serving(_gate) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
async def base_url(settings: Settings) -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>` of agentdeck whose gateway calls the real providers' wire."""
    app = use_offline_models(create_app(settings, start_worker=True, configure_logs=False))
    app.state.runtime.llm_model_factory = None  # the provider's HTTP wire, to the scripted model
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


@pytest.fixture(autouse=True)
def _loopback_models() -> Iterator[None]:
    """The operator allows the loopback model server; model requests are allowed (they go
    to the scripted server only)."""
    with loopback_allowed(), models.override_allow_model_requests(True):
        yield


@dataclass
class Deck:
    """A tenant of the served app: its HTTP client, API key and langgraph-sdk client."""

    http: httpx.AsyncClient
    tenant: Tenant
    space: str
    key: str
    sdk: LangGraphClient

    @property
    def headers(self) -> dict[str, str]:
        return key_headers(self.key)

    async def import_example(self, name: str) -> dict[str, Any]:
        """Import examples/<name>.yaml into the personal space, as the README shows."""
        resp = await self.http.post(
            "/api/v1/agents/import",
            params={"space_id": self.space},
            content=(EXAMPLES / f"{name}.yaml").read_bytes(),
            headers={**self.tenant.headers, "Content-Type": "application/yaml"},
        )
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def run(self, graph: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Run `graph` on a new thread through langgraph-sdk; the finished run (platform
        API shape: status, output, parent_run_id)."""
        thread = await self.sdk.threads.create()
        run = await self.sdk.runs.create(thread["thread_id"], graph, input=inputs)
        await self.sdk.runs.join(thread["thread_id"], run["run_id"])
        return await self.get(f"/api/v1/runs/{run['run_id']}")

    async def get(self, path: str, **params: Any) -> Any:
        resp = await self.http.get(path, params=params, headers=self.headers)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def steps(self, run_id: str) -> dict[str, Any]:
        """Node id -> the output of its completed step."""
        body = await self.get(f"/api/v1/runs/{run_id}/steps")
        return {s["node_id"]: s["output"] for s in body["items"] if s["status"] == "completed"}

    async def events(self, run_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(type, data) of the stopped run's stored events, read over SSE."""
        resp = await self.http.get(
            f"/api/v1/runs/{run_id}/events",
            params={"include_deltas": "false"},
            headers=self.headers,
        )
        assert resp.status_code == 200, resp.text
        return sse_events(resp.text)


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(":", 1) for line in block.splitlines() if ":" in line[1:] and line[0] != ":"
        )
        if "event" in fields:
            events.append((fields["event"].strip(), json.loads(fields["data"].strip())))
    return events


async def make_deck(http: httpx.AsyncClient, base_url: str, model_url: str) -> Deck:
    """A new tenant whose `default` alias is the scripted model, with a run+write key."""
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    provider = {
        "name": "scripted",
        "kind": "openai_compatible",
        "base_url": model_url,
        "models": [scripted_model.MODEL],
    }
    resp = await http.post("/api/v1/providers", json=provider, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    alias = {"models": [f"scripted/{scripted_model.MODEL}"]}
    resp = await http.put("/api/v1/models/aliases/default", json=alias, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    key = (await create_api_key(http, tenant, scopes=["read", "run", "write"]))["key"]
    sdk = get_client(url=f"{base_url}/api/v1", api_key=key)
    return Deck(http, tenant, space, key, sdk)


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def deck(http: httpx.AsyncClient, base_url: str, model_url: str) -> AsyncIterator[Deck]:
    deck = await make_deck(http, base_url, model_url)
    try:
        yield deck
    finally:
        await deck.sdk.aclose()
