"""The real Anthropic wire protocol (anthropic SDK through pydantic-ai) against MockTransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest
from llm_helpers import ANTHROPIC_KEY, Router, anthropic_provider
from llm_wire import anthropic_reply, anthropic_stream

from agentdeck.llm import CallContext, ChatMessage, ChatRequest, Gateway, ToolSpec

pytestmark = pytest.mark.usefixtures("allow_model_requests")
CTX = CallContext(org_id="org-1")
HELLO = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi")]
PROVIDERS = [anthropic_provider("an")]
MODEL = "an/claude-haiku-4-5"


async def test_plain_completion(router: Router, make_gateway: Callable[..., Gateway]) -> None:
    router.add("*", lambda body: anthropic_reply(body, [{"type": "text", "text": "Hello!"}]))
    result = await make_gateway().chat(CTX, ChatRequest(model=MODEL, messages=HELLO), PROVIDERS)
    assert result.message == "Hello!"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 5)
    assert result.cost_usd == pytest.approx((20 * 1.0 + 5 * 5.0) / 1e6)
    request = router.requests[0]
    assert request.url.path == "/v1/messages"
    auth = request.headers.get("x-api-key") or request.headers["authorization"]
    assert auth.removeprefix("Bearer ") == ANTHROPIC_KEY
    assert router.bodies[0]["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])


async def test_streamed_completion(router: Router, make_gateway: Callable[..., Gateway]) -> None:
    router.add("*", lambda body: anthropic_stream([{"type": "text", "pieces": ["Hel", "lo"]}]))
    events = [
        e
        async for e in make_gateway().stream(
            CTX, ChatRequest(model=MODEL, messages=HELLO), PROVIDERS
        )
    ]
    assert "".join(e.text for e in events if e.type == "delta") == "Hello"
    final = events[-1]
    assert final.type == "final" and final.result.message == "Hello"
    assert final.result.attempts[-1].ttft_ms is not None


async def test_tool_call(router: Router, make_gateway: Callable[..., Gateway]) -> None:
    router.add(
        "*",
        lambda body: anthropic_reply(
            body, [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}]
        ),
    )
    tool = ToolSpec(name="lookup", parameters_json_schema={"type": "object", "properties": {}})
    result = await make_gateway().chat(
        CTX, ChatRequest(model=MODEL, messages=HELLO, tools=[tool]), PROVIDERS
    )
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("toolu_1", "lookup", {"q": "x"})
    ]


async def test_structured_output_through_tool_calling_with_reask(
    router: Router, make_gateway: Callable[..., Gateway]
) -> None:
    def tool_use(body: dict[str, object], payload: dict[str, object]) -> httpx2.Response:
        block = {"type": "tool_use", "id": "toolu_9", "name": "final_result", "input": payload}
        return anthropic_reply(body, [block])

    router.add("*", lambda b: tool_use(b, {"n": "one"}), lambda b: tool_use(b, {"n": 1}))
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    result = await make_gateway().chat(
        CTX, ChatRequest(model=MODEL, messages=HELLO, response_format=schema), PROVIDERS
    )
    assert result.parsed == {"n": 1} and result.tool_calls == []
    assert router.bodies[0]["tools"][0]["name"] == "final_result"
    follow_up = router.bodies[1]["messages"][-1]["content"][0]
    assert follow_up["type"] == "tool_result" and follow_up["tool_use_id"] == "toolu_9"
