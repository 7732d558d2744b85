"""The official `openai` SDK (sync and async) against agentdeck's /v1 over real HTTP.

Models are faked at the seam (`tests.offline_model`: "offline test reply", streamed in
three pieces); the agent is a normal agent whose llm node streams its tokens.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.factories import create_api_key, create_tenant, import_agent, personal_space_id

REPLY = "offline test reply"
HELPER_YAML = """
name: {name}
inputs:
  type: object
  properties: {{message: {{type: string}}}}
  required: [message]
nodes:
  - id: answer
    type: llm
    prompt: "{{{{ inputs.message }}}}"
"""


@dataclass
class Setup:
    http: httpx.AsyncClient
    base_url: str
    key: str
    agent: str
    headers: dict[str, str]

    def aclient(self, **kwargs: Any) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=f"{self.base_url}/v1", api_key=self.key, **kwargs)

    def client(self) -> OpenAI:
        return OpenAI(base_url=f"{self.base_url}/v1", api_key=self.key, max_retries=0)


@pytest.fixture
async def setup(base_url: str) -> AsyncIterator[Setup]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tenant = await create_tenant(http)
        space = await personal_space_id(http, tenant)
        name = f"helper-{uuid.uuid4().hex[:6]}"
        await import_agent(http, tenant.headers, space, HELPER_YAML.format(name=name))
        key = (await create_api_key(http, tenant, scopes=["run"]))["key"]
        yield Setup(http, base_url, key, name, tenant.headers)


async def test_open_webui_model_list(setup: Setup) -> None:
    # Open WebUI asks `GET {base}/models` with the key as a bearer token.
    resp = await setup.http.get("/v1/models", headers={"Authorization": f"Bearer {setup.key}"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert "default" in ids and f"agent:{setup.agent}" in ids
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in body["data"])
    assert all(isinstance(m["owned_by"], str) for m in body["data"])
    async with setup.aclient() as client:
        listed = [m.id async for m in client.models.list()]
    assert listed == ids


async def test_alias_chat_completion_async(setup: Setup) -> None:
    async with setup.aclient() as client:
        done = await client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "hi"}]
        )
        assert done.object == "chat.completion"
        assert done.choices[0].message.content == REPLY
        assert done.choices[0].finish_reason == "stop"
        assert done.usage is not None and done.usage.total_tokens >= 0

        chunks = [
            c
            async for c in await client.chat.completions.create(
                model="default",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        ]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])


async def test_alias_stream_without_usage_ends_with_done(setup: Setup) -> None:
    body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    headers = {"Authorization": f"Bearer {setup.key}"}
    async with setup.http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in r.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    assert '"usage"' not in "".join(lines)


async def test_agent_chat_completion_sync_and_streamed(setup: Setup) -> None:
    model = f"agent:{setup.agent}"

    def sync_calls() -> tuple[Any, list[Any]]:
        with setup.client() as client:
            done = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "printer on fire"}]
            )
            stream = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "printer on fire"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            return done, list(stream)

    # The server runs on this event loop: the sync client must not block it.
    done, chunks = await asyncio.to_thread(sync_calls)
    assert done.choices[0].message.content == REPLY
    assert done.model == model
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == REPLY
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


async def test_agent_thread_from_metadata_and_open_webui_chat_id(setup: Setup) -> None:
    model = f"agent:{setup.agent}"
    async with setup.aclient() as client:
        first = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "one"}],
            user="alice",
            extra_headers={"X-OpenWebUI-Chat-Id": "chat-1"},
        )
        second = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "two"}],
            user="alice",
            extra_headers={"X-OpenWebUI-Chat-Id": "chat-1"},
        )
        other = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "three"}],
            user="bob",
            extra_headers={"X-OpenWebUI-Chat-Id": "chat-1"},
        )
    threads = [await _thread_of(setup, c.id) for c in (first, second, other)]
    assert threads[0] is not None and threads[0] == threads[1] != threads[2]

    thread = await setup.http.post("/api/v1/threads", json={}, headers=setup.headers)
    tid = thread.json()["thread_id"]
    async with setup.aclient() as client:
        pinned = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], metadata={"thread_id": tid}
        )
    assert await _thread_of(setup, pinned.id) == tid


async def _thread_of(setup: Setup, completion_id: str) -> str | None:
    run_id = uuid.UUID(hex=completion_id.removeprefix("chatcmpl-"))
    resp = await setup.http.get(f"/api/v1/runs/{run_id}", headers=setup.headers)
    assert resp.status_code == 200, resp.text
    thread_id: str | None = resp.json()["thread_id"]
    return thread_id


async def test_responses_api_with_previous_response_id(setup: Setup) -> None:
    model = f"agent:{setup.agent}"
    async with setup.aclient() as client:
        first = await client.responses.create(model=model, input="my name is Ada")
        assert first.object == "response" and first.status == "completed"
        assert first.output_text == REPLY
        second = await client.responses.create(
            model=model, input="what is my name?", previous_response_id=first.id
        )
        assert second.previous_response_id == first.id
        events = [
            e
            async for e in await client.responses.create(
                model=model, input="again", previous_response_id=second.id, stream=True
            )
        ]
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == REPLY
    final = events[-1].response
    assert final.output_text == REPLY and final.usage is not None
    runs = [uuid.UUID(hex=r.removeprefix("resp_")) for r in (first.id, second.id, final.id)]
    threads = set()
    for run_id in runs:
        resp = await setup.http.get(f"/api/v1/runs/{run_id}", headers=setup.headers)
        threads.add(resp.json()["thread_id"])
    assert len(threads) == 1 and None not in threads


async def test_responses_api_on_an_alias(setup: Setup) -> None:
    async with setup.aclient() as client:
        done = await client.responses.create(model="default", input="hi")
        assert done.output_text == REPLY
        events = [
            e async for e in await client.responses.create(model="default", input="hi", stream=True)
        ]
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == REPLY


async def test_errors_in_openai_shape(setup: Setup) -> None:
    async with AsyncOpenAI(
        base_url=f"{setup.base_url}/v1", api_key="ad_not_a_real_key", max_retries=0
    ) as bad:
        with pytest.raises(openai.AuthenticationError) as denied:
            await bad.models.list()
    assert denied.value.status_code == 401
    assert denied.value.body["type"] == "authentication_error"  # type: ignore[index]

    async with setup.aclient(max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(
                model="agent:no-such-agent", messages=[{"role": "user", "content": "x"}]
            )
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model=f"agent:{setup.agent}",
                messages=[{"role": "user", "content": "x"}],
                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            )
        assert refused.value.param == "tools"
        with pytest.raises(openai.NotFoundError):
            await client.responses.create(
                model=f"agent:{setup.agent}", input="x", previous_response_id="resp_nope"
            )
