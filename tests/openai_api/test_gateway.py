"""/v1 on a model alias: agentdeck as the org's LLM proxy. The upstream is faked at the
wire (httpx MockTransport speaking OpenAI), so what is passed through can be checked."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from pydantic_ai import models

from agentdeck.runtime import Runtime
from tests.factories import create_api_key, create_tenant, import_agent, personal_space_id
from tests.llm.llm_wire import openai_completion, openai_error, openai_stream

UPSTREAM = "http://upstream.test/v1"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def runtime(app: Any) -> Iterator[Runtime]:
    rt: Runtime = app.state.runtime
    saved = (rt.gateway, rt.http_client, rt.llm_model_factory)
    rt.gateway, rt.llm_model_factory = None, None
    with models.override_allow_model_requests(True):
        yield rt
    rt.gateway, rt.http_client, rt.llm_model_factory = saved


def _wire(handler: Callable[[httpx2.Request], httpx2.Response], rt: Runtime) -> list[Any]:
    seen: list[Any] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return handler(request)

    rt.http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(record))
    return seen


async def _org_with_alias(client: httpx.AsyncClient) -> dict[str, str]:
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/providers",
        json={"name": "up", "kind": "openai", "api_key": "sk-test-" + "x" * 20,
              "base_url": UPSTREAM, "models": ["gpt-4o-mini"]},
        headers=tenant.headers,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    resp = await client.put(
        "/api/v1/models/aliases/smart", json={"models": ["up/gpt-4o-mini"]}, headers=tenant.headers
    )
    assert resp.status_code == 200, resp.text
    return tenant.headers


async def test_tools_tool_choice_response_format_and_max_tokens_pass_through(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    replies = [openai_completion(None, tool_calls=[call]), openai_completion('{"t": 3}')]
    seen = _wire(lambda r: replies.pop(0), runtime)
    headers = await _org_with_alias(client)
    resp = await client.post(
        "/v1/chat/completions",
        json={
            "model": "smart",
            "messages": [{"role": "user", "content": "weather in Oslo?"}],
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "max_tokens": 42,
        },
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (out,) = choice["message"]["tool_calls"]
    assert out["function"]["name"] == "get_weather"
    assert json.loads(out["function"]["arguments"]) == {"city": "Oslo"}
    assert body["usage"] == {
        "prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 0},
    }  # fmt: skip
    (sent,) = seen
    assert sent["model"] == "gpt-4o-mini"
    assert 42 in (sent.get("max_tokens"), sent.get("max_completion_tokens")), sent
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
    # one named tool: pydantic-ai forces it (`required` over that one tool, or by name)
    forced = {"type": "function", "function": {"name": "get_weather"}}
    assert sent["tool_choice"] in ("required", forced)

    # the tool result goes back with the assistant's call; response_format as a JSON Schema
    seen.clear()
    schema = {"type": "object", "properties": {"t": {"type": "integer"}}, "required": ["t"]}
    resp = await client.post(
        "/v1/chat/completions",
        json={
            "model": "smart",
            "messages": [
                {"role": "user", "content": "weather in Oslo?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "3 degrees"},
            ],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "t", "schema": schema}},
        },
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert json.loads(resp.json()["choices"][0]["message"]["content"]) == {"t": 3}
    (sent,) = seen
    roles = [m["role"] for m in sent["messages"]]
    assert roles[-3:] == ["user", "assistant", "tool"]
    assert "3 degrees" in json.dumps(sent["messages"])
    assert json.dumps(schema["properties"]) in json.dumps(sent) or "json_schema" in json.dumps(sent)
    records = (await client.get("/api/v1/usage/records", headers=headers)).json()["items"]
    assert len(records) == 2 and {r["provider"] for r in records} == {"up"}


async def test_stream_with_usage_through_the_gateway(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _wire(lambda r: openai_stream(["Hel", "lo"]), runtime)
    headers = await _org_with_alias(client)
    resp = await client.post(
        "/v1/chat/completions",
        json={"model": "smart", "stream": True, "stream_options": {"include_usage": True},
              "messages": [{"role": "user", "content": "hi"}]},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    frames = [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "Hello"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2


async def test_budget_is_402_in_openai_shape(client: httpx.AsyncClient, runtime: Runtime) -> None:
    seen = _wire(lambda r: openai_completion("should not happen"), runtime)
    headers = await _org_with_alias(client)
    put = await client.put("/api/v1/budget", json={"monthly_usd": 0.0000001}, headers=headers)
    assert put.status_code == 200
    for stream in (False, True):
        resp = await client.post(
            "/v1/chat/completions",
            json={"model": "smart", "max_tokens": 1000, "stream": stream,
                  "messages": [{"role": "user", "content": "hi"}]},
            headers=headers,
        )  # fmt: skip
        assert resp.status_code == 402, resp.text
        error = resp.json()["error"]
        assert error["type"] == "insufficient_quota" and error["code"] == "budget_exceeded"
        assert error["message"]
    assert seen == []


async def test_upstream_rate_limit_is_429_with_retry_after(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _wire(lambda r: openai_error(429, "slow down", **{"retry-after": "0"}), runtime)
    headers = await _org_with_alias(client)
    resp = await client.post(
        "/v1/chat/completions",
        json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
        headers=headers,
    )
    assert resp.status_code == 429, resp.text
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.json()["error"]["type"] == "rate_limit_exceeded"


async def test_errors_keep_openai_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/models")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    tenant = await create_tenant(client)
    unknown = await client.post(
        "/v1/chat/completions",
        json={"model": "nope/nothing", "messages": [{"role": "user", "content": "hi"}]},
        headers=tenant.headers,
    )
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["code"] == "model_not_found"
    invalid = await client.post("/v1/chat/completions", json={"model": "x"}, headers=tenant.headers)
    assert invalid.status_code == 400
    assert invalid.json()["error"] == {
        "message": invalid.json()["error"]["message"],
        "type": "invalid_request_error",
        "param": "messages",
        "code": "invalid_request",
    }
    read_only = (await create_api_key(client, tenant, scopes=["read"]))["key"]
    refused = await client.post(
        "/v1/chat/completions",
        json={"model": "default", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {read_only}"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"


async def test_another_orgs_agents_and_threads_are_404(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    space = await personal_space_id(client, owner)
    agent = await import_agent(
        client, owner.headers, space,
        "name: secret-agent\nnodes:\n  - id: a\n    type: transform\n    value: hi\n",
    )  # fmt: skip
    thread = (await client.post("/api/v1/threads", json={}, headers=owner.headers)).json()
    stranger = await create_tenant(client)
    listed = await client.get("/v1/models", headers=stranger.headers)
    assert f"agent:{agent['name']}" not in [m["id"] for m in listed.json()["data"]]
    message = [{"role": "user", "content": "hi"}]
    resp = await client.post(
        "/v1/chat/completions",
        json={"model": f"agent:{agent['name']}", "messages": message},
        headers=stranger.headers,
    )
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "model_not_found"
    mine = await import_agent(
        client, stranger.headers, await personal_space_id(client, stranger),
        "name: mine\nnodes:\n  - id: a\n    type: transform\n    value: hi\n",
    )  # fmt: skip
    resp = await client.post(
        "/v1/chat/completions",
        json={"model": f"agent:{mine['name']}", "messages": message,
              "metadata": {"thread_id": thread["thread_id"]}},
        headers=stranger.headers,
    )  # fmt: skip
    assert resp.status_code == 404, resp.text
    owners_run = await client.post(
        f"/api/v1/threads/{thread['thread_id']}/runs",
        json={"assistant_id": agent["name"]},
        headers=owner.headers,
    )  # the owner's response would be resp_<run id>; this suite runs no worker
    assert owners_run.status_code == 200, owners_run.text
    owners_response = "resp_" + owners_run.json()["run_id"].replace("-", "")
    resp = await client.post(
        "/v1/responses",
        json={"model": f"agent:{mine['name']}", "input": "hi",
              "previous_response_id": owners_response},
        headers=stranger.headers,
    )  # fmt: skip
    assert resp.status_code == 404 and resp.json()["error"]["param"] == "previous_response_id"
