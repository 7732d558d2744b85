"""WebSocket /api/v1/ws through Starlette's TestClient (an app with an embedded worker).

The TestClient runs the app in its own event loop, so the app is built here and every
database set-up step runs in that loop (`portal.call`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from agentdeck.app import create_app
from agentdeck.config import Settings
from agentdeck.engine.ports import ChatRequest, ChatResult, Usage
from agentdeck.run.services import attach
from agentdeck.run.settings import RunSettings
from tests.factories import create_api_key, create_tenant, personal_space_id
from tests.offline_model import use_offline_models
from tests.run.conftest import Org, principal_for

TALK = {"name": "talk", "nodes": [{"id": "m", "type": "llm", "prompt": "hi"}]}


class GatedLLM:
    """Streams its deltas once the test opens the gate (after it has subscribed)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def chat(self, request: ChatRequest) -> ChatResult:
        return ChatResult(text="Hello", usage=Usage(3, 1, 0.001))

    async def stream(
        self, request: ChatRequest, on_delta: Callable[[str], Awaitable[None]]
    ) -> ChatResult:
        await self.gate.wait()
        for delta in ("Hel", "lo"):
            await on_delta(delta)
        return await self.chat(request)


class Env:
    def __init__(self, client: TestClient, llm: GatedLLM) -> None:
        self.client, self.llm, self.app = client, llm, client.app

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(fn, *args)

    def org(self) -> Org:
        async def make() -> Org:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                tenant = await create_tenant(http)
                space = await personal_space_id(http, tenant)
            principal = await principal_for(self.app.state.runtime, tenant)  # type: ignore[attr-defined]
            return Org(self.app, tenant, principal, space)

        org: Org = self.call(make)
        return org

    def api_key(self, org: Org) -> str:
        async def make() -> str:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return str((await create_api_key(http, org.tenant))["key"])

        key: str = self.call(make)
        return key

    def ws(self, org: Org | None, **headers: str) -> Any:
        query = f"?token={org.tenant.access_token}" if org and not headers else ""
        return self.client.websocket_connect(f"/api/v1/ws{query}", headers=dict(headers))


@pytest.fixture
def env(settings: Settings) -> Iterator[Env]:
    app = use_offline_models(create_app(settings, configure_logs=False, start_worker=True))
    llm = GatedLLM()
    attach(
        app.state.runtime.engine,
        settings=RunSettings(allow_private_network=True),
        llm_factory=lambda _ctx: llm,
    )
    with TestClient(app) as client:
        yield Env(client, llm)


def _until(ws: WebSocketTestSession, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while True:
        message: dict[str, Any] = ws.receive_json()
        seen.append(message)
        if message["type"] == kind:
            return seen


def test_run_events_replay_then_live_with_deltas(env: Env) -> None:
    org = env.org()
    agent = env.call(org.agent, TALK)
    run = env.call(org.start, agent)
    with env.ws(org) as ws:
        ws.send_json({"action": "subscribe", "run_id": str(run.id)})
        assert ws.receive_json() == {"type": "subscribed", "run_id": str(run.id)}
        env.call(_open, env.llm.gate)
        events = _until(ws, "unsubscribed")
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["run.completed", "unsubscribed"]
    deltas = [e for e in events if e["type"] == "message.delta"]
    assert [d["data"]["delta"] for d in deltas] == ["Hel", "lo"]
    assert all(d["seq"] is None and d["run_id"] == str(run.id) for d in deltas)
    durable = [e["seq"] for e in events if e.get("seq") is not None]
    assert durable == list(range(1, len(durable) + 1))
    with env.ws(org) as ws:  # after the fact: only the events after after_seq
        ws.send_json({"action": "subscribe", "run_id": str(run.id), "after_seq": 2})
        replayed = _until(ws, "unsubscribed")
    assert [e.get("seq") for e in replayed[1:-1]] == durable[2:]


async def _open(gate: asyncio.Event) -> None:
    gate.set()


def test_thread_subscription_follows_new_runs(env: Env) -> None:
    org = env.org()
    agent, thread = env.call(org.agent, TALK), env.call(org.thread)
    env.call(_open, env.llm.gate)
    with env.ws(org) as ws:
        ws.send_json({"action": "subscribe", "thread_id": str(thread)})
        assert ws.receive_json() == {"type": "subscribed", "thread_id": str(thread)}
        run = env.call(lambda: org.start(agent, thread_id=thread))
        events = _until(ws, "run.completed")
        ws.send_json({"action": "unsubscribe", "thread_id": str(thread)})
        assert _until(ws, "unsubscribed")[-1] == {"type": "unsubscribed", "thread_id": str(thread)}
    assert {e["run_id"] for e in events} == {str(run.id)}
    assert {e["thread_id"] for e in events} == {str(thread)}


def test_other_orgs_runs_and_threads_are_404_and_bad_messages_keep_the_socket(env: Env) -> None:
    org, other = env.org(), env.org()
    run = env.call(org.start, env.call(org.agent, TALK))
    thread = env.call(org.thread)
    with env.ws(other) as ws:
        for ask in ({"run_id": str(run.id)}, {"thread_id": str(thread)}):
            ws.send_json({"action": "subscribe", **ask})
            error = ws.receive_json()
            assert error["type"] == "error" and error["status"] == 404, error
        ws.send_json({"action": "subscribe", "run_id": str(uuid.uuid4())})
        assert ws.receive_json()["status"] == 404  # same answer as a foreign run
        for bad in ("{nope", "[1]", '{"action": "dance"}', '{"action": "subscribe"}'):
            ws.send_text(bad)
            error = ws.receive_json()
            assert error["type"] == "error" and error["status"] == 422, (bad, error)
        ws.send_json({"action": "subscribe", "run_id": "not-a-uuid"})
        assert ws.receive_json()["status"] == 422
        ws.send_json({"action": "unsubscribe", "run_id": str(run.id)})  # still open
        assert ws.receive_json() == {"type": "unsubscribed", "run_id": str(run.id)}


def test_credentials_by_header_api_key_or_none(env: Env) -> None:
    org = env.org()
    run = env.call(org.start, env.call(org.agent, TALK))
    key = env.api_key(org)
    for headers in (
        {"X-Api-Key": key},
        {"Authorization": f"Bearer {org.tenant.access_token}"},
        {"Authorization": f"Bearer {key}"},
    ):
        with env.ws(None, **headers) as ws:
            ws.send_json({"action": "subscribe", "run_id": str(run.id)})
            assert ws.receive_json()["type"] == "subscribed", headers
            # Let the stream wind down before the TestClient cancels the app on close.
            ws.send_json({"action": "unsubscribe", "run_id": str(run.id)})
            assert _until(ws, "unsubscribed")[-1]["run_id"] == str(run.id)
    with env.ws(None) as ws:
        assert ws.receive_json()["status"] == 401
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401
