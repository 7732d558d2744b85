"""The real OpenAI wire protocol (openai SDK through pydantic-ai) against httpx2.MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from llm_helpers import OPENAI_KEY, FakeSleep, Router, openai_provider
from llm_wire import openai_completion, openai_error, openai_stream
from structlog.testing import capture_logs

from agentdeck.llm import (
    AliasConfig,
    BudgetExceeded,
    CallContext,
    ChatMessage,
    ChatRequest,
    Gateway,
    ListUsageSink,
    ProviderConfig,
    ProviderRequestError,
    ToolSpec,
    UnknownModelError,
)

pytestmark = pytest.mark.usefixtures("allow_model_requests")
CTX = CallContext(org_id="org-1")
HELLO = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi")]
PROVIDERS = [openai_provider("a"), openai_provider("b")]
CHAIN = [AliasConfig(name="smart", models=["a/gpt-4o", "b/gpt-4o-mini"])]


async def test_plain_completion(router: Router, make_gateway: Callable[..., Gateway]) -> None:
    router.add("gpt-4o-mini", lambda body: openai_completion("Hello!", cached_tokens=4))
    result = await make_gateway().chat(
        CTX,
        ChatRequest(model="a/gpt-4o-mini", messages=HELLO, temperature=0.2, max_tokens=50),
        PROVIDERS,
    )
    assert result.message == "Hello!"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 3)
    assert result.usage.cached_tokens == 4
    [request] = router.requests
    assert str(request.url) == "http://mock.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer " + OPENAI_KEY
    body = router.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["temperature"] == 0.2
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 50


async def test_streamed_completion(
    router: Router, make_gateway: Callable[..., Gateway], sink: ListUsageSink
) -> None:
    router.add("gpt-4o-mini", lambda body: openai_stream(["Hel", "lo", " world"]))
    gw = make_gateway()
    request = ChatRequest(model="a/gpt-4o-mini", messages=HELLO)
    events = [e async for e in gw.stream(CTX, request, PROVIDERS)]
    assert [e.text for e in events if e.type == "delta"] == ["Hel", "lo", " world"]
    final = events[-1]
    assert final.type == "final"
    assert final.result.message == "Hello world"
    assert final.result.usage.output_tokens == 3
    assert router.bodies[0]["stream"] is True
    [record] = sink.records
    assert record.kind == "stream" and record.ttft_ms is not None and record.output_tokens == 3


async def test_tool_calls_and_tool_results_round_trip(
    router: Router, make_gateway: Callable[..., Gateway]
) -> None:
    call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    router.add("gpt-4o", lambda body: openai_completion(None, tool_calls=[call]))
    tool = ToolSpec(
        name="get_weather",
        description="Current weather",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    gw = make_gateway()
    result = await gw.chat(
        CTX, ChatRequest(model="a/gpt-4o", messages=HELLO, tools=[tool]), PROVIDERS
    )
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_1", "get_weather", {"city": "Oslo"})
    ]
    assert router.bodies[0]["tools"][0]["function"]["name"] == "get_weather"
    router.answers.clear()
    router.add("gpt-4o", lambda body: openai_completion("It is sunny."))
    follow_up = [
        *HELLO,
        ChatMessage(role="assistant", tool_calls=result.tool_calls),
        ChatMessage(role="tool", tool_call_id="call_1", content='{"sky": "clear"}'),
    ]
    answer = await gw.chat(CTX, ChatRequest(model="a/gpt-4o", messages=follow_up), PROVIDERS)
    assert answer.message == "It is sunny."
    sent = router.bodies[1]["messages"]
    assert sent[2]["tool_calls"][0]["id"] == "call_1"
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'}


async def test_429_with_retry_after_then_success(
    router: Router, make_gateway: Callable[..., Gateway], fake_sleep: FakeSleep
) -> None:
    router.add(
        "gpt-4o",
        lambda body: openai_error(429, "slow down", **{"retry-after": "2"}),
        lambda body: openai_completion("finally"),
    )
    result = await make_gateway().chat(
        CTX, ChatRequest(model="a/gpt-4o", messages=HELLO), PROVIDERS
    )
    assert result.message == "finally"
    assert fake_sleep.calls == [2.0]
    assert [(a.status, a.http_status) for a in result.attempts] == [("error", 429), ("ok", None)]


async def test_500_falls_back_to_next_model(
    router: Router, make_gateway: Callable[..., Gateway]
) -> None:
    router.add("gpt-4o", lambda body: openai_error(500))
    router.add("gpt-4o-mini", lambda body: openai_completion("from fallback"))
    request = ChatRequest(model="smart", messages=HELLO, max_retries=0)
    result = await make_gateway().chat(CTX, request, PROVIDERS, CHAIN)
    assert (result.provider, result.message) == ("b", "from fallback")
    assert [b["model"] for b in router.bodies] == ["gpt-4o", "gpt-4o-mini"]


async def test_timeout_falls_back_to_next_model(
    router: Router, make_gateway: Callable[..., Gateway]
) -> None:
    async def hang(body: dict[str, Any]) -> httpx2.Response:
        await asyncio.sleep(30)
        return openai_completion("too late")

    router.add("gpt-4o", hang)
    router.add("gpt-4o-mini", lambda body: openai_completion("fast one"))
    request = ChatRequest(model="smart", messages=HELLO, max_retries=0, timeout_s=0.2)
    result = await make_gateway().chat(CTX, request, PROVIDERS, CHAIN)
    assert result.message == "fast one"
    assert result.attempts[0].error_kind == "timeout"


async def test_400_does_not_fall_back_and_hides_the_key(
    router: Router, make_gateway: Callable[..., Gateway], sink: ListUsageSink
) -> None:
    router.add(
        "gpt-4o", lambda body: openai_error(400, "Incorrect API key provided: " + OPENAI_KEY)
    )
    router.add("gpt-4o-mini", lambda body: openai_completion("must not be used"))
    with capture_logs() as logs, pytest.raises(ProviderRequestError) as caught:
        await make_gateway().chat(CTX, ChatRequest(model="smart", messages=HELLO), PROVIDERS, CHAIN)
    assert [b["model"] for b in router.bodies] == ["gpt-4o"]
    error = caught.value
    assert error.http_status == 400 and "Incorrect API key" in error.detail
    everything = [str(error), json.dumps(error.to_problem()), repr(logs)]
    everything += [r.model_dump_json() for r in sink.records]
    for text in everything:
        assert OPENAI_KEY not in text and OPENAI_KEY[:12] not in text


async def test_budget_refusal_sends_nothing(
    router: Router, make_gateway: Callable[..., Gateway]
) -> None:
    class NoMoney:
        async def check(self, ctx: CallContext, estimated_cost: float) -> None:
            raise BudgetExceeded("No budget left")

    router.add("*", lambda body: openai_completion("x"))
    gw = make_gateway(budget=NoMoney())
    with pytest.raises(BudgetExceeded):
        await gw.chat(CTX, ChatRequest(model="a/gpt-4o", messages=HELLO), PROVIDERS)
    with pytest.raises(BudgetExceeded):
        async for _ in gw.stream(CTX, ChatRequest(model="a/gpt-4o", messages=HELLO), PROVIDERS):
            pass
    assert router.requests == []


async def test_structured_output_native_schema_and_reask(
    router: Router, make_gateway: Callable[..., Gateway]
) -> None:
    router.add(
        "gpt-4o",
        lambda body: openai_completion('{"city": "Oslo"'),
        lambda body: openai_completion('{"city": "Oslo", "temp_c": 4}'),
    )
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp_c": {"type": "integer"}},
        "required": ["city", "temp_c"],
        "additionalProperties": False,
    }
    result = await make_gateway().chat(
        CTX, ChatRequest(model="a/gpt-4o", messages=HELLO, response_format=schema), PROVIDERS
    )
    assert result.parsed == {"city": "Oslo", "temp_c": 4}
    assert router.bodies[0]["response_format"]["type"] == "json_schema"
    reask = router.bodies[1]["messages"]
    assert reask[-2]["role"] == "assistant" and "not valid JSON" in reask[-1]["content"]


async def test_embeddings_and_model_listing(
    router: Router, make_gateway: Callable[..., Gateway], sink: ListUsageSink
) -> None:
    def handler(body: dict[str, Any]) -> httpx2.Response:
        vectors = [{"index": i, "embedding": [0.1 * i, 1.0]} for i, _ in enumerate(body["input"])]
        return httpx2.Response(200, json={"data": vectors, "usage": {"prompt_tokens": 6}})

    router.add("text-embedding-3-small", handler)
    gw = make_gateway()
    vectors = await gw.embed(CTX, "a/text-embedding-3-small", ["x", "y"], PROVIDERS)
    assert vectors == [[0.0, 1.0], [0.1, 1.0]]
    assert sink.records[-1].kind == "embed" and sink.records[-1].input_tokens == 6
    assert str(router.requests[-1].url) == "http://mock.test/v1/embeddings"

    router.add("*", lambda body: httpx2.Response(200, json={"data": [{"id": "gpt-4o"}]}))
    assert await gw.list_models(PROVIDERS[0]) == ["gpt-4o"]
    assert router.requests[-1].url.path == "/v1/models"
    local = ProviderConfig(id="l", name="local", kind="local")
    with pytest.raises(UnknownModelError):
        await gw.embed(CTX, "local/smollm2-135m-instruct", ["x"], [local])
