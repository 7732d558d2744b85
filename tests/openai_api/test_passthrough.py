"""/v1/chat/completions on an alias of OpenAI-format providers: the request passed through
as the client sent it, the answer passed back (`agentdeck.llm.passthrough`), with the
gateway's fallback, cache, budgets and usage rows. Upstreams are faked at the wire (an
httpx2 MockTransport speaking OpenAI's shapes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from pydantic_ai import models

from agentdeck.kit import netguard
from agentdeck.llm import passthrough
from agentdeck.runtime import Runtime
from tests.factories import create_tenant
from tests.llm.llm_wire import anthropic_reply, openai_completion, openai_error

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture
def runtime(app: Any) -> Iterator[Runtime]:
    rt: Runtime = app.state.runtime
    saved = (rt.gateway, rt.http_client, rt.llm_model_factory)
    rt.gateway, rt.llm_model_factory = None, None  # the gateway's own models: passed through
    with models.override_allow_model_requests(True):
        yield rt
    rt.gateway, rt.http_client, rt.llm_model_factory = saved


class Upstreams:
    """Every request the providers get (host, path, JSON body), answered per host."""

    def __init__(self, runtime: Runtime) -> None:
        self.seen: list[dict[str, Any]] = []
        self.answers: dict[str, Handler] = {}
        runtime.http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(self._answer))

    def _answer(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.seen.append({"host": request.url.host, "path": request.url.path, "body": body})
        return self.answers[request.url.host](request)

    def on(self, host: str) -> list[dict[str, Any]]:
        return [s["body"] for s in self.seen if s["host"] == host]


@pytest.fixture
def upstreams(runtime: Runtime) -> Upstreams:
    return Upstreams(runtime)


def _sse(*chunks: dict[str, Any] | str) -> httpx2.Response:
    body = "".join("data: " + (c if isinstance(c, str) else json.dumps(c)) + "\n\n" for c in chunks)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


USAGE = {"prompt_tokens": 21, "completion_tokens": 2, "total_tokens": 23,
         "prompt_tokens_details": {"cached_tokens": 5}}  # fmt: skip


def _openai_style_stream(*pieces: str) -> httpx2.Response:
    """As OpenAI streams with include_usage: `usage: null` on each chunk, then a chunk with
    no choices and the usage."""
    chunks: list[dict[str, Any] | str] = [
        _chunk({"role": "assistant", "content": ""}, usage=None),
        *(_chunk({"content": p}, usage=None) for p in pieces),
        _chunk({}, "stop", usage=None),
        {**_chunk({}), "choices": [], "usage": USAGE},
        "[DONE]",
    ]
    return _sse(*chunks)


async def _provider(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, *, kind: str = "openai"
) -> None:
    model = "claude-haiku-4-5" if kind == "anthropic" else "gpt-4o-mini"
    resp = await client.post(
        "/api/v1/providers",
        json={"name": name, "kind": kind, "api_key": f"sk-{name}-" + "k" * 16,
              "base_url": f"http://{name}.test" + ("" if kind == "anthropic" else "/v1"),
              "models": [model]},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text


async def _alias(
    client: httpx.AsyncClient, headers: dict[str, str], *refs: str, name: str = "smart"
) -> None:
    resp = await client.put(
        f"/api/v1/models/aliases/{name}", json={"models": list(refs)}, headers=headers
    )
    assert resp.status_code == 200, resp.text


async def _org(client: httpx.AsyncClient, *names: str) -> dict[str, str]:
    tenant = await create_tenant(client)
    for name in names:
        await _provider(client, tenant.headers, name)
    await _alias(client, tenant.headers, *(f"{n}/gpt-4o-mini" for n in names))
    return tenant.headers


async def _records(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    page = await client.get("/api/v1/usage/records", headers=headers)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def _frames(text: str) -> list[Any]:
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]", text
    return [json.loads(d) for d in data[:-1]]


async def _chat(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    payload = {"model": "smart", "messages": [{"role": "user", "content": "hi"}], **body}
    return await client.post("/v1/chat/completions", json=payload, headers=headers)


async def test_request_and_answer_pass_through_unchanged_but_the_model(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    upstreams.answers["up.test"] = lambda r: openai_completion(None, tool_calls=[call])
    headers = await _org(client, "up")
    schema = {"type": "object", "properties": {"t": {"type": "integer"}}}
    sent = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "weather?"},
                                         {"type": "image_url", "image_url": {"url": "x"}}]},
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}},
        "max_tokens": 42,
        "seed": 7,
        "user": "u-1",
    }  # fmt: skip
    resp = await _chat(client, headers, **sent)
    assert resp.status_code == 200, resp.text
    (received,) = upstreams.on("up.test")
    assert received == {"model": "gpt-4o-mini", **sent}  # OpenAI takes `developer` as is
    assert upstreams.seen[0]["path"] == "/v1/chat/completions"
    answer = resp.json()
    assert answer["model"] == "smart" and answer["id"] == "chatcmpl-1"
    (out,) = answer["choices"][0]["message"]["tool_calls"]
    assert out["function"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


async def test_developer_messages_are_system_for_compatible_servers(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["compat.test"] = lambda r: openai_completion("ok")
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/providers",
        json={"name": "compat", "kind": "openai_compatible", "base_url": "http://compat.test/v1",
              "models": ["m"]},
        headers=tenant.headers,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    await _alias(client, tenant.headers, "compat/m")
    messages = [{"role": "developer", "content": "d"}, {"role": "user", "content": "u"}]
    assert (await _chat(client, tenant.headers, messages=messages)).status_code == 200
    (received,) = upstreams.on("compat.test")
    assert [m["role"] for m in received["messages"]] == ["system", "user"]
    assert received["model"] == "m"


async def test_falls_back_to_the_next_provider_with_the_usage_of_the_one_that_answered(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["one.test"] = lambda r: openai_error(503, "down", **{"retry-after": "0"})
    upstreams.answers["two.test"] = lambda r: openai_completion(
        "from two", prompt_tokens=13, completion_tokens=4, cached_tokens=3
    )
    headers = await _org(client, "one", "two")
    resp = await _chat(client, headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "from two"
    assert len(upstreams.on("one.test")) == 3  # the first try and two retries
    (record,) = await _records(client, headers)
    assert record["provider"] == "two" and record["status"] == "ok" and record["kind"] == "chat"
    assert (record["input_tokens"], record["output_tokens"], record["cached_tokens"]) == (13, 4, 3)
    assert [a["provider"] for a in record["attempts"]] == ["one", "one", "one", "two"]
    assert [a["status"] for a in record["attempts"]] == ["error"] * 3 + ["ok"]

    # A stream falls back the same way, before its first byte.
    upstreams.answers["two.test"] = lambda r: _openai_style_stream("a", "b")
    resp = await _chat(client, headers, stream=True)
    assert resp.status_code == 200, resp.text
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in _frames(resp.text)) == "ab"
    records = await _records(client, headers)
    stream = next(r for r in records if r["kind"] == "stream")
    assert stream["provider"] == "two" and stream["input_tokens"] == 21
    assert stream["attempts"][-1]["ttft_ms"] is not None


async def test_a_rejected_request_is_not_retried_nor_sent_elsewhere(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["one.test"] = lambda r: openai_error(400, "bad tool schema")
    upstreams.answers["two.test"] = lambda r: openai_completion("never")
    headers = await _org(client, "one", "two")
    resp = await _chat(client, headers)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "llm_bad_request" and "bad tool schema" in error["message"]
    assert len(upstreams.seen) == 1
    (record,) = await _records(client, headers)
    assert record["status"] == "error" and record["error"].startswith("llm.bad_request")


async def test_every_provider_down_is_502_and_429_when_all_were_rate_limits(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["one.test"] = lambda r: openai_error(500, "boom", **{"retry-after": "0"})
    headers = await _org(client, "one")
    resp = await _chat(client, headers, stream=True)
    assert resp.status_code == 502, resp.text
    assert resp.json()["error"]["type"] == "api_error"
    upstreams.answers["one.test"] = lambda r: openai_error(429, "slow", **{"retry-after": "0"})
    resp = await _chat(client, headers)
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1


async def test_stream_with_include_usage_ends_with_the_usage_chunk(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    # This upstream puts the usage inside its last chunk (as vLLM and others may).
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    upstreams.answers["up.test"] = lambda r: _sse(
        _chunk({"role": "assistant", "content": "Hel"}),
        _chunk({"content": "lo"}),
        _chunk({}, "stop", usage=usage),
        "[DONE]",
    )
    headers = await _org(client, "up")
    resp = await _chat(client, headers, stream=True, stream_options={"include_usage": True})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    chunks = _frames(resp.text)
    assert all(c["model"] == "smart" for c in chunks)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "Hello"
    assert chunks[-1]["choices"] == [] and chunks[-1]["id"] == "chatcmpl-up"
    assert chunks[-1]["usage"]["prompt_tokens"] == 7
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    (received,) = upstreams.on("up.test")
    assert received["stream_options"] == {"include_usage": True}
    (record,) = await _records(client, headers)
    assert (record["kind"], record["input_tokens"], record["output_tokens"]) == ("stream", 7, 2)


async def test_stream_without_include_usage_has_no_usage_but_it_is_recorded(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["up.test"] = lambda r: _openai_style_stream("Hi", "!")
    headers = await _org(client, "up")
    resp = await _chat(client, headers, stream=True)
    assert resp.status_code == 200, resp.text
    chunks = _frames(resp.text)
    assert chunks and all("usage" not in c and c["choices"] for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Hi!"
    (received,) = upstreams.on("up.test")
    assert received["stream"] is True
    assert received["stream_options"] == {"include_usage": True}  # asked for the gateway
    (record,) = await _records(client, headers)
    assert (record["input_tokens"], record["output_tokens"], record["cached_tokens"]) == (21, 2, 5)

    # Asked for, OpenAI's own usage chunk goes on as it came.
    resp = await _chat(client, headers, stream=True, stream_options={"include_usage": True})
    chunks = _frames(resp.text)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE
    assert sum(1 for c in chunks if c.get("usage")) == 1


async def test_a_stream_that_breaks_off_ends_with_an_error_and_an_error_row(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    class Broken(httpx2.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield b"data: " + json.dumps(_chunk({"content": "par"})).encode() + b"\n\n"
            raise httpx2.ReadError("connection reset")

    upstreams.answers["up.test"] = lambda r: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, stream=Broken()
    )
    headers = await _org(client, "up")
    resp = await _chat(client, headers, stream=True)
    assert resp.status_code == 200
    data = [line[6:] for line in resp.text.split("\n") if line.startswith("data: ")]
    assert json.loads(data[0])["choices"][0]["delta"]["content"] == "par"
    assert json.loads(data[1])["error"]["code"] == "llm_unavailable" and data[2] == "[DONE]"
    (record,) = await _records(client, headers)
    assert record["status"] == "error" and record["error"].startswith("llm.unavailable")


async def test_same_request_again_is_answered_from_the_cache(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["up.test"] = lambda r: openai_completion("cached answer")
    headers = await _org(client, "up")
    first = await _chat(client, headers, temperature=0)
    again = await _chat(client, headers, temperature=0)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(upstreams.seen) == 1
    other = await _chat(client, headers, temperature=1)  # another request: sent
    assert other.status_code == 200 and len(upstreams.seen) == 2
    records = await _records(client, headers)
    hits = [r for r in records if r["cache_hit"]]
    assert len(records) == 3 and len(hits) == 1
    assert hits[0]["cost_usd"] == 0 and hits[0]["input_tokens"] == 0
    # Streams are never answered from the cache.
    upstreams.answers["up.test"] = lambda r: _openai_style_stream("x")
    assert (await _chat(client, headers, temperature=0, stream=True)).status_code == 200
    assert len(upstreams.seen) == 3


async def test_budget_refuses_with_402_before_anything_is_sent(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["up.test"] = lambda r: openai_completion("never")
    headers = await _org(client, "up")
    prices = {"model": "up/gpt-4o-mini", "input_price_per_mtok": 100_000,
              "output_price_per_mtok": 100_000}  # fmt: skip
    put = await client.put("/api/v1/models/overrides", json=prices, headers=headers)
    assert put.status_code == 200, put.text
    assert (await client.put("/api/v1/budget", json={"monthly_usd": 5}, headers=headers)).is_success
    for stream in (False, True):  # ~8 tokens in and 100 out at $0.10 a token: $10.80
        resp = await _chat(client, headers, max_tokens=100, stream=stream)
        assert resp.status_code == 402, resp.text
        assert resp.json()["error"] == {
            "message": resp.json()["error"]["message"], "type": "insufficient_quota",
            "param": None, "code": "budget_exceeded",
        }  # fmt: skip
    assert upstreams.seen == [] and await _records(client, headers) == []
    ok = await _chat(client, headers, max_tokens=1)  # fits: sent, and its cost counted
    assert ok.status_code == 200, ok.text
    (record,) = await _records(client, headers)
    assert record["cost_usd"] == pytest.approx(1.4)  # 11 in, 3 out at $0.10


async def test_another_orgs_alias_and_provider_are_404(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.answers["up.test"] = lambda r: openai_completion("the owner's")
    owner = await _org(client, "up")
    assert (await _chat(client, owner)).status_code == 200
    stranger = (await create_tenant(client)).headers
    for model in ("smart", "up/gpt-4o-mini"):
        resp = await _chat(client, stranger, model=model)
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"]["code"] == "model_not_found"
        assert resp.json()["error"]["param"] == "model"
    assert len(upstreams.seen) == 1
    assert await _records(client, stranger) == []


async def test_chains_with_other_providers_take_the_translated_path(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    text = [{"type": "text", "text": "from claude"}]
    upstreams.answers["claude.test"] = lambda r: anthropic_reply(json.loads(r.content), text)
    tenant = await create_tenant(client)
    await _provider(client, tenant.headers, "claude", kind="anthropic")
    await _alias(client, tenant.headers, "claude/claude-haiku-4-5")
    resp = await _chat(client, tenant.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "from claude"
    assert resp.json()["model"] == "smart"
    assert upstreams.seen[0]["path"] == "/v1/messages"


async def test_the_route_answers_errors_as_fastapi_did_in_openai_shape(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    headers = await _org(client, "up")
    url = "/v1/chat/completions"
    anonymous = await client.post(url, json={"model": "smart", "messages": []})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["error"]["type"] == "authentication_error"
    broken = await client.post(
        url, content=b'{"model": ', headers={**headers, "content-type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_request"
    not_json = await client.post(url, content=b"model=smart", headers=headers)
    assert not_json.status_code == 400
    empty = await client.post(url, headers=headers)
    assert empty.status_code == 400
    bad = await client.post(url, json={"model": "smart", "messages": [{"role": "x"}]},
                            headers=headers)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages.0.role"
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    too_deep = await client.post(
        url, json={"model": "smart", "messages": [{"role": "user", "content": "hi"}],
                   "metadata": {"x": deep}}, headers=headers,
    )  # fmt: skip
    assert too_deep.status_code == 400 and "nested deeper" in too_deep.json()["error"]["message"]
    long_id = await client.post(
        url, json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
        headers={**headers, "X-OpenWebUI-Chat-Id": "c" * 201},
    )  # fmt: skip
    assert long_id.status_code == 400
    assert upstreams.seen == []


async def _local_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An OpenAI-compatible server on loopback: JSON by Content-Length, streams in chunks."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = json.loads(await reader.readexactly(length))
            if not body.get("stream"):
                answer = openai_completion("over sockets", prompt_tokens=5).content
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(answer)).encode() + b"\r\n\r\n" + answer
                )  # fmt: skip
                continue
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
            for piece in _openai_style_stream("so", "ck", "ets").content.split(b"\n\n")[:-1]:
                frame = piece + b"\n\n"
                writer.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def test_through_the_gateways_own_sockets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The runtime's own guarded client (no test client): the pass-through sends on its
    # pooled connections (`llm._socket_wire`), here to a server of ours on loopback.
    runtime.http_client = None
    listener = await asyncio.start_server(_local_upstream, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    allowed = netguard.NetworkPolicy.parse([f"127.0.0.1:{port}"])
    tenant = await create_tenant(client)
    with netguard.using(allowed):
        resp = await client.post(
            "/api/v1/providers",
            json={"name": "local", "kind": "openai_compatible",
                  "base_url": f"http://127.0.0.1:{port}/v1", "models": ["m"]},
            headers=tenant.headers,
        )  # fmt: skip
    assert resp.status_code == 201, resp.text
    await _alias(client, tenant.headers, "local/m")
    try:
        with netguard.using(netguard.NetworkPolicy.parse([])):
            refused = await _chat(client, tenant.headers)
        assert refused.status_code == 400, refused.text  # the policy holds on this path too
        assert "network policy" in refused.json()["error"]["message"]
        with netguard.using(allowed):
            plain = await _chat(client, tenant.headers)
            streamed = await _chat(
                client, tenant.headers, stream=True, stream_options={"include_usage": True}
            )
            again = await _chat(client, tenant.headers, temperature=1)
    finally:
        assert runtime.gateway is not None
        await runtime.gateway.aclose()
        assert runtime.http_client is not None
        await runtime.http_client.aclose()
        listener.close()
    assert plain.status_code == 200, plain.text
    assert plain.json()["choices"][0]["message"]["content"] == "over sockets"
    assert again.status_code == 200, again.text
    chunks = _frames(streamed.text)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "sockets" and chunks[-1]["usage"] == USAGE
    records = await _records(client, tenant.headers)
    assert sorted((r["kind"], r["input_tokens"]) for r in records if r["status"] == "ok") == [
        ("chat", 5), ("chat", 5), ("stream", 21)
    ]  # fmt: skip


async def test_streams_without_done_or_that_stay_open_after_it_end_for_the_client(
    client: httpx.AsyncClient, upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Lingering(httpx2.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield _openai_style_stream("a", "b").content
            await asyncio.sleep(30)  # a server that keeps the stream open after [DONE]
            yield b": late\n\n"

    monkeypatch.setattr(passthrough, "_DRAIN_S", 0.05)
    upstreams.answers["up.test"] = lambda r: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, stream=Lingering()
    )
    headers = await _org(client, "up")
    resp = await asyncio.wait_for(_chat(client, headers, stream=True), 5)
    assert [c["choices"][0]["delta"].get("content") for c in _frames(resp.text)][1:3] == ["a", "b"]

    # No [DONE] at all: the stream ends with the upstream's body, each frame once.
    upstreams.answers["up.test"] = lambda r: _sse(
        _chunk({"content": "x"}), _chunk({"content": "y"}), _chunk({}, "stop", usage=USAGE)
    )
    resp = await _chat(client, headers, stream=True, stream_options={"include_usage": True})
    chunks = _frames(resp.text)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[:-1]] == ["x", "y", None]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 21
    records = await _records(client, headers)
    assert [r["status"] for r in records] == ["ok", "ok"]
