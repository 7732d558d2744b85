"""Gateway logic faked at the model seam with pydantic-ai FunctionModel."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_helpers import FakeSleep, factory_from, openai_provider
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from agentdeck.llm import (
    AliasConfig,
    BudgetExceeded,
    CallContext,
    ChatMessage,
    ChatRequest,
    InMemoryTTLCache,
    ListUsageSink,
    ModelOverride,
    ProviderConfig,
    ProviderRequestError,
    ProviderUnavailableError,
    StructuredOutputError,
    ToolSpec,
    UnknownModelError,
)
from agentdeck.llm.gateway import Gateway

CTX = CallContext(org_id="org-1", space_id="sp-1", user_id="u-1", run_id="r-1")
HELLO = [ChatMessage(role="user", content="hello")]


def answer(text: str, calls: list[str] | None = None) -> Any:
    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if calls is not None:
            calls.append(info.model_settings and info.model_settings.get("temperature"))
        return ModelResponse(
            parts=[TextPart(content=text)], usage=RequestUsage(input_tokens=10, output_tokens=5)
        )

    return fn


def failing(status: int, headers: dict[str, str] | None = None) -> Any:
    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ModelHTTPError(status, "m", {"error": "x"}, headers=headers)

    return fn


def function_model(fn: Any) -> Any:
    return lambda name: FunctionModel(fn, model_name=name)


def gateway(sink: ListUsageSink, sleep: FakeSleep, **fns: Any) -> Gateway:
    return Gateway(
        usage_sink=sink,
        sleep=sleep,
        model_factory=factory_from({name: function_model(fn) for name, fn in fns.items()}),
    )


PROVIDERS = [openai_provider("a"), openai_provider("b")]
CHAIN = [AliasConfig(name="smart", models=["a/gpt-4o", "b/gpt-4o-mini"])]


async def test_chat_returns_text_usage_cost_and_records_usage(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    gw = gateway(sink, fake_sleep, a=answer("hi there"))
    result = await gw.chat(CTX, ChatRequest(model="a/gpt-4o-mini", messages=HELLO), PROVIDERS)
    assert result.message == "hi there"
    assert (result.provider, result.model) == ("a", "gpt-4o-mini")
    assert result.usage.input_tokens == 10
    assert result.cost_usd == pytest.approx((10 * 0.15 + 5 * 0.6) / 1e6)
    [record] = sink.records
    assert record.org_id == "org-1" and record.run_id == "r-1"
    assert record.status == "ok" and record.cost_usd == result.cost_usd
    assert [a.status for a in record.attempts] == ["ok"]


async def test_fallback_on_500_records_both_attempts(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    gw = gateway(sink, fake_sleep, a=failing(500), b=answer("from b"))
    request = ChatRequest(model="smart", messages=HELLO, max_retries=1)
    result = await gw.chat(CTX, request, PROVIDERS, CHAIN)
    assert result.provider == "b"
    assert [(a.provider, a.status, a.http_status) for a in result.attempts] == [
        ("a", "error", 500),
        ("a", "error", 500),
        ("b", "ok", None),
    ]
    assert len(fake_sleep.calls) == 1  # one backoff between the two tries of `a`
    assert sink.records[0].attempts == result.attempts


@pytest.mark.parametrize("status", [400, 422])
async def test_caller_errors_never_fall_back(
    sink: ListUsageSink, fake_sleep: FakeSleep, status: int
) -> None:
    calls: list[Any] = []
    gw = gateway(sink, fake_sleep, a=failing(status), b=answer("never", calls))
    with pytest.raises(ProviderRequestError) as caught:
        await gw.chat(CTX, ChatRequest(model="smart", messages=HELLO), PROVIDERS, CHAIN)
    assert caught.value.status == 422 and caught.value.http_status == status
    assert calls == [] and fake_sleep.calls == []
    [record] = sink.records
    assert record.status == "error" and record.error and "bad_request" in record.error


async def test_retry_after_is_honoured(sink: ListUsageSink, fake_sleep: FakeSleep) -> None:
    state = {"n": 0}

    def flaky(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        state["n"] += 1
        if state["n"] == 1:
            raise ModelHTTPError(429, "m", None, headers={"retry-after": "7"})
        return ModelResponse(parts=[TextPart(content="ok")])

    gw = gateway(sink, fake_sleep, a=flaky)
    result = await gw.chat(CTX, ChatRequest(model="a/gpt-4o", messages=HELLO), PROVIDERS)
    assert result.message == "ok"
    assert fake_sleep.calls == [7.0]
    assert [a.error_kind for a in result.attempts] == ["rate_limit", None]


async def test_too_long_retry_after_moves_to_next_model(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    gw = gateway(sink, fake_sleep, a=failing(429, {"retry-after": "3600"}), b=answer("b"))
    result = await gw.chat(CTX, ChatRequest(model="smart", messages=HELLO), PROVIDERS, CHAIN)
    assert result.provider == "b" and fake_sleep.calls == []


async def test_all_failing_raises_unavailable_and_writes_error_record(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    gw = gateway(sink, fake_sleep, a=failing(503), b=failing(502))
    request = ChatRequest(model="smart", messages=HELLO, max_retries=0)
    with pytest.raises(ProviderUnavailableError) as caught:
        await gw.chat(CTX, request, PROVIDERS, CHAIN)
    assert caught.value.status == 502
    [record] = sink.records
    assert record.status == "error" and len(record.attempts) == 2


async def test_unknown_model_and_alias(sink: ListUsageSink, fake_sleep: FakeSleep) -> None:
    gw = gateway(sink, fake_sleep, a=answer("x"))
    for name in ("nope", "zzz/gpt-4o", "default"):
        with pytest.raises(UnknownModelError) as caught:
            await gw.chat(CTX, ChatRequest(model=name, messages=HELLO), PROVIDERS)
        assert caught.value.status == 422
    restricted = [openai_provider("a", ["gpt-4o"])]
    with pytest.raises(UnknownModelError):
        await gw.chat(CTX, ChatRequest(model="a/gpt-4.1", messages=HELLO), restricted)


async def test_default_resolves_to_local_without_providers(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    seen: list[str] = []

    def factory(provider: ProviderConfig, model: str) -> Model:
        seen.append(provider.kind + ":" + model)
        return FunctionModel(answer("local says hi"), model_name=model)

    gw = Gateway(usage_sink=sink, sleep=fake_sleep, model_factory=factory)
    result = await gw.chat(CTX, ChatRequest(messages=HELLO), [])
    assert result.message == "local says hi"
    assert seen == ["local:smollm2-135m-instruct"]
    assert result.cost_usd == 0.0


async def test_cheapest_picks_cheapest_capable_model(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    providers = [
        openai_provider("a"),
        ProviderConfig(id="l", name="lan", kind="openai_compatible", base_url="http://x/v1"),
    ]
    alias = AliasConfig(
        name="cheap", models=["a/gpt-4o", "a/gpt-4o-mini", "lan/llama"], strategy="cheapest"
    )
    overrides = {"lan/llama": ModelOverride(input_price=0.0, output_price=0.0)}
    models = {
        "gpt-4o": answer("expensive"),
        "gpt-4o-mini": answer("mini"),
        "llama": answer("llama"),
    }
    gw = Gateway(
        usage_sink=sink,
        sleep=fake_sleep,
        model_factory=lambda p, m: FunctionModel(models[m], model_name=m),
    )
    plain = await gw.chat(CTX, ChatRequest(model="cheap", messages=HELLO), providers, [alias],
                          overrides=overrides)  # fmt: skip
    assert plain.message == "llama"
    # A JSON schema call skips the llama server (prompted JSON only) and takes the cheaper mini.
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    models["gpt-4o-mini"] = answer('{"a": 1}')
    structured = await gw.chat(
        CTX,
        ChatRequest(model="cheap", messages=HELLO, response_format=schema),
        providers,
        [alias],
        overrides=overrides,
    )
    assert (structured.model, structured.parsed) == ("gpt-4o-mini", {"a": 1})
    # Nothing capable: tools are needed but the override says the only model cannot call them.
    no_tools = {"a/gpt-4o-mini": ModelOverride(capabilities={"tools": False})}  # type: ignore[arg-type]
    only_mini = AliasConfig(name="m", models=["a/gpt-4o-mini"], strategy="cheapest")
    with pytest.raises(UnknownModelError):
        await gw.chat(
            CTX,
            ChatRequest(model="m", messages=HELLO, tools=[ToolSpec(name="t")]),
            providers,
            [only_mini],
            overrides=no_tools,
        )


async def test_structured_output_reasks_with_validation_errors(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    prompts: list[str] = []

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts.append(json.dumps([str(m) for m in messages]))
        text = "not json" if len(prompts) == 1 else '{"name": "Ada", "age": 36}'
        if len(prompts) == 2:
            text = '{"name": "Ada", "age": "old"}'
        return ModelResponse(parts=[TextPart(content=text)], usage=RequestUsage(input_tokens=3))

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    gw = gateway(sink, fake_sleep, a=fn)
    request = ChatRequest(model="a/gpt-4o", messages=HELLO, response_format=schema)
    result = await gw.chat(CTX, request, PROVIDERS)
    assert result.parsed == {"name": "Ada", "age": 36}
    assert len(result.attempts) == 3 and result.usage.input_tokens == 9
    assert "not valid JSON" in prompts[1] and "age" in prompts[2]

    always_bad = gateway(ListUsageSink(), fake_sleep, a=answer('{"name": 1}'))
    with pytest.raises(StructuredOutputError) as caught:
        await always_bad.chat(CTX, request.model_copy(update={"structured_retries": 1}), PROVIDERS)
    assert any("required" in e or "is not of type" in e for e in caught.value.errors)


async def test_tool_calls_are_returned_not_executed(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        assert [t.name for t in info.function_tools] == ["get_weather"]
        return ModelResponse(
            parts=[ToolCallPart("get_weather", {"city": "Oslo"}, tool_call_id="call_1")]
        )

    gw = gateway(sink, fake_sleep, a=fn)
    tool = ToolSpec(
        name="get_weather",
        description="Weather",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    result = await gw.chat(
        CTX, ChatRequest(model="a/gpt-4o", messages=HELLO, tools=[tool]), PROVIDERS
    )
    [call] = result.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "get_weather", {"city": "Oslo"})


async def test_cache_hit_returns_result_and_zero_cost_record(
    sink: ListUsageSink, fake_sleep: FakeSleep
) -> None:
    calls: list[Any] = []
    gw = Gateway(
        usage_sink=sink,
        sleep=fake_sleep,
        cache=InMemoryTTLCache(),
        model_factory=factory_from({"a": function_model(answer("cached?", calls))}),
    )
    request = ChatRequest(model="a/gpt-4o", messages=HELLO, temperature=0)
    first = await gw.chat(CTX, request, PROVIDERS)
    second = await gw.chat(CTX, request, PROVIDERS)
    other = await gw.chat(CTX, request.model_copy(update={"temperature": 0.5}), PROVIDERS)
    assert len(calls) == 2  # the second call was served from the cache, the third was not
    assert second.message == first.message and second.cache_hit and not first.cache_hit
    assert [r.cache_hit for r in sink.records] == [False, True, False]
    assert sink.records[1].cost_usd == 0.0 and sink.records[0].cost_usd > 0
    assert other.cache_hit is False


class RefusingBudget:
    def __init__(self) -> None:
        self.estimates: list[float] = []

    async def check(self, ctx: CallContext, estimated_cost: float) -> None:
        self.estimates.append(estimated_cost)
        if estimated_cost > 0.001:
            raise BudgetExceeded("Monthly budget of org-1 is spent", org_id=ctx.org_id)


async def test_budget_refuses_before_calling(sink: ListUsageSink, fake_sleep: FakeSleep) -> None:
    calls: list[Any] = []
    budget = RefusingBudget()
    gw = Gateway(
        usage_sink=sink,
        sleep=fake_sleep,
        budget=budget,
        model_factory=factory_from({"a": function_model(answer("x", calls))}),
    )
    with pytest.raises(BudgetExceeded) as caught:
        await gw.chat(
            CTX, ChatRequest(model="a/gpt-4o", messages=HELLO, max_tokens=4000), PROVIDERS
        )
    assert caught.value.status == 402 and caught.value.to_problem()["type"] == "llm.budget_exceeded"
    assert calls == [] and sink.records == []
    # gpt-4o: $2.50 in / $10 out per million; 4000 output tokens alone cost $0.04.
    assert budget.estimates[0] == pytest.approx(0.04, rel=0.05)
    await gw.chat(CTX, ChatRequest(model="a/gpt-4o", messages=HELLO, max_tokens=10), PROVIDERS)
    assert len(calls) == 1
