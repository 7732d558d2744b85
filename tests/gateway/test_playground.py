from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from pydantic_ai import models
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agentdeck.runtime import Runtime
from tests.factories import create_tenant
from tests.llm.llm_wire import openai_completion, openai_error, openai_stream

SECRET = "sk-gw-" + "z" * 30


@pytest.fixture
def runtime(app: Any) -> Iterator[Runtime]:
    """The app's runtime; each test gets a fresh gateway and restores what it changed."""
    rt: Runtime = app.state.runtime
    saved = (rt.gateway, rt.http_client, rt.llm_model_factory)
    rt.gateway, rt.llm_model_factory = None, None  # the real wire, through MockTransport
    with models.override_allow_model_requests(True):
        yield rt
    rt.gateway, rt.http_client, rt.llm_model_factory = saved


def _wire(
    handler: Callable[[httpx2.Request], httpx2.Response], rt: Runtime
) -> list[httpx2.Request]:
    seen: list[httpx2.Request] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return handler(request)

    rt.http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(record))
    return seen


async def _provider(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, url: str
) -> None:
    resp = await client.post(
        "/api/v1/providers",
        json={
            "name": name,
            "kind": "openai",
            "api_key": SECRET,
            "base_url": url,
            "models": ["gpt-4o-mini"],
        },
        headers=headers,
    )
    assert resp.status_code == 201, resp.text


async def test_default_resolves_to_the_local_model_and_records_usage(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("Hi from the local model")])

    used: list[tuple[str, str]] = []

    def factory(provider: Any, model: str) -> FunctionModel:
        used.append((provider.kind, model))
        return FunctionModel(reply)

    runtime.llm_model_factory = factory
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/llm/chat",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers=tenant.headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["message"] == "Hi from the local model"
    assert used == [("local", "smollm2-135m-instruct")]
    records = (await client.get("/api/v1/usage/records", headers=tenant.headers)).json()["items"]
    assert len(records) == 1 and records[0]["status"] == "ok" and records[0]["provider"] == "local"


async def test_fallback_to_the_next_provider_records_both_attempts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    seen = _wire(
        lambda r: (
            openai_error(503) if r.url.host == "down.test" else openai_completion("from backup")
        ),
        runtime,
    )
    tenant = await create_tenant(client)
    await _provider(client, tenant.headers, "primary", "http://down.test/v1")
    await _provider(client, tenant.headers, "backup", "http://up.test/v1")
    await client.put(
        "/api/v1/models/aliases/default",
        json={"models": ["primary/gpt-4o-mini", "backup/gpt-4o-mini"]},
        headers=tenant.headers,
    )
    resp = await client.post(
        "/api/v1/llm/chat",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers=tenant.headers,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["message"] == "from backup" and body["provider"] == "backup"
    assert [a["status"] for a in body["attempts"]][-1] == "ok"
    assert any(a["provider"] == "primary" and a["status"] == "error" for a in body["attempts"])
    assert {r.url.host for r in seen} == {"down.test", "up.test"}
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in seen)
    assert SECRET not in resp.text
    records = (await client.get("/api/v1/usage/records", headers=tenant.headers)).json()["items"]
    assert len(records) == 1
    assert {a["provider"] for a in records[0]["attempts"]} == {"primary", "backup"}


async def test_stream_as_sse(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _wire(lambda r: openai_stream(["Hel", "lo"]), runtime)
    tenant = await create_tenant(client)
    await _provider(client, tenant.headers, "oa", "http://up.test/v1")
    resp = await client.post(
        "/api/v1/llm/chat",
        json={
            "model": "oa/gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
        headers=tenant.headers,
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = [
        (
            block.split("event: ")[1].split("\r\n")[0].split("\n")[0],
            block.split("data: ", 1)[1].strip(),
        )
        for block in resp.text.replace("\r\n", "\n").split("\n\n")
        if block.startswith("event: ")
    ]
    deltas = "".join(json.loads(d)["text"] for e, d in events if e == "delta")
    assert deltas == "Hello"
    final = json.loads(next(d for e, d in events if e == "final"))
    assert final["message"] == "Hello" and final["usage"]["output_tokens"] == 2


async def test_budget_refuses_before_sending(client: httpx.AsyncClient, runtime: Runtime) -> None:
    seen = _wire(lambda r: openai_completion("should not happen"), runtime)
    tenant = await create_tenant(client)
    await _provider(client, tenant.headers, "oa", "http://up.test/v1")
    assert (
        await client.put("/api/v1/budget", json={"monthly_usd": 0.0000001}, headers=tenant.headers)
    ).status_code == 200
    resp = await client.post(
        "/api/v1/llm/chat",
        json={
            "model": "oa/gpt-4o-mini",
            "max_tokens": 1000,
            "messages": [{"role": "user", "content": "hi"}],
        },
        headers=tenant.headers,
    )
    assert resp.status_code == 402, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert seen == []


async def test_structured_output_and_bad_requests(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart('{"answer": 42}')])

    runtime.llm_model_factory = lambda provider, model: FunctionModel(reply)
    tenant = await create_tenant(client)
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    ok = await client.post(
        "/api/v1/llm/chat",
        json={"messages": [{"role": "user", "content": "?"}], "response_format": schema},
        headers=tenant.headers,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["parsed"] == {"answer": 42}
    unknown = await client.post(
        "/api/v1/llm/chat",
        json={"model": "nope/x", "messages": [{"role": "user", "content": "?"}]},
        headers=tenant.headers,
    )
    assert (
        unknown.status_code == 422 and unknown.headers["content-type"] == "application/problem+json"
    )
    empty = await client.post("/api/v1/llm/chat", json={"messages": []}, headers=tenant.headers)
    assert empty.status_code == 422 and empty.json()["field"] == "messages"


async def test_another_org_cannot_use_providers_or_spaces(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    seen = _wire(lambda r: openai_completion("leak"), runtime)
    owner, other = await create_tenant(client), await create_tenant(client)
    await _provider(client, owner.headers, "private", "http://up.test/v1")
    spaces = (await client.get("/api/v1/spaces", headers=owner.headers)).json()["items"]
    stolen = await client.post(
        "/api/v1/llm/chat",
        json={"model": "private/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers=other.headers,
    )
    assert stolen.status_code == 422 and seen == []
    foreign_space = await client.post(
        "/api/v1/llm/chat",
        json={"space_id": spaces[0]["id"], "messages": [{"role": "user", "content": "hi"}]},
        headers=other.headers,
    )
    assert foreign_space.status_code == 404


async def test_stream_errors_before_the_first_token_are_problems(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/llm/chat",
        json={"model": "nope/x", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers=tenant.headers,
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"


async def test_invalid_json_schemas_are_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    bad = await client.post(
        "/api/v1/llm/chat",
        json={"messages": [{"role": "user", "content": "?"}], "response_format": {"type": 12}},
        headers=tenant.headers,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "response_format"
    bad_tool = await client.post(
        "/api/v1/llm/chat",
        json={
            "messages": [{"role": "user", "content": "?"}],
            "tools": [{"name": "t", "parameters": {"type": "nope"}}],
        },
        headers=tenant.headers,
    )
    assert bad_tool.status_code == 422 and bad_tool.json()["field"] == "tools.0.parameters"
